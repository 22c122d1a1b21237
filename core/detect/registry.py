"""The stateless rules: every module in ``core.detect.rules`` exposing ``rules(batch, site)``,
which returns the batch's findings (``core.detect.kinds.Finding``)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache

from core.detect.kinds import Finding
from core.detect.site import Site
from sensor import wire

Rule = Callable[[wire.Batch, Site], list[Finding]]


@cache
def rules() -> tuple[tuple[str, Rule], ...]:
    """(module name, rules function) of each rule module, in name order."""
    try:
        package = importlib.import_module("core.detect.rules")
    except ModuleNotFoundError:
        return ()
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if callable(getattr(module, "rules", None)):
            found.append((info.name, module.rules))
    return tuple(found)
