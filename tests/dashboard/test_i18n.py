import ast
import inspect
from collections import Counter

import pytest

from core.analytics.assets import AUTHORIZATION, IMPORTANCE
from dashboard import i18n
from dashboard.assets import ROLES
from dashboard.i18n import DEFAULT_LANG, LANG_COOKIE, MESSAGES, choose_lang, translator


def test_catalogues_have_the_same_keys_and_placeholders():
    ja, en = MESSAGES["ja"], MESSAGES["en"]
    assert ja.keys() == en.keys()
    for key in ja:
        assert ("{" in ja[key]) == ("{" in en[key]), key


def test_no_key_is_written_twice():
    """A repeated key in a dict literal silently replaces the first message."""
    for node in ast.walk(ast.parse(inspect.getsource(i18n))):
        if isinstance(node, ast.Dict) and node.keys and all(isinstance(k, ast.Constant) for k in node.keys):
            assert [k for k, n in Counter(k.value for k in node.keys).items() if n > 1] == []


def test_every_ledger_value_has_a_label():
    keys = [f"role_{r}" for r in ROLES] + [f"auth_{a}" for a in AUTHORIZATION]
    keys += [f"importance_{i or 'none'}" for i in IMPORTANCE]
    assert [k for k in keys if k not in MESSAGES["ja"]] == []


def test_translator_fills_placeholders():
    assert translator("en")("minutes", n=5) == "5 min"
    assert translator("ja")("ago", d="5分") == "5分前"


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
