"""Whole-pipeline fuzzing: mutated corpus captures through the sensor's pipeline, as `analyze` runs
it (reader, header decoder, flow table, application and link-layer decoders, SYN fingerprints,
observer, folding, batch building) and as `run` spools it (each batch encoded for the wire).

    .venv/bin/python bench/fuzz_pipeline.py [--frames 1000000] [--seed 1] [--keep DIR]
    .venv/bin/python bench/fuzz_pipeline.py --run [--frames 1000000] [--seed 1]

The frames of the captures in the shared corpus (MANIFEST.csv) are mutated and written as new
pcap or pcapng files: frames cut short, bytes flipped or spliced in, wire lengths that lie, link
types changed (pcap header or pcapng interface), single frames isolated in otherwise empty
intervals; then the container itself is damaged: record and block lengths that lie, files cut
short, bytes flipped anywhere. Each file goes through the pipeline once and is checked:

- no exception escapes, and no decoder fails otherwise than on malformed input (the registry's
  guard counts such failures as malformed PDUs, in ``spec.FAULTS``: reported separately here);
- no capture takes more than SLOW seconds (a decoder whose work grows with a count read from
  the packet rather than with its bytes stops a sensor as surely as an exception);
- every frame is accounted for: frames read = decoded + counted as errors (per reason); the
  batches' ``packets`` and ``parse_errors`` counters agree, the flow records count every decoded
  frame once; when the container was left intact, the reader read exactly the frames written.

Prints frames written and read, exceptions, accounting mismatches and the rate. Files that fail
are written to ``--keep`` to be replayed with ``mieruka-sensor analyze``.

``--run`` instead writes one capture of that many mutated frames (one pcapng section per mutated
corpus capture, its records intact, its times moved to end now) as a stand-in interface
(``$MIERUKA_SENSOR_CAPTURE_DIR``), runs `mieruka-sensor run` on it against a real core process
(tests/runtest.py's ``CoreProcess``) until the spool is empty, and checks the core's totals
(captured packets, packets in flows, parse errors) against the pipeline's accounting of that file.
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
import struct
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensor import wire  # noqa: E402
from sensor.meter import pipeline
from sensor.capture.pcapfile import CaptureError, iter_frames  # noqa: E402
from sensor.decode import spec  # noqa: E402
from sensor.meter.observe import Observer  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
INTERVAL = 60.0
SECTION_SPAN = 120_000_000  # µs: --run squeezes each mutated capture into 2 minutes of the past
SLOW = 10.0  # seconds for one capture (at most 2,000 frames; typically 0.01-0.1 s)
# link types to swap in: known ones (each frame then parses as something else) and unknown ones
LINK_TYPES = (0, 1, 9, 12, 50, 51, 101, 104, 108, 113, 147, 200, 228, 229, 239, 276, 0xFFFF)


@dataclass
class Frame:
    ts: int  # µs
    linktype: int
    data: bytes
    wirelen: int


@dataclass
class Capture:
    """A mutated capture: its bytes, what was done, and whether the records are still intact."""

    data: bytes
    frames: int  # frames written
    mutations: list[str] = field(default_factory=list)
    intact: bool = True  # the reader must see exactly ``frames`` frames and no damaged record


def corpus_files(corpus: Path = CORPUS) -> list[Path]:
    with open(corpus / "MANIFEST.csv") as f:
        return [corpus / row["path"] for row in csv.DictReader(f) if row["packets"]]


def load_frames(path: Path) -> list[Frame]:
    """A corpus capture's frames (the intact ones)."""
    out = []
    for chunk in iter_frames(path):
        for ts, off, cap, wire_len, lt in zip(chunk.ts.tolist(), chunk.offset.tolist(), chunk.caplen.tolist(),
                                              chunk.wirelen.tolist(), chunk.linktype.tolist()):
            out.append(Frame(ts, lt, chunk.buf[off:off + cap].tobytes(), max(wire_len, cap)))
    return out


# ---------------------------------------------------------------- frame mutations


