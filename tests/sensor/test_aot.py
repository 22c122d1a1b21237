"""The kernels compiled ahead of time (``sensor.aot``, loaded by ``sensor.jit``): the same output as numba's on
the plant and corpus captures, no numba in the process, numba taking every argument list no export is built
for and every kernel numba code calls, the GIL released where the kernel says ``nogil``, a stale or broken
build refused, a failed build not tried again for the same sources, and the checked-in entries covering every
kernel plain Python calls (by a run, and by its call sites)."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastpaths import fuzz_capture
from test_fast_dnp3 import REQUEST_LINK_STATUS, _fragments
from test_fast_modbus import _fuzz_capture as modbus_capture

import sensor
from sensor import aot, jit
from sensor.simulate import write_pcap
from tests.sensor.conftest import CORPUS

CORPUS_TRACES = ("ics-pcap/MODBUS/MODBUS-TestDataPart2/MODBUS-TestDataPart2.pcap",
                 "ics-pcap/DNP3/DNP3-TestDataPart1/DNP3-TestDataPart1.pcap",
                 "ics-pcap/S7/s7comm_reading_plc_status/s7comm_reading_plc_status.pcap",
                 "ics-pcap/S7/V13_1200_TP1200sim_MW100_Int_SPS_5s_MW102_Int_SPS_10s_MW102_ab_1000_Timer_sync/"
                 "V13_1200_TP1200sim_MW100_Int_SPS_5s_MW102_Int_SPS_10s_MW102_ab_1000_Timer_sync.pcapng",
                 "ics-pcap/EIP/EIP-ViewDeviceStatus/EIP-ViewDeviceStatus.pcap")

# Hashes every table and counter iter_batches gives per capture (folded, every PDU) and the flows-only
# intervals, then makes the calls beside them (aot.beside_captures); with --record, also the entries of its
# Python-level kernel calls (numba's kernels only).
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
    aot.beside_captures()
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


def _python(code: str, *args, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600, check=False)


def _json(run: subprocess.CompletedProcess) -> dict:
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def built() -> Path:
    """The build ``./dev`` made (tests run on it, as CI does); where there is none for these sources, skipped,
    or failed under ``./dev test`` (MIERUKA_REQUIRE_AOT=1)."""
    if jit.load_build(jit.AOT_DIR) is None:
        said = "no ahead-of-time kernels built for these sources (./dev builds them: python -m sensor.aot ensure)"
        if os.environ.get("MIERUKA_REQUIRE_AOT") == "1":
            pytest.fail(said)
        pytest.skip(said)
    return jit.AOT_DIR


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> list[Path]:
    """The plant, DNP3 fragments spread over link frames and Modbus PDUs split over segments (both put together
    in Python), the corpus captures."""
    made = tmp_path_factory.mktemp("aot")
    write_pcap(made / "plant.pcap", packets=5_000, seed=3)
    fuzz_capture(made / "dnp3.pcap", 5, 20000, REQUEST_LINK_STATUS, _fragments(), flows=10, segments=60, clean=True)
    modbus_capture(made / "modbus.pcap", 1)
    return [made / "plant.pcap", made / "dnp3.pcap", made / "modbus.pcap",
            *(CORPUS / t for t in CORPUS_TRACES if (CORPUS / t).exists())]


@pytest.fixture(scope="module")
def under_numba(captures) -> dict:
    return _json(_python(RUN, "--record", *captures, env=_env(False)))


def test_same_output_as_numba_and_no_numba_imported(built, captures, under_numba):
    """The plant, spread DNP3 fragments, split Modbus PDUs and five corpus captures (Modbus, DNP3, S7comm,
    EtherNet/IP) through the exports give what numba's kernels give, table for table, and the process never
    imports numba or llvmlite: with MIERUKA_SENSOR_AOT=strict, a kernel call no export takes raises."""
    assert len(captures) == 3 + len(CORPUS_TRACES), "the corpus captures are missing"
    compiled = _json(_python(RUN, "--plain", *captures, env=_env(True, MIERUKA_SENSOR_AOT="strict")))
    assert compiled["aot"] and not under_numba["aot"]
    assert compiled["modules"] == [] and under_numba["modules"] == ["llvmlite", "numba"]
    assert len(compiled["digests"]) == 3 * len(captures)
    assert compiled["digests"] == under_numba["digests"]


def test_entries_cover_every_kernel_call_of_a_run(under_numba):
    """Every kernel plain Python called on the captures, with its argument types, is declared in
    sensor/aot_entries.json (else the build lacks it and such a call goes to numba)."""
    found = under_numba["found"]
    assert {"sensor.decode.fast.dnp3.decode", "sensor.decode.fast.modbus.decode_pdus", "sensor.decode.fast.enip.scan",
            "sensor.decode.fast.modbus.rehash", "sensor.decode.fast.enip.reindex"} <= found.keys()
    assert len(found) >= 25, found.keys()
    declared = aot.declared()
    missing = {name: [s for s in sigs if not any(aot.accepts(d, s) for d in declared.get(name, []))]
               for name, sigs in found.items()}
    assert not {k: v for k, v in missing.items() if v}, (
        "kernel calls sensor/aot_entries.json lacks (their signatures changed?): python -m sensor.aot record "
        "CAPTURES... adds them (the plant and corpus captures), then python -m sensor.aot build")


def test_entries_match_the_kernels_parameters():
    """Each declared signature has as many arguments as its kernel has parameters (a parameter added without
    python -m sensor.aot record makes the build fail)."""
    for name, signatures in aot.declared().items():
        module, _, attr = name.rpartition(".")
        params = inspect.signature(getattr(importlib.import_module(module), attr).py_func).parameters
        assert all(len(sig) == len(params) for sig in signatures), (
            f"{name} takes {list(params)}: python -m sensor.aot record CAPTURES... declares it again")


def test_merged_replaces_the_signatures_of_the_kernels_a_run_covered():
    """record's merge: a kernel the run called gets the run's signatures (a stale one goes), keeping a declared
    signature with read-only arrays that takes the run's writable ones; other kernels stay as declared."""
    w, r, i = ["array", "uint8", 1, "C", False], ["array", "uint8", 1, "C", True], ["int", "int64"]
    entries = {"m.a": [[w, i]], "m.b": [[r, i]], "m.c": [[i]]}
    found = {"m.a": [[w, i, i]], "m.b": [[w, i]]}
    assert aot.merged(found, entries) == {"m.a": [[w, i, i]], "m.b": [[r, i]], "m.c": [[i]]}
    assert aot.accepts([["tuple", [r]]], [["tuple", [w]]]) and not aot.accepts([w], [r])


