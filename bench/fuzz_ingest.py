"""Ingest fuzzing: mutated wire batches against a real core (`mieruka serve`, uvicorn on 127.0.0.1).

    .venv/bin/python bench/fuzz_ingest.py [--batches 10000] [--seed 1] [--keep DIR]

Seed batches are real (a simulated plant capture through the sensor's pipeline) and hand-made
(every table filled). Each mutated batch is posted with one tenant's sensor token:

- before compression (then compressed with a valid checksum, so the core's checks, not the
  checksum, must catch it): header fields set to hostile values (wrong types, negative or huge
  counters, naive or far-off times), header bytes flipped or cut, Arrow IPC bytes flipped,
  int32 words of the IPC (offsets, lengths) overwritten with extreme values, columns given nulls,
  extreme integers, hostile strings (addresses, MACs, protocols), other types, dropped, renamed or
  added; dictionaries with unused, repeated or null entries, ordered, of another index type or indexed past
  their end, and tables cut into many record batches; table lengths that lie, tables cut short or followed
  by junk, the version changed;
- after compression: bytes flipped, frames cut short or followed by junk, the checksum flag cleared.

Checked: no answer but 200 and 400 (no 5xx), the core alive with /healthz 200 at the end; every
batch the core stored passes ``wire.decode`` here too; once the core is stopped, its store holds
exactly the rows of the seeding batches and of the batches answered "stored", every stored row
passes sensor/wire/batchcheck.py, and the other tenant's rows are as they were. Prints the counts;
exits 1 if any check failed. Bodies that drew a 5xx or broke the core go to ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import zstandard

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from coretest import flow, make_batch  # noqa: E402
from pgtest import controlplane_env  # noqa: E402
from runtest import CORE_CLI, CoreProcess  # noqa: E402

from core.store.clickhouse import ClickHouseStore  # noqa: E402
from core.store.controlplane import Tenant as TenantRow  # noqa: E402
from sensor import simulate, wire  # noqa: E402
from sensor.meter import pipeline  # noqa: E402
from sensor.wire import batchcheck  # noqa: E402

TABLES = ("flows", "events", "observations", "batches")
HOSTILE_VALUES = [None, -5, 2**70, 2**63, "1", 1.5, True, [], {}, "", "x" * 5000, {"a": [1]},
                  "9999-12-31T00:00:00+00:00", "0001-01-01T00:00:00+00:00", "2026-01-05T00:00:00",
                  "not a time", "00000000-0000-0000-0000-000000000000"]
HOSTILE_TEXT = [None, "", "999999999999", "not-an-ip", "10.0.0.256", "zz:zz:zz:zz:zz:zz", "00:1B:1B:00:00:01",
                "\x00", "x" * 9000, "::1", "l2", "SF", "tcp", "=cmd|' /C calc'!A0", "\ud7ff\u3042"]
EXTREME_INTS = [0, -1, 1, 2**7 - 1, 2**15, 2**31 - 1, -(2**31), 2**32 - 1, 2**62, 2**63 - 1, -(2**63), 2**64 - 1]


@dataclass
class Raw:
    """A batch's decompressed content in parts."""

    version: int
    header: dict
    tables: list[bytes]

    @classmethod
    def of(cls, body: bytes) -> Raw:
        raw = zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(body, max_output_size=1 << 28)
        version, head_len = struct.unpack_from("<BI", raw, 4)
        pos, tables = 9 + head_len, []
        header = json.loads(raw[9:pos])
        while pos < len(raw):
            (n,) = struct.unpack_from("<Q", raw, pos)
            tables.append(raw[pos + 8 : pos + 8 + n])
            pos += 8 + n
        return cls(version, header, tables)

    def content(self, head: bytes | None = None) -> bytes:
        head = json.dumps(self.header).encode() if head is None else head
        parts = [wire.MAGIC, struct.pack("<BI", self.version, len(head)), head]
        for t in self.tables:
            parts += [struct.pack("<Q", len(t)), t]
        return b"".join(parts)


