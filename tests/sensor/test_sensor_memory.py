"""What keeps the sensor's memory small at many concurrent flows: the application layer keeps no
object for a flow no decoder takes and no decoder session for a flow on a compiled path; the
sensor process runs pyarrow without pandas; the flow table's key index is one array of slots and its
state columns as narrow as their values (a byte for the small ones, 32 bits for sequence numbers and for
counters that saturate);
a compiled path's tables and a chunk's packet columns are not held across an interval end."""

from __future__ import annotations

import subprocess
import tracemalloc
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from bench.concurrent_flows import write as write_concurrent
from sensor.capture.pcapfile import iter_frames
from sensor.meter import fast_fold, flows
from sensor.meter.applayer import AppLayer
from sensor.meter.fast_flows import uid_keys
from sensor.meter.pipeline import iter_intervals
from sensor.meter.slotindex import SlotIndex

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def busy_site(tmp_path_factory) -> Path:
    """bench/concurrent_flows.py's capture, small: 1,000 flows open at once, four in five Modbus/TCP."""
    path = tmp_path_factory.mktemp("busy") / "concurrent.pcap"
    write_concurrent(path, flows=1000, rounds=4)
    return path


def test_flows_on_a_compiled_path_or_never_detected_hold_no_python_object(busy_site, monkeypatch):
    held: list[tuple] = []
    flush = AppLayer.flush

    def watched(self):
        # before the end of input releases them: the Python path's flows, the compiled Modbus path's
        held.append((list(self._flows.values()), [ends[0] for ends in self._fast["modbus"].ends if ends]))
        return flush(self)

    monkeypatch.setattr(AppLayer, "flush", watched)
    [interval] = list(iter_intervals([busy_site], 60.0))
    services = dict(zip(interval.flows["uid"].to_pylist(), interval.flows["service"].to_pylist()))
    [(python, compiled)] = held
    modbus = {uid for uid, service in services.items() if service == "modbus"}
    assert len(services) == 1000 and 700 < len(modbus) < 900
    # the compiled path's endpoints per Modbus flow, no object for the UDP flows that no decoder took
    assert python == [] and sorted(compiled) == sorted(modbus)
    assert not any(services[uid] for uid in set(services) - modbus)
    assert len(interval.events) == len(modbus)  # each flow's request and answer, decoded all the same
    tables = [part for parts in interval.events.sections for part in parts if not isinstance(part, list)]
    assert [table.num_rows for table in tables] == [len(modbus)]  # as columns, no dict per event