def test_source_digests_follow_numba_objects():
    """prefetch.py takes prefetch_llvm's intrinsic by name: its kernels' digests still cover that file."""
    package = Path(sensor.__file__).parent
    assert package / "capture" / "prefetch_llvm.py" in jit._imports(package, package / "capture" / "prefetch.py")


def _read(path: Path) -> tuple[set[str], dict[str, set[str]], dict[str, str], set[str]]:
    """Of a source file: its kernels (``@njit`` functions); the names its plain Python code calls ("name",
    "alias.attr", or "self.attr.name") and where; what its imported names stand for ("sensor.module" or
    "sensor.module.name"); the names it hands to ``super().__init__`` or sets as class attributes (the modules
    a ``self.attr`` may hold)."""
    tree = ast.parse(path.read_text())
    kernels = {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and any(
        isinstance(d, ast.Name) and d.id == "njit" for d in
        (d.func if isinstance(d, ast.Call) else d for d in node.decorator_list))}
    calls: dict[str, set[str]] = {}
    aliases, held = {}, set()
    todo = [(tree, False)]
    while todo:
        node, in_kernel = todo.pop()
        in_kernel = in_kernel or isinstance(node, ast.FunctionDef) and node.name in kernels
        if isinstance(node, ast.Call) and not in_kernel:
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                calls.setdefault(f"{func.value.id}.{func.attr}", set()).add(f"{path.name}:{node.lineno}")
            elif isinstance(func, ast.Name):
                calls.setdefault(func.id, set()).add(f"{path.name}:{node.lineno}")
            elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute)
                  and isinstance(func.value.value, ast.Name) and func.value.value.id == "self"):
                calls.setdefault(f"self.{func.value.attr}.{func.attr}", set()).add(f"{path.name}:{node.lineno}")
            if isinstance(func, ast.Attribute) and func.attr == "__init__" and isinstance(func.value, ast.Call):
                held.update(a.id for a in node.args if isinstance(a, ast.Name))
        elif isinstance(node, ast.ClassDef):
            held.update(s.value.id for s in node.body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Name))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname})
        todo += [(child, in_kernel) for child in ast.iter_child_nodes(node)]
    return kernels, calls, aliases, held