def frame(content: bytes) -> bytes:
    return zstandard.ZstdCompressor(dict_data=wire.zstd_prefix(), write_checksum=True).compress(content)


def ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def flip(data: bytes, rng: random.Random, n: int) -> bytes:
    out = bytearray(data)
    for _ in range(n):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


# -- mutations before compression: each takes (Raw, rng) and returns the frame's content ---------


def m_header_field(r: Raw, rng: random.Random) -> bytes:
    key = rng.choice(["version", "batch_id", "sensor", "interval_start", "interval_end", "rows", "counters"])
    value = rng.choice(HOSTILE_VALUES)
    if key in ("rows", "counters") and rng.random() < 0.8:
        r.header[key] = dict(r.header[key], **{rng.choice(list(r.header[key]) + ["extra"]): value})
        if rng.random() < 0.2:
            r.header[key].pop(rng.choice(list(r.header[key])))
    elif rng.random() < 0.1:
        r.header.pop(key)
    else:
        r.header[key] = value
    return r.content()


def m_header_bytes(r: Raw, rng: random.Random) -> bytes:
    head = json.dumps(r.header).encode()
    choice = rng.random()
    if choice < 0.5:
        head = flip(head, rng, rng.randint(1, 4))
    elif choice < 0.8:
        head = head[: rng.randrange(len(head))]
    else:
        head = b"[" * rng.choice([10, 100_000]) if rng.random() < 0.5 else b'"' + head + b'"'
    return r.content(head)


def m_ipc_flip(r: Raw, rng: random.Random) -> bytes:
    i = rng.randrange(len(r.tables))
    r.tables[i] = flip(r.tables[i], rng, rng.choice([1, 1, 2, 4, 16]))
    return r.content()


def m_ipc_word(r: Raw, rng: random.Random) -> bytes:
    """An int32 of the IPC stream (an offset, a length, a count...) set to an extreme."""
    i = rng.randrange(len(r.tables))
    body = bytearray(r.tables[i])
    if len(body) >= 8:
        at = rng.randrange(0, len(body) - 4, 4)
        value = rng.choice([0x7FFFFFF0, 0x7FFFFFFF, -1, -(2**31), 1 << 20, len(body) * 4])
        body[at : at + 4] = struct.pack("<i", value)
    r.tables[i] = bytes(body)
    return r.content()


def _column_values(col: pa.ChunkedArray, rng: random.Random) -> pa.Array:
    n = len(col)
    kind = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
    if pa.types.is_string(kind):
        values = [rng.choice(HOSTILE_TEXT) for _ in range(n)]
        return pa.array(values, pa.string()).dictionary_encode() if rng.random() < 0.7 else pa.array(values)
    if pa.types.is_integer(kind):
        values = [rng.choice(EXTREME_INTS + [None]) for _ in range(n)]
        for typed in (kind, None, pa.uint64()):  # the column's type if the values fit, else a wider one
            try:
                return pa.array(values, typed)
            except (pa.ArrowInvalid, OverflowError):
                continue
        return pa.nulls(n, kind)
    if pa.types.is_floating(kind):
        return pa.array([rng.choice([None, -1.0, float("nan"), float("inf"), 1e308, 0.0]) for _ in range(n)])
    return pa.nulls(n, kind)


