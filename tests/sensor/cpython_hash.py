"""CPython's own hash of bytes, the reference the sensor's SipHash-1-3 is checked against."""

from __future__ import annotations

import os
import subprocess
import sys

HASHES = "import sys; print([hash(bytes.fromhex(message)) for message in sys.argv[1:]])"


def cpython_hashes(messages: list[bytes]) -> list[int]:
    """hash() of each message in a CPython started with PYTHONHASHSEED=0 (SipHash-1-3 under an all-zero
    key), as unsigned 64-bit numbers. (CPython makes a hash of -1 into -2: no message here should hash so.)"""
    out = subprocess.run([sys.executable, "-c", HASHES, *(message.hex() for message in messages)], check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}).stdout
    return [h & (1 << 64) - 1 for h in eval(out)]
