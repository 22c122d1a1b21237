"""The gettext catalogues: complete in both languages for every message the code uses, compiled
.mo files current, placeholders and plural forms consistent; the translator; the language choice."""

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from core.analytics.assets import AUTHORIZATION, IMPORTANCE
from dashboard import i18n
from dashboard.assets import ROLES
from dashboard.i18n import DEFAULT_LANG, LANG_COOKIE, LANGS, LOCALE_DIR, MESSAGES, choose_lang, translator

ROOT = Path(__file__).resolve().parents[2]


def used_keys(root: Path) -> set[str]:
    """Every message key `pybabel extract` finds under ``root`` with the project's babel.cfg."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = extract_from_dir(root, method_map, options_map)
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


def po(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


def po_messages(lang: str) -> dict[str, object]:
    return {(m.id if isinstance(m.id, str) else m.id[0]): m for m in po(lang) if m.id}


@pytest.mark.parametrize("lang", LANGS)
def test_each_catalogue_has_exactly_the_messages_the_code_uses(lang):
    used, catalogue = used_keys(ROOT), po_messages(lang)
    assert sorted(used - catalogue.keys()) == [], "used but missing from the catalogue"
    assert sorted(catalogue.keys() - used) == [], "in the catalogue but used nowhere (or add N_() in i18n.py)"
    untranslated = [k for k, m in catalogue.items() if m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,))]
    assert untranslated == []


def test_a_template_using_a_missing_key_is_caught(tmp_path):
    (tmp_path / "dashboard" / "templates").mkdir(parents=True)
    (tmp_path / "dashboard" / "templates" / "new.html").write_text('{{ t("no_such_message") }} {{ tn("asset_total", 2) }}')
    assert used_keys(tmp_path) == {"no_such_message", "asset_total"}
    assert "no_such_message" not in po_messages("en")


@pytest.mark.parametrize("lang", LANGS)
def test_the_compiled_catalogues_are_current(lang):
    """A stale .mo (a .po edited without `pybabel compile`) would show old or missing text."""
    assert MESSAGES[lang] == {key: m.string for key, m in po_messages(lang).items()}


def test_no_message_is_written_twice():
    """In a .po file the second entry of a key silently replaces the first."""
    for lang in LANGS:
        ids = re.findall(r'^msgid "(.+)"$', (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").read_text(), re.M)
        assert len(ids) == len(set(ids)), lang


def placeholders(text: str | tuple[str, ...]) -> set[str]:
    forms = (text,) if isinstance(text, str) else text
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name is not None}


def test_both_languages_have_the_same_placeholders_and_plural_entries():
    ja, en = MESSAGES["ja"], MESSAGES["en"]
    assert ja.keys() == en.keys()
    for key in ja:
        assert placeholders(ja[key]) == placeholders(en[key]), key
        assert isinstance(ja[key], str) == isinstance(en[key], str), key
    plural = [k for k in ja if not isinstance(ja[k], str)]
    assert plural and all("n" in placeholders(ja[k]) for k in plural)


def test_every_ledger_value_has_a_label():
    keys = [f"role_{r}" for r in ROLES] + [f"auth_{a}" for a in AUTHORIZATION]
    keys += [f"importance_{i or 'none'}" for i in IMPORTANCE]
    assert [k for k in keys if k not in MESSAGES["ja"]] == []


def test_translator_fills_placeholders():
    assert translator("en")("minutes", n=5) == "5 min"
    assert translator("ja")("ago", d="5分") == "5分前"
    with pytest.raises(KeyError):
        translator("en")("no_such_message")


def test_plural_forms_follow_each_language():
    en, ja = translator("en"), translator("ja")
    assert [en.tn("asset_total", n) for n in (0, 1, 2)] == ["0 assets", "1 asset", "2 assets"]
    assert [ja.tn("asset_total", n) for n in (1, 2)] == ["1台", "2台"]
    assert en.tn("contract_count", 1) == "1 contract" and en.tn("sensor_count", 12) == "12 sensors"
    with pytest.raises(TypeError, match="tn()"):
        en("asset_total", n=2)
    with pytest.raises(TypeError, match="t()"):
        en.tn("minutes", 2)


def test_missing_compiled_catalogue_says_how_to_compile(monkeypatch, tmp_path):
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    with pytest.raises(RuntimeError, match="pybabel compile"):
        i18n._catalogue("ja")


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        (None, None, "", DEFAULT_LANG),
        ("en", "ja", "ja", "en"),  # ?lang= wins
        (None, "en", "ja", "en"),  # then the cookie
        (None, None, "en-US,en;q=0.9,ja;q=0.8", "en"),
        (None, None, "fr, ja;q=0.5, en;q=0.4", "ja"),  # best supported by weight
        (None, None, "en;q=0, ja;q=0.1", "ja"),
        (None, None, "fr-FR", DEFAULT_LANG),
        ("xx", "yy", "en;q=bogus", DEFAULT_LANG),  # junk is ignored, not an error
    ],
)
def test_choose_lang(query, cookie, accept, expected):
    cookies = {LANG_COOKIE: cookie} if cookie else {}
    assert choose_lang(query, cookies, accept) == expected
