"""Link-layer stage: frames that carry no IP (PROFINET, GOOSE, CC-Link IE, LLDP, CDP) to their
decoders, ``registry.LINK_PROTOCOLS``.

The frames are chosen in numpy, as the ARP frames for the observer are: NON_IP frames of an
EtherType a protocol is bound to, or 802.3 frames whose payload starts with its LLC/SNAP header.
Frames of cyclic streams (what a protocol's ``cyclic`` marks) are then sampled: of each (sender
MAC, EtherType, stream id) one frame per second of capture time reaches Python, so a PROFINET
controller's millisecond cycle or a GOOSE burst costs a few vectorised passes. A stream id is
the payload's first 16 bits (PROFINET frame id, GOOSE APPID …), so a device's streams are
sampled apart. Acyclic frames (DCP, LLDP, CC-Link transient messages) all go through.

Per L2 flow the stage keeps the decoder's ``Session`` and names the flow's service. Events carry
the flow's uid and the MACs (attrs ``src_mac``/``dst_mac``: L2 flows have no addresses); an event
repeated in an interval is kept once, as the flow record counts the frames. Facts are about the
sender's MAC (or the receiver's); an ``ip`` fact also fills the address column.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from sensor.decode import packet as pk
from sensor.decode import registry
from sensor.decode.spec import MALFORMED, Event, LinkProtocol, Session
from sensor.meter.flows import SEC, FlowTable, Placed, mac_text
from sensor.meter.rows import Facts, event_row

MAX_EVENTS = 50_000  # per interval


def _starts_with(buf: np.ndarray, off: np.ndarray, end: np.ndarray, prefix: bytes) -> np.ndarray:
    """Mask of the payloads (at ``off``, captured up to ``end``) that start with ``prefix``."""
    pos = off[:, None] + np.arange(len(prefix))
    same = buf[np.minimum(pos, len(buf) - 1)] == np.frombuffer(prefix, np.uint8)
    return (end - off >= len(prefix)) & same.all(axis=1)


def _stream_ids(buf: np.ndarray, off: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The first 16 bits of each payload (0 when it is shorter)."""
    hi = buf[np.minimum(off, len(buf) - 1)].astype(np.uint16)
    lo = buf[np.minimum(off + 1, len(buf) - 1)].astype(np.uint16)
    return np.where(end - off >= 2, hi << 8 | lo, 0).astype(np.uint16)


class LinkLayer:
    def __init__(self, table: FlowTable, protocols: tuple[LinkProtocol, ...] = registry.LINK_PROTOCOLS) -> None:
        self.table = table
        self.protocols = protocols
        self.errors: Counter[str] = Counter()  # malformed frames per protocol, this interval
        self.dropped = 0  # events over the per-interval cap, cumulative
        self._sessions: dict[str, Session] = {}  # by L2 flow uid, until the flow ends
        self._sampled: dict[tuple[int, int, int], int] = {}  # (EtherType, MAC, stream id) → second sampled
        self._events: dict[tuple, tuple[Event, str, str]] = {}  # repeat key → (event, uid, protocol)
        self._facts = Facts()

    # -- pipeline interface ---------------------------------------------------------------

    def packets(self, p: pk.Packets, placed: Placed, buf: np.ndarray, frame_end: np.ndarray) -> None:
        """Decode the frames of one chunk (already added to the flow table) that need it."""
        l2 = np.flatnonzero((p.status == pk.NON_IP) & (placed.slot >= 0))
        if not len(l2):
            return
        for proto in self.protocols:
            idx = l2[p.ethertype[l2] == proto.ethertype]
            if proto.llc and len(idx):
                idx = idx[_starts_with(buf, p.pay_off[idx], frame_end[idx], proto.llc)]
            if proto.cyclic is not None and len(idx):
                idx = idx[self._sample(proto, p, idx, _stream_ids(buf, p.pay_off[idx], frame_end[idx]))]
            if len(idx):
                self._run(proto, p, idx, placed, buf, frame_end)

    def flush(self) -> tuple[list[dict], list[dict], dict[str, int]]:
        """This interval's events and observations (wire row dicts) and errors per protocol."""
        events = [event_row(event, uid, "", "", 0, protocol)
                  for event, uid, protocol in sorted(self._events.values(), key=lambda row: row[0].ts)]
        errors = dict(self.errors)
        self.errors.clear()
        self._events, self._sampled = {}, {}
        for session in self._sessions.values():
            session.pending.clear()
        return events, self._facts.flush(), errors

    def end(self, uids) -> None:
        """Forget the state of flows that ended."""
        for uid in uids:
            self._sessions.pop(uid, None)

    # -- per frame ------------------------------------------------------------------------

    def _sample(self, proto: LinkProtocol, p: pk.Packets, idx: np.ndarray, sids: np.ndarray) -> np.ndarray:
        """Mask of the frames of ``idx`` to decode: acyclic ones, and per cyclic stream the first
        frame of each second not sampled yet."""
        keep = ~proto.cyclic(sids)
        cyc = np.flatnonzero(~keep)
        if len(cyc):
            macs, seconds = p.src_mac[idx[cyc]], (p.ts[idx[cyc]] // SEC).astype(np.uint64)
            rows = np.stack([macs, sids[cyc].astype(np.uint64), seconds], axis=1)
            _, first = np.unique(rows, axis=0, return_index=True)  # sorted: a stream's seconds ascend
            for j in first.tolist():
                key, second = (proto.ethertype, int(macs[j]), int(sids[cyc[j]])), int(seconds[j])
                if self._sampled.get(key) != second:
                    self._sampled[key] = second
                    keep[cyc[j]] = True
        return keep

    def _run(self, proto: LinkProtocol, p: pk.Packets, idx: np.ndarray, placed: Placed, buf: np.ndarray,
             frame_end: np.ndarray) -> None:
        view = memoryview(buf)
        cols = (placed.slot[idx], placed.is_orig[idx], p.ts[idx], p.pay_off[idx], frame_end[idx], p.src_mac[idx],
                p.dst_mac[idx])
        for slot, is_orig, ts, lo, end, src, dst in zip(*(c.tolist() for c in cols)):
            uid = self.table.uid(slot)
            session = self._sessions.get(uid)
            if session is None:
                session = self._sessions[uid] = Session("l2")
            session.ts = ts = ts / SEC
            try:
                items = proto.decode(bytes(view[lo:end]), is_orig, session)
            except MALFORMED:
                self.errors[proto.name] += 1
                continue
            macs = (mac_text(src), mac_text(dst))
            for item in items:
                if isinstance(item, Event):
                    self._event(ts, item, uid, proto.name, macs)
                else:
                    mac = macs[0] if item.about_sender else macs[1]
                    ip = item.value if item.attribute == "ip" else ""
                    self._facts.add(ts, mac, ip, item.attribute, item.value, proto.name, item.confidence)
            if session.malformed:
                self.errors[proto.name] += session.malformed
                session.malformed = 0
            if session.services:
                self.table.set_service(slot, ",".join(sorted(session.services)))

    def _event(self, ts: float, event: Event, uid: str, protocol: str, macs: tuple[str, str]) -> None:
        key = (uid, event.protocol, event.action, event.status, tuple(sorted(event.attrs.items())))
        if key in self._events:
            return
        if len(self._events) >= MAX_EVENTS:
            self.dropped += 1
            return
        event.ts = event.ts or ts
        event.attrs.update(src_mac=macs[0], dst_mac=macs[1])
        self._events[key] = (event, uid, protocol)
