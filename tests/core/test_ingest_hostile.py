"""Hostile batches against a real core over HTTP (issue 9, items 2, 3, 4 batch side, 5): each is
answered 400 with its reason, nothing of it is stored, and the core lives on."""

from __future__ import annotations

import struct
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from coretest import EMPTY, flow, make_batch, post_batch, row_counts
from runtest import CoreProcess

from sensor import wire

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from fuzz_ingest import Raw, frame, ipc  # noqa: E402

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=1)


def batch(**kw) -> wire.Batch:
    return make_batch(start=START, flows=[flow(ts=START, **kw)])


def with_header(**changes) -> bytes:
    raw = Raw.of(wire.encode(batch()))
    raw.header |= changes
    return frame(raw.content())


def with_column(table: str, column: str, values: pa.Array, b: wire.Batch | None = None) -> bytes:
    """A batch whose compact ``table`` has ``values`` in ``column``, written as the encoder would."""
    raw = Raw.of(wire.encode(b or batch()))
    i = list(wire.TABLES).index(table)
    compact = pa.ipc.open_stream(raw.tables[i]).read_all()
    raw.tables[i] = ipc(compact.set_column(compact.schema.get_field_index(column), column, values))
    return frame(raw.content())


def dictionary_offsets_past_the_buffer() -> bytes:
    """Issue 9 #2: a dictionary whose middle offset points 2 GiB past its data (the last offset
    is right, so Arrow's cheap checks pass; the cast that expands it read out of bounds)."""
    b = make_batch(start=START, flows=[flow(ts=START, service="a" * 0x3A3B), flow(ts=START, service="b")])
    raw = Raw.of(wire.encode(b)).content()
    needle = struct.pack("<ii", 0, 0x3A3B)
    assert raw.count(needle) == 1
    return frame(raw.replace(needle, struct.pack("<ii", 0, 0x7FFFFFF0)))


def ipc_cut_short() -> bytes:
    """A table's IPC stream cut inside its record batch body: pyarrow raises OSError."""
    raw = Raw.of(wire.encode(batch()))
    raw.tables[0] = raw.tables[0][:-24]
    return frame(raw.content())


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    """`mieruka serve` as its own process, so a crash shows as a dead process, not a dead test run."""
    server = CoreProcess(tmp_path_factory.mktemp("core")).start()
    server.tenant = server.provision("acme")
    yield server
    if server.process.proc.poll() is None:
        server.stop()


def test_dictionary_offsets_past_the_buffer_are_refused_and_the_core_lives(core):
    body = dictionary_offsets_past_the_buffer()
    assert len(body) < 4096
    r = httpx.post(core.url + "/api/v1/ingest", content=body, timeout=30,
                   headers={"Authorization": f"Bearer {core.tenant.sensor_token}"})
    assert r.status_code == 400, r.text
    assert "not valid Arrow IPC" in r.json()["detail"] and "out of bounds" in r.json()["detail"]
    assert core.process.proc.poll() is None
    assert httpx.get(core.url + "/healthz", timeout=10).status_code == 200


