"""The compiled BLAKE2b (sensor/wire/blake2.py) and the bulk flow uids built on it equal hashlib's
BLAKE2b and ``wire.flow_uid`` byte for byte: on messages of every length around the block
boundaries, every digest size, and every flow record of the simulated plant (the corpus's are
checked in tests/sensor/test_community.py)."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pyarrow as pa
import pytest
from test_community import reference_uids

from sensor import wire
from sensor.meter.pipeline import iter_intervals
from sensor.simulate import write_pcap
from sensor.wire import blake2
from sensor.wire.flowuid import digests_of, flow_uids, uid_texts


def _buffer(messages: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum([len(m) for m in messages])])
    return np.frombuffer(b"".join(messages) or b"", np.uint8), offsets


def test_digests_equal_hashlib_at_every_length_around_the_blocks():
    rng = random.Random(3)
    lengths = [*range(0, 300), 383, 384, 385, 1000, 4096]  # 0, 1..3 blocks and their edges
    messages = [rng.randbytes(n) for n in lengths]
    data, offsets = _buffer(messages)
    for size in (1, 12, 20, 32, 64):
        got = blake2.digests(data, offsets, size)
        assert got.shape == (len(messages), size)
        want = [hashlib.blake2b(m, digest_size=size).digest() for m in messages]
        assert [row.tobytes() for row in got] == want, size


def test_messages_inside_a_larger_buffer_hash_only_their_own_bytes():
    data = np.frombuffer(b"xxabcyy", np.uint8)
    got = blake2.digests(data, np.array([2, 5]), 12)
    assert got[0].tobytes() == hashlib.blake2b(b"abc", digest_size=12).digest()


def test_a_digest_size_outside_blake2b_is_refused():
    with pytest.raises(ValueError, match="1..64"):
        blake2.digests(np.zeros(0, np.uint8), np.array([0]), 65)


def test_uid_texts_of_extreme_digests():
    digests = np.array([[0] * 12, [0] * 11 + [61], [0] * 11 + [62], [255] * 12], np.uint8)
    want = [wire.uid_text(bytes(d)) for d in digests]
    assert uid_texts(digests).to_pylist() == want == ["C0", "Cz", "C10", want[3]]
    assert len(want[3]) == 18  # 2**96 - 1 takes all 17 digits


@pytest.fixture(scope="module")
def plant_flows(tmp_path_factory) -> pa.Table:
    """Every flow record of a small simulated plant (with its risky traffic), two-second intervals."""
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=20_000, seed=5)
    return pa.concat_tables(iv.flows for iv in iter_intervals([path], 2.0, uid_salt="SN-7"))


def test_bulk_uids_equal_hashlib_on_every_plant_flow(plant_flows):
    expected = reference_uids(plant_flows, "SN-7")
    assert len(expected) > 800
    assert flow_uids(plant_flows, "SN-7").to_pylist() == expected == plant_flows.column("uid").to_pylist()
    # a batch decoded by the core derives the same uids the sensor sent
    batch = wire.Batch(plant_flows["ts"][0].as_py(), plant_flows["ts_end"][-1].as_py(),
                       {"flows": plant_flows, "events": wire.empty_table("events"),
                        "observations": wire.empty_table("observations")}, sensor="SN-7")
    assert wire.decode(wire.encode(batch)).tables["flows"].column("uid").to_pylist() == expected


def test_digests_of_distinct_texts_equal_flow_digest_and_refuse_what_the_loop_cannot_take():
    """``digests_of`` with each text an index into a few distinct ones (a flow table's form) gives
    ``wire.flow_digest``'s digests, the ends in either order; an index outside its texts or parts of
    unequal rows are refused before the compiled loop (which checks no bounds) runs."""
    hosts, macs, protos = pa.array(["10.0.0.2", "10.0.0.10", "fe80::1", ""]), pa.array(["00:00:00:00:00:01", ""]), \
        pa.array(["tcp", "l2"])
    rows = [(0, 0, 0, 1, 0, 502, 40000), (0, 1, 1, 0, 1, 7, 7), (1, 3, 3, 1, 1, 0, 0), (0, 2, 0, 0, 1, 1, 2)]
    p, ah, bh, am, bm, ap, bp = (np.array(col, np.int64) for col in zip(*rows))
    vlan, ethertype, ts = np.array([0, 5, 0, 4095]), np.array([0x800, 0x800, 0x88CC, 0x86DD]), \
        np.array([1, -7, 0, 2**62])
    salt = (pa.array(["SN-1"]), np.zeros(4, np.int64))
    got = digests_of(salt, (protos, p), (hosts, ah), (macs, am), (hosts, bh), (macs, bm), vlan, ethertype, ts, ap, bp)
    text = lambda strings, i: strings[int(i)].as_py()  # noqa: E731
    assert [bytes(d) for d in got] == [
        wire.flow_digest("SN-1", text(protos, p[i]), int(vlan[i]), int(ethertype[i]), int(ts[i]),
                         (text(hosts, ah[i]), int(ap[i]), text(macs, am[i])),
                         (text(hosts, bh[i]), int(bp[i]), text(macs, bm[i]))) for i in range(4)]
    with pytest.raises(IndexError):
        digests_of(salt, (protos, p), (hosts, ah + 1), (macs, am), (hosts, bh), (macs, bm), vlan, ethertype, ts, ap, bp)
    with pytest.raises(IndexError):
        digests_of(salt, (protos, p - 1), (hosts, ah), (macs, am), (hosts, bh), (macs, bm), vlan, ethertype, ts, ap, bp)
    with pytest.raises(ValueError):
        digests_of(salt, (protos, p), (hosts, ah), (macs, am), (hosts, bh), (macs, bm), vlan, ethertype, ts[:3], ap, bp)