def m_column(r: Raw, rng: random.Random) -> bytes:
    """One column of one table given hostile values, nulls, another type, or dropped/renamed/added."""
    i = rng.randrange(len(r.tables))
    table = pa.ipc.open_stream(r.tables[i]).read_all()
    if not table.num_rows and rng.random() < 0.8:
        return m_ipc_flip(r, rng)
    j = rng.randrange(table.num_columns)
    name, col = table.schema.names[j], table.column(j)
    choice = rng.random()
    if choice < 0.6:
        try:
            table = table.set_column(j, name, _column_values(col, rng))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table = table.set_column(j, name, pa.nulls(table.num_rows, col.type))
    elif choice < 0.7:
        table = table.set_column(j, name, pa.nulls(table.num_rows, col.type))
    elif choice < 0.8:
        other = rng.choice([pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.uint8(), pa.binary()])
        table = table.set_column(j, name, pa.nulls(table.num_rows, other) if rng.random() < 0.5 else
                                 pa.array([rng.choice(HOSTILE_TEXT[1:4])] * table.num_rows).cast(other, safe=False)
                                 if other in (pa.string(), pa.binary()) else pa.nulls(table.num_rows, other))
    elif choice < 0.87:
        table = table.remove_column(j)
    elif choice < 0.94:
        table = table.rename_columns([n if k != j else n + "x" for k, n in enumerate(table.schema.names)])
    else:
        table = table.append_column("extra", pa.array(range(table.num_rows), pa.int64()))
    r.tables[i] = ipc(table)
    if rng.random() < 0.5:  # keep the header's row count right, so the values are what is judged
        r.header["rows"][list(wire.TABLES)[i]] = table.num_rows
    return r.content()


def m_layout(r: Raw, rng: random.Random) -> bytes:
    """Lengths that lie, tables cut short or swapped, junk after the end, the version changed."""
    content = r.content()
    choice = rng.random()
    if choice < 0.25:
        head_len = len(json.dumps(r.header).encode())
        at = 9 + head_len + rng.choice([0, 8 + len(r.tables[0])])
        value = rng.choice([0, 1, 2**63, 2**64 - 1, len(content), rng.randrange(1 << 16)])
        return content[:at] + struct.pack("<Q", value) + content[at + 8 :]
    if choice < 0.5:
        return content[: rng.randrange(len(content))]
    if choice < 0.65:
        r.tables = [r.tables[k] for k in rng.sample(range(len(r.tables)), len(r.tables))]
        return r.content()
    if choice < 0.8:
        return content + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    if choice < 0.9:
        return content[:5] + struct.pack("<I", rng.choice([0, 2**32 - 1, 2**16])) + content[9:]
    r.version = rng.choice([0, 1, 2, 4, 255])
    return r.content()


def m_dictionary(r: Raw, rng: random.Random) -> bytes:
    """A dictionary column in shapes ``encode`` never writes: unused, repeated or null entries, an
    ordered dictionary, another index type, indices past the dictionary; or the table cut into many
    record batches, empty ones among them."""
    tables = [(i, t) for i, t in enumerate(pa.ipc.open_stream(b).read_all() for b in r.tables) if t.num_rows]
    if not tables:
        return m_ipc_flip(r, rng)
    i, table = rng.choice(tables)
    coded = [j for j, f in enumerate(table.schema) if pa.types.is_dictionary(f.type)]
    if not coded or rng.random() < 0.2:
        cuts = sorted(rng.randrange(table.num_rows + 1) for _ in range(rng.choice([2, 8, 500])))
        pieces = [table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, table.num_rows])]
        r.tables[i] = ipc(pa.concat_tables(pieces))
        return r.content()
    j = rng.choice(coded)
    column = table.column(j).combine_chunks()
    indices, values = column.indices, column.dictionary
    choice = rng.random()
    if choice < 0.25:
        values = pa.concat_arrays([values, pa.array([f"unused-{k}" * 8 for k in range(rng.choice([1, 1000, 50_000]))])])
    elif choice < 0.4:
        values = pa.concat_arrays([values, values])
        indices = pc.add(indices.cast(pa.int64()), len(column.dictionary)).cast(indices.type, safe=False)
    elif choice < 0.5:
        values = pa.concat_arrays([pa.nulls(1, values.type), values])
        indices = pc.add(indices.cast(pa.int64()), 1).cast(indices.type, safe=False)
    elif choice < 0.65:
        column = pa.DictionaryArray.from_arrays(indices, values, ordered=True)
    elif choice < 0.8:
        indices = indices.cast(rng.choice([pa.int8(), pa.int16(), pa.int64(), pa.uint32()]), safe=False)
    else:
        bad = [len(values) + rng.choice([0, 1, 1000]) if k == 0 else k for k in indices.to_pylist()]
        indices = pa.array(bad, pa.int64()).cast(indices.type, safe=False)
    if choice < 0.5 or choice >= 0.65:
        column = pa.DictionaryArray.from_arrays(indices, values, safe=False)
    table = table.set_column(j, pa.field(table.schema.field(j).name, column.type), column)
    r.tables[i] = ipc(table)
    return r.content()