def test_the_sensor_process_runs_pyarrow_without_pandas(busy_site):
    pytest.importorskip("pandas")  # (installed by the dev and core extras; the sensor extra has none)
    code = ("import sys; from sensor.meter import pipeline; pipeline.lean_process();"
            "n = sum(iv.flows.num_rows for iv in pipeline.iter_intervals([sys.argv[1]]));"
            "print(n, 'pandas' in sys.modules); import pandas; print(pandas.DataFrame({'a': [1]}).shape)")
    out = subprocess.run([sys.executable, "-c", code, str(busy_site)], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["1000 False", "(1, 1)"]  # and anything else may still import pandas


def test_the_slot_index_answers_as_a_dict_through_rebuilds_and_removals():
    rng = np.random.default_rng(5)
    index, reference = SlotIndex(), {}
    pool = np.concatenate([rng.integers(0, 2**63, 3000, dtype=np.uint64),
                           np.arange(0, 4096 * 64, 4096, dtype=np.uint64)])  # keys sharing a home entry
    rows = np.zeros((8192, 2), np.uint64)  # each slot's key in its first word, as the flow table's U
    free = rng.permutation(len(rows)).tolist()
    for step in range(60):
        keys = np.unique(rng.choice(pool, 400))
        assert index.get(keys, rows).tolist() == [reference.get(k, -1) for k in keys.tolist()]
        slots = np.array([free.pop() for _ in keys])  # each key's new flow
        rows[slots, 0] = keys
        ended = [(k, reference[k]) for k in keys.tolist() if k in reference]  # their earlier flows' slots
        index.put(keys, slots, rows)
        reference.update(zip(keys.tolist(), slots.tolist()))
        if ended:  # released as the flow table releases them: the keys lead to the newer slots
            index.drop(np.array([k for k, _ in ended], np.uint64), np.array([s for _, s in ended]), rows)
            free += [s for _, s in ended]
        gone = rng.choice(keys, 150, replace=False)
        held = np.array([reference[k] for k in gone.tolist()])
        index.drop(gone, held, rows)
        for k in gone.tolist():
            free.append(reference.pop(k))
        assert len(index) == len(reference)
    assert index.get(pool, rows).tolist() == [reference.get(k, -1) for k in pool.tolist()]
    assert len(index._slots) < 4 * len(pool)  # removed entries were dropped by the rebuilds
    assert index._slots.dtype == np.int32  # the keys are read from the slots' rows, not held again


def test_narrow_state_columns_saturate_rather_than_wrap(make_pcap):
    """The scaled history counters (retransmissions, zero windows) are 32 bits, as Zeek's: past 2^31 - 1
    they stay there, and the letter is written once, at that threshold. A side's packets since its
    flow's last record stay at 2^32 - 1."""
    from sensor.capture.pcapfile import iter_frames
    from sensor.decode import packet as pk

    def segment(t_us: int, from_client: bool, flags: str, seq: int, ack: int, data: bytes = b"", win: int = 8192):
        ends = (("02:00:00:00:00:01", "10.0.0.1", 40000), ("02:00:00:00:00:02", "10.0.0.2", 502))
        (smac, sip, sport), (dmac, dip, dport) = ends if from_client else ends[::-1]
        return 1_700_000_000_000_000 + t_us, bytes(Ether(src=smac, dst=dmac) / IP(src=sip, dst=dip) / TCP(
            sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=win) / data)

    data = b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x01"
    frames = [segment(0, True, "S", 100, 0), segment(10, False, "SA", 900, 101), segment(20, True, "A", 101, 901),
              segment(30, True, "PA", 101, 901, data)]
    frames += [segment(40 + i, True, "PA", 101, 901, data, win=0) for i in range(3)]  # retransmitted, window 0
    frames += [segment(50 + i, True, "FA", 113, 901) for i in range(3)]
    [chunk] = list(iter_frames(make_pcap(frames)))
    p = pk.decode(chunk)
    table = flows.FlowTable()
    [slot] = set(table.add(pk.Packets(*(column[:4] for column in p))).slot.tolist())
    S = table._st.S
    e = int(table._st.H[slot, flows.ORIG_SIDE])
    for count in (flows.RX_CNT, flows.W0_CNT):
        S[slot, count + e] = flows.I32_MAX - 1
    S[slot, flows.PKTS + e] = flows.U32_MAX - 3  # the client's next 6 packets reach the limit
    table.add(pk.Packets(*(column[4:] for column in p)))
    assert [int(S[slot, count + e]) for count in (flows.RX_CNT, flows.W0_CNT)] == [flows.I32_MAX] * 2
    [record] = table.flush().select(["history", "orig_pkts", "resp_pkts"]).to_pylist()
    assert record["history"].count("T") == record["history"].count("W") == 1  # at the threshold, once each
    assert (record["orig_pkts"], record["resp_pkts"]) == (2**32 - 1, 1)


def test_sequence_spans_across_a_wrap_and_beyond_4_gib_come_out_whole(make_pcap):
    """Initial sequence numbers are kept in 32 bits, the sequence spans in 64: a connection whose
    numbers wrap past 2^32 and one whose sides each span more than 4 GiB (segments 2^30 apart, read
    over two intervals) report every payload byte, as the spans reckon them."""
    from sensor.capture.pcapfile import iter_frames
    from sensor.decode import packet as pk

    def segment(t_us: int, port: int, from_client: bool, flags: str, seq: int, ack: int, data: bytes = b""):
        ends = (("02:00:00:00:00:01", "10.0.0.1", port), ("02:00:00:00:00:02", "10.0.0.2", 502))
        (smac, sip, sport), (dmac, dip, dport) = ends if from_client else ends[::-1]
        return 1_700_000_000_000_000 + t_us, bytes(Ether(src=smac, dst=dmac) / IP(src=sip, dst=dip) / TCP(
            sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=ack % 2**32) / data)

    def connection(port: int, isn: tuple[int, int], step: int, sizes: tuple[int, int], rounds: int):
        """Handshake, then ``rounds`` segments a side, each ``step`` past the side's last, then both FINs;
        the frames and each side's payload as its sequence span counts it, after each round."""
        c, s = isn[0] + 1, isn[1] + 1  # next sequence numbers
        frames = [segment(0, port, True, "S", isn[0], 0), segment(1, port, False, "SA", isn[1], c),
                  segment(2, port, True, "A", c, s)]
        spans = []
        for k in range(rounds):
            c_at, s_at = c + k * step, s + k * step
            frames += [segment(10 + 4 * k, port, True, "PA", c_at, s_at, bytes(sizes[0])),
                       segment(11 + 4 * k, port, False, "PA", s_at, c_at + sizes[0], bytes(sizes[1])),
                       segment(12 + 4 * k, port, True, "A", c_at + sizes[0], s_at + sizes[1])]
            spans.append((c_at + sizes[0] - c, s_at + sizes[1] - s))
        c_end, s_end = c + (rounds - 1) * step + sizes[0], s + (rounds - 1) * step + sizes[1]
        frames += [segment(90, port, True, "FA", c_end, s_end), segment(91, port, False, "FA", s_end, c_end + 1),
                   segment(92, port, True, "A", c_end + 1, s_end + 1)]
        return frames, spans

    wrapping, wrap_spans = connection(40001, (2**32 - 700, 2**32 - 300), 400, (400, 300), 3)
    wide, wide_spans = connection(40002, (1000, 2**31 + 5), 2**30, (100, 200), 6)
    assert wide_spans[-1][0] > 4 * 2**30 and wide_spans[-1][1] > 4 * 2**30
    [chunk] = list(iter_frames(make_pcap(wrapping + wide)))
    p = pk.decode(chunk)
    table = flows.FlowTable()
    cut = len(wrapping) + 3 + 3 * 4  # the wide connection's first four rounds, then an interval end
    table.add(pk.Packets(*(column[:cut] for column in p)))
    first = {row["orig_p"]: row for row in table.flush().to_pylist()}
    table.add(pk.Packets(*(column[cut:] for column in p)))
    second = {row["orig_p"]: row for row in table.flush(final=True).to_pylist()}
    ends = [(row["orig_bytes"], row["resp_bytes"], row["conn_state"]) for row in (first[40001], second[40002])]
    assert ends == [(*wrap_spans[-1], "SF"), (*(b - a for a, b in zip(wide_spans[3], wide_spans[-1])), "SF")]
    assert (first[40002]["orig_bytes"], first[40002]["resp_bytes"]) == wide_spans[3]
    pkts = [(first[40002][f"{side}_pkts"], second[40002][f"{side}_pkts"]) for side in ("orig", "resp")]
    assert pkts == [(2 + 2 * 4, 2 * 2 + 2), (1 + 4, 2 + 1)]  # (handshake, rounds, FIN and its ACK)


def test_widest_ports_ethertypes_and_vlans_come_out_whole(make_pcap):
    frames = [(1_000_000, bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=4095)
                                / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=65535, dport=65534, flags="S"))),
              (1_000_009, bytes(Ether(src="02:00:00:00:00:03", dst="02:00:00:00:00:04", type=0xFFFF) / bytes(46)))]
    [interval] = list(iter_intervals([make_pcap(frames)], 60.0, protocols=()))
    rows = sorted(interval.flows.select(["orig_p", "resp_p", "vlan", "ethertype", "history"]).to_pylist(),
                  key=lambda row: row["ethertype"])
    assert rows == [{"orig_p": 65535, "resp_p": 65534, "vlan": 4095, "ethertype": 0x0800, "history": "S"},
                    {"orig_p": 0, "resp_p": 0, "vlan": 0, "ethertype": 0xFFFF, "history": ""}]


