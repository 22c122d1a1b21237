"""The sensor as a whole process: what `mieruka-sensor analyze` imports to read a capture, and the
shortcuts the pcap path takes (the observer's distinct address pairs) giving what the plain way gives."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sensor.meter import flows as flows_mod
from sensor.meter import pipeline

# modules analyze has no use for: the uplink's HTTP client, the site's service modules, the
# simulator, active identification, Scapy's TLS stack (which once named ciphers) and cffi's C parser
# (numba's typing asks for cffi) and dateutil (pyarrow's first conversion asks for it)
UNUSED_BY_ANALYZE = ("httpx", "sensor.site.runner", "sensor.site.install", "sensor.site.opening", "sensor.ship",
                     "sensor.simulate", "sensor.active.review", "scapy.layers", "cffi", "pycparser", "dateutil")

_ANALYZE = """
import gc, json, sys
from sensor.cli import app
from sensor.meter.pipeline import lean_process
lean_process()
print(gc.get_freeze_count())
app(["analyze", sys.argv[1], "--out", sys.argv[2]], standalone_mode=False)
print(json.dumps(sorted(sys.modules)))
import cffi  # what the process left out is still there for anything else
print(cffi.FFI().sizeof("int"))
"""


def test_analyze_imports_only_what_it_uses(corpus, tmp_path):
    """A TLS 1.2 capture (a ServerHello names its cipher, a certificate is read) through analyze in
    a fresh interpreter (as ``main`` runs it, after ``lean_process``) loads none of the modules other
    commands use; what start-up made is frozen out of the collector's way."""
    trace = corpus / "zeek/Traces/tls/tls1.2.pcap"
    run = subprocess.run([sys.executable, "-c", _ANALYZE, str(trace), str(tmp_path)], capture_output=True,
                         text=True, check=True)
    frozen, *_, modules, int_size = run.stdout.splitlines()
    loaded = json.loads(modules)
    assert int_size == "4"
    assert int(frozen) > 20_000  # start-up's objects (imports) out of the collector's way
    assert [m for m in loaded if m.startswith(UNUSED_BY_ANALYZE)] == []
    [event] = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert (event["protocol"], dict(event["attrs"])["cipher"]) == ("ssl", "TLS_RSA_WITH_RC4_128_MD5")


def _as_set(rows: np.ndarray) -> set[tuple[int, ...]]:
    return set(map(tuple, rows.tolist()))


@pytest.mark.parametrize("mix", ["real", "colliding"])
def test_distinct_rows_are_numpys_unique_rows(mix, monkeypatch):
    """Each distinct row once, as ``np.unique(rows, axis=0)`` has them, even when every row's mix
    is the same (rows are then told apart by comparing them whole)."""
    if mix == "colliding":
        monkeypatch.setattr(pipeline, "_MIX", np.zeros(4, np.uint64))
    rng = np.random.default_rng(7)
    kinds = rng.integers(0, 1 << 63, size=(300, 4), dtype=np.uint64)
    kinds[:50, 2:] = 0  # IPv4-like rows: the high address half empty
    kinds[50:60] = kinds[40:50] ^ np.array([1, 0, 0, 0], np.uint64)  # rows one bit apart
    rows = kinds[rng.integers(0, len(kinds), 20_000)]
    distinct = pipeline._distinct_rows(rows)
    assert len(distinct) == len(_as_set(distinct))
    assert _as_set(distinct) == _as_set(np.unique(rows, axis=0))


def _arrival_order_by_sorting(packets: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The flow table's grouping as it was: a stable sort by key, then the groups by first packet."""
    by_key = packets[np.argsort(key[packets], kind="stable")]
    ks = key[by_key]
    starts = np.flatnonzero(np.concatenate(([True], ks[1:] != ks[:-1])))
    lengths = np.diff(np.append(starts, len(ks)))
    order = np.argsort(by_key[starts])
    starts, lengths = starts[order], lengths[order]
    return by_key[np.arange(len(ks)) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)]


@pytest.mark.parametrize(("packets", "flows"), [(1, 1), (50, 1), (5_000, 40), (70_000, 3_000), (70_000, 60_000)])
def test_packets_in_arrival_order_as_sorting_puts_them(packets, flows):
    """The flow table's grouping of a chunk's packets (its hash table and counting sort) puts them
    in the order the stable sort did, keys sharing their low bits included; as plain Python too (as
    NUMBA_DISABLE_JIT runs it), where an int64 slot and a uint64 mask once met only after a collision."""
    rng = np.random.default_rng(packets + flows)
    keys = rng.integers(0, 1 << 64, flows, dtype=np.uint64)
    keys[: min(flows // 2, 2_000)] &= np.uint64(0xFFFF_0000_0000_0000)  # keys alike in every low bit
    key = keys[rng.integers(0, flows, packets)]
    valid = np.flatnonzero(rng.random(packets) < 0.95)  # (malformed packets are left out)
    expected = _arrival_order_by_sorting(valid, key).tolist()
    assert flows_mod._in_arrival_order(valid, key).tolist() == expected
    assert flows_mod._in_arrival_order(valid[:0], key).tolist() == []
    if packets <= 5_000:
        assert flows_mod._in_arrival_order.py_func(valid, key).tolist() == expected


_HEAP = """
import resource, sys
import numpy as np
from sensor.meter.pipeline import lean_process
if sys.argv[1] == "lean":
    lean_process()
faults = []
for _ in range(20):  # two 1.5 MiB arrays a round (faults from the third on), as a slice's arrays come and go
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a, b = np.ones(3 << 16, np.int64), np.ones(3 << 16, np.int64)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    a = b = None
print(sum(faults[2:]))
"""


@pytest.mark.skipif(sys.platform != "linux" or __import__("platform").libc_ver()[0] != "glibc",
                    reason="glibc's malloc thresholds")
def test_lean_process_keeps_a_slices_arrays_on_the_heap():
    """After ``lean_process`` arrays of the sizes an interval slice allocates and frees (here two of 1.5 MiB a
    round) come back from the heap without faulting their pages in again; in a process without it glibc
    maps them anew every round."""
    def faults(mode: str) -> int:
        return int(subprocess.run([sys.executable, "-c", _HEAP, mode], capture_output=True, text=True,
                                  check=True).stdout)

    assert faults("lean") < 100 and faults("plain") > 10 * 700  # (a round's arrays: 768 pages)