BEFORE = {"header_field": m_header_field, "header_bytes": m_header_bytes, "ipc_flip": m_ipc_flip,
          "ipc_word": m_ipc_word, "column": m_column, "layout": m_layout, "dictionary": m_dictionary}


# -- mutations after compression ----------------------------------------------------------------


def a_flip(body: bytes, rng: random.Random) -> bytes:
    return flip(body, rng, rng.choice([1, 1, 2, 8]))


def a_truncate(body: bytes, rng: random.Random) -> bytes:
    return body[: rng.randrange(len(body))]


def a_append(body: bytes, rng: random.Random) -> bytes:
    return body + (body if rng.random() < 0.3 else bytes(rng.randrange(256) for _ in range(rng.randint(1, 32))))


def a_no_checksum(body: bytes, rng: random.Random) -> bytes:
    """The frame re-written without its content checksum (a v3 frame must carry one)."""
    content = zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(body, max_output_size=1 << 28)
    return zstandard.ZstdCompressor(dict_data=wire.zstd_prefix()).compress(content)


AFTER = {"flip": a_flip, "truncate": a_truncate, "append": a_append, "no_checksum": a_no_checksum}


# -- the run ------------------------------------------------------------------------------------


def seed_bodies(workdir: Path, now: datetime) -> list[bytes]:
    """Real batches of a simulated plant, and hand-made ones filling every table, near ``now``."""
    capture = workdir / "plant.pcap"
    simulate.write_pcap(capture, packets=4000, seed=3)
    real = [b for b in pipeline.iter_batches([capture], 60.0, sensor="SN-fuzz") if b.rows("flows")][:3]
    start = (now - timedelta(hours=2)).replace(second=0, microsecond=0)
    made = [make_batch(start=start, flows=[flow(ts=start), flow(ts=start, proto="l2", orig_h="", resp_h="",
                                                               orig_p=0, resp_p=0, ethertype=0x88CC)]),
            make_batch(start=start + timedelta(minutes=1), flows=[flow(ts=start, orig_h="fe80::1", resp_h="ff02::1",
                                                                      proto="17")])]
    for batch in made:
        batch.sensor = "SN-fuzz"
    return [wire.encode(b) for b in real + made]


@dataclass
class Tally:
    status: Counter = field(default_factory=Counter)  # HTTP status answered
    reasons: Counter = field(default_factory=Counter)  # metric reason of 400s, from the detail
    kinds: Counter = field(default_factory=Counter)
    stored_rows: Counter = field(default_factory=Counter)
    stored: int = 0
    stored_but_invalid: int = 0
    unforeseen: Counter = field(default_factory=Counter)  # 400s from wire.decode's catch-all, by exception
    failures: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.status.items() if code >= 500)


def mutate(bodies: list[bytes], rng: random.Random) -> tuple[str, bytes]:
    base = rng.choice(bodies)
    if rng.random() < 0.25:
        kind = rng.choice(list(AFTER))
        return f"after:{kind}", AFTER[kind](base, rng)
    kind = rng.choice(list(BEFORE))
    raw = Raw.of(base)
    raw.header["batch_id"] = str(uuid.uuid4())  # a stored mutant is not a duplicate of its seed
    return f"before:{kind}", frame(BEFORE[kind](raw, rng))


def tenant_rows(store: ClickHouseStore, tenant_id: int) -> dict[str, int]:
    return {t: store.query(f"SELECT count() AS n FROM {t} WHERE tenant_id = {tenant_id}")[0]["n"] for t in TABLES}