def test_a_flow_sharing_an_ended_flow_s_uid_is_decoded_on(make_pcap):
    """A connection reused at the very µs its predecessor started gets the same uid; when the
    predecessor's end forgets the uid, the successor is detected again, as before it was kept."""
    def segment(t_us: int, from_client: bool, flags: str, seq: int, data: bytes = b"") -> tuple[int, bytes]:
        ends = (("02:00:00:00:00:01", "10.0.0.1", 40000), ("02:00:00:00:00:02", "10.0.0.2", 80))
        (smac, sip, sport), (dmac, dip, dport) = ends if from_client else ends[::-1]
        return 1_700_000_000_000_000 + t_us, bytes(Ether(src=smac, dst=dmac) / IP(src=sip, dst=dip)
                                                   / TCP(sport=sport, dport=dport, flags=flags, seq=seq) / data)

    get = b"GET /a HTTP/1.1\r\nHost: cam\r\n\r\n"
    frames = [segment(0, True, "S", 100), segment(10, False, "SA", 900), segment(20, True, "PA", 101, get),
              segment(30, True, "R", 101 + len(get)),
              segment(0, True, "S", 7000), segment(40, False, "SA", 800), segment(50, True, "PA", 7001, get),
              segment(61_000_000, True, "PA", 7001 + len(get), get)]  # the next interval
    intervals = list(iter_intervals([make_pcap(frames)], 60.0))
    first, second = ([(e["uid"], e["action"]) for e in iv.events if e["protocol"] == "http"] for iv in intervals)
    assert len({uid for uid, _ in first}) == 1 and len(first) == 2  # both flows: one uid
    assert second == first[:1]


