"""Capture files or live capture → per-interval ``wire.Batch`` (flows, events, observations, counters).

Files and live chunk streams are read in order as one stream (a live stream's chunks also carry
the wall clock, which closes intervals when no packet does). Each chunk of frames is decoded into
packet columns, cut at batch-interval boundaries (by network time, i.e. the running maximum of capture
timestamps) and fed to the flow table, then to the decoding stages (application layer, link
layer, SYN fingerprints; they name flows' services) and the observer; at each boundary the
interval's records become one batch.

Nothing a capture holds stops it: every frame read is either decoded (and counted in exactly one
flow record) or counted as a parse error with its reason (``Stats``), frames of link types the
decoder does not know per link type.
"""

from __future__ import annotations

import gc
import logging
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

from sensor import wire
from sensor.wire import arrays
from sensor.meter.applayer import AppLayer
from sensor.capture.pcapfile import CHUNK, Frames, iter_frames
from sensor.decode import packet as pk
from sensor.decode import registry
from sensor.decode.spec import Protocol
from sensor.meter.intervalevents import IntervalEvents, wire_events
from sensor.meter.flows import SEC, FlowTable, ip_text, mac_text
from sensor.meter.linklayer import LinkLayer
from sensor.meter.synprint import SynPrints

log = logging.getLogger(__name__)

FILE_CHUNK = CHUNK  # frames read from a file at once (pcapfile.CHUNK: what that holds)


@dataclass
class Interval:
    """One interval's output before it is packed into a wire.Batch."""

    start: float  # seconds since the epoch
    end: float
    flows: pa.Table  # wire.FLOWS
    counters: dict[str, int]
    observations: list[dict] = field(default_factory=list)
    events: list[dict] | IntervalEvents = field(default_factory=list)  # wire.EVENTS dicts (IntervalEvents: some as tables)
    decode_errors: dict[str, int] = field(default_factory=dict)  # malformed PDUs per app protocol

    @property
    def evicted_flows(self) -> int:
        """Flows the full flow table reported early (their records are in ``flows``)."""
        return self.counters["evicted_flows"]

    def flow_records(self) -> list[dict]:
        """The flow records as dicts (times in µs since the epoch), for readers that go row by row."""
        times = {name: self.flows.column(name).cast(pa.int64()) for name in ("ts", "ts_end")}
        return self.flows.drop_columns(list(times)).append_column("ts", times["ts"]).append_column(
            "ts_end", times["ts_end"]).to_pylist()


@dataclass
class Stats:
    """Frames the pipeline read since it started and what became of them: each is decoded (an IP
    or non-IP frame, counted in one flow record) or counted in ``errors`` under one reason
    ("record": a damaged file record, else ``packet.ERRORS``), so ``balanced`` always holds."""

    read: int = 0
    decoded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    link_types: Counter[int] = field(default_factory=Counter)  # frames of unknown link types, per link type

    @property
    def balanced(self) -> bool:
        return self.read == self.decoded + sum(self.errors.values())

    def damaged(self, records: int) -> None:
        """File records too damaged to hold a frame."""
        self.read += records
        if records:
            self.errors["record"] += records

    def add(self, frames: Frames, p: pk.Packets) -> None:
        """The frames and their packet columns."""
        self.read += len(frames)
        bad = p.status == pk.MALFORMED
        self.decoded += len(p.ts) - int(np.count_nonzero(bad))
        for code, count in enumerate(np.bincount(p.error[bad]).tolist()):
            if count and code in pk.ERRORS:  # (a malformed frame without a reason unbalances the stats)
                self.errors[pk.ERRORS[code]] += count
        unknown = bad & (p.error == pk.ERR_LINK_TYPE)
        if unknown.any():
            for lt, count in zip(*(a.tolist() for a in np.unique(frames.linktype[unknown], return_counts=True))):
                if lt not in self.link_types:
                    log.warning("frames of link type %d, which the sensor cannot decode, are counted and skipped", lt)
                self.link_types[lt] += count

    def summary(self) -> str:
        """What could not be decoded, e.g. ``ip 2, link_type 1 (link type 147: 1)``; "" if nothing."""
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.errors.items()))
        types = ", ".join(f"link type {lt}: {n}" for lt, n in sorted(self.link_types.items()))
        return f"{reasons} ({types})" if types else reasons


