"""Typed reads from one JSON object of a contract file; every error names the field by its path."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from tariff.calendar import parse_date
from tariff.errors import InputError


class Fields:
    """Reads fields of one JSON object; ``done()`` then rejects any field nobody read, so a misspelt
    optional field (``termintion_date``) fails loudly instead of being ignored."""

    def __init__(self, data: object, path: str = "") -> None:
        if not isinstance(data, dict):
            raise InputError(path or "contract", "must be a JSON object")
        self._data = data
        self._path = path
        self._read: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def error(self, key: str, message: str) -> InputError:
        return InputError(self.name(key), message)

    def _value(self, key: str, required: bool) -> object:
        self._read.add(key)
        value = self._data.get(key)
        if value is None and required:
            raise self.error(key, "missing" if key not in self._data else "must not be null")
        return value

    def text(self, key: str) -> str:
        value = self._value(key, True)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string")
        return value

    def choice(self, key: str, options: Collection[str]) -> str:
        value = self.text(key)
        if value not in options:
            raise self.error(key, f"unknown value {value!r} (one of: {', '.join(sorted(options))})")
        return value

    def count(self, key: str, minimum: int = 0) -> int:
        """A whole number ≥ ``minimum`` (JSON booleans and 2.0 are refused)."""
        value = self._value(key, True)
        if type(value) is not int:
            raise self.error(key, "must be a whole number")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def date(self, key: str, required: bool = True) -> date | None:
        value = self._value(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, "must be a date string YYYY-MM-DD")
        try:
            return parse_date(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def moment(self, key: str) -> datetime:
        """An ISO 8601 date-time with a UTC offset (``2026-12-03T10:00:00+09:00``)."""
        value = self._value(key, True)
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise self.error(key, "must be an ISO 8601 date-time with a UTC offset")
        return moment

    def items(self, key: str) -> list[Fields]:
        """An optional list of JSON objects (absent or null = empty)."""
        value = self._value(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, "must be a list")
        return [Fields(item, f"{self.name(key)}[{i}]") for i, item in enumerate(value)]

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            raise self.error(unknown[0], "unknown field")