def test_every_kernel_plain_python_calls_has_an_export():
    """Every call of a sensor kernel from plain Python code (not from another kernel), wherever it stands in
    the sensor package, names a kernel sensor/aot_entries.json declares: one left out would bring numba in
    for the whole process the first time it runs (as fast_dnp3's call of dnp3.decode for a fragment spread
    over frames did)."""
    root = Path(sensor.__file__).parent
    read = {".".join(path.relative_to(root.parent).with_suffix("").parts): _read(path)
            for path in sorted(root.rglob("*.py"))}
    kernels = {f"{module}.{name}" for module, (names, _, _, _) in read.items() for name in names}
    assert len(kernels) > 100
    held = {aliases.get(name, f"{module}.{name}") for module, (_, _, aliases, names) in read.items() for name in names}
    held &= {module for module, (names, _, _, _) in read.items() if names}  # the kernel modules among them
    assert {"sensor.decode.fast.bacnet", "sensor.decode.fast.s7comm"} <= held
    declared, undeclared = aot.declared(), {}
    for module, (_, calls, aliases, _) in read.items():
        for called, where in calls.items():
            head, dot, attr = called.partition(".")
            if head == "self":  # self.attr.kernel: any kernel module a class holds
                targets = {f"{m}.{attr.partition('.')[2]}" for m in held}
            else:
                targets = {aliases.get(head, f"{module}.{head}") + dot + attr}
            for target in targets & (kernels - set(declared)):
                undeclared[target] = sorted(where)
    assert "sensor.decode.fast.dnp3.decode" in declared
    assert not undeclared, (f"kernels called from plain Python without an export: {undeclared}; "
                            "python -m sensor.aot record CAPTURES... (a run that makes those calls) adds them")


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
import json, logging, sys
import numpy as np
from sensor import aot, jit
from sensor.meter import flows
from sensor.wire import blake2, flowuid
logging.basicConfig()
kernel = flows._in_arrival_order  # (packets int64[::1], key uint64[::1]): the export takes only those
rng = np.random.default_rng(1)
packets, key = np.arange(64, dtype=np.int64), rng.integers(0, 5, 64).astype(np.uint64)
readonly = key.copy()
readonly.flags.writeable = False
data = np.frombuffer(b"abcdef", np.uint8)  # read-only, as Arrow's buffers and mmaps are
digests = blake2.digests(data, np.frombuffer(np.array([0, 3, 6]).tobytes(), np.int64), 12)
out = {"aot": jit.AOT, "exported": kernel(packets, key).tolist(), "read-only inputs": [
    digests.tolist(), blake2.digests(data.copy(), np.array([0, 3, 6]), 12).tolist(),
    flowuid.uid_texts(np.frombuffer(digests.tobytes(), np.uint8).reshape(2, 12)).to_pylist()],
    "numba": "numba" in sys.modules}
cases = {"int32 packets": (packets.astype(np.int32), key), "strided": (np.repeat(packets, 2)[::2], key),
         "readonly": (packets, readonly)}
for name, args in cases.items():
    out[name] = [kernel(*args).tolist(), kernel.py_func(*args).tolist()]
