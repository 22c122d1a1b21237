"""The report's words in Japanese and English: ``messages.toml`` holds every key with both.

The core never imports the dashboard, so the report keeps its own small catalogue (a data file,
one table per key with ``ja`` and ``en``); ``tests/core/test_report_catalogue.py`` checks that every key
the template and the code use is there in both languages with the same placeholders.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

LANGS = ("ja", "en")
CATALOGUE = Path(__file__).parent / "messages.toml"


@cache
def messages() -> dict[str, dict[str, str]]:
    with CATALOGUE.open("rb") as f:
        return tomllib.load(f)


class Words:
    """``t("key", name=value)``: the key's text in one language, ``{name}`` filled in."""

    def __init__(self, lang: str) -> None:
        if lang not in LANGS:
            raise ValueError(f"language must be one of {', '.join(LANGS)}")
        self.lang = lang

    def __call__(self, key: str, /, **values: object) -> str:
        text = messages()[key][self.lang]
        return text.format(**values) if values else text
