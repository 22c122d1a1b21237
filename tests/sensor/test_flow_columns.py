"""The flow table builds its interval records as Arrow columns straight from its slot matrices.
The per-row builder it had before (Python lists of per-flow values, kept here as the reference)
gives the same table and the same wire bytes, on the simulated plant and on corpus captures."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sensor import wire
from sensor.wire import arrays
from sensor.meter import flows
from sensor.meter.flows import (ADDR_HI, ADDR_LO, EM_BYTES, ENDED, ETHERTYPE, FIN_SEEN, HIST_LEN, INACTIVE, IPB,
                                IPVER, IV_SEEN, KIND, KIND_FREE, KIND_IP, KIND_L2, MAC, ORIG_SIDE, PKTS, PORT, PROTO,
                                REL_ACK, REL_LAST, RESET, SEEN, SIZE, START, SYN_SENT, TPREV, TSTATE, UID, UID_KNOWN,
                                VLAN, FlowTable, ip_text, mac_text)
from sensor.meter.pipeline import iter_intervals
from sensor.simulate import write_pcap

from test_community import CORPUS, reference as community_reference

CAPTURES = ("zeek/Traces/tls/tls1.2.pcap", "ics-pcap/S7/s7-1200-hmi/s7-1200-hmi.pcap",
            "iti/IEC61850/Sample_File_MMS_and_GOOSE.pcap", "icsnpp/enip/traces/enip_cip_example.pcap")
STAMP = datetime(2026, 1, 5, tzinfo=timezone.utc)


def tcp_sizes(F: np.ndarray, S: np.ndarray, H: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Zeek's TCP_Endpoint::Size (payload bytes from the sequence span) per side, [n, 2], as the table
    worked it out with numpy before its records' numbers came from one compiled pass."""
    pair = lambda M, col: M[slots, col : col + 2]  # noqa: E731
    ack = pair(F, REL_ACK)
    size = np.maximum(np.maximum(pair(F, REL_LAST), ack), 0)
    size = np.where(size != 0, size - 1, 0)
    size = np.where((pair(H, FIN_SEEN) > 0) & (size != 0), size - 1, size)
    state = pair(H, TSTATE)
    aborted = (pair(H, TPREV) == SYN_SENT) & (state == RESET) & (state[:, ::-1] == INACTIVE)
    return np.where(aborted & (ack != 0) & (ack != 1), 0, size)


def reference_records(table: FlowTable, F: np.ndarray, S: np.ndarray, H: np.ndarray, slots: np.ndarray) -> pa.Table:
    """The records as the table built them before, row by row from ``F``, ``S`` and ``H`` (its state
    before the interval's counts were marked reported)."""
    U = table._st.U
    pair = lambda col: F[slots, col : col + 2]  # noqa: E731
    o, idx = H[slots, ORIG_SIDE], np.arange(len(slots))
    r = 1 - o
    tcp = (H[slots, KIND] == KIND_IP) & (H[slots, PROTO] == 6)
    size = np.where(tcp[:, None], tcp_sizes(F, S, H, slots), np.maximum(pair(SIZE), 0))
    d_bytes = np.maximum(size - pair(EM_BYTES), 0)
    d_pkts, d_ipb = S[slots, PKTS : PKTS + 2], pair(IPB)  # (since the flow's last record)
    state = np.where(tcp[:, None], H[slots, TSTATE : TSTATE + 2], pair(SIZE) >= 0)
    rows = {name: [] for name in wire.FLOWS.names}
    for i, s in enumerate(slots.tolist()):
        oi, ri = int(o[i]), int(r[i])
        mac = (mac_text(U[s, MAC]), mac_text(U[s, MAC + 1]))
        if H[s, KIND] == KIND_L2:
            host, proto = ("", ""), "l2"
        else:
            ver = int(H[s, IPVER])
            host = (ip_text(ver, U[s, ADDR_HI], U[s, ADDR_LO]), ip_text(ver, U[s, ADDR_HI + 1], U[s, ADDR_LO + 1]))
            proto = flows.PROTO_NAMES.get(int(H[s, PROTO]), str(int(H[s, PROTO])))
        ends = [(host[x], int(S[s, PORT + x]), mac[x]) for x in (0, 1)]
        history = H[s, : H[s, HIST_LEN]].tobytes().decode("ascii")
        ports = (int(S[s, PORT + oi]), int(S[s, PORT + ri]))
        values = {
            "ts": int(F[s, START]), "ts_end": int(F[s, SEEN]), "duration": (int(F[s, SEEN]) - int(F[s, START])) / 1e6,
            "uid": wire.flow_uid(table._salt, proto, int(S[s, VLAN]), int(S[s, ETHERTYPE]), int(F[s, START]), *ends),
            "community_id": community_reference(proto, host[oi], host[ri], *ports) if proto != "l2" else "",
            "vlan": int(S[s, VLAN]), "orig_h": host[oi], "resp_h": host[ri], "orig_p": ports[0], "resp_p": ports[1],
            "proto": proto, "ethertype": int(S[s, ETHERTYPE]), "service": table.service(s),
            "orig_bytes": int(d_bytes[i, oi]), "resp_bytes": int(d_bytes[i, ri]),
            "orig_pkts": int(d_pkts[i, oi]), "resp_pkts": int(d_pkts[i, ri]),
            "orig_ip_bytes": int(d_ipb[i, oi]), "resp_ip_bytes": int(d_ipb[i, ri]),
            "conn_state": flows.conn_state(proto, int(state[i, oi]), int(state[i, ri]),
                                           size[i, oi] == 0 and size[i, ri] == 0,
                                           flows._RSTOS0.fullmatch(history) is not None),
            "history": history, "orig_l2_addr": mac[oi], "resp_l2_addr": mac[ri], "final": bool(H[s, ENDED]),
        }
        for name, value in values.items():
            rows[name].append(value)
    assert len(rows["uid"]) == len(idx)
    return pa.Table.from_pydict(rows, schema=wire.FLOWS)