numba_kernel = flows._in_arrival_order  # put back into its module: numba's dispatcher now
out["signatures"] = [[aot.spec_of(t) for t in sig] for sig in numba_kernel.signatures]
kernel(packets, key)  # the export's own argument types: still the export
out["after"] = len(numba_kernel.signatures)
out["keywords"] = [kernel(packets, key=key).tolist(), kernel.py_func(packets, key).tolist()]
out["dispatcher"] = type(numba_kernel).__name__
print(json.dumps(out))
"""


def test_arguments_no_export_takes_go_to_numba(built):
    """Read-only inputs go to the exports (their parameters are declared read-only). A wrong dtype, a strided
    array and a readonly array where the export wants a writable one are each compiled by numba (its
    dispatcher, put back into the module, gains their signatures; the log line says what the arguments were)
    and give the Python function's result; the export's own argument types still go to the export, and
    keyword arguments to numba."""
    run = _python(_FALLBACK, env=_env(True))
    got = _json(run)
    assert got["aot"] and not got["numba"]
    digests, same, uids = got["read-only inputs"]
    assert digests == same and len(uids) == 2 and uids[0] != uids[1]
    assert "_in_arrival_order: no ahead-of-time export takes int32[1d C], uint64[1d C]: numba" in run.stderr
    assert got["keywords"][0] == got["keywords"][1]
    for case in ("int32 packets", "strided", "readonly"):
        assert got[case][0] == got[case][1], case
    assert got["dispatcher"] == "CPUDispatcher"
    keys = ["array", "uint64", 1, "C", False]
    assert got["signatures"] == [[["array", "int32", 1, "C", False], keys], [["array", "int64", 1, "A", False], keys],
                                 [["array", "int64", 1, "C", False], keys[:-1] + [True]]]
    assert got["after"] == 3


_NUMBA_CALLER = """
import json, sys
import numpy as np
from numba import njit
from sensor import jit
from sensor.capture import pcapfile
from sensor.decode.fast import siphash
from sensor.meter import flows

@njit
def hash_words(k0, k1, words):  # as tests/sensor/test_flow_keys.py's: kernels with no export
    v = siphash.start(k0, k1)
    for w in words:
        v = siphash.absorb(v, w)
    return siphash.finish(v, len(words))

@njit
def ordered(packets, key):  # a kernel with an export
    return flows._in_arrival_order(packets, key)

from sensor.capture.prefetch import prefetch as held  # the placeholder, kept where numba does not put it back

@njit
def fetched(buf):
    held(buf, 0)
    return buf[0]

out = {"aot": jit.AOT, "numba before": "sensor.jitcache" in sys.modules}
words = np.arange(5, dtype=np.uint64)
out["hash"] = str(hash_words(np.uint64(1), np.uint64(2), words))
packets, key = np.arange(8, dtype=np.int64), np.array([3, 1, 3, 2, 1, 1, 2, 3], np.uint64)
out["ordered"] = ordered(packets, key).tolist()
out["exported"] = flows._in_arrival_order(packets, key).tolist()
out["module holds"] = type(flows._in_arrival_order).__name__
out["fetched"] = int(fetched(np.arange(3, dtype=np.uint8) + 7))
import importlib
from sensor.capture import prefetch
del sys.modules["sensor.capture.prefetch"]
imported_after = importlib.import_module("sensor.capture.prefetch")  # a module imported after numba came in
out["imported again"] = imported_after is not prefetch
out["placeholder after"] = isinstance(imported_after.prefetch, jit.Placeholder)
out["placeholder before"] = isinstance(prefetch.prefetch, jit.Placeholder)
print(json.dumps(out))
"""


def test_numba_code_calls_kernels_with_the_build_loaded(built):
    """numba code of another package calling sensor kernels (with and without an export) types them: numba
    comes in for every kernel, each put back into its module as a dispatcher, and a module imported after
    that gets numba's prefetch, not the placeholder. Python's calls still go to the exports."""
    got, numba_only = (_json(_python(_NUMBA_CALLER, env=_env(on))) for on in (True, False))
    assert got["aot"] and not got["numba before"] and not numba_only["aot"]
    assert got["hash"] == numba_only["hash"]
    assert got["ordered"] == got["exported"] == [0, 2, 7, 1, 4, 5, 3, 6]
    assert got["module holds"] == "CPUDispatcher" and got["fetched"] == 7
    assert got["imported again"] and not got["placeholder after"] and not got["placeholder before"]


_NOGIL = """
import json, sys, threading, time
import numpy as np
from sensor import jit
from sensor.meter import flows
from sensor.wire import blake2

data = np.zeros(64 << 20, np.uint8)
offsets = np.array([0, len(data)], np.int64)
blake2.digests(data[:1000], np.array([0, 1000]), 16)
calls = []

def digest():
    for _ in range(3):
        started = time.perf_counter()
        blake2.digests(data, offsets, 16)
        calls.append((started, time.perf_counter()))

