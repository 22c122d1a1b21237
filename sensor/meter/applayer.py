"""Application-layer stage: run protocol decoders on the flows that need them.

After the flow table has placed a chunk of packets, the choice of packets is vectorised: TCP and
UDP packets with payload whose flow is still being detected (its first MAX_TRIES payload packets)
or was detected as one of ``registry.PROTOCOLS``. Only those reach Python. A flow whose first
MAX_TRIES payload packets match no protocol, or whose decoder has learnt all it can, is marked
in the flow table and never looked at again, so bulk traffic (camera RTP, file transfers) costs
one vectorised comparison per packet; a decoder of a cyclic exchange can likewise pause its flow
until the next interval.

Per flow the stage keeps the detected protocol, its decoder ``Session`` and, for TCP, one
reassembly ``Stream`` per direction. It stamps decoder events with the flow's uid and endpoints,
turns facts into observations (by IP: the sender's MAC may be a router's), tells the flow table
each flow's services, notes that the responder serves each service its decoder confirmed (a
``protocol_served`` fact per service and interval) and counts malformed PDUs per protocol
(``errors``).

Modbus/TCP and S7comm flows, once detected, go to compiled paths instead (``sensor.meter.fast_modbus``,
``sensor.meter.fast_s7comm``; EtherNet/IP-CIP over TCP, IEC 104, DNP3, and FINS and BACnet over UDP
likewise): their packets never enter the per-packet loop, and no Python object is made per PDU. A flow
such a kernel cannot follow moves to the Python path for good, with the decoder state it would have had. The module's
``COMPILED`` switch (on by default) forces the Python path when off; the tests compare both.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from types import ModuleType

import numpy as np

from sensor.decode import packet as pk
from sensor.decode import registry
from sensor.decode.spec import MALFORMED, Event, Protocol, Session
from sensor.decode.stream import Stream
from sensor.meter import fast_bacnet, fast_dnp3, fast_enip, fast_fins, fast_iec104, fast_modbus, fast_s7comm
from sensor.meter.fast_flows import CompiledFlows, uid_keys
from sensor.meter.fast_path import MovingFlows
from sensor.meter.flows import APP_DECODE, APP_DETECT, APP_IGNORE, SEC, FlowTable, Placed
from sensor.meter.fold import TRANSACTION_ATTRS, merged
from sensor.meter.intervalevents import IntervalEvents
from sensor.meter.rows import Facts, event_row

MAX_TRIES = 4  # payload packets of a flow offered to detection
MAX_EVENTS = 50_000  # per interval, of the protocols without a compiled path (those have their path's cap each)
CONF_SERVED = 80  # a host answered in the protocol: it serves it
COMPILED = True  # detected flows through the compiled paths (False: every PDU through the Python decoder)
NOTHING: frozenset[str] = frozenset()
# each protocol with a compiled path: the path's module, whose MAX_EVENTS caps the protocol's events an
# interval on either path, and its class, made from the interval's facts and the flow table
CAPPED: dict[str, tuple[ModuleType, type[CompiledFlows]]] = {
    "modbus": (fast_modbus, fast_modbus.FastModbus),
    "s7comm": (fast_s7comm, fast_s7comm.FastS7),
    "enip": (fast_enip, fast_enip.FastEnip),
    "iec104": (fast_iec104, fast_iec104.FastIec104),
    "dnp3": (fast_dnp3, fast_dnp3.FastDnp3),
    "omron_fins": (fast_fins, fast_fins.FastFins),
    "bacnet": (fast_bacnet, fast_bacnet.FastBacnet),
}


class _Flow:
    """A flow detected for the Python path (or moved there from a compiled path, which holds all
    there is of its own flows). Its decoder ``session`` and reassembly ``streams`` are made when
    first needed."""

    __slots__ = ("_session", "_streams", "ends", "protocol", "served", "services", "stopped", "transport")

    def __init__(self, endpoints: tuple[str, str, str, int], transport: str, protocol: Protocol) -> None:
        self.ends = endpoints  # (uid, orig_h, resp_h, resp_p)
        self.transport = transport
        self.protocol = protocol
        self._session: Session | None = None
        self._streams: tuple[Stream, Stream] | None = None
        self.services = 0  # how many services the flow table knows of
        self.served: frozenset[str] = NOTHING  # services the responder's protocol_served facts named this interval
        self.stopped = False

    uid = property(lambda self: self.ends[0])
    orig_h = property(lambda self: self.ends[1])
    resp_h = property(lambda self: self.ends[2])
    resp_p = property(lambda self: self.ends[3])

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(self.transport)
        return self._session

    @property
    def streams(self) -> tuple[Stream, Stream]:
        """From the originator, from the responder."""
        if self._streams is None:
            self._streams = (Stream(), Stream())
        return self._streams

    @property
    def paused(self) -> bool:
        return self._session is not None and self._session.pause

    def new_interval(self) -> None:
        if self._session is not None:
            self._session.pending.clear()  # a response after the interval end stands alone
            self._session.pause = False
        self.served = NOTHING


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def first_per_group(keys: np.ndarray, n: int) -> np.ndarray:
    """Mask of the elements among the first ``n`` (>= 1) of their key, in array order. Sorted stably, a key's
    elements are a run in array order: an element is among the first ``n`` unless the one ``n`` places
    before it has the same key (no rank per element: a third of the numpy calls, ~3x less time)."""
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    first = np.ones(len(ks), np.bool_)
    first[n:] = ks[n:] != ks[:-n]
    mask = np.empty(len(keys), np.bool_)
    mask[order] = first
    return mask


def _rows(cols: tuple[np.ndarray, ...], quiet: set[int], block: int = 1024):
    """The columns' values row by row, made Python objects a block at a time: a chunk's lists at once
    held ~17 MB of ints, whose pymalloc arenas the flows' objects made between them kept resident.
    ``cols[0]`` is the slot: from the next block on, the rows of the slots added to ``quiet`` meanwhile
    (flows stopped or paused, whose packets are passed over) are left out at once (at 1 M packets/s a
    camera's RTP flow has thousands of packets in a chunk after its sample)."""
    at, left_out = 0, 0
    while at < len(cols[0]):
        if len(quiet) > left_out:
            rest = ~np.isin(cols[0][at:], np.fromiter(quiet, np.int64, len(quiet)))
            cols, at, left_out = tuple(c[at:][rest] for c in cols), 0, len(quiet)
        yield from zip(*(c[at : at + block].tolist() for c in cols))
        at += block


class AppLayer:
    def __init__(self, table: FlowTable, protocols: tuple[Protocol, ...] = registry.PROTOCOLS,
                 fold: bool = False) -> None:
        """``fold``: hand each interval's events over folded (sensor.meter.fold), as the sensor sends them."""
        self.table = table
        self.fold = fold
        self.protocols = protocols
        self.errors: Counter[str] = Counter()  # malformed PDUs per protocol, this interval
        self.dropped = 0  # events over the per-interval cap, cumulative
        self._flows: dict[str, _Flow] = {}  # by uid, until the flow ends or is stopped
        self._by_slot: dict[int, _Flow] = {}  # this interval's flows by slot (slots are reused after it)
        self._paused: dict[str, int] = {}  # uid → slot of the flows paused until the interval end
        self._rows: list[tuple] = []  # (event, uid, orig_h, resp_h, resp_p, protocol)
        self._kept: Counter[str] = Counter()  # events kept this interval: by protocol with a cap of its own, else ""
        self._facts = Facts()  # by IP: the sender's MAC may be a router's
        names = {proto.name for proto in protocols} if COMPILED else set()
        self._fast = {name: path(self._facts, table) for name, (_, path) in CAPPED.items()  # by protocol name
                      if name in names}
        self._compiled_protocols = {proto.name: proto for proto in protocols if proto.name in self._fast}
        # each protocol with a compiled path keeps as many events an interval on either path (with
        # COMPILED off too), counted in capture order per protocol: both paths keep the same ones
        self._caps = {name: module.MAX_EVENTS for name, (module, _) in CAPPED.items()}

    # -- pipeline interface ---------------------------------------------------------------

    def packets(self, p: pk.Packets, placed: Placed, buf: np.ndarray, frame_end: np.ndarray) -> None:
        """Decode the packets of one chunk (already added to the flow table) that need it."""
        payload = (p.status == pk.OK) & (p.pay_len > 0) & (p.frag != pk.FRAG_LATER) & (placed.slot >= 0)
        cand = np.flatnonzero(payload & ((p.proto == pk.TCP) | (p.proto == pk.UDP)))
        if not len(cand):
            return
        marks = self.table.app_marks(placed.slot[cand])
        decode, is_detecting = marks == APP_DECODE, marks == APP_DETECT
        detecting = cand[is_detecting]
        tried = first_per_group(placed.slot[detecting], MAX_TRIES)
        decode[is_detecting] = tried  # (in capture order, as cand is)
        self._run(p, cand[decode], placed, buf, frame_end)
        rest = detecting[~tried]  # later packets of the flows detected just now
        self._run(p, rest[self.table.app_marks(placed.slot[rest]) == APP_DECODE], placed, buf, frame_end)

    def flush(self) -> tuple[list[dict] | IntervalEvents, list[dict], dict[str, int]]:
        """This interval's events in time order (wire row dicts, with the compiled paths' as tables),
        observations (wire row dicts) and errors per protocol."""
        rows = sorted(self._rows, key=lambda row: row[0].ts)
        events = self._folded(rows) if self.fold else [event_row(*row) for row in rows]
        if self._fast:
            parts = [events]
            for path in self._fast.values():
                parts.append(path.flush(self.fold))
                self.dropped += path.dropped
            events = IntervalEvents.merged(parts)
        observations = self._facts.flush()
        errors = dict(self.errors)
        self._rows, self._by_slot = [], {}
        self._kept.clear()
        self.errors.clear()
        for uid, slot in self._paused.items():
            if self.table.holds(slot, uid):
                self.table.mark_app(slot, APP_DECODE)
        self._paused = {}
        for flow in self._flows.values():
            flow.new_interval()
        return events, observations, errors

    def end(self, uids) -> None:
        """Forget the state of flows that ended."""
        for uid in uids:
            self._flows.pop(uid, None)
        if self._fast:
            ended = uid_keys(uids)
            for path in self._fast.values():
                path.end(ended)

    def forget_slots(self, slots: list[int]) -> None:
        """The flow table evicted these slots' flows: the slots may now hold other flows."""
        for slot in slots:
            self._by_slot.pop(slot, None)
        for path in self._fast.values():
            path.forget_slots(slots)

    # -- per packet -----------------------------------------------------------------------

    def _run(self, p: pk.Packets, idx: np.ndarray, placed: Placed, buf: np.ndarray, frame_end: np.ndarray) -> None:
        """Decode the packets ``idx`` (positions in capture order)."""
        compiled: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # packets of flows on each compiled path, their fids
        slots = placed.slot[idx]
        for name, path in self._fast.items():
            fids = path.fids(slots)
            on = fids >= 0
            if on.any():
                compiled[name] = idx[on], fids[on]
                idx, slots = idx[~on], slots[~on]
        fresh: dict[int, str] = {}  # slots of the flows detected just now onto a compiled path: its name
        detected: dict[str, list[int]] = {name: [] for name in self._fast}  # those flows' packets
        quiet: set[int] = set()  # slots of the flows stopped or paused by a packet of this call
        view = memoryview(buf)
        cols = (slots, placed.is_orig[idx], p.ts[idx], p.pay_off[idx], p.pay_len[idx], frame_end[idx],
                p.proto[idx] == pk.TCP, p.seq[idx], idx)
        for slot, is_orig, ts, lo, length, end, tcp, seq, i in _rows(cols, quiet):
            data = None
            flow = self._by_slot.get(slot)
            if flow is None:
                if slot in fresh:
                    detected[fresh[slot]].append(i)
                    continue
                mark = self.table.app_mark(slot)
                if mark == APP_IGNORE:  # (stopped by an earlier packet of this chunk)
                    continue
                if mark == APP_DECODE:
                    flow = self._flow(slot)
                if flow is None:
                    data = bytes(view[lo : min(lo + length, end)])
                    transport = "tcp" if tcp else "udp"
                    proto = self._detect(slot, data, transport, int(p.sport[i]), int(p.dport[i]))
                    if proto is None:
                        continue
                    if proto.name in self._fast and transport == self._fast[proto.name].transport:
                        fresh[slot] = self._to_path(slot, proto.name)
                        detected[proto.name].append(i)
                        continue
                    flow = self._detected(slot, transport, proto)
            if flow.stopped or flow.paused:
                continue
            if data is None:
                data = bytes(view[lo : min(lo + length, end)])
            proto = flow.protocol
            if tcp and proto.frame is not None:
                try:
                    pdus = flow.streams[0 if is_orig else 1].push(seq, data, length, proto.frame)
                except MALFORMED:
                    self.errors[proto.name] += 1
                    continue
            else:  # a datagram (or a stream without framing) is decoded as it is
                pdus = [data]
            self._decode(flow, slot, pdus, is_orig, ts / SEC)
            if flow.stopped or flow.paused:
                quiet.add(slot)
        for name in self._fast:
            packets, fids = compiled.get(name, (idx[:0], idx[:0]))
            if detected[name]:
                packets = np.sort(np.concatenate([packets, np.array(detected[name], np.int64)]))
                fids = self._fast[name].fids(placed.slot[packets])
            if len(packets):
                self._compiled(name, p, packets, fids, placed, buf, frame_end)

    def _compiled(self, name: str, p: pk.Packets, idx: np.ndarray, fids: np.ndarray, placed: Placed,
                  buf: np.ndarray, frame_end: np.ndarray) -> None:
        """Decode the packets ``idx`` of flows on the path ``name`` (``fids``: theirs on it)."""
        path = self._fast[name]
        cols = (buf, fids, placed.is_orig[idx], p.ts[idx], p.pay_off[idx],
                p.pay_len[idx].astype(np.int64), frame_end[idx], p.seq[idx].astype(np.int64))
        if isinstance(path, MovingFlows):
            path.packets(*cols, lambda fid, positions: self._move(name, fid, idx[positions], p, placed, buf, frame_end))
        else:
            path.packets(*cols)
        errors = path.take_errors()
        if errors:
            self.errors[name] += errors

    def _move(self, name: str, fid: int, idx: np.ndarray, p: pk.Packets, placed: Placed, buf: np.ndarray,
              frame_end: np.ndarray) -> None:
        """A compiled flow goes on in Python, from its packets ``idx`` on, with the decoder state it would have."""
        path = self._fast[name]
        ends = path.ends[fid]
        flow = self._flows[ends[0]] = _Flow(ends, path.transport, self._compiled_protocols[name])
        services, served, seqs, events, pending, variables = path.move_out(fid)
        flow.session.services |= services
        flow.services = len(flow.session.services)
        flow.served |= served
        flow.session.pending.update(pending)
        flow.session.vars.update(variables)
        for stream, next_seq in zip(flow.streams, seqs):
            stream.next_seq = next_seq
        for event in events:  # (counted already, as the path's)
            self._keep(event.ts, flow, event)
        self._run(p, idx, placed, buf, frame_end)

    def _flow(self, slot: int) -> _Flow | None:
        """The flow in ``slot``, detected in an earlier interval; None if it was forgotten with an
        ended flow of the same uid (a connection reused within the µs it started): detect it again."""
        flow = self._flows.get(self.table.uid(slot))
        if flow is not None:
            self._by_slot[slot] = flow
        return flow

    def _decode(self, flow: _Flow, slot: int, pdus: list[bytes], is_orig: bool, ts: float) -> None:
        proto, session = flow.protocol, flow.session
        session.ts = ts
        for pdu in pdus:
            try:
                items = proto.decode(pdu, is_orig, session)
            except MALFORMED:
                self.errors[proto.name] += 1
                continue
            for item in items:
                if isinstance(item, Event):
                    self._event(ts, flow, item)
                else:
                    ip = flow.orig_h if is_orig == item.about_sender else flow.resp_h
                    self._facts.add(ts, "", ip, item.attribute, item.value, proto.name, item.confidence)
            if not is_orig and not session.services <= flow.served:  # what the decoder confirmed, once
                for service in session.services - flow.served:
                    self._facts.add(ts, "", flow.resp_h, "protocol_served", service, proto.name, CONF_SERVED)
                flow.served |= session.services
        if session.malformed:
            self.errors[proto.name] += session.malformed
            session.malformed = 0
        if len(session.services) != flow.services:
            flow.services = len(session.services)
            self.table.set_service(slot, ",".join(sorted(session.services)))
        if session.done:
            self._stop(slot, flow)
        elif session.pause:  # no packet of the flow reaches Python until the interval ends
            self.table.mark_app(slot, APP_IGNORE)
            self._paused[flow.uid] = slot

    def _detect(self, slot: int, data: bytes, transport: str, sport: int, dport: int) -> Protocol | None:
        """Try the payload on the candidate protocols: the flow's once known. Until then the flow
        table counts the tries: nothing is kept here of a flow no decoder takes."""
        tries = self.table.count_try(slot)
        for proto in registry.candidates(transport, sport, dport, self.protocols):
            try:
                detected = proto.detect(data)
            except MALFORMED:  # the input's fault only: what follows raises whatever it raises
                continue
            if detected:
                self.table.mark_app(slot, APP_DECODE)
                return proto
        if tries >= MAX_TRIES:
            self.table.mark_app(slot, APP_IGNORE)
        return None

    def _detected(self, slot: int, transport: str, proto: Protocol) -> _Flow:
        """A flow detected for the Python path."""
        endpoints = self.table.endpoints(slot)
        flow = self._flows[endpoints[0]] = self._by_slot[slot] = _Flow(endpoints, transport, proto)
        return flow

    def _to_path(self, slot: int, name: str) -> str:
        """A flow detected for a compiled path, which keeps all there is of it (no ``_Flow``)."""
        self._fast[name].add(self.table.endpoints(slot), slot)
        return name

    def _stop(self, slot: int, flow: _Flow) -> None:
        """No more packets of this flow reach Python; its services stay on the flow record."""
        self.table.mark_app(slot, APP_IGNORE)
        flow.stopped = True
        self._flows.pop(flow.uid, None)

    # -- rows -----------------------------------------------------------------------------

    @staticmethod
    def _folded(rows: list[tuple]) -> list[dict]:
        """fold_events of the rows' event_row dicts, without a dict per event."""
        groups: dict[tuple, list[tuple]] = {}
        for row in rows:
            event, uid, orig_h, resp_h, resp_p, protocol = row
            attrs = tuple(sorted((k, v if v.__class__ is str else str(v)) for k, v in event.attrs.items()
                                 if v != "" and k not in TRANSACTION_ATTRS))
            key = (uid, orig_h, resp_h, resp_p, event.protocol or protocol, event.action, event.status, attrs)
            groups.setdefault(key, []).append(row)
        out = []
        for members in groups.values():
            first = event_row(*members[0])
            if len(members) > 1:
                times = [row[0].ts for row in members]
                first = merged(first, len(members), _utc(min(times)), _utc(max(times)),
                               [str(row[0].attrs["rtt"]) for row in members if row[0].attrs.get("rtt", "") != ""])
            out.append(first)
        return out

    def _event(self, ts: float, flow: _Flow, event: Event) -> None:
        """Keep the event if the interval's cap for its flow's protocol has room (a protocol with a
        compiled path shares the path's), else count it dropped."""
        name = flow.protocol.name
        path = self._fast.get(name)
        if path is not None:
            room = path.take_one()
        else:
            cap = self._caps.get(name)
            name = name if cap is not None else ""
            room = self._kept[name] < (MAX_EVENTS if cap is None else cap)
            self._kept[name] += room
        if not room:
            self.dropped += 1
            return
        self._keep(ts, flow, event)

    def _keep(self, ts: float, flow: _Flow, event: Event) -> None:
        event.ts = event.ts or ts
        self._rows.append((event, flow.uid, flow.orig_h, flow.resp_h, flow.resp_p, flow.protocol.name))