def _frame(table: pa.Table) -> bytes:
    tables = {"flows": table, "events": wire.empty_table("events"), "observations": wire.empty_table("observations")}
    batch = wire.Batch(STAMP, STAMP, tables, batch_id="00000000-0000-4000-8000-000000000000", sensor="SN-1")
    return wire.encode(batch, level=3)


@pytest.fixture
def compared(monkeypatch):
    """Every table ``flush`` returns, checked whole against the reference built over every flow it
    reports: the evicted flows first (as they were when evicted), then the flows with packets since the
    last flush or ended (all of them, ended, at the end of input) in slot order, built 64 slots a slice;
    the list of (rows, table equal, wire bytes equal) per flush."""
    seen: list[tuple[int, bool, bool]] = []
    evicted: dict[int, pa.Table] = {}  # id of a table of evicted flows' records → its reference
    records, flush = FlowTable._records, FlowTable.flush

    def checked_records(self, slots):
        expected = reference_records(self, self._st.F.copy(), self._st.S.copy(), self._st.H.copy(), slots)
        got = records(self, slots)
        evicted[id(got)] = expected
        return got

    def checked_flush(self, final=False):
        F, S, H = self._st.F.copy(), self._st.S.copy(), self._st.H.copy()
        used = H[:, KIND] != KIND_FREE
        if final:
            H[used, ENDED] = 1
        slots = np.flatnonzero(used & ((H[:, IV_SEEN] != 0) | (H[:, ENDED] != 0)))
        expected = pa.concat_tables([*(evicted[id(t)] for t in self._evicted), reference_records(self, F, S, H, slots)])
        got = flush(self, final)
        evicted.clear()
        seen.append((got.num_rows, got.combine_chunks().equals(expected), _frame(got) == _frame(expected)))
        return got

    monkeypatch.setattr(FlowTable, "_records", checked_records)
    monkeypatch.setattr(FlowTable, "flush", checked_flush)
    monkeypatch.setattr(flows, "RECORD_SLICE", 64)  # several slices per flush
    return seen


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    write_pcap(path, packets=8000, seed=2)
    return path


def test_the_plant_s_records_equal_the_per_row_reference(plant, compared):
    intervals = list(iter_intervals([plant], 60.0, uid_salt="SN-1"))
    assert sum(iv.flows.num_rows for iv in intervals) == sum(rows for rows, _, _ in compared) > 100
    assert all(same and same_bytes for _, same, same_bytes in compared)
    assert any(iv.flows["service"].to_pylist().count("modbus") for iv in intervals)  # decoders named services