class _Observer:
    """Calls the observer hook for one interval's packets (ARP, watched UDP ports, IP/MAC pairs)."""

    def __init__(self, observer):
        self.obs = observer
        self.ports = np.array(sorted(getattr(observer, "UDP_PORTS", ())), np.uint16)
        self.pairs: set[tuple[int, int, int, int]] = set()

    def packets(self, p: pk.Packets, buf: np.ndarray, frame_end: np.ndarray) -> None:
        arp = (p.status == pk.NON_IP) & (p.ethertype == pk.ETH_ARP)
        udp = (p.status == pk.OK) & (p.proto == pk.UDP) & (p.frag != pk.FRAG_LATER)
        udp &= np.isin(p.sport, self.ports) | np.isin(p.dport, self.ports)
        for i in np.flatnonzero(arp | udp).tolist():
            lo = int(p.pay_off[i])
            payload = buf[lo : min(lo + int(p.pay_len[i]), int(frame_end[i]))].tobytes()
            if arp[i]:
                src_ip = dst_ip = None
            else:
                src_ip = ip_text(int(p.ipver[i]), p.src_hi[i], p.src_lo[i])
                dst_ip = ip_text(int(p.ipver[i]), p.dst_hi[i], p.dst_lo[i])
            self.obs.packet(p.ts[i] / SEC, mac_text(p.src_mac[i]), mac_text(p.dst_mac[i]), int(p.ethertype[i]),
                            src_ip, dst_ip, int(p.sport[i]), int(p.dport[i]), payload)
        ip = p.status == pk.OK
        if ip.any():
            rows = np.stack([p.src_mac[ip], p.ipver[ip].astype(np.uint64), p.src_hi[ip], p.src_lo[ip]], axis=1)
            self.pairs.update(map(tuple, _distinct_rows(rows).tolist()))

    def flush(self, ts: float) -> tuple[list[dict], list[dict]]:
        pairs = sorted(self.pairs)
        self.pairs.clear()
        self.obs.ip_pairs(ts, [(mac_text(m), ip_text(v, hi, lo)) for m, v, hi, lo in pairs])
        observations, events = self.obs.flush()
        return list(observations), list(events)


def _distinct_rows(rows: np.ndarray) -> np.ndarray:
    """The distinct rows of a uint64 matrix, in no order: ``np.unique(rows, axis=0)`` sorts the rows
    as bytes, ~40 ms per 65,536; this sorts one 64-bit mix of each row and compares every row with its
    group's first, so rows that merely share a mix are still told apart."""
    mix = np.zeros(len(rows), np.uint64)
    for column, factor in zip(rows.T, _MIX):
        mix ^= column * factor
    _, first, group = np.unique(mix, return_index=True, return_inverse=True)
    distinct = rows[first]
    shared = (rows != distinct[group]).any(axis=1)
    return np.concatenate([distinct, np.unique(rows[shared], axis=0)]) if shared.any() else distinct


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], np.uint64)


def _part(frames: Frames, lo: int, hi: int) -> Frames:
    """The chunk's frames ``lo`` to ``hi`` (its damaged records, drops and clock left out)."""
    return Frames(frames.buf, frames.ts[lo:hi], frames.offset[lo:hi], frames.caplen[lo:hi], frames.wirelen[lo:hi],
                  frames.linktype[lo:hi])