def test_the_final_flush_gives_the_flow_table_back_as_it_builds_the_records(tmp_path, monkeypatch):
    """At the end of input the records are built slice by slice from the last slots back, and the
    table's matrices shrink behind each slice: the records take the place of the flows' state."""
    import tracemalloc

    from sensor.capture.pcapfile import iter_frames
    from sensor.decode import packet as pk

    path = tmp_path / "concurrent.pcap"
    write_concurrent(path, flows=20_000, rounds=2)

    def final_records(record_slice: int) -> tuple[object, int, int]:
        """(the records, the table's state in bytes, the traced memory the final flush added)"""
        monkeypatch.setattr(flows, "RECORD_SLICE", record_slice)
        tracemalloc.start()  # (numpy's buffers are traced; Arrow's are not)
        try:
            table = flows.FlowTable()
            for frames in iter_frames(path):
                table.add(pk.decode(frames))
            state, held = sum(matrix.nbytes for matrix in table._st), tracemalloc.get_traced_memory()[0]
            records = table.flush(final=True)
            return records, state, tracemalloc.get_traced_memory()[0] - held
        finally:
            tracemalloc.stop()

    whole = final_records(1 << 20)[0]  # (in one slice; its first flush imports what the records need)
    records, state, added = final_records(2_000)
    assert records.num_rows == 20_000 and state > 7_000_000
    texts = sum(buffer.size for f in records.schema if pa.types.is_string(f.type)
                for chunk in records.column(f.name).chunks for buffer in chunk.buffers() if buffer is not None)
    assert added - texts < -0.6 * state  # (the records' columns are numpy buffers, traced too: the texts' counted apart)
    assert records.equals(whole)


def test_a_compiled_flow_s_endpoints_hold_no_object_of_their_own():
    """A compiled path keeps its flows' endpoints as columns: the uids as fixed-width bytes, the hosts
    (shared strings) as lists, the ports as an array (a tuple, a uid string and a port int per flow
    were ~180 bytes)."""
    import tracemalloc

    from sensor.meter.fast_modbus import FastModbus
    from sensor.meter.rows import Facts

    n = 20_000
    path = FastModbus(Facts(), flows.FlowTable(capacity=n))
    tracemalloc.start()
    try:
        for slot in range(n):  # (a new uid string and port int each, as the flow table's endpoints are)
            path.add((f"C{slot:017d}", "10.0.0.1", "10.0.0.2", int(f"{50000 + slot % 1000}")), slot)
        held = tracemalloc.get_traced_memory()[0] - path._flows.nbytes - path._by_slot.nbytes
    finally:
        tracemalloc.stop()
    assert held < 48 * n
    assert path.ends[7] == ("C00000000000000007", "10.0.0.1", "10.0.0.2", 50007)
    assert list(path.ends)[-1][0] == f"C{n - 1:017d}" and path.ends.fids_of(uid_keys({"C00000000000000007"})) == [7]


