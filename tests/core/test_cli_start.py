"""The CLI's start hashes no password: every ``mieruka`` command imports the access module, and an argon2
hash at import (the unknown users' dummy) cost each of them ~0.2 s of CPU. Nor does it run the collector
over what its imports make (frozen after, collector on again): those passes took a third of a core start."""

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


COUNT_COLLECTIONS = """
import gc
import core
passes = []
gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info["generation"]))
import core.cli
core.cli.server_modules()  # what `mieruka serve` imports
print(len(passes) < 5, gc.isenabled(), gc.get_freeze_count() > 100_000)
"""


def test_the_cli_and_the_servers_imports_run_no_collection_and_are_frozen():
    done = subprocess.run([sys.executable, "-c", COUNT_COLLECTIONS], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "True"], done.stdout  # without: 600+ passes, 4 of them full
