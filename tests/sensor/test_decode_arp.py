"""ARP decoder against the Zeek ARP baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.decode import arp

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def test_who_has_and_is_at_match_zeek():
    from scapy.layers.l2 import ARP
    from scapy.utils import rdpcap

    path = CORPUS / "zeek/Traces/arp-who-has.pcap"
    if not path.exists():
        pytest.skip("corpus not available")
    packets = [arp.parse(bytes(p[ARP])) for p in rdpcap(str(path)) if ARP in p]
    # zeek/Baseline/scripts.base.protocols.arp.basic/.stdout
    assert packets == [
        arp.Arp(arp.REQUEST, "78:31:c1:c6:3f:c2", "10.0.0.2", "00:00:00:00:00:00", "10.0.0.1"),
        arp.Arp(arp.REPLY, "f8:ed:a5:c0:a4:f1", "10.0.0.1", "78:31:c1:c6:3f:c2", "10.0.0.2"),
    ]


def test_other_hardware_types_are_not_errors():
    assert arp.parse(bytes.fromhex("0006080006040001") + bytes(20)) is None  # IEEE 802 hardware


def test_truncated_raises():
    with pytest.raises(ValueError):
        arp.parse(bytes.fromhex("0001080006040001") + bytes(10))
