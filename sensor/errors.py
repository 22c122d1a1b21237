"""The one error type the installer commands report: what is wrong on site, and what to do."""

from __future__ import annotations


class Problem(Exception):
    """``str(problem)`` says what is wrong; ``remedy`` what the installer can do about it."""

    def __init__(self, detail: str, remedy: str = ""):
        super().__init__(detail)
        self.remedy = remedy

    def line(self) -> str:
        return f"{self} — {self.remedy}" if self.remedy else str(self)
