"""The bulk Community ID (sensor/wire/community.py) equals the ``communityid`` package's, on the
corpus's flow records and on hand-made rows covering every protocol family and ICMP type pairing;
the bulk uids (sensor/wire/flowuid.py) equal ``wire.flow_uid`` row by row."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import communityid
import numpy as np
import pyarrow as pa
import pytest

from sensor import wire
from sensor.meter.pipeline import iter_intervals
from sensor.wire.community import community_digests, text_to_bytes
from sensor.wire.flowuid import flow_uids


CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
_CID = communityid.CommunityID(seed=0)
_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}


def reference(proto: str, orig_h: str, resp_h: str, orig_p: int, resp_p: int) -> str:
    """The ``communityid`` package's Community ID of a flow record (Zeek's ICMP type/code ports)."""
    number = _NUMBERS.get(proto) or (int(proto) if proto.isdigit() else 0)
    if not number:
        return ""
    if number == 1:
        tpl = communityid.FlowTuple.make_icmp(orig_h, resp_h, orig_p, resp_p)
    elif number == 58:
        tpl = communityid.FlowTuple.make_icmp6(orig_h, resp_h, orig_p, resp_p)
    elif number in (6, 17, 132):
        tpl = communityid.FlowTuple(number, orig_h, resp_h, orig_p, resp_p)
    else:
        tpl = communityid.FlowTuple(number, orig_h, resp_h)
    return _CID.calc(tpl)


def _table(rows: list[tuple]) -> pa.Table:
    names = ("proto", "orig_h", "resp_h", "orig_p", "resp_p")
    return pa.table({n: list(col) for n, col in zip(names, zip(*rows))})


def _captures() -> list:
    if not (CORPUS / "MANIFEST.csv").exists():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap") and p.stat().st_size > 200)


@pytest.fixture(scope="module")
def corpus_table() -> pa.Table:
    """Every flow record of every corpus capture (wire.FLOWS), with uids salted "SN-1"."""
    if not _captures():
        pytest.skip("corpus not available")
    return pa.concat_tables(iv.flows for path in _captures()
                            for iv in iter_intervals([path], protocols=(), uid_salt="SN-1"))


@pytest.fixture(scope="module")
def corpus_flows(corpus_table) -> list[tuple]:
    """(proto, orig_h, resp_h, orig_p, resp_p, community_id) of every flow record of every capture."""
    names = ("proto", "orig_h", "resp_h", "orig_p", "resp_p", "community_id")
    return list(zip(*(corpus_table.column(n).to_pylist() for n in names)))


def test_the_sensor_community_ids_equal_the_package_on_every_corpus_capture(corpus_flows):
    wrong = [row for row in corpus_flows if row[5] != reference(*row[:5])]
    assert not wrong, wrong[:5]
    families = {(row[0], ":" in row[1]) for row in corpus_flows}
    # the corpus holds IPv4 and IPv6 flows of each transport, ICMP of both versions and L2 flows
    assert {("tcp", False), ("udp", False), ("tcp", True), ("udp", True), ("icmp", False), ("icmp6", True),
            ("l2", False)} <= families


def test_the_core_check_computes_the_same_ids_from_the_records(corpus_flows):
    assert wire.flow_community_ids(_table([row[:5] for row in corpus_flows])) == [row[5] for row in corpus_flows]


def reference_uids(flows: pa.Table, salt: str) -> list[str]:
    """``wire.flow_uid`` (hashlib's BLAKE2b) of each row of a wire.FLOWS table, one at a time."""
    starts = flows.column("ts").cast(pa.int64()).to_pylist()
    return [wire.flow_uid(salt, r["proto"], r["vlan"], r["ethertype"], start,
                          (r["orig_h"], r["orig_p"], r["orig_l2_addr"]), (r["resp_h"], r["resp_p"], r["resp_l2_addr"]))
            for r, start in zip(flows.to_pylist(), starts)]


def test_bulk_uids_equal_flow_uid_row_by_row(corpus_table):
    expected = reference_uids(corpus_table, "SN-1")
    assert flow_uids(corpus_table, "SN-1").to_pylist() == expected == corpus_table.column("uid").to_pylist()
    short = [uid for uid in expected if len(uid) < 18]  # digests with leading zero digits are covered
    assert short


def test_every_protocol_family_and_icmp_pairing_equals_the_package():
    rng = random.Random(7)
    rows = []
    icmp_types = {"icmp": [0, 3, 5, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 255],
                  "icmp6": [1, 2, 128, 129, 130, 131, 133, 134, 135, 136, 137, 139, 140, 143, 144, 145]}
    for _ in range(3000):
        proto = rng.choice(["tcp", "udp", "icmp", "icmp6", "132", "47", "50", "89", "255"])
        v6 = proto == "icmp6" or (proto != "icmp" and rng.random() < 0.5)
        near = rng.getrandbits(3)  # few distinct addresses: equal ends and one-byte differences
        make = (lambda: ipaddress.IPv6Address((0xFE80 << 112) | rng.choice([near, rng.getrandbits(64)]))) if v6 else (
            lambda: ipaddress.IPv4Address(rng.choice([0x0A000000 | near, rng.getrandbits(32)])))
        a = str(make())
        b = a if rng.random() < 0.15 else str(make())
        if proto in icmp_types:
            sport, dport = rng.choice(icmp_types[proto]), rng.randrange(256)
        else:
            sport = rng.randrange(65536)
            dport = rng.choice([sport, 502, rng.randrange(65536)])
        rows.append((proto, a, b, sport, dport))
    rows.append(("l2", "", "", 0, 0))
    assert wire.flow_community_ids(_table(rows)) == [reference(*row) for row in rows]


def test_an_empty_batch_has_no_ids():
    assert wire.flow_community_ids(_table([("tcp", "10.0.0.1", "10.0.0.2", 1, 2)]).slice(0, 0)) == []



def test_addresses_all_null_or_absent_are_all_zeros():
    for column in (pa.array([None, None], pa.string()), pa.chunked_array([], pa.string())):
        packed, v6 = text_to_bytes(column)
        assert packed.shape == (len(column), 16) and not packed.any() and not v6.any()


@pytest.mark.parametrize("short", ["orig", "resp", "v6", "orig_p", "resp_p"])
def test_parts_of_unequal_rows_are_refused_before_the_compiled_loop(short):
    n = 50  # _hash_inputs reads row i of every part for each protocol: a shorter part would be read past its end
    parts = {"v6": np.zeros(n, bool), "orig": np.ones((n, 16), np.uint8), "resp": np.full((n, 16), 2, np.uint8),
             "orig_p": np.arange(n), "resp_p": np.arange(n)}
    parts[short] = parts[short][:2]
    with pytest.raises(ValueError, match="community_digests"):
        community_digests(np.full(n, 6), **parts)