def test_concurrent_decompression_is_bounded(core):
    """Issue 9 #5: three concurrent 8 KB frames inflating to just under the limit each held the
    content twice (built, then copied), all at once: 0.7 -> 1.7 GB resident. Now each holds it
    once, and at most ingest.DECODE_SLOTS decode at a time."""
    raw = Raw.of(wire.encode(batch())).content()
    pos = 9 + struct.unpack_from("<I", raw, 5)[0]
    size = wire.MAX_DECOMPRESSED - pos - 64
    body = frame(raw[:pos] + struct.pack("<Q", size) + bytes(size))
    assert len(body) < 16384

    def rss(field: str) -> int:
        status = Path(f"/proc/{core.process.proc.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith(field)).split()[1]) * 1024

    before, peak_before = rss("VmRSS:"), rss("VmHWM:")
    answers = []
    senders = [threading.Thread(target=lambda: answers.append(httpx.post(
        core.url + "/api/v1/ingest", content=body, timeout=120,
        headers={"Authorization": f"Bearer {core.tenant.sensor_token}"}).status_code)) for _ in range(3)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    grown, kept = rss("VmHWM:") - peak_before, rss("VmRSS:") - before
    print(f"peak RSS +{grown / 2**20:.0f} MiB, then +{kept / 2**20:.0f} MiB for 3 x {len(body)} B frames "
          f"of {size / 2**20:.0f} MiB")
    assert answers == [400, 400, 400]
    assert grown < 2.5 * wire.MAX_DECOMPRESSED  # two decodes' worth (and change), not three times two
    assert kept < 128 * 2**20  # and it is given back


@pytest.fixture
def http(shared_live):
    with httpx.Client(base_url=shared_live.url, timeout=30) as c:
        yield c
    assert row_counts(shared_live.app) == EMPTY


NULL_STRING = pa.array([None], pa.string()).dictionary_encode()
MALFORMED = {  # issue 9 #3: each was answered 503 "retry" (or stored), blocking the sensor's queue
    "rows of the wrong type": (with_header(rows={"flows": "1", "events": 1, "observations": 2}), "bad header"),
    "naive interval start": (with_header(interval_start=START.replace(tzinfo=None).isoformat()), "no time zone"),
    "naive and aware interval": (with_header(interval_end=(START + timedelta(minutes=1)).replace(tzinfo=None)
                                             .isoformat()), "no time zone"),
    "counter -5": (with_header(counters={k: -5 for k in wire.COUNTERS}), "not an integer"),
    "counter 2^70": (with_header(counters={k: 2**70 for k in wire.COUNTERS}), "not an integer"),
    "counter a bool": (with_header(counters={k: True for k in wire.COUNTERS}), "not an integer"),
    "invalid IP": (with_column("flows", "orig_h", pa.array(["10.0.0.256"]).dictionary_encode()), "not an IP address"),
    "null IP": (with_column("flows", "resp_h", NULL_STRING), "null"),
    "null proto": (with_column("flows", "proto", NULL_STRING), "null"),
    "proto 999999999999": (with_column("flows", "proto", pa.array(["999999999999"]).dictionary_encode()),
                           "not one of the known"),
    "null ts": (with_column("flows", "ts", pa.array([None], pa.int8())), "null"),
    "garbage MAC as a device key": (with_column("observations", "mac", pa.array(["zz", "zz"]).dictionary_encode()),
                                    "not a MAC address"),
    "observation of no device": (with_column("observations", "ip", pa.array(["", ""]).dictionary_encode(),
                                             make_batch(start=START, flows=[flow(ts=START)], observations=[
                                                 dict(ts=START, mac="", ip="10.0.0.9", attribute="hostname",
                                                      value="x", source="dhcp", confidence=80)] * 2)),
                                 "names no device"),
    "conn_state not Zeek's": (with_column("flows", "conn_state", pa.array(["XX"]).dictionary_encode()),
                              "not one of the known"),
    "confidence 200": (with_column("observations", "confidence", pa.array([200, 1], pa.uint8())), "more than 100"),
    "a string column as int64": (with_column("flows", "service", pa.array([1], pa.int64())), "schema mismatch"),
    "pyarrow OSError": (ipc_cut_short(), "not valid Arrow IPC"),
    "dictionary offsets past the buffer": (dictionary_offsets_past_the_buffer(), "out of bounds"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_batch_is_400_with_its_reason(shared_live, http, case):
    body, reason = MALFORMED[case]
    r = post_batch(http, shared_live.tenants[0].sensor_token, body)
    assert r.status_code == 400, r.text
    assert reason in r.json()["detail"]


OUT_OF_WINDOW = {  # issue 9 #4: a batch dated 9999-12-31 was stored and broke its tenant's overview
    "dated 9999-12-31": datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
    "dated 0001-01-01": datetime(1, 1, 1, tzinfo=UTC),
    "an hour ahead of the core": NOW + timedelta(hours=1),
    "older than the oldest age": NOW - timedelta(days=3651),
}


@pytest.mark.parametrize("case", OUT_OF_WINDOW)
def test_batch_outside_the_time_window_is_refused(shared_live, http, case):
    start = OUT_OF_WINDOW[case]
    r = post_batch(http, shared_live.tenants[0].sensor_token,
                   wire.encode(make_batch(start=start, flows=[flow(ts=start)])))
    assert r.status_code == 400, r.text
    assert "outside what this core takes" in r.json()["detail"]


def test_rows_outside_their_interval_are_refused(shared_live, http):
    late = make_batch(start=START, flows=[flow(ts=START, ts_end=datetime(9999, 1, 1, tzinfo=UTC))])
    r = post_batch(http, shared_live.tenants[0].sensor_token, wire.encode(late))
    assert r.status_code == 400 and "flows.ts_end" in r.json()["detail"]
    body = with_column("events", "ts", pa.array([2**62], pa.int64()))  # microseconds past the interval start
    r = post_batch(http, shared_live.tenants[0].sensor_token, body)
    assert r.status_code == 400 and "events.ts" in r.json()["detail"]


def test_a_sensor_clock_a_little_ahead_is_taken(core):
    """Clock skew within ingest_max_future_s (300 s) is normal; the batch is stored."""
    ahead = NOW + timedelta(minutes=2)
    b = make_batch(start=ahead - timedelta(minutes=1), flows=[flow(ts=ahead - timedelta(minutes=1))])
    r = httpx.post(core.url + "/api/v1/ingest", content=wire.encode(b), timeout=30,
                   headers={"Authorization": f"Bearer {core.tenant.sensor_token}"})
    assert r.status_code == 200 and r.json()["status"] == "stored", r.text
