"""What a sensor process starts with: no thread of numpy's OpenBLAS (it spins at start, and the sensor does
no linear algebra), no pycomm3 (its drivers, imported for two tables, took ~10-40 ms of every start), no allocation from
Arrow's mimalloc."""

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


# whether the collector was on as each module of numpy, pyarrow and the sensor was looked for, as {module} (and
# its packages, looked for before it runs) imported them
COLLECTING = """import gc, sys
sys.path.insert(0, sys.argv[1])
seen = set()
class Finder:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("numpy", "pyarrow", "sensor") and not "{module}".startswith(name):
            seen.add(gc.isenabled())
sys.meta_path.insert(0, Finder())
import {module}
print(sorted(seen), gc.isenabled(), gc.get_freeze_count() > 0)"""


@pytest.mark.parametrize("module", ["sensor.cli", "bench.bench_flows"])
def test_a_sensor_process_imports_with_the_collector_off(module):
    """What the imports (numpy, pyarrow, the decoders) make lives as long as the process: the collector's passes
    over it were 10-20 ms of every start. It is on again once they are done, with what they made frozen (out of
    the way of every collection after)."""
    out = subprocess.run([sys.executable, "-c", COLLECTING.format(module=module), str(ROOT)],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[False] True True"


def test_the_bench_child_imports_what_its_run_needs(tmp_path):
    """The bench's measured child imports only the pipeline at start; the live run's observer when it runs."""
    from sensor.simulate import write_pcap

    capture = tmp_path / "plant.pcap"
    write_pcap(capture, packets=300, seed=1)
    for child in ("decoders", "live"):
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_flows.py"), "--child", child, str(capture)],
                             capture_output=True, text=True, check=True).stdout.split()
        assert out[0] == "300" and int(out[1]) > 0, (child, out)


# a capture through the pipeline with every decoder on, as the bench's decoders child runs it
DECODING = """import sys
sys.path.insert(0, sys.argv[1])
from sensor.decode import registry
from sensor.meter.pipeline import iter_intervals, lean_process
lean_process()
records = sum(iv.flows.num_rows for iv in iter_intervals([sys.argv[2]], protocols=registry.PROTOCOLS, folded=True))
print(records, *(name in sys.modules for name in ('pyarrow._compute', 'numpy.ma', 'importlib.resources')))"""


def test_decoding_a_capture_imports_no_arrow_compute_nor_numpy_ma(tmp_path):
    """The flow records (their uids among them: a hundred and more new flows an interval) are built from
    their buffers: the run never imports pyarrow.compute (~45 ms of a start), numpy.ma (~10 ms, which
    pa.array of an ndarray imports) nor importlib.resources (~5 ms with tempfile and shutil)."""
    from sensor.simulate import write_pcap

    capture = tmp_path / "plant.pcap"
    write_pcap(capture, packets=20_000, seed=1)
    out = subprocess.run([sys.executable, "-c", DECODING, str(ROOT), str(capture)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert int(out[0]) > 200 and out[1:] == ["False"] * 3, out


ARROW_POOL = """import sys
sys.path.insert(0, sys.argv[1])
import {module}
import pyarrow as pa
from sensor import wire
from sensor.meter.pipeline import iter_batches, lean_process
lean_process()
for batch in iter_batches([sys.argv[2]], 60.0):
    wire.encode(batch, consume=True)
print(pa.mimalloc_memory_pool().max_memory())"""


@pytest.mark.parametrize("module", ["sensor.cli", "bench.bench_flows"])
def test_a_sensor_process_encodes_with_no_allocation_from_mimalloc(module, tmp_path):
    """Arrow's own default pool, which its IPC writer takes buffers from (pyarrow offers it no other), is the C
    library's malloc in a sensor process, as pyarrow's is: mimalloc's first allocation reserves an arena madvised for
    huge pages, 4 MiB of it resident for the rest of the process."""
    from sensor.simulate import write_pcap

    capture = tmp_path / "plant.pcap"
    write_pcap(capture, packets=300, seed=1)
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", ARROW_POOL.format(module=module), str(ROOT), str(capture)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0"]