def test_a_compiled_path_s_fids_are_released_once_and_only_by_a_flow_uid():
    """Ended flows free their fids once each, for reuse; a text that is no flow uid (empty, as a free fid's,
    longer than a uid, not ASCII) ends nothing and is refused as a new flow's without leaving a fid behind."""
    import pytest

    from sensor.meter.fast_modbus import FastModbus
    from sensor.meter.rows import Facts

    path = FastModbus(Facts(), flows.FlowTable(capacity=8))
    uids = [f"C{i:017d}" for i in range(4)]
    for slot, uid in enumerate(uids):
        path.add((uid, "10.0.0.1", "10.0.0.2", 502), slot)
    path.end(uid_keys({uids[1], uids[3]}))
    path.end(uid_keys({"", uids[1], uids[1] + "Z", "C" + "\u3042" * 5, "\x00"}))  # already free, longer, not ASCII, NUL
    assert sorted(path._free) == [1, 3]
    assert path.ends.fids_of(uid_keys({"", "\x00", uids[0][:-1], uids[0] + "Z", uids[0][:-1] + "\x00"})) == []
    for bad in ("", "C" * 19, "C\u3042", "\x00", "C1\x00"):
        with pytest.raises(ValueError):
            path.ends.append((bad, "10.0.0.1", "10.0.0.2", 502))
    assert len(path.ends) == 4
    assert path.add((uids[1], "10.0.0.3", "10.0.0.4", 502), 5) in (1, 3)
    assert path.add(("C" + "9" * 17, "10.0.0.5", "10.0.0.6", 502), 6) in (1, 3)
    assert path._free == [] and path.add(("C" + "8" * 17, "10.0.0.7", "10.0.0.8", 502), 7) == 4


def test_a_compiled_path_s_tables_go_back_to_their_first_size_at_an_interval_end(tmp_path, monkeypatch):
    """What a busy interval grew a path's event rows and pending-request table to is not held across
    its end (the rows are turned into the interval's events table, the requests forgotten)."""
    from sensor.meter import fast_flows
    from sensor.meter.fast_modbus import FastModbus

    path = tmp_path / "concurrent.pcap"
    write_concurrent(path, flows=25_000, rounds=4)  # ~20,000 Modbus flows: a request or an answer each a round
    sizes = []
    flush = FastModbus.flush

    def watched(self, fold):
        grown = len(self._events), len(self._keys)
        part = flush(self, fold)
        sizes.append((grown, (len(self._events), len(self._keys)), len(part) if isinstance(part, list) else part.num_rows))
        return part

    monkeypatch.setattr(FastModbus, "flush", watched)
    events = [len(iv.events) for iv in iter_intervals([path], 2.0)]  # (every PDU: a row each)
    assert events[2] == events[3] > 19_000 and [rows for _, _, rows in sizes] == events
    assert max(rows for (rows, _), _, _ in sizes) > fast_flows.EVENT_ROWS
    assert max(keys for (_, keys), _, _ in sizes) > fast_flows.PENDING
    assert {after for _, after, _ in sizes} == {(fast_flows.EVENT_ROWS, fast_flows.PENDING)}


def test_the_slot_index_grows_for_the_keys_it_lacks_not_for_those_it_holds():
    """A chunk's keys are mostly flows the index holds: 100,000 of them and a chunk of 65,536 known
    keys stay in 262,144 entries (1 MiB), where counting every key of the chunk as new doubled them."""
    keys = np.unique(np.random.default_rng(7).integers(0, 2**63, 140_000, dtype=np.uint64))[:140_000]
    rows = np.zeros((300_000, 1), np.uint64)  # each slot's key, as the flow table's U
    index = SlotIndex()
    rows[:100_000, 0] = keys[:100_000]
    index.put(keys[:100_000], np.arange(100_000), rows)
    entries = len(index._slots)
    rows[100_000:165_536, 0] = keys[:65_536]  # their next flows
    index.put(keys[:65_536], np.arange(100_000, 165_536), rows)
    assert len(index._slots) == entries == 1 << 18 and len(index) == 100_000
    rows[200_000:280_000, 0] = keys[60_000:]
    index.put(keys[60_000:], np.arange(200_000, 280_000), rows)  # 40,000 new keys: grown
    assert len(index._slots) > entries and len(index) == len(keys)
    expected = np.concatenate([np.arange(100_000, 160_000), np.arange(200_000, 280_000)])
    assert index.get(keys, rows).tolist() == expected.tolist()