def _flip(rng: random.Random, data: bytes, n: int) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    for _ in range(n):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def mutate_frames(rng: random.Random, frames: list[Frame], now: int) -> tuple[list[Frame], list[str]]:
    """Frame-level mutations, each applied to a random share of the frames; timestamps are moved
    to end at ``now``, so batches fall in a window a core accepts."""
    shift = now - max(f.ts for f in frames)
    frames = [Frame(f.ts + shift, f.linktype, f.data, f.wirelen) for f in frames]
    done = []
    share = rng.choice((0.01, 0.1, 0.5, 1.0))
    picks = rng.sample(["cut", "flip", "splice", "wirelen", "linktype", "isolate", "shuffle"], rng.randint(1, 3))
    for kind in picks:
        chosen = [f for f in frames if rng.random() < share] or [rng.choice(frames)]
        for f in chosen:
            if kind == "cut":
                f.data = f.data[: rng.randrange(len(f.data) + 1)]
            elif kind == "flip":
                f.data = _flip(rng, f.data, rng.randint(1, 8))
            elif kind == "splice":
                at = rng.randrange(len(f.data) + 1)
                f.data = f.data[:at] + rng.randbytes(rng.randint(1, 64)) + f.data[at + rng.randint(0, 64):]
            elif kind == "wirelen":
                f.wirelen = rng.choice((0, len(f.data) - 1, len(f.data) + rng.randint(1, 3000), 0xFFFFFFFF))
            elif kind == "linktype":
                f.linktype = rng.choice(LINK_TYPES)
        if kind == "isolate":  # a few frames alone in otherwise empty intervals, minutes apart
            alone = rng.sample(frames, min(len(frames), rng.randint(1, 4)))
            gap = int(rng.uniform(1.5, 5) * INTERVAL * 1e6)
            frames = [Frame(now - (len(alone) - i) * gap, f.linktype, f.data, f.wirelen) for i, f in enumerate(alone)]
        elif kind == "shuffle":  # out-of-order timestamps
            stamps = [f.ts for f in frames]
            rng.shuffle(stamps)
            for f, ts in zip(frames, stamps):
                f.ts = ts
        done.append(kind)
    for f in frames:
        f.wirelen = max(0, min(f.wirelen, 0xFFFFFFFF))
    return frames, done


# ---------------------------------------------------------------- writers (record offsets kept for lies)


