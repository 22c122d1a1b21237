"""What a sensor process starts with: no thread of numpy's OpenBLAS (it spins at start, and the sensor does
no linear algebra), no pycomm3 (its drivers, imported for two tables, took ~10-40 ms of every start)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THREADS = "import os, sys; sys.path.insert(0, sys.argv[1]); import {module}; print(*(open(f'/proc/self/task/{{t}}/comm').read().strip() for t in os.listdir('/proc/self/task')))"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS starts no thread of its own on one core")
@pytest.mark.parametrize("module", ["sensor.cli", "bench.bench_flows"])
def test_a_sensor_process_starts_no_blas_thread(module):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", THREADS.format(module=module), str(ROOT)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "python" and "python" not in out[1:], out  # the main thread; Arrow's jemalloc thread may be there


def test_the_decoders_import_no_pycomm3():
    code = "import sys; sys.path.insert(0, sys.argv[1]); import sensor.decode.registry; print('pycomm3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
