"""The kernels compiled ahead of time (``sensor.aot``, loaded by ``sensor.jit``): the same output as numba's on
the plant and corpus captures, no numba in the process, numba taking every argument list no export is built
for, a stale build refused, and the checked-in entries covering every Python-level kernel call of a run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sensor import aot, jit
from sensor.simulate import write_pcap
from tests.sensor.conftest import CORPUS

CORPUS_TRACES = ("ics-pcap/MODBUS/MODBUS-TestDataPart2/MODBUS-TestDataPart2.pcap",
                 "ics-pcap/DNP3/DNP3-TestDataPart1/DNP3-TestDataPart1.pcap",
                 "ics-pcap/S7/s7comm_reading_plc_status/s7comm_reading_plc_status.pcap",
                 "ics-pcap/S7/V13_1200_TP1200sim_MW100_Int_SPS_5s_MW102_Int_SPS_10s_MW102_ab_1000_Timer_sync/"
                 "V13_1200_TP1200sim_MW100_Int_SPS_5s_MW102_Int_SPS_10s_MW102_ab_1000_Timer_sync.pcapng")

# Hashes every table and counter iter_batches gives per capture (folded, every PDU) and the flows-only
# intervals; with --record, also the entries of its Python-level kernel calls (numba's kernels only).
RUN = """
import hashlib, json, sys
from pathlib import Path
from sensor import aot, jit
from sensor.meter import pipeline
from sensor.meter.observe import Observer

def digests(captures):
    out = {}
    for capture in captures:
        for fold in (True, False):
            h = hashlib.blake2b(digest_size=16)
            for batch in pipeline.iter_batches([capture], 60.0, sensor="s", observer=Observer(), fold=fold):
                for name, table in sorted(batch.tables.items()):
                    h.update(name.encode() + repr(table.to_pydict()).encode())
                h.update(repr(sorted(batch.counters.items())).encode())
            out[f"{capture.name} fold={fold}"] = h.hexdigest()
        h = hashlib.blake2b(digest_size=16)
        for iv in pipeline.iter_intervals([capture], protocols=(), folded=True):
            h.update(repr(iv.flows.to_pydict()).encode() + repr(sorted(iv.counters.items())).encode())
        out[f"{capture.name} flows"] = h.hexdigest()
    return out

captures = [Path(p) for p in sys.argv[2:]]
result, found = {}, {}
if sys.argv[1] == "--record":
    found = aot.record(lambda: result.update(digests(captures)))
else:
    result = digests(captures)
print(json.dumps({"aot": jit.AOT, "digests": result, "found": found,
                  "modules": sorted(m for m in ("numba", "llvmlite") if m in sys.modules)}))
"""


def _env(aot_on: bool, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_DISABLE_JIT", "MIERUKA_AOT_DIR")}
    return {**env, "PYTHONHASHSEED": "0", "MIERUKA_SENSOR_AOT": "1" if aot_on else "0", **extra}


def _python(code: str, *args, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600, check=False)


def _json(run: subprocess.CompletedProcess) -> dict:
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def built() -> Path:
    """The build ``./dev`` made (tests run on it, as CI does); skipped where there is none."""
    if not (jit.AOT_DIR / f"{aot.EXTENSION}.json").exists():
        pytest.skip("no ahead-of-time kernels built (python -m sensor.aot build)")
    return jit.AOT_DIR


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> list[Path]:
    plant = tmp_path_factory.mktemp("aot") / "plant.pcap"
    write_pcap(plant, packets=20_000, seed=3)
    return [plant, *(CORPUS / t for t in CORPUS_TRACES if (CORPUS / t).exists())]


@pytest.fixture(scope="module")
def under_numba(built, captures) -> dict:
    return _json(_python(RUN, "--record", *captures, env=_env(False)))


def test_same_output_as_numba_and_no_numba_imported(built, captures, under_numba):
    """The plant and three corpus captures (Modbus, DNP3, S7comm) through the exports give what numba's
    kernels give, table for table, and the process never imports numba or llvmlite."""
    assert len(captures) == 1 + len(CORPUS_TRACES), "the corpus captures are missing"
    compiled = _json(_python(RUN, "--plain", *captures, env=_env(True)))
    assert compiled["aot"] and not under_numba["aot"]
    assert compiled["modules"] == [] and under_numba["modules"] == ["llvmlite", "numba"]
    assert len(compiled["digests"]) == 3 * len(captures)
    assert compiled["digests"] == under_numba["digests"]


def test_entries_cover_every_kernel_call_of_a_run(under_numba):
    """Every kernel plain Python called on the captures, with its argument types, is declared in
    sensor/aot_entries.json (else the build lacks it and such a call goes to numba)."""
    assert len(under_numba["found"]) >= 15, under_numba["found"].keys()
    declared = aot.declared()
    missing = {name: [s for s in sigs if s not in declared.get(name, [])] for name, sigs in under_numba["found"].items()}
    assert not {k: v for k, v in missing.items() if v}, "run: python -m sensor.aot record CAPTURES"


_ANALYZE = """
import json, sys
from sensor.cli import app
from sensor.meter.pipeline import lean_process
lean_process()
app(["analyze", sys.argv[1], "--out", sys.argv[2]], standalone_mode=False)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite"))))
"""


def test_analyze_runs_without_numba(built, captures, tmp_path):
    run = _python(_ANALYZE, captures[0], tmp_path, env=_env(True))
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.splitlines()[-1]) == []
    assert any(tmp_path.iterdir())


_FALLBACK = """
import json, sys
import numpy as np
from sensor import aot, jit
from sensor.meter import flows
kernel = flows._in_arrival_order  # (packets int64[::1], key uint64[::1]): the export takes only those
rng = np.random.default_rng(1)
packets, key = np.arange(64, dtype=np.int64), rng.integers(0, 5, 64).astype(np.uint64)
readonly = key.copy()
readonly.flags.writeable = False
out = {"aot": jit.AOT, "exported": kernel(packets, key).tolist(), "numba": "numba" in sys.modules}
cases = {"int32 packets": (packets.astype(np.int32), key), "strided": (np.repeat(packets, 2)[::2], key),
         "readonly": (packets, readonly)}