def test_new_flows_uids_are_named_without_a_python_call_per_flow(plant, compared, monkeypatch):
    """The uids of the flows an interval names first are worked out for the slice at once (flowuid.digests_of,
    from the slice's distinct texts), never flow by flow (``FlowTable._new_digest``), and equal the reference."""
    calls = Counter()
    one = FlowTable._new_digest

    def counted(self, s):
        calls["one by one"] += 1
        return one(self, s)

    monkeypatch.setattr(FlowTable, "_new_digest", counted)
    intervals = list(iter_intervals([plant], 2.0, uid_salt="SN-1", protocols=()))
    assert len(intervals) > 3 and sum(iv.flows.num_rows for iv in intervals) > 100
    assert calls["one by one"] == 0
    assert compared and all(same and same_bytes for _, same, same_bytes in compared)


def test_a_flow_s_uid_by_its_slot_is_the_digest_kept_or_worked_out(plant, monkeypatch):
    """``FlowTable.uid`` (how the decoding stages name a flow they meet) gives the uid of the flow's digest as
    the records keep it, or works it out and keeps it when no record has yet, both as ``wire.flow_digest``."""
    flush, checked = FlowTable.flush, Counter()

    def check(table: FlowTable) -> None:
        for s in np.flatnonzero(table._st.H[:, KIND] != KIND_FREE).tolist()[::3]:
            checked["kept" if int(table._st.U[s, UID + 1]) & UID_KNOWN else "new"] += 1
            assert table.uid(s) == wire.uid_text(table._new_digest(s))
            assert int(table._st.U[s, UID + 1]) & UID_KNOWN

    def checking(self, final=False):
        check(self)  # (the flows new since the last flush: no record has named them yet)
        records = flush(self, final)
        check(self)
        return records

    monkeypatch.setattr(FlowTable, "flush", checking)
    records = pa.concat_tables(iv.flows for iv in iter_intervals([plant], 2.0, uid_salt="SN-1", protocols=()))
    assert checked["kept"] > 10 and checked["new"] > 10, checked
    assert len(set(records["uid"].to_pylist())) > 100


def test_evicted_flows_records_equal_the_reference(plant, compared):
    intervals = list(iter_intervals([plant], 60.0, uid_salt="SN-1", protocols=(), max_flows=128))
    assert sum(iv.evicted_flows for iv in intervals) > 0
    assert compared and all(same and same_bytes for _, same, same_bytes in compared)


@pytest.mark.parametrize("capture", CAPTURES)
def test_corpus_records_equal_the_per_row_reference(capture, compared):
    path = CORPUS / capture
    if not path.exists():
        pytest.skip("corpus not available")
    intervals = list(iter_intervals([path], 60.0, uid_salt="SN-1", protocols=()))
    assert sum(rows for rows, _, _ in compared) == sum(iv.flows.num_rows for iv in intervals) > 0
    assert all(same and same_bytes for _, same, same_bytes in compared)


def test_records_of_flows_in_reused_slots_over_many_intervals_equal_the_reference(plant, compared):
    """The Community IDs the table keeps per slot (hashed once a flow) stay right across intervals
    and when an ended or evicted flow's slot holds another flow."""
    intervals = list(iter_intervals([plant], 2.0, uid_salt="SN-1", protocols=(), max_flows=64))
    assert len(intervals) > 5 and sum(iv.evicted_flows for iv in intervals) > 0
    assert sum(iv.flows["final"].to_pylist().count(True) for iv in intervals[:-1]) > 0  # slots freed before the end
    assert compared and all(same and same_bytes for _, same, same_bytes in compared)


def test_take_texts_is_arrows_take_and_refuses_what_its_loop_cannot_bound():
    """``wire.arrays.take_texts`` (a compiled loop with no bounds checks) gives Arrow's ``take`` on a sliced
    array, and refuses an index outside, nulls and other types rather than read past the buffers."""
    texts = pa.array(["", "a", "ßü", "long" * 50, "x"], pa.string()).slice(1)
    index = np.array([3, 0, 0, 2, 1])
    assert arrays.take_texts(texts, index).equals(texts.take(pa.array(index)))
    assert arrays.take_texts(texts, np.array([], np.int64)).to_pylist() == []
    for bad in ([4], [-1], [10**7]):
        with pytest.raises(IndexError):
            arrays.take_texts(texts, np.array(bad))
    for wrong in (pa.array(["a", None]), pa.array(["a", "b"], pa.large_string())):
        with pytest.raises(TypeError):
            arrays.take_texts(wrong, np.array([0]))
