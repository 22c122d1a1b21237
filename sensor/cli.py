"""`mieruka-sensor`: offline analysis, simulated traffic, and replay through the real uplink."""

from __future__ import annotations

import enum
import json
import logging
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from typer.exceptions import TyperException

from sensor import pipeline, simulate, wire
from sensor.capture.pcapfile import CaptureError
from sensor.observe import Observer
from sensor.spool import Spool
from sensor.uplink import Uplink
from sensor.zeeklog import write_conn_log

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="mieruka sensor: capture, analyse and upload OT / camera network metadata.")

ExistingFiles = Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True,
                                                     help="pcap or pcapng files, read in order")]
Interval = Annotated[float, typer.Option(min=1.0, help="batch interval in seconds of capture time")]


class Format(str, enum.Enum):
    jsonl = "jsonl"
    parquet = "parquet"
    zeek = "zeek"


@app.command()
def analyze(files: ExistingFiles,
            out: Annotated[Path, typer.Option(file_okay=False, help="output directory")],
            format: Annotated[Format, typer.Option("--format")] = Format.jsonl,
            interval: Interval = 60.0) -> None:
    """Analyse capture files offline (the same code path as live capture)."""
    out.mkdir(parents=True, exist_ok=True)
    if format is Format.zeek:
        with open(out / "conn.log", "w") as f:
            rows = write_conn_log(pipeline.whole_flows(files, interval), f)
        typer.echo(f"conn.log: {rows} connections")
        return
    batches = list(pipeline.iter_batches(files, interval, observer=Observer()))
    totals = {k: sum(b.counters.get(k, 0) for b in batches) for k in wire.COUNTERS}
    for name in wire.TABLES:
        tables = [b.tables[name] for b in batches] or [wire.empty_table(name)]
        table = pa.concat_tables(tables)
        if format is Format.parquet:
            pq.write_table(table, out / f"{name}.parquet")
        else:
            with open(out / f"{name}.jsonl", "w") as f:
                for row in table.to_pylist():
                    f.write(json.dumps(row, default=_json_default, ensure_ascii=False) + "\n")
        typer.echo(f"{name}: {table.num_rows} rows")
    typer.echo(f"{len(batches)} intervals, {totals['packets']} packets, "
               f"{totals['parse_errors']} parse errors")


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@app.command("simulate")
def simulate_cmd(out: Annotated[Path, typer.Option(dir_okay=False, help="pcap file to write")],
                 packets: Annotated[int, typer.Option(min=1)] = 100_000,
                 seed: int = 1,
                 start: Annotated[Optional[datetime], typer.Option(
                     help="capture start (UTC), default 2026-01-05T00:00:00")] = None,
                 risky: Annotated[bool, typer.Option(help="include the risky incidents")] = True) -> None:
    """Write deterministic synthetic plant traffic (PLCs, HMIs, cameras, NVR, DHCP/DNS/ARP)."""
    began = _epoch(start) if start else None
    summary = simulate.write_pcap(out, packets=packets, seed=seed, start=began, risky=risky)
    typer.echo(f"{out}: {summary['packets']} packets, {len(summary['devices'])} devices")


def _epoch(t: datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


@app.command()
def replay(files: ExistingFiles,
           core: Annotated[str, typer.Option(help="core URL, e.g. https://core.example:8443")],
           token: Annotated[str, typer.Option(envvar="MIERUKA_SENSOR_TOKEN", help="sensor token")],
           spool: Annotated[Optional[Path], typer.Option(file_okay=False,
                                                         help="spool directory (default: temporary)")] = None,
           serial: str = "",
           interval: Interval = 60.0,
           timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 600.0) -> None:
    """Send capture files through the spool and uplink to a core, as a live sensor would."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("sensor").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        queue = Spool(spool or Path(tmp))
        report = replay_files(files, queue, core, token, serial=serial, interval=interval,
                              deadline=time.monotonic() + timeout)
    typer.echo(f"sent {report.sent} batches ({report.bytes_sent} bytes), {report.duplicates} duplicates, "
               f"{report.rejected} rejected, {report.retries} retries")
    if report.rejected or queue.pending():
        raise typer.Exit(1)


def replay_files(files, queue: Spool, core: str, token: str, *, serial: str = "",
                 interval: float = 60.0, deadline: float | None = None):
    """Batch `files`, spool every batch, then drain the spool to the core; returns the UplinkReport."""
    for batch in pipeline.iter_batches(list(files), interval, sensor=serial, observer=Observer()):
        queue.put(batch.batch_id, wire.encode(batch))
    uplink = Uplink(core, token, queue)
    try:
        return uplink.drain(deadline=deadline)
    finally:
        uplink.close()


def main() -> None:
    """Entry point: a usage error is one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except TyperException as exc:  # usage errors (exit code 2) and other CLI errors
        print(f"mieruka-sensor: {exc.format_message()}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))
    except CaptureError as exc:  # a file that is not a readable capture is bad input too
        print(f"mieruka-sensor: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
