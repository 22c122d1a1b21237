"""The UI's messages (gettext catalogues, Japanese and English) and the choice of language for a request.

The catalogues are ``dashboard/locale/<lang>/LC_MESSAGES/messages.po``, compiled to ``.mo`` files by
the install (``setup.py``) and by ``./dev``. Message ids are keys such as ``asset_total``, not English
text: templates, Python code and tests name a message by its key, and the English wording is a
translation like the Japanese one, so rewording it orphans nothing. Values fill ``{placeholders}``
(``str.format``); a message that needs plural forms in some language is a plural entry, used with
``tn("key", n)``.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo

DEFAULT_LANG = "ja"
LANG_COOKIE = "mieruka_lang"
LANGS = ("ja", "en")
# The name of each language in itself, for the switcher.
LANG_NAMES = {"ja": "日本語", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(key: str) -> str:
    """Marks a message looked up by a computed key, so that ``pybabel extract`` finds it."""
    return key


# Messages whose keys the code computes (t(f"role_{role}"), t(error_key), "nav_" ~ route, ...).
COMPUTED_KEYS = (
    # overview and base template
    N_("nav_overview"), N_("nav_assets"), N_("nav_sensors"), N_("nav_billing"),
    N_("range_1h"), N_("range_24h"), N_("range_7d"),
    # relative times (dashboard/timefmt.py)
    N_("just_now"), N_("ago"), N_("seconds"), N_("minutes"), N_("hours"), N_("days"),
    # login and errors (dashboard/routes.py)
    N_("login_failed"), N_("login_locked"), N_("csrf_failed"), N_("asset_not_found"), N_("billing_only"),
    # asset ledger (dashboard/assets.py)
    N_("role_plc"), N_("role_hmi"), N_("role_engineering_workstation"), N_("role_server"), N_("role_camera"),
    N_("role_nvr"), N_("role_router"), N_("role_switch"), N_("role_iot"), N_("role_io_device"),
    N_("auth_authorized"), N_("auth_unauthorized"), N_("auth_unknown"),
    N_("importance_critical"), N_("importance_high"), N_("importance_medium"), N_("importance_low"),
    N_("importance_none"),
    N_("direction_in"), N_("direction_out"), N_("model"), N_("firmware"), N_("model_firmware"), N_("os"),
    N_("peers"),
    # sensors page (dashboard/sensors.py)
    N_("lifecycle_shipped"), N_("lifecycle_activated"), N_("lifecycle_opened"),
    # admin pages (dashboard/admin.py)
    N_("admin_only"), N_("admin_not_found"), N_("admin_not_self"), N_("admin_bad_days"),
    N_("admin_disable"), N_("admin_enable"), N_("admin_unlock"),
    N_("done_user_created"), N_("done_user_disabled"), N_("done_user_enabled"), N_("done_user_unlocked"),
    N_("done_role_changed"), N_("done_password_set"), N_("done_token_revoked"),
    N_("password_too_short"), N_("password_too_long"), N_("password_contains_email"), N_("password_guessable"),
    N_("state_active"), N_("state_disabled"), N_("state_paused"),
    N_("token_live"), N_("token_expired"), N_("token_revoked"),
    N_("user_role_admin"), N_("user_role_analyst"), N_("user_role_billing"), N_("user_role_datateam"),
    # network map and zones (dashboard/netmap.py, dashboard/assets.py purdue_choices)
    N_("nav_network_map"), N_("zone_assign_invalid"),
    N_("purdue_0"), N_("purdue_1"), N_("purdue_2"), N_("purdue_3"), N_("purdue_4"), N_("purdue_5"),
)


def _catalogue(lang: str) -> Catalog:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.mo"
    try:
        with path.open("rb") as f:
            return read_mo(f)
    except FileNotFoundError:
        raise RuntimeError(
            f"{path} is missing: compile the catalogues with `pybabel compile -d {LOCALE_DIR}` (./dev does)"
        ) from None


_CATALOGUES = {lang: _catalogue(lang) for lang in LANGS}
# key → message; a plural entry maps to its forms, one per the language's Plural-Forms.
MESSAGES: dict[str, dict[str, str | tuple[str, ...]]] = {
    lang: {m.id: m.string for m in catalogue if isinstance(m.id, str) and m.id}
    | {m.id[0]: tuple(m.string) for m in catalogue if not isinstance(m.id, str)}
    for lang, catalogue in _CATALOGUES.items()
}
# Plural-Forms' C expression → n's form index, as the standard library's GNUTranslations does.
_PLURAL_FORM = {lang: gettext.c2py(catalogue.plural_expr) for lang, catalogue in _CATALOGUES.items()}


class Translator:
    """``t("key", d="5分")``: the message in one language with its ``{placeholders}`` filled;
    ``t.tn("key", n)``: a plural entry's form for ``n``, with ``{n}`` filled too."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._messages = MESSAGES[lang]
        self._plural_form = _PLURAL_FORM[lang]

    def __call__(self, key: str, **values: object) -> str:
        text = self._messages[key]
        if not isinstance(text, str):
            raise TypeError(f"message {key!r} has plural forms: use tn()")
        return text.format(**values) if values else text

    def tn(self, key: str, n: int, **values: object) -> str:
        forms = self._messages[key]
        if isinstance(forms, str):
            raise TypeError(f"message {key!r} has no plural forms: use t()")
        return forms[self._plural_form(n)].format(n=n, **values)


@cache
def translator(lang: str) -> Translator:
    return Translator(lang)


def _from_accept_language(header: str) -> str | None:
    """The supported language the client prefers most, honouring ``q`` weights."""
    ranked = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > 0:
            ranked.append((-q, position, primary))
    return min(ranked)[2] if ranked else None


def choose_lang(query: str | None, cookies: Mapping[str, str], accept_language: str) -> str:
    """``?lang=`` beats the cookie, which beats Accept-Language; Japanese otherwise."""
    for candidate in (query, cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    return _from_accept_language(accept_language) or DEFAULT_LANG