def _slices(ts: np.ndarray, floor: int, width: float | None, max_flows: int | None) -> list[tuple[int, int, int, int]]:
    """A chunk's slices to decode one at a time, as (lo, hi, interval index, network time at the slice's
    last frame): cut where the interval (by network time, from ``floor``) changes, and for a bounded table
    every ``max_flows // 4`` frames. Plain numbers, so no per-frame array is held while an interval closes."""
    nt = np.maximum.accumulate(np.maximum(ts, floor))
    iv = nt // int(width) if width else np.zeros(len(nt), np.int64)
    cuts = [0, *(np.flatnonzero(iv[1:] != iv[:-1]) + 1).tolist(), len(iv)] if len(iv) else [0]
    if max_flows and len(iv):  # a bounded table can evict only flows outside the slice it places
        cuts = sorted({*cuts, *range(0, len(iv), max(1, max_flows // 4))})
    return [(lo, hi, int(iv[lo]), int(nt[hi - 1])) for lo, hi in zip(cuts[:-1], cuts[1:])]


def _new_counters() -> dict[str, int]:
    return dict.fromkeys(wire.COUNTERS, 0)


def _chunks(source: Path | Iterable[Frames]) -> Iterable[Frames]:
    return iter_frames(source, FILE_CHUNK) if isinstance(source, (str, Path)) else source


def _empty(iv: Interval) -> bool:
    return not (any(iv.counters.values()) or iv.flows.num_rows or iv.events or iv.observations)


def iter_intervals(sources: Iterable[Path | Iterable[Frames]], interval: float = 60.0, observer=None,
                   uid_salt: str = "", protocols: tuple[Protocol, ...] = registry.PROTOCOLS,
                   stats: Stats | None = None, max_flows: int | None = None,
                   folded: bool = False) -> Iterator[Interval]:
    """Analyse capture files and live chunk streams (``sensor.capture.live``) in order as one
    stream, yielding each interval that had packets (or news of kernel drops).
    ``protocols`` are the application decoders to run (none: flows only, no decoding at all);
    ``stats``, if given, accumulates what was read and what could not be decoded; ``max_flows``
    bounds the flow table (FlowTable: the longest-quiet flows are evicted, i.e. reported early);
    ``folded`` lets the compiled decoders hand over their events folded (as ``fold_events`` would)."""
    stats = Stats() if stats is None else stats
    table = FlowTable(uid_salt, max_flows=max_flows)
    app = AppLayer(table, protocols, fold=folded) if protocols else None
    stages = (app, LinkLayer(table), SynPrints()) if app else ()
    evicted = dropped = 0  # table.evictions and app.dropped at the last interval's end
    hook = _Observer(observer) if observer is not None else None
    width = interval * SEC if math.isfinite(interval) else None
    current = None  # interval index (or 0 for an infinite interval)
    first_ts = last_ts = None
    floor = np.iinfo(np.int64).min  # live capture: the clock by which every packet was in
    counters = _new_counters()

    def close(final: bool = False) -> Interval:
        """The interval's records; ``final`` (end of input) ends every flow in its last interval
        record, rather than in a zero-packet record after it."""
        nonlocal evicted, dropped
        start = current * interval if width else first_ts / SEC
        end = start + interval if width else last_ts / SEC
        observations, events = hook.flush(end) if hook else ([], [])
        # end of input: the records first, built as the flow table gives its memory back, for the
        # stages' output to reuse; no stage needs to forget the ended flows then
        flows = table.flush(final=True) if final else None
        decode_errors: dict[str, int] = {}
        for stage in stages:
            stage_events, stage_observations, stage_errors = stage.flush()
            events, observations = events + stage_events, observations + stage_observations
            decode_errors.update(stage_errors)
        if not final:
            flows = table.flush()
            ended = arrays.texts_at(flows.column("uid"), np.flatnonzero(flows.column("final").to_numpy())) if stages else ()
            for stage in stages:
                stage.end(ended)
        counters["decode_errors"] = sum(decode_errors.values())
        counters["evicted_flows"] = table.evictions - evicted
        counters["dropped_events"] = (app.dropped if app else 0) - dropped
        iv = Interval(start, end, flows, dict(counters), observations, events, decode_errors)
        evicted, dropped = table.evictions, app.dropped if app else 0
        return iv

    for source in sources:
        for frames in _chunks(source):
            stats.damaged(frames.errors)
            for lo, hi, index, last in _slices(frames.ts, max(table.network_time, floor), width, max_flows):
                if current is not None and index != current:
                    yield close()
                    counters = _new_counters()
                current = index
                first_ts = int(frames.ts[lo]) if first_ts is None else first_ts
                last_ts = last
                # decoded a slice at a time: no packet columns are held while an interval closes
                part = _part(frames, lo, hi)
                frame_end = part.offset + part.caplen
                seg = pk.decode(part)
                stats.add(part, seg)
                placed = table.add(seg)
                freed = table.take_evicted()
                if app and freed:
                    app.forget_slots(freed)
                if width:  # a packet stamped before its interval (out of order) dates its events at the start
                    seg = seg._replace(ts=np.maximum(seg.ts, current * int(width)))
                for stage in stages:
                    stage.packets(seg, placed, frames.buf, frame_end)
                if hook:
                    hook.packets(seg, frames.buf, frame_end)
                malformed = int(np.count_nonzero(seg.status == pk.MALFORMED))
                counters["packets"] += hi - lo
                counters["bytes"] += int(seg.wirelen.sum())
                counters["parse_errors"] += malformed
                counters["non_ip_packets"] += int(np.count_nonzero(seg.status == pk.NON_IP))
                part = seg = placed = frame_end = None
            # damaged records have no timestamp: count them in the interval being built
            counters["packets"] += frames.errors
            counters["parse_errors"] += frames.errors
            counters["kernel_drops"] += frames.kernel_drops
            if frames.clock is not None and width:  # live: close intervals on time, quiet port or not
                floor = max(floor, frames.clock)
                tick = floor // int(width)
                if current is not None and tick > current:
                    if not _empty(done := close()):
                        yield done
                    done = None  # not held while the next interval is built
                    counters = _new_counters()
                current = tick if current is None else max(current, tick)
            frames = None  # gone before the next chunk is read
    if current is None:
        if counters["packets"]:  # nothing readable, only damaged records
            yield Interval(0.0, 0.0, table.flush(final=True), dict(counters))
        return
    last = close(final=True)
    if not _empty(last):
        yield last


class _Hidden:
    """Finds none of the given packages (for ``lean_process``): a meta path finder (not derived from
    importlib.abc's, whose import brings importlib.resources, tempfile and shutil: ~5 ms of a start)."""

    def __init__(self, *packages: str):
        self.packages = packages

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.packages:
            raise ModuleNotFoundError(f"the sensor process runs without {name}", name=name)
        return None


HEAP_BLOCK = 2 << 20  # bytes (lean_process)


def lean_process() -> None:
    """For a sensor process, once at its start: Arrow buffers from the C library's malloc rather than
    Arrow's mimalloc pool, which keeps what an interval's records freed (100,000 concurrent flows:
    25 MB more at the peak); pyarrow without pandas; numba without cffi. pyarrow imports pandas, where
    it is installed, the first time it converts anything (``pa.array`` asks whether its argument is a
    pandas object): ~30 MB the sensor never uses, and which the sensor's own install (the ``sensor``
    extra) does not have. numba's typing of the first kernel it loads imports cffi, where installed,
    to recognise cffi functions (no sensor kernel takes one), and cffi its C parser: 45 ms of every
    start. Each looks once per process and keeps the answer, so they are asked here while pandas and
    cffi cannot be found; anything else may still import them. pyarrow's first conversion looks for
    dateutil's ``relativedelta`` too (a type it would take as an interval), and dateutil brings six and
    calendar (~4 ms of a start): hidden with pandas, whose dependency it is. Last, what start-up made (~72,000
    objects of imports: numba's registries, pyarrow, the decoders) is frozen out of the collector's
    way (``gc.freeze``): it lives as long as the process, yet every full collection went through it
    again, and so did the one at exit (1M-packet plant: 0.13-0.18 s of collection and exit → 0.04). And
    a block of ``HEAP_BLOCK`` is allocated and freed: glibc's malloc maps blocks above its threshold (128 KiB
    at first) on their own and raises the threshold to the largest such block freed, its heap trim threshold
    to twice that; from 2 MiB, an interval slice's arrays (up to ~1 MiB) come from the heap and its pages stay
    mapped for the next slice (1M-packet plant: 51,000 page faults → 19,000, ~0.08 s of system CPU less)."""
    np.empty(HEAP_BLOCK, np.uint8)  # (freed at once; any other malloc ignores it)
    pa.set_memory_pool(pa.system_memory_pool())
    hide = _Hidden("pandas", "cffi", "dateutil")
    sys.meta_path.insert(0, hide)
    try:
        if "pandas" not in sys.modules:
            pa.array([0])
        if "cffi" not in sys.modules and "numba" in sys.modules:
            import numba.core.typing.cffi_utils  # noqa: F401  (its cffi support off: SUPPORTED is False)
    finally:
        sys.meta_path.remove(hide)
    gc.freeze()


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def iter_batches(sources: Iterable[Path | Iterable[Frames]], interval: float = 60.0, sensor: str = "",
                 observer=None, fold: bool = True, stats: Stats | None = None,
                 max_flows: int | None = None) -> Iterator[wire.Batch]:
    """One wire.Batch per interval (see iter_intervals), its repeated events folded into one row
    each (sensor.meter.fold) unless ``fold`` is False; ``max_flows`` bounds the flow table."""
    for iv in iter_intervals(sources, interval, observer, uid_salt=sensor, stats=stats, folded=fold,
                             max_flows=max_flows):
        tables = {
            "flows": iv.flows,
            "events": wire_events(iv.events, fold),
            "observations": wire.table_from_rows("observations", iv.observations),
        }
        batch = wire.Batch(_utc(iv.start), _utc(iv.end), tables, iv.counters, sensor=sensor)
        iv = tables = None  # neither this interval nor its batch is held here while the next is built
        yield batch
        batch = None


_SUMMED = ("orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes")


def whole_flows(paths: Iterable[Path], interval: float = 60.0) -> list[dict]:
    """Every flow once, its interval records merged (for conn.log); sorted by start time."""
    open_flows: dict[str, dict] = {}
    done: list[dict] = []
    for iv in iter_intervals(paths, interval):
        for rec in iv.flow_records():
            prev = open_flows.get(rec["uid"])
            if prev is not None:
                for name in _SUMMED:
                    rec[name] += prev[name]
            if rec["final"]:
                open_flows.pop(rec["uid"], None)
                done.append(rec)
            else:
                open_flows[rec["uid"]] = rec
    done.sort(key=lambda r: (r["ts"], r["uid"]))
    return done