def stored_rows_valid(store: ClickHouseStore, tenant_id: int, earliest: datetime, latest: datetime) -> list[str]:
    """Every stored row of the tenant through the batch validator (interval: the whole run)."""
    problems = []
    lo, hi = wire._micros(earliest), wire._micros(latest)
    for name, schema in wire.TABLES.items():
        rows = store.query(f"SELECT {', '.join(schema.names)} FROM {name} WHERE tenant_id = {tenant_id}")
        if name == "events":
            rows = [r | {"attrs": list(r["attrs"].items())} for r in rows]
        table = pa.Table.from_pylist(rows, schema=schema)
        try:
            batchcheck.no_nulls({name: table})
            if name == "flows":
                batchcheck.flows(table, hi, lo)
            else:
                getattr(batchcheck, name)(table, lo, hi)
        except batchcheck.BadValue as exc:
            problems.append(f"{name}: {exc}")
    return problems


def list_indicators(core: CoreProcess, bodies: list[bytes], workdir: Path) -> None:
    """A global indicator list naming addresses and DNS names the seeds carry (``mieruka indicators
    import``, before the core starts), so every mutant goes through indicator matching too."""
    seeds = [wire.decode(b) for b in bodies]
    ips = {ip for b in seeds for ip in b.tables["flows"]["resp_h"].to_pylist() if ip}
    names = {value.rstrip(".") for b in seeds for attrs in b.tables["events"]["attrs"].to_pylist()
             for name, value in attrs if name == "qname" and "." in value}
    listed = workdir / "indicators.csv"
    listed.write_text("".join(f"ip,{ip}\n" for ip in sorted(ips)[:3])
                      + "".join(f"domain,{name}\n" for name in sorted(names)[:3]))
    env = os.environ | controlplane_env(core.data_dir) | {"MIERUKA_DATA_DIR": str(core.data_dir)}
    subprocess.run([CORE_CLI, "indicators", "import", str(listed)], env=env, check=True, capture_output=True)


# what the core logs when detection raised (core/detect/engine.py, core/ingest)
DETECTION_FAILED = ("detection failed", "rule module", "failed for a group of", "failed on batch")


