"""The one error the library raises for bad input: it names the field (or argument) at fault."""

from __future__ import annotations


class InputError(ValueError):
    """``field``: a contract-file field (``sensor_changes[1].date``) or an input name (``installed``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