def write_pcap(frames: list[Frame], big: bool, nano: bool) -> tuple[bytes, list[int]]:
    """A classic pcap (link type of the first frame); returns the bytes and each record header's offset."""
    order = ">" if big else "<"
    out = bytearray(struct.pack(order + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                                frames[0].linktype & 0xFFFFFFFF))
    records = []
    for f in frames:
        sec, frac = divmod(max(f.ts, 0), 1_000_000)
        records.append(len(out))
        out += struct.pack(order + "IIII", sec & 0xFFFFFFFF, frac * (1000 if nano else 1), len(f.data), f.wirelen)
        out += f.data
    return bytes(out), records


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(order + "II", btype, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def write_pcapng(frames: list[Frame], big: bool, options: bytes = b"") -> tuple[bytes, list[int], list[int]]:
    """A pcapng section with one interface per link type (each with ``options``); returns the
    bytes and the offsets of the interface blocks and of the packet blocks."""
    order = ">" if big else "<"
    out = bytearray(_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
    ifaces: dict[int, int] = {}
    idbs, epbs = [], []
    for f in frames:
        if f.linktype not in ifaces:
            ifaces[f.linktype] = len(ifaces)
            idbs.append(len(out))
            out += _block(order, 1, struct.pack(order + "HHI", f.linktype & 0xFFFF, 0, 65535) + options)
        epbs.append(len(out))
        ts = max(f.ts, 0)
        out += _block(order, 6, struct.pack(order + "IIIII", ifaces[f.linktype], ts >> 32, ts & 0xFFFFFFFF,
                                            len(f.data), f.wirelen) + f.data)
    return bytes(out), idbs, epbs


# ---------------------------------------------------------------- container mutations


def _put32(data: bytearray, off: int, value: int, big: bool) -> None:
    if off + 4 <= len(data):
        data[off:off + 4] = struct.pack(">I" if big else "<I", value & 0xFFFFFFFF)


def _lie(rng: random.Random, true: int) -> int:
    return rng.choice((0, 1, true - 1, true + 1, true + rng.randint(2, 5000), 0x7FFFFFFF, 0xFFFFFFFF, 1 << 18))


def build(rng: random.Random, frames: list[Frame]) -> Capture:
    """Write ``frames`` as pcap or pcapng, then maybe damage the container."""
    big = rng.random() < 0.3
    single = len({f.linktype for f in frames}) == 1
    if single and rng.random() < 0.5:
        data, records = write_pcap(frames, big, nano=rng.random() < 0.3)
        cap = Capture(bytearray(data), len(frames), ["pcap"])
        heads = [(off + 8, len(frames[i].data)) for i, off in enumerate(records)]  # caplen fields
        wires = [off + 12 for off in records]
        idbs, blocks = [], []
    else:
        options, kind = b"", "pcapng"
        if rng.random() < 0.1:  # an interface clock that lies: if_tsresol or if_tsoffset
            order = ">" if big else "<"
            options, kind = rng.choice([struct.pack(order + "HHB3x", 9, 1, rng.randrange(256)),
                                        struct.pack(order + "HHq", 14, 8, rng.randrange(-(1 << 63), 1 << 63))]), \
                "pcapng-clock"
        data, idbs, blocks = write_pcapng(frames, big, options)
        cap = Capture(bytearray(data), len(frames), [kind])
        heads = [(off + 20, len(frames[i].data)) for i, off in enumerate(blocks)]  # EPB caplen fields
        wires = [off + 24 for off in blocks]
    damage = rng.random()
    if damage < 0.1:
        for _ in range(rng.randint(1, 3)):
            off, true = rng.choice(heads)
            _put32(cap.data, off, _lie(rng, true), big)
        cap.mutations.append("caplen-lie")
        cap.intact = False
    elif damage < 0.15:
        _put32(cap.data, rng.choice(wires), _lie(rng, 1500), big)  # origlen: the records stay readable
        cap.mutations.append("origlen-lie")
    elif damage < 0.22 and blocks:
        off = rng.choice(blocks + idbs)
        _put32(cap.data, off + rng.choice((4, -4 + struct.unpack_from(">I" if big else "<I", cap.data, off + 4)[0])),
               _lie(rng, 32), big)
        cap.mutations.append("blocklen-lie")
        cap.intact = False
    elif damage < 0.3 and idbs:
        off = rng.choice(idbs)
        cap.data[off + 8:off + 10] = struct.pack(">H" if big else "<H", rng.choice(LINK_TYPES) & 0xFFFF)
        cap.mutations.append("idb-linktype")
    elif damage < 0.36 and not idbs:
        _put32(cap.data, 20, rng.choice(LINK_TYPES + (rng.randrange(1 << 32),)), big)
        cap.mutations.append("pcap-linktype")
    elif damage < 0.46:
        del cap.data[rng.randrange(len(cap.data)):]
        cap.mutations.append("truncate-file")
        cap.intact = False
    elif damage < 0.56:
        cap.data = bytearray(_flip(rng, bytes(cap.data), rng.randint(1, max(1, len(cap.data) // 200))))
        cap.mutations.append("flip-file")
        cap.intact = False
    cap.data = bytes(cap.data)
    return cap


def mutate(rng: random.Random, frames: list[Frame], now: int) -> Capture:
    mutated, kinds = mutate_frames(rng, frames, now)
    cap = build(rng, mutated)
    cap.mutations[:0] = kinds
    return cap


# ---------------------------------------------------------------- checking


def check(path: Path, cap: Capture) -> tuple[pipeline.Stats, list[str]]:
    """Run a capture through the pipeline as `analyze` does and encode its batches as `run` does;
    return the stats and the accounting mismatches found. Exceptions propagate."""
    stats = pipeline.Stats()
    packets = parse_errors = flow_pkts = 0
    try:
        for batch in pipeline.iter_batches([path], INTERVAL, observer=Observer(), stats=stats):
            wire.encode(batch)
            packets += batch.counters["packets"]
            parse_errors += batch.counters["parse_errors"]
            flows = batch.tables["flows"]
            flow_pkts += sum(flows.column("orig_pkts").to_pylist()) + sum(flows.column("resp_pkts").to_pylist())
    except CaptureError:
        if cap.intact:
            raise
        return stats, []  # the file no longer starts as a capture: refused as a whole, one line and exit 2
    problems = []
    if not stats.balanced:
        problems.append(f"read {stats.read} != decoded {stats.decoded} + errors {dict(stats.errors)}")
    if packets != stats.read or parse_errors != sum(stats.errors.values()):
        problems.append(f"batches count {packets} packets / {parse_errors} parse errors, stats {stats.read} / "
                        f"{sum(stats.errors.values())}")
    if flow_pkts != stats.decoded:
        problems.append(f"flow records count {flow_pkts} packets, {stats.decoded} decoded")
    if cap.intact and (stats.read != cap.frames or stats.errors["record"]):
        problems.append(f"{cap.frames} frames written, {stats.read} read, {stats.errors['record']} damaged records")
    return stats, problems


@dataclass
class Report:
    files: int = 0
    written: int = 0
    read: int = 0
    exceptions: Counter = field(default_factory=Counter)  # "Type: message" → files
    mismatches: int = 0
    slow: int = 0  # captures that took more than SLOW seconds
    faults: Counter = field(default_factory=Counter)  # decoder failures other than MALFORMED, per protocol
    reasons: Counter = field(default_factory=Counter)
    link_types: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)  # one line per failing file (the first few)


def fuzz(frames_wanted: int, seed: int, keep: Path | None = None, corpus: Path = CORPUS,
         max_frames_per_file: int = 2000, progress: bool = False) -> Report:
    """Mutate corpus captures until ``frames_wanted`` frames were written; check each file
    (``progress``: a line on stderr at every tenth of the way)."""
    rng = random.Random(seed)
    sources = [f for f in (load_frames(p)[:max_frames_per_file] for p in corpus_files(corpus)) if f]
    now = int(time.time() * 1e6)
    report = Report()
    faults = Counter(spec.FAULTS)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.cap"
        while report.written < frames_wanted:
            cap = mutate(rng, rng.choice(sources), now)
            path.write_bytes(cap.data)
            report.files += 1
            report.written += cap.frames
            if progress and report.written * 10 // frames_wanted > (report.written - cap.frames) * 10 // frames_wanted:
                print(f"{report.written:,} frames, {time.perf_counter() - start:.0f} s", file=sys.stderr)
            began = time.perf_counter()
            try:
                stats, problems = check(path, cap)
            except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
                where = traceback.extract_tb(exc.__traceback__)[-1]
                key = f"{type(exc).__name__}: {str(exc)[:120]} ({Path(where.filename).name}:{where.lineno})"
                report.exceptions[key] += 1
                _keep(report, keep, cap, key)
                continue
            took = time.perf_counter() - began
            if took > SLOW:
                report.slow += 1
                _keep(report, keep, cap, f"took {took:.1f} s")
            report.read += stats.read
            report.reasons.update(stats.errors)
            report.link_types.update(stats.link_types)
            if problems:
                report.mismatches += 1
                _keep(report, keep, cap, "; ".join(problems))
    report.seconds = time.perf_counter() - start
    report.faults = spec.FAULTS - faults
    return report


def _keep(report: Report, keep: Path | None, cap: Capture, what: str) -> None:
    name = f"fail-{report.files:06d}.{'pcap' if 'pcap' in cap.mutations else 'pcapng'}"
    if len(report.failures) < 20:
        report.failures.append(f"{name} [{', '.join(cap.mutations)}]: {what}")
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / name).write_bytes(cap.data)


def run_fuzz(frames_wanted: int, seed: int, corpus: Path = CORPUS) -> dict:
    """`mieruka-sensor run` fed by one big mutated capture, uploading to a real core (see above)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from runtest import CoreProcess, eventually, sensor_run, write_config

    from sensor.ship.spool import Spool

    rng = random.Random(seed)
    sources = [f for f in (load_frames(p) for p in corpus_files(corpus)) if f]
    now = int(time.time() * 1e6)
    sections, written = [], 0
    while written < frames_wanted:
        frames, _ = mutate_frames(rng, rng.choice(sources), now)
        sections.append(frames)
        written += len(frames)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "site").mkdir()
        capture = tmp / "site" / "eth1.pcap"
        end = now
        with open(capture, "wb") as f:  # the sections one after the other in time, the last ending now,
            for frames in reversed(sections):  # each squeezed into at most SECTION_SPAN
                last = max(fr.ts for fr in frames)
                scale = min(1.0, SECTION_SPAN / max(last - min(fr.ts for fr in frames), 1))
                for fr in frames:
                    fr.ts = end - int((last - fr.ts) * scale)
                end = min(fr.ts for fr in frames) - 1_000_000
            for frames in sections:
                f.write(write_pcapng(frames, big=rng.random() < 0.3)[0])
        began = time.perf_counter()
        stats, problems = check(capture, Capture(b"", written))
        analysed = time.perf_counter() - began
        core = CoreProcess(tmp / "core").start()
        try:
            tenant = core.provision("fuzz")
            config = write_config(tmp / "sensor.toml", core.url, tenant, "SN-fuzz", interval_s=300.0, heartbeat_s=5.0)
            began = time.perf_counter()
            with sensor_run(config, tmp / "site") as run:
                run.wait_for("the capture ended", timeout=3600)
                eventually(lambda: not Spool(tmp / "spool").pending(), 600, every=1.0)
                code = run.stop()
            took = time.perf_counter() - began
            totals = core.get(tenant, "/api/v1/totals")
        finally:
            core.stop()
    stored = (totals["captured_packets"], totals["packets"], totals["parse_errors"])
    expected = (stats.read, stats.decoded, sum(stats.errors.values()))
    return {"frames": written, "sections": len(sections), "stats": stats, "problems": problems,
            "exit": code, "tracebacks": run.log.count("Traceback"),
            "rejected": [line for line in run.lines if "rejected" in line],
            "stored": stored, "expected": expected, "analyse_s": analysed, "run_s": took}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000, help="mutated frames to write (at least)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="directory for the captures that fail")
    ap.add_argument("--run", action="store_true", help="through `mieruka-sensor run` and a real core instead")
    args = ap.parse_args()
    logging.getLogger("sensor").setLevel(logging.ERROR)  # (not a line per unknown link type met)
    if args.run:
        r = run_fuzz(args.frames, args.seed)
        st = r["stats"]
        print(f"frames written         {r['frames']:,} in {r['sections']:,} pcapng sections")
        print(f"frames read            {st.read:,}: {st.decoded:,} decoded, "
              f"parse errors {dict(st.errors.most_common())}")
        print(f"run                    exit code {r['exit']}, {r['tracebacks']} tracebacks, "
              f"{len(r['rejected'])} batches rejected, {r['run_s']:.1f} s ({st.read / r['run_s']:,.0f} frames/s "
              f"captured to uploaded; the pipeline alone: {r['analyse_s']:.1f} s)")
        print(f"core totals            captured {r['stored'][0]:,}, in flows {r['stored'][1]:,}, "
              f"parse errors {r['stored'][2]:,} (expected {r['expected'][0]:,}, {r['expected'][1]:,}, "
              f"{r['expected'][2]:,})")
        for line in r["rejected"][:3]:
            print(f"  {line}")
        ok = not r["problems"] and r["exit"] == 0 and not r["tracebacks"] and r["stored"] == r["expected"]
        print("accounting             " + ("every frame accounted for" if ok else f"MISMATCH {r['problems']}"))
        sys.exit(0 if ok else 1)
    r = fuzz(args.frames, args.seed, args.keep, progress=True)
    print(f"captures fuzzed        {r.files:,}")
    print(f"frames written         {r.written:,}")
    print(f"frames read            {r.read:,}  (parse errors by reason: {dict(r.reasons.most_common())})")
    print(f"unknown link types     {dict(sorted(r.link_types.items()))}")
    print(f"escaped exceptions     {sum(r.exceptions.values())}")
    for what, n in r.exceptions.most_common():
        print(f"  {n:6d} × {what}")
    print(f"decoder faults         {sum(r.faults.values())} {dict(r.faults) if r.faults else ''}")
    print(f"accounting mismatches  {r.mismatches}")
    print(f"slow captures          {r.slow} (over {SLOW:g} s each)")
    for line in r.failures:
        print(f"  {line}")
    print(f"time                   {r.seconds:.1f} s, {r.written / r.seconds:,.0f} frames/s")
    sys.exit(1 if r.exceptions or r.mismatches or r.faults or r.slow else 0)


if __name__ == "__main__":
    main()