def run(batches: int, seed: int, workdir: Path, keep: Path | None = None, log=print) -> Tally:
    now = datetime.now(UTC)
    bodies = seed_bodies(workdir, now)
    core = CoreProcess(workdir / "core")
    fuzzed, other = core.provision("fuzzed"), core.provision("other")
    with core.controlplane.sessions() as db:  # no learning: every valid mutant runs every detector
        db.get(TenantRow, fuzzed.id).learning_hours = 0
        db.commit()
    list_indicators(core, bodies, workdir)
    core.start()
    tally = Tally()
    rng = random.Random(seed)
    try:
        with httpx.Client(base_url=core.url, timeout=60) as http:
            def post(tenant, body):
                return http.post("/api/v1/ingest", content=body, headers={"Authorization": f"Bearer {tenant.sensor_token}"})

            for body in bodies:  # the seeds: stored for both tenants, before the fuzzing
                for tenant in (fuzzed, other):
                    r = post(tenant, body)
                    assert r.status_code == 200, r.text
            started = time.monotonic()
            for i in range(batches):
                kind, body = mutate(bodies, rng)
                tally.kinds[kind] += 1
                try:
                    r = post(fuzzed, body)
                except httpx.HTTPError as exc:
                    tally.status[599] += 1
                    tally.failures.append(f"#{i} {kind}: {type(exc).__name__}: {exc}")
                    _keep(keep, i, body)
                    if core.process.proc.poll() is not None:
                        break
                    continue
                tally.status[r.status_code] += 1
                if r.status_code >= 500:
                    tally.failures.append(f"#{i} {kind}: {r.status_code} {r.text[:200]}")
                    _keep(keep, i, body)
                elif r.status_code == 400 and "malformed batch (" in (detail := r.json()["detail"]):
                    tally.unforeseen[detail.split("malformed batch (")[1].split(":")[0]] += 1
                elif r.status_code == 200 and r.json()["status"] == "stored":
                    tally.stored += 1
                    try:
                        batch = wire.decode(body)
                        tally.stored_rows.update({n: batch.rows(n) for n in wire.TABLES} | {"batches": 1})
                    except wire.WireError as exc:
                        tally.stored_but_invalid += 1
                        tally.failures.append(f"#{i} {kind}: stored, but here: {exc}")
                        _keep(keep, i, body)
                if log and (i + 1) % 1000 == 0:
                    log(f"{i + 1} batches, {(i + 1) / (time.monotonic() - started):.0f}/s, {dict(tally.status)}")
            alive = core.process.proc.poll() is None
            healthz = http.get("/healthz").status_code if alive else None
            if not (alive and healthz == 200):
                tally.failures.append(f"core alive={alive}, /healthz {healthz}")
            tally.failures += [line for line in core.process.lines  # a detector that raised on a mutant
                               if any(said in line for said in DETECTION_FAILED)]
            rejected = _rejections(http)
    finally:
        if core.process.proc.poll() is None:
            core.stop()
    tally.reasons = rejected
    with ClickHouseStore(f"chdb://{(workdir / 'core' / 'clickhouse').resolve()}").open() as store:
        seeded = sum((Counter({n: wire.decode(b).rows(n) for n in wire.TABLES}) for b in bodies), Counter())
        seeded["batches"] = len(bodies)
        want = seeded + tally.stored_rows
        got = tenant_rows(store, fuzzed.id)
        if any(got[t] != want[t] for t in TABLES):
            tally.failures.append(f"fuzzed tenant's rows {got}, expected {dict(want)}")
        if (theirs := tenant_rows(store, other.id)) != {t: seeded[t] for t in TABLES}:
            tally.failures.append(f"other tenant's rows {theirs}, expected {dict(seeded)}")
        matched = store.query(
            "SELECT count() AS n FROM alerts WHERE tenant_id = {t:UInt32} AND kind = 'indicator_match'",
            {"t": fuzzed.id})[0]["n"]
        if not matched:
            tally.failures.append("no indicator matched: the listed seeds' addresses and names were never matched")
        tally.failures += stored_rows_valid(store, fuzzed.id, now - timedelta(days=3650), now + timedelta(minutes=10))
        if not store.query("SELECT count() AS n FROM alerts WHERE tenant_id = {t:UInt32}", {"t": fuzzed.id})[0]["n"]:
            tally.failures.append("no alert raised: the mutants never reached detection")
    return tally


def _rejections(http: httpx.Client) -> Counter:
    """The core's own count of refused batches per reason (its /metrics)."""
    out = Counter()
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("mieruka_ingest_rejected_total{"):
            out[line.split('reason="')[1].split('"')[0]] = int(float(line.split()[-1]))
    return out


def _keep(keep: Path | None, i: int, body: bytes) -> None:
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{i:06d}.mrkb").write_bytes(body)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="write bodies that drew a 5xx or were wrongly stored here")
    args = ap.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-ingest-") as tmp:
        tally = run(args.batches, args.seed, Path(tmp), args.keep)
    print(f"batches fuzzed: {sum(tally.kinds.values())} in {time.monotonic() - started:.0f} s")
    print(f"mutations: {dict(sorted(tally.kinds.items()))}")
    print(f"answers: {dict(sorted(tally.status.items()))}  (5xx: {tally.server_errors})")
    print(f"refused per reason (core metrics): {dict(tally.reasons.most_common())}")
    print(f"refused by the decoder's catch-all (no named check caught them): {dict(tally.unforeseen)}")
    print(f"stored: {tally.stored} batches, rows {dict(tally.stored_rows)}; stored but invalid: {tally.stored_but_invalid}")
    print(f"failures: {len(tally.failures)}")
    for line in tally.failures[:50]:
        print("  " + line)
    return 1 if tally.failures or tally.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
