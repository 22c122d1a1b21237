"""``pyarrow.compute``, imported at its first use.

Its import is ~45 ms of a start (it writes ~290 function wrappers), and a sensor reading captures
builds its flow records without it (sensor/wire/arrays.py); the encoder, the core's decoding and the
batch checks call it, and import it then.
"""

from __future__ import annotations

import importlib


class _Compute:
    def __getattr__(self, name: str):
        return getattr(importlib.import_module("pyarrow.compute"), name)


pc = _Compute()