worker = threading.Thread(target=digest)
ticks, seen = 0, []
worker.start()
while worker.is_alive():  # a Python thread beside the kernel's
    ticks += 1
    if ticks % 1000 == 0:
        seen.append(time.perf_counter())
seen.append(time.perf_counter())
# the longest the Python thread went without a tick during each call
gaps = [max(min(b, hi) - max(a, lo) for a, b in zip(seen, seen[1:])) for lo, hi in calls]
print(json.dumps({"aot": jit.AOT, "numba": "numba" in sys.modules, "calls": [hi - lo for lo, hi in calls],
                  "gaps": gaps}))
"""


def test_nogil_kernels_release_the_gil(built):
    """blake2's digests (``nogil``: the core hashes flow uids in decode threads) let a Python thread run
    beside them: its longest stall during each call is a small part of the call, where holding the GIL
    would stall it for the whole call."""
    got = _json(_python(_NOGIL, env=_env(True)))
    assert got["aot"] and not got["numba"]
    assert min(got["calls"]) > 0.02, got
    assert all(gap < call / 2 for gap, call in zip(got["gaps"], got["calls"])), got


_LOADED = "import logging, sys; logging.basicConfig(); from sensor import jit; print(jit.AOT, 'numba' in sys.modules)"


def test_stale_or_switched_off_build_falls_back(built, tmp_path):
    """A build whose digest of a kernel module differs from the sources is refused with one log line,
    as are ``MIERUKA_SENSOR_AOT=0`` and ``NUMBA_DISABLE_JIT=1``; the same build unchanged is taken."""
    copy = tmp_path / "aot"
    shutil.copytree(built, copy)
    assert _python(_LOADED, env=_env(True, MIERUKA_AOT_DIR=str(copy))).stdout.split() == ["True", "False"]
    manifest_path = copy / f"{aot.EXTENSION}.json"
    manifest = json.loads(manifest_path.read_text())
    changes = {"sensor.meter.flows": ("digests", "sensor.meter.flows"), "aot_entries.json": ("entries",),
               "numba, llvmlite, numpy or Python": ("compiler",)}
    for said, where in changes.items():
        changed = json.loads(json.dumps(manifest))
        place = changed["sources"]
        for key in where[:-1]:
            place = place[key]
        place[where[-1]] = "0" * 24
        manifest_path.write_text(json.dumps(changed))
        stale = _python(_LOADED, env=_env(True, MIERUKA_AOT_DIR=str(copy)))
        assert stale.stdout.split() == ["False", "False"], said
        assert stale.stderr.count(f"older than {said} ") == 1, stale.stderr
    manifest_path.write_text(json.dumps(manifest))
    assert _python(_LOADED, env=_env(False)).stdout.split()[0] == "False"
    assert _python(_LOADED, env=_env(True, NUMBA_DISABLE_JIT="1")).stdout.split()[0] == "False"


_READ = "from sensor import jit; print(jit.AOT, jit._content_digest.cache_info().currsize)"


def test_a_start_reads_no_source_of_an_unchanged_build(built, tmp_path):
    """A start whose build's files (sources, entries, extension) all have the size and times the manifest keeps
    reads and digests none of the sources (only numba's and llvmlite's version files); a copy of the build (its
    extension another file, as is one that was linked or moved since: its change time differs) and a manifest
    whose stamps or record of the sources differ have them all read, and the build is taken when they match."""
    def loaded(directory: Path) -> tuple[str, int]:
        aot_on, digested = _python(_READ, env=_env(True, MIERUKA_AOT_DIR=str(directory))).stdout.split()
        return aot_on, int(digested)

    manifest = json.loads((built / f"{aot.EXTENSION}.json").read_text())
    sources = len(manifest["sources"]["digests"])
    copy = tmp_path / "aot"
    shutil.copytree(built, copy)
    aot_on, digested = loaded(copy)
    assert aot_on == "True" and digested > sources
    manifest["stamps"]["extension"][:3] = jit.file_stamp(copy / manifest["extension"])  # the copy's
    for change in (None, "files", "of"):
        changed = json.loads(json.dumps(manifest))
        if change == "files":
            first = next(iter(changed["stamps"]["files"]))
            changed["stamps"]["files"][first][1] += 1
        elif change == "of":
            changed["sources"]["entries"] = "0" * 24
        (copy / f"{aot.EXTENSION}.json").write_text(json.dumps(changed))
        aot_on, digested = loaded(copy)
        if change is None:
            assert (aot_on, digested) == ("True", 2)
        else:
            assert digested > sources and aot_on == ("True" if change == "files" else "False"), change


def test_another_tree_s_unchanged_build_has_this_tree_s_sources_read(built, tmp_path):
    """A tree started on another tree's build (a build directory moved, linked or named by MIERUKA_AOT_DIR keeps
    its extension's stamp) has its own sources read and digested, not the other tree's stamps taken for them:
    its sources may differ from what the build was made from."""
    tree = tmp_path / "tree"
    shutil.copytree(jit.PACKAGE, tree / "sensor", ignore=shutil.ignore_patterns("_aot", "__pycache__"))
    sources = len(json.loads((built / f"{aot.EXTENSION}.json").read_text())["sources"]["digests"])
    env = _env(True, MIERUKA_AOT_DIR=str(built), PYTHONPATH=str(tree))
    here = _python("import sensor; print(sensor.__file__)", env=env, cwd=tmp_path).stdout.strip()
    assert here == str(tree / "sensor" / "__init__.py")
    aot_on, digested = _python(_READ, env=env, cwd=tmp_path).stdout.split()
    assert aot_on == "True" and int(digested) > sources  # (the same sources: the build is taken, once read)


_BROKEN = """
import logging, sys
logging.basicConfig()
import numpy as np
from sensor import jit
from sensor.meter import flows
print(jit.AOT, flows._in_arrival_order(np.arange(3), np.zeros(3, np.uint64)).tolist())
"""


def test_a_broken_extension_falls_back_to_numba(built, tmp_path):
    """A truncated extension (a build cut short, a disk full) is refused with one log line, and numba's kernels
    do the work; so is an extension lacking an export the manifest names, and a manifest whose argument
    specs are not specs (they become the source of the argument checks: never run)."""
    copy = tmp_path / "aot"
    shutil.copytree(built, copy)
    so = next(copy.glob(f"{aot.EXTENSION}.*so"))
    so.write_bytes(so.read_bytes()[:4096])
    run = _python(_BROKEN, env=_env(True, MIERUKA_AOT_DIR=str(copy)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["False", "[0,", "1,", "2]"]
    assert run.stderr.count("do not load") == 1, run.stderr
    shutil.copy(next(built.glob(f"{aot.EXTENSION}.*so")), so)
    manifest = json.loads((copy / f"{aot.EXTENSION}.json").read_text())
    manifest["entries"]["sensor.meter.flows._in_arrival_order"][0][0] = "no_such_export"
    (copy / f"{aot.EXTENSION}.json").write_text(json.dumps(manifest))
    run = _python(_BROKEN, env=_env(True, MIERUKA_AOT_DIR=str(copy)))
    assert run.stdout.split()[0] == "False" and run.stderr.count("do not load") == 1, run.stderr
    ran = tmp_path / "ran"
    manifest["entries"]["sensor.meter.flows._in_arrival_order"][0] = [
        "sensor_meter_flows__in_arrival_order__0",
        [["array", "int64", f"1 and open({str(ran)!r}, 'w')", "C", False], ["array", "uint64", 1, "C", False]]]
    (copy / f"{aot.EXTENSION}.json").write_text(json.dumps(manifest))
    run = _python(_BROKEN, env=_env(True, MIERUKA_AOT_DIR=str(copy)))
    assert run.stdout.split()[0] == "False" and "malformed" in run.stderr and not ran.exists(), run.stderr


def test_ensure_fails_loudly_and_tries_again_only_with_a_toolchain(tmp_path):
    """``ensure`` (``./dev``'s set-up): without a C compiler on the PATH it builds nothing and says so in one
    line (exit 0: the demo goes on with numba); with one, a build that fails (here NUMBA_DISABLE_JIT=1 leaves
    pycc nothing to compile) exits 1 (``./dev test`` stops) and is tried again on the next run."""
    out, log = tmp_path / "aot", tmp_path / "build.log"
    ensure = [sys.executable, "-m", "sensor.aot", "ensure", "--out", str(out), "--log", str(log)]
    bare = tmp_path / "bin"
    bare.mkdir()
    lacking = subprocess.run(ensure, capture_output=True, text=True, env=_env(False, PATH=str(bare)), timeout=600,
                             check=False)
    assert lacking.returncode == 0, lacking.stderr
    assert lacking.stderr.count("not compiled ahead of time: no C compiler (cc)") == 1 and not log.exists()
    env = _env(False, NUMBA_DISABLE_JIT="1")
    for _ in range(2):
        failed = subprocess.run(ensure, capture_output=True, text=True, env=env, timeout=600, check=False)
        assert failed.returncode == 1 and failed.stderr.count("their build failed") == 1, failed.stderr
        assert "Traceback" in log.read_text() and not out.exists()
        log.unlink()


# kernels whose argument checks this start compiled itself, and a few calls' results (arrays, ints, bools, a
# namedtuple of arrays)
_CHECKS = """import json, sys
import numpy as np
from sensor import jit
compiled = []
made = jit.call_code
jit.call_code = lambda exports: compiled.append(1) or made(exports)
from sensor.capture.pcapfile import iter_frames
from sensor.decode import packet
from sensor.decode.fast import dnp3
from sensor.meter import flows
packets, key = np.arange(8, dtype=np.int64), np.array([3, 1, 3, 2, 1, 1, 2, 3], np.uint64)
decoded = packet.decode(next(iter_frames(sys.argv[1])))
out = [flows._in_arrival_order(packets, key).tolist(), int(dnp3.size(np.frombuffer(b"\\x05\\x64\\x05\\xc0", np.uint8), 0, 4)),
       int(decoded.status.sum()), int(decoded.sport.sum())]
print(json.dumps({"aot": jit.AOT, "compiled": len(compiled), "out": out}))"""


def test_a_start_takes_the_argument_checks_compiled_with_the_build(built, captures, tmp_path):
    """The build keeps every kernel's argument checks compiled (a start compiled them: ~0.5 ms a kernel); a start
    compiles those of a kernel whose exports they were not made for, and all of them when the file is another
    version's or not marshal; ``ensure`` adds them to a build made without them. The calls' results are the same
    every way."""
    copy = tmp_path / "aot"
    shutil.copytree(built, copy)
    checks = copy / jit.CHECKS
    checks.unlink(missing_ok=True)
    log = tmp_path / "ensure.log"
    ensured = subprocess.run([sys.executable, "-m", "sensor.aot", "ensure", "--out", str(copy), "--log", str(log)],
                             capture_output=True, text=True, env=_env(False), timeout=600, check=False)
    assert ensured.returncode == 0 and checks.is_file() and not log.exists(), ensured.stderr

    def started() -> dict:
        return _json(_python(_CHECKS, captures[0], env=_env(True, MIERUKA_AOT_DIR=str(copy))))

    taken = started()
    assert taken["aot"] and taken["compiled"] == 0
    good = checks.read_bytes()
    kept = marshal.loads(good[jit._SEAL:])
    other = kept["kernels"]["sensor.meter.flows._in_arrival_order"]
    kept["kernels"]["sensor.meter.flows._in_arrival_order"] = (other[0][:0], *other[1:])  # made for no export
    checks.write_bytes(one_made_anew := jit.sealed_checks(kept["kernels"]))
    one = started()
    assert one["compiled"] == 1 and one["out"] == taken["out"]
    kept["made_by"] = "0" * 24
    checks.write_bytes(jit._seal_of(payload := marshal.dumps(kept)) + payload)
    every = started()
    assert every["compiled"] >= 4 and every["out"] == taken["out"]
    checks.write_bytes(b"not marshal")
    assert started() == every
    # what is under the seal changed (damage: marshal, or the checks it makes, may crash on it): not taken, and
    # ensure mends it
    checks.write_bytes(good[:jit._SEAL] + one_made_anew[jit._SEAL:])
    assert started() == every
    ensured = subprocess.run([sys.executable, "-m", "sensor.aot", "ensure", "--out", str(copy), "--log", str(log)],
                             capture_output=True, text=True, env=_env(False), timeout=600, check=False)
    assert ensured.returncode == 0 and checks.read_bytes() == good, ensured.stderr