def test_no_packet_columns_are_held_while_an_interval_closes(busy_site, monkeypatch):
    """A chunk is decoded a slice (the frames up to an interval end) at a time, each slice's columns let go
    once placed: none is held while the interval's records, events and batch are built."""
    import weakref

    from sensor.decode import packet as pk

    decoded = []
    decode = pk.decode

    def watched(frames):
        packets = decode(frames)
        decoded.append(weakref.ref(packets.status))
        return packets

    monkeypatch.setattr(pk, "decode", watched)
    held = [sum(ref() is not None for ref in decoded) for _ in iter_intervals([busy_site], 2.0)]
    assert len(held) == 4 and len(decoded) == 4  # (the capture is one chunk: four 2 s rounds)
    assert held == [0, 0, 0, 0]


def test_an_interval_end_holds_no_per_frame_array_beside_the_chunk(busy_site):
    """Where a chunk's intervals end is worked out into plain numbers before its slices are decoded: no
    array a number per frame (network times, interval indexes, frame ends) waits beside the chunk's own
    columns while an interval's records, events and batch are built."""
    intervals = iter_intervals([busy_site], 2.0)
    held = []
    for _ in intervals:
        local = intervals.gi_frame.f_locals
        if local["frames"] is not None:  # (the end of input's interval comes after the last chunk)
            frames = len(local["frames"].ts)
            held.append(sorted(name for name, value in local.items()
                               if isinstance(value, np.ndarray) and value.shape[:1] == (frames,)))
    assert held == [[], [], []]  # (the capture is one chunk: four 2 s rounds, three ends within it)


@pytest.mark.parametrize("as_ring", [False, True], ids=["file", "ring"])
def test_an_interval_end_holds_under_15_mb_of_the_capture_file_mapped(make_pcap, as_ring):
    """A file is read a chunk of frames at a time, and all of a chunk's pages are read when its record
    headers are scanned: they stay mapped until the chunk is done, across the interval ends within it.
    60,000 frames of 300 bytes (an interval end every 6,000), read as a file or as a live sensor's dumpcap
    ring reads its files (``iter_frames``' chunks): under 15 MB of the file resident at each end (the whole
    19 MB with 65,536 frames a chunk; a page cache may map a file 2 MiB at a time)."""
    frame = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=6000) / (b"x" * 258))
    path = make_pcap([(1_000 * i, frame) for i in range(60_000)])  # 1 ms apart: 60 s
    source = iter_frames(path) if as_ring else path

    def mapped() -> int:  # bytes of the capture resident in this process
        lines, total, inside = Path("/proc/self/smaps").read_text().splitlines(), 0, False
        for line in lines:
            if not line.endswith(":") and "-" in line.split(" ", 1)[0]:
                inside = line.endswith(str(path))
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
        return total

    held = [mapped() for _ in iter_intervals([source], 6.0, protocols=())]
    assert len(held) == 10 and path.stat().st_size > 18_000_000
    assert max(held) < 15_000_000, held


def test_a_flow_table_slot_holds_347_bytes():
    """The packets and IP bytes of a flow are counted since its last record (not as totals beside the
    totals reported); its kinds, flags, protocol, TCP states, history masks and timeout are a byte each,
    its initial sequence numbers and packet counts 32 bits; a flow other than TCP counts its payload in
    the column a TCP flow keeps its last sequence number in, the attempt and delete timers share a
    column, the scaled history's thresholds follow from its counters and a FIN is a flag: 100,000 flows'
    100,966 slots hold 33.4 MiB (416 bytes each: 40.1; 616: 59.3)."""
    table = flows.FlowTable(capacity=1024)
    assert sum(matrix.nbytes for matrix in table._st) == 347 * 1024
    assert table._st.H.dtype == np.uint8 and table._st.S.dtype == np.uint32 and flows.SIZE == flows.REL_LAST


