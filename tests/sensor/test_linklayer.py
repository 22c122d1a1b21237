"""Link-layer stage: frames chosen by EtherType or LLC/SNAP header, cyclic streams sampled to one
frame per stream and second (across chunks), repeated events kept once, facts about MACs,
malformed frames counted."""

from __future__ import annotations

from scapy.layers.l2 import LLC, STP, Dot3, Ether

from sensor.capture.pcapfile import iter_frames
from sensor.decode import cdp
from sensor.decode import packet as pk
from sensor.decode.spec import Event, Fact, LinkProtocol
from sensor.meter.flows import FlowTable
from sensor.meter.linklayer import LinkLayer

T0 = 1_700_000_000_000_000  # µs
A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
ETHERTYPE = 0x88B5  # IEEE local experimental


def run(path, protocols, chunk=7):
    """(events, observations, errors) of one interval, and the flow records."""
    table = FlowTable()
    stage = LinkLayer(table, protocols)
    for frames in iter_frames(path, chunk):
        p = pk.decode(frames)
        stage.packets(p, table.add(p), frames.buf, frames.offset + frames.caplen)
    return stage.flush(), table.flush(final=True)


def frame(t_us: int, payload: bytes, src: str = A, ethertype: int = ETHERTYPE) -> tuple[int, bytes]:
    return T0 + t_us, bytes(Ether(src=src, dst=B, type=ethertype) / payload)


def recording(seen: list):
    def decode(payload: bytes, is_orig: bool, session) -> list[Event | Fact]:
        seen.append(payload[:2])
        if payload[:2] == b"\xff\xff":
            raise ValueError("malformed")
        session.services.add("test")
        return [Event("hello", attrs={"stream": payload[:2].hex()}), Fact("hostname", "plc-1")]

    return decode


def test_cyclic_streams_are_sampled_once_per_second_and_acyclic_frames_all_pass(make_pcap):
    fast = [frame(i * 1000, b"\x00\x01" + bytes(40)) for i in range(2500)]  # 1 ms for 2.5 s
    slow = [frame(i * 10_000 + 500, b"\x00\x02" + bytes(40)) for i in range(250)]  # 10 ms
    acyclic = [frame(i * 100_000 + 700, b"\xfe\xff" + bytes(40)) for i in range(5)]
    other = [frame(i * 1000, b"\x00\x01" + bytes(40), ethertype=0x88B6) for i in range(100)]  # not bound
    seen: list[bytes] = []
    proto = LinkProtocol("test", ETHERTYPE, recording(seen), cyclic=lambda ids: ids < 0xFC00)
    (events, observations, errors), flows = run(make_pcap(sorted(fast + slow + acyclic + other)), (proto,))
    assert sorted(seen) == [b"\x00\x01"] * 3 + [b"\x00\x02"] * 3 + [b"\xfe\xff"] * 5
    assert [(e["action"], e["attrs"]["stream"], e["attrs"]["src_mac"]) for e in events] == [
        ("hello", "0001", A), ("hello", "0002", A), ("hello", "feff", A)]  # repeats kept once
    assert {(o["mac"], o["attribute"], o["value"]) for o in observations} == {(A, "hostname", "plc-1")}
    assert sorted(flows["service"].to_pylist()) == ["", "test"] and not errors


def test_malformed_frames_are_counted(make_pcap):
    seen: list[bytes] = []
    proto = LinkProtocol("test", ETHERTYPE, recording(seen))
    (events, _, errors), _ = run(make_pcap([frame(0, b"\xff\xff"), frame(10, b"\x00\x01")]), (proto,))
    assert errors == {"test": 1} and len(events) == 1


def test_802_3_frames_reach_the_protocol_of_their_snap_header(corpus, make_pcap):
    from scapy.utils import rdpcap

    cdp_frame = bytes(rdpcap(str(corpus / "zeek/Traces/cdp-v1.pcap"))[0])
    stp = bytes(Dot3(src=A, dst="01:80:c2:00:00:00") / LLC() / STP())
    seen: list[bytes] = []

    def decode(payload, is_orig, session):
        seen.append(payload)
        return cdp.PROTOCOL.decode(payload, is_orig, session)

    proto = LinkProtocol("cdp", 0, decode, llc=cdp.SNAP_HEADER)
    (_, observations, errors), _ = run(make_pcap([(T0, stp), (T0 + 10, cdp_frame), (T0 + 20, stp)]), (proto,))
    assert len(seen) == 1 and ("router" in {o["value"] for o in observations}) and not errors