for name, args in cases.items():
    out[name] = [kernel(*args).tolist(), kernel.py_func(*args).tolist()]
numba_kernel = flows._in_arrival_order  # put back into its module: numba's dispatcher now
out["signatures"] = [[aot.spec_of(t) for t in sig] for sig in numba_kernel.signatures]
kernel(packets, key)  # the export's own argument types: still the export
out["after"] = len(numba_kernel.signatures)
out["dispatcher"] = type(numba_kernel).__name__
print(json.dumps(out))
"""


def test_arguments_no_export_takes_go_to_numba(built):
    """A wrong dtype, a strided array and a readonly array where the export wants a writable one are
    each compiled by numba (its dispatcher, put back into the module, gains their signatures) and give
    the Python function's result; the export's own argument types still go to the export."""
    got = _json(_python(_FALLBACK, env=_env(True)))
    assert got["aot"] and not got["numba"]
    for case in ("int32 packets", "strided", "readonly"):
        assert got[case][0] == got[case][1], case
    assert got["dispatcher"] == "CPUDispatcher"
    keys = ["array", "uint64", 1, "C", False]
    assert got["signatures"] == [[["array", "int32", 1, "C", False], keys], [["array", "int64", 1, "A", False], keys],
                                 [["array", "int64", 1, "C", False], keys[:-1] + [True]]]
    assert got["after"] == 3


_LOADED = "import logging, sys; logging.basicConfig(); from sensor import jit; print(jit.AOT, 'numba' in sys.modules)"


def test_stale_or_switched_off_build_falls_back(built, tmp_path):
    """A build whose digest of a kernel module differs from the sources is refused with one log line,
    as are ``MIERUKA_SENSOR_AOT=0`` and ``NUMBA_DISABLE_JIT=1``; the same build unchanged is taken."""
    copy = tmp_path / "aot"
    shutil.copytree(built, copy)
    assert _python(_LOADED, env=_env(True, MIERUKA_AOT_DIR=str(copy))).stdout.split() == ["True", "False"]
    manifest = json.loads((copy / f"{aot.EXTENSION}.json").read_text())
    manifest["digests"]["sensor.meter.flows"] = "0" * 24
    (copy / f"{aot.EXTENSION}.json").write_text(json.dumps(manifest))
    stale = _python(_LOADED, env=_env(True, MIERUKA_AOT_DIR=str(copy)))
    assert stale.stdout.split()[0] == "False"
    assert stale.stderr.count("older than sensor.meter.flows") == 1, stale.stderr
    assert _python(_LOADED, env=_env(False)).stdout.split()[0] == "False"
    assert _python(_LOADED, env=_env(True, NUMBA_DISABLE_JIT="1")).stdout.split()[0] == "False"