def test_scaled_history_letters_come_at_their_thresholds(make_pcap):
    """Without a threshold column: a letter at the 1st, 10th, 100th … retransmission (Zeek's
    ScaledHistoryEntry), each side's counted apart."""
    from sensor.capture.pcapfile import iter_frames
    from sensor.decode import packet as pk

    def segment(t_us: int, from_client: bool, flags: str, seq: int, ack: int, data: bytes = b""):
        ends = (("02:00:00:00:00:01", "10.0.0.1", 40000), ("02:00:00:00:00:02", "10.0.0.2", 502))
        (smac, sip, sport), (dmac, dip, dport) = ends if from_client else ends[::-1]
        return 1_700_000_000_000_000 + t_us, bytes(Ether(src=smac, dst=dmac) / IP(src=sip, dst=dip) / TCP(
            sport=sport, dport=dport, flags=flags, seq=seq, ack=ack) / data)

    frames = [segment(0, True, "S", 100, 0), segment(1, False, "SA", 900, 101), segment(2, True, "A", 101, 901),
              segment(3, True, "PA", 101, 901, b"x" * 10), segment(4, False, "PA", 901, 111, b"y" * 10)]
    frames += [segment(10 + i, True, "PA", 101, 911, b"x" * 10) for i in range(120)]  # 120 retransmissions
    frames += [segment(200 + i, False, "PA", 901, 111, b"y" * 10) for i in range(12)]  # and 12 the other way
    [interval] = list(iter_intervals([make_pcap(frames)], 60.0, protocols=()))
    [history] = interval.flows.column("history").to_pylist()
    assert (history.count("T"), history.count("t")) == (3, 2)  # the 1st, 10th, 100th; the 1st and 10th


def test_folding_a_compiled_path_s_event_rows_copies_no_rows():
    """An interval end folds the Modbus path's event rows (60,000: 5.5 MB) into groups in time order,
    the key read in place and gathered a column at a time: its temporaries under 0.8 of the rows
    (a sorted copy of the rows and then of the groups: 1.3), the groups those of a dict by key."""
    rng = np.random.default_rng(7)
    n, key_cols, ts_col, rtt_col = 60_000, [0, 2, 3, 4, 5, 6, 7, 8, 9], 1, 11
    rows = np.zeros((n, 12), np.int64)
    rows[:, 0] = rng.integers(0, 15_000, n)  # flow
    rows[:, ts_col] = 1_700_000_000_000_000 + np.sort(rng.integers(0, 2_000_000, n))
    rows[:, 2], rows[:, 3], rows[:, 6] = rng.integers(1, 5, n), 256, rng.integers(0, 8, n)
    rows[:, 10], rows[:, rtt_col] = rng.integers(0, 65_536, n), rng.integers(-1, 5_000, n)  # tid, rtt (-1: none)
    tracemalloc.start()
    try:
        groups = fast_fold.group_columns(rows, key_cols, ts_col, rtt_col)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - held < 0.8 * rows.nbytes
    by_key: dict[tuple, list[int]] = {}
    for at, row in enumerate(rows[:, key_cols].tolist()):
        by_key.setdefault(tuple(row), []).append(at)
    assert len(groups.row) == len(by_key) < n
    assert (np.diff(groups.first) >= 0).all()  # in time order
    for row, count, first, last, rtt_n, rtt_max in zip(*(column.tolist() for column in (
            groups.row, groups.count, groups.first, groups.last, groups.rtt_n, groups.rtt_max))):
        members = by_key[tuple(rows[row, key_cols].tolist())]
        ts, rtt = rows[members, ts_col], rows[members, rtt_col]
        assert (count, first, last, rtt_n, rtt_max) == (len(members), ts.min(), ts.max(), (rtt >= 0).sum(), rtt.max())
