"""The CLI's start hashes no password: every ``mieruka`` command imports the access module, and an argon2
hash at import (the unknown users' dummy) cost each of them ~0.2 s of CPU."""

from __future__ import annotations

import subprocess
import sys

COUNT_HASHES = """
import argon2
hashed = []
real = argon2.PasswordHasher.hash
argon2.PasswordHasher.hash = lambda self, *a, **k: hashed.append(1) or real(self, *a, **k)
import core.cli
print(len(hashed))
"""


def test_importing_the_cli_hashes_nothing():
    done = subprocess.run([sys.executable, "-c", COUNT_HASHES], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"
