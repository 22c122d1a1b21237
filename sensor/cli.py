"""`mieruka-sensor`: installation (activate, test, status), the service (run), offline analysis,
simulated traffic, and replay through the real uplink.

A command imports the site, uplink and simulator modules it uses when it runs, so that `analyze`
starts without them (the HTTP client alone took 0.3 s of every start)."""

from __future__ import annotations

import gc

# What the imports make (numpy, pyarrow, the decoders: ~70,000 objects) lives as long as the process: no
# collection while it is made, and none goes through it after (frozen; the collector's passes over it took
# 10-20 ms of every start).
_collecting = gc.isenabled()
gc.disable()
try:
    import enum
    import json
    import logging
    import os
    import signal
    import sys
    import threading
    import tempfile
    import time
    from datetime import datetime, timezone
    from pathlib import Path
    from typing import Annotated, Optional

    # The sensor does no linear algebra, yet numpy's OpenBLAS starts a thread per core when numpy is imported and
    # they spin (~55 ms of CPU per process on 2 cores): one BLAS thread, unless the environment asks for more.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Arrow's own default pool (its IPC writer's, which pyarrow gives no other: wire.encode) the C library's malloc,
    # as pipeline.lean_process makes pyarrow's: else its mimalloc reserves an arena madvised for huge pages, two of
    # them (4 MiB) resident from the first batch encoded on. Arrow reads it as it loads.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

    import pyarrow as pa
    import typer
    from typer.exceptions import TyperException

    from sensor.site import config as sensor_config
    from sensor import wire
    from sensor.meter import pipeline
    from sensor.capture.pcapfile import CaptureError
    from sensor.site.config import MIB, SensorConfig
    from sensor.errors import Problem
    from sensor.meter.observe import Observer
    from sensor.meter.zeeklog import write_conn_log
finally:
    gc.freeze()
    if _collecting:
        gc.enable()

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="mieruka sensor: capture, analyse and upload OT / camera network metadata.")

ExistingFiles = Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True,
                                                     help="pcap or pcapng files, read in order")]
Interval = Annotated[float, typer.Option(min=1.0, help="batch interval in seconds of capture time")]
ConfigPath = Annotated[Optional[Path], typer.Option(
    "--config", dir_okay=False,
    help=f"sensor config file (default ${sensor_config.ENV}, else {sensor_config.DEFAULT_PATH})")]
SampleSeconds = Annotated[float, typer.Option(min=0.1, max=60.0, help="seconds to sample for traffic")]


class Format(str, enum.Enum):
    jsonl = "jsonl"
    parquet = "parquet"
    zeek = "zeek"


@app.command()
def analyze(files: ExistingFiles,
            out: Annotated[Path, typer.Option(file_okay=False, help="output directory")],
            format: Annotated[Format, typer.Option("--format")] = Format.jsonl,
            interval: Interval = 60.0,
            every_pdu: Annotated[bool, typer.Option(
                "--every-pdu", help="one event per PDU, as a Zeek log has, instead of repeats folded per interval")] = False,
            ) -> None:
    """Analyse capture files offline (the same code path as live capture)."""
    out.mkdir(parents=True, exist_ok=True)
    if format is Format.zeek:
        with open(out / "conn.log", "w") as f:
            rows = write_conn_log(pipeline.whole_flows(files, interval), f)
        typer.echo(f"conn.log: {rows} connections")
        return
    stats = pipeline.Stats()
    batches = list(pipeline.iter_batches(files, interval, observer=Observer(), fold=not every_pdu, stats=stats))
    totals = {k: sum(b.counters.get(k, 0) for b in batches) for k in wire.COUNTERS}
    for name in wire.TABLES:
        tables = [b.tables[name] for b in batches] or [wire.empty_table(name)]
        table = pa.concat_tables(tables)
        if format is Format.parquet:
            import pyarrow.parquet as pq  # only here: 5 MB of the sensor's memory otherwise

            pq.write_table(table, out / f"{name}.parquet")
        else:
            with open(out / f"{name}.jsonl", "w") as f:
                for row in table.to_pylist():
                    f.write(json.dumps(row, default=_json_default, ensure_ascii=False) + "\n")
        typer.echo(f"{name}: {table.num_rows} rows")
    typer.echo(f"{len(batches)} intervals, {totals['packets']} packets, "
               f"{totals['parse_errors']} parse errors")
    if stats.errors:
        typer.echo(f"unparsed: {stats.summary()}")


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
                 risky: Annotated[bool, typer.Option(help="include the risky incidents")] = True,
                 cameras: Annotated[bool, typer.Option(
                     help="a camera-heavy site: 16 cameras streaming about 2 Mbit/s each")] = False,
                 indicators: Annotated[Optional[Path], typer.Option(
                     dir_okay=False, help="also write the indicator list (CSV) the risky incidents match, "
                                          "for `mieruka indicators import`")] = None) -> None:
    """Write deterministic synthetic plant traffic (PLCs, HMIs, cameras, NVR, DHCP/DNS/ARP)."""
    from sensor import simulate

    began = _epoch(start) if start else None
    summary = simulate.write_pcap(out, packets=packets, seed=seed, start=began, risky=risky, cameras=cameras)
    typer.echo(f"{out}: {summary['packets']} packets, {len(summary['devices'])} devices")
    if indicators:
        indicators.write_text(f"type,value,note\ndomain,{simulate.INDICATOR_DOMAIN},simulated incident\n")


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
    from sensor.ship.spool import Spool

    with tempfile.TemporaryDirectory() as tmp:
        queue = Spool(spool or Path(tmp))
        report = replay_files(files, queue, core, token, serial=serial, interval=interval,
                              deadline=time.monotonic() + timeout)
    typer.echo(f"sent {report.sent} batches ({report.bytes_sent} bytes), {report.duplicates} duplicates, "
               f"{report.rejected} rejected, {report.retries} retries")
    if report.rejected or queue.pending():
        raise typer.Exit(1)


def replay_files(files, queue, core: str, token: str, *, serial: str = "",
                 interval: float = 60.0, deadline: float | None = None):
    """Batch `files`, spool every batch (a ``Spool``), then drain the spool to the core; returns the
    UplinkReport."""
    from sensor.ship import health
    from sensor.ship.uplink import Uplink

    for batch in pipeline.iter_batches(list(files), interval, sensor=serial, observer=Observer()):
        queue.put(batch.batch_id, wire.encode(batch))
        health.record_batch(queue.dir, batch)
        batch = None  # spooled: not held while the next interval is built
    uplink = Uplink(core, token, queue)
    try:
        return uplink.drain(deadline=deadline)
    finally:
        uplink.close()


def _core_url(value: str) -> str:
    import httpx

    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise typer.BadParameter(f"not an http(s) URL: {value!r}")
    return value.rstrip("/")


def _interface(name: Optional[str]) -> Optional[str]:
    from sensor.capture import mirror

    if name is not None and not mirror.source().exists(name):
        raise typer.BadParameter(f"no network interface named {name!r}")
    return name


def _modem(spec: str) -> str:
    if spec not in ("", "mmcli") and not spec.startswith("/dev/"):
        raise typer.BadParameter(f"expected mmcli or a serial device such as /dev/ttyUSB2, not {spec!r}")
    return spec


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


@app.command()
def activate(
    core: Annotated[str, typer.Option(callback=_core_url, help="core URL, e.g. https://core.example:8443")],
    code: Annotated[str, typer.Option(help="one-time activation code from the operator")],
    interface: Annotated[Optional[str], typer.Option(
        callback=_interface, help="mirror port (default: the interface carrying the most mirrored traffic)")] = None,
    config: ConfigPath = None,
    ca: Annotated[Optional[Path], typer.Option(
        exists=True, dir_okay=False, help="PEM of the CA that signed the core's certificate")] = None,
    spool: Annotated[Path, typer.Option(file_okay=False, help="spool directory")] = Path(SensorConfig.spool),
    modem: Annotated[str, typer.Option(
        callback=_modem, help="LTE modem: mmcli, or its AT serial port (default: none)")] = "",
    budget_mb: Annotated[int, typer.Option(min=1, help="monthly LTE allowance, MiB")] = SensorConfig.monthly_budget_mb,
    sample_seconds: SampleSeconds = 5.0,
    install_service: Annotated[bool, typer.Option(
        "--service/--no-service", help="install and start the systemd unit (else print it)")] = True,
) -> None:
    """Activate this box with the operator's code, record its installation, set up the service."""
    from sensor.site import install, service

    path = sensor_config.resolve(config)
    request = install.Request(core, code, path, interface, ca, spool, modem, budget_mb, sample_seconds)
    cfg = install.activate(request, _warn)
    typer.echo(f"activated as sensor {cfg.serial} (id {cfg.sensor_id}); mirror port {cfg.interface}; "
               f"config written to {path}", err=True)
    if cfg.core_url.startswith("http://"):
        _warn("the core URL is plain HTTP: for the lab only, the token crosses the network in clear")
    unit = service.unit(path)
    if install_service and service.can_install():
        if failure := service.install(unit):
            _warn(f"the service was not started ({failure})")
    else:
        typer.echo(f"install this unit as {service.UNIT_DIR / service.NAME} to run the sensor:", err=True)
        typer.echo(unit)
    typer.echo("next: run `mieruka-sensor test` (the opening test)", err=True)


@app.command("test")
def opening_test(config: ConfigPath = None, sample_seconds: SampleSeconds = 5.0) -> None:
    """The opening test (開通試験): PASS/FAIL per check, exit 0 and recorded at the core on a full pass."""
    from sensor.site.opening import OpeningTest

    test = OpeningTest(sensor_config.resolve(config), sample_seconds)
    try:
        results = []
        for result in test.run():
            typer.echo(result.line())
            results.append(result)
        failed = [r.name for r in results if r.status == "FAIL"]
        if failed:
            typer.echo(f"opening test FAILED: {', '.join(failed)}", err=True)
            raise typer.Exit(1)
        recorded = test.record(results)
    finally:
        test.close()
    typer.echo(f"opening test PASSED; the core has it as completed at {recorded['opening_tested_at']}")


@app.command()
def run(config: ConfigPath = None) -> None:
    """Capture on the mirror port and upload to the core until SIGTERM (what the service runs)."""
    from sensor.site import runner

    cfg = sensor_config.load(sensor_config.resolve(config))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("sensor").setLevel(logging.INFO)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runner.run(cfg, stop)


@app.command()
def status(config: ConfigPath = None,
           as_json: Annotated[bool, typer.Option("--json", help="print the health report as JSON")] = False) -> None:
    """Capture rate, kernel drops, parse errors, spool, last upload and data used this month."""
    from sensor.ship import health
    from sensor.ship.spool import Spool

    cfg = sensor_config.load(sensor_config.resolve(config))
    try:
        queue = Spool(Path(cfg.spool), cfg.spool_max_mb * MIB)
    except OSError as exc:
        raise Problem(f"cannot open the spool {cfg.spool}: {exc.strerror}", "run as root") from None
    report = health.snapshot(queue, cfg.monthly_budget_mb * MIB)
    link_types = health.unknown_link_types(queue.dir)
    if as_json:
        typer.echo(json.dumps(report | {"serial": cfg.serial, "sensor_id": cfg.sensor_id,
                                        "unknown_link_types": link_types}))
        return
    for label, value in _status_lines(cfg, report):
        typer.echo(f"{label:<12} {value}")
    if link_types:  # frames counted as parse errors, by the link type the sensor cannot decode
        counts = ", ".join(f"{lt} ({n} frames)" for lt, n in link_types.items())
        typer.echo(f"{'link types':<12} not decoded: {counts}")


@app.command("active-id")
def active_id(config: ConfigPath = None,
              list_requests: Annotated[bool, typer.Option(
                  "--list", help="print every request active identification may send: bytes in hex and meaning")] = False,
              capture: Annotated[Optional[list[Path]], typer.Option(
                  exists=True, dir_okay=False, readable=True,
                  help="with --list: the exact requests for each device this capture shows, and whether it is due")]
              = None) -> None:
    """Optional active identification: its settings, and (--list) exactly what it would send."""
    from sensor.active import review as active_review

    if capture and not list_requests:
        raise typer.BadParameter("--capture goes with --list")
    settings = sensor_config.load(sensor_config.resolve(config)).active
    typer.echo(active_review.summary(settings))
    typer.echo(f"request log: {active_review.tally(settings)}")
    if list_requests:
        for line in active_review.requests(settings, capture or []):
            typer.echo(line)


def _status_lines(cfg: SensorConfig, r: dict) -> list[tuple[str, str]]:
    from sensor.active import review as active_review

    capture = (f"{r['capture_pps']:.1f} packets/s, {r['kernel_drops']} kernel drops, "
               f"{r['parse_errors']} parse errors (interval ending {r['capture_at']})"
               if r["capture_at"] else "no batch captured yet")
    oldest = f", oldest {r['spool_oldest_age_s']:.0f} s old" if r["spool_oldest_age_s"] is not None else ""
    refused = f", {r['spool_write_failures']} writes failed (disk full?)" if r["spool_write_failures"] else ""
    spool = f"{r['spool_depth']} batches, {_size(r['spool_bytes'])}{oldest}, {r['spool_evicted']} evicted{refused}"
    if r["spool_rejected"]:
        spool += f"; {r['spool_rejected']} set aside, refused by the core (last: {r['last_rejection']})"
    used, budget = r["bytes_this_month"], r["monthly_budget_bytes"]
    share = f"{100 * used / budget:.1f}%" if budget else "no budget set"
    economy = (f"; economy mode: flows summarised per pair and service every {cfg.economy_interval_s / 60:g} min"
               if r["data_mode"] == "economy" else "")
    return [
        ("sensor", f"{cfg.serial} (id {cfg.sensor_id}), core {cfg.core_url}"),
        ("interface", cfg.interface),
        ("capture", capture),
        ("spool", spool),
        ("last upload", (r["last_upload"] or "never") + (f"; failing now: {r['last_error']}" if r["last_error"] else "")),
        ("data used", f"{_size(used)} of {_size(budget)} this month ({share}){economy}"),
        ("active id", cfg.active.mode if cfg.active.mode == "off" else f"{cfg.active.mode}: {active_review.tally(cfg.active)}"),
    ]


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n / 1024:.1f} KiB"


def main() -> None:
    """Entry point: a usage error is one line on stderr and exit code 2."""
    pipeline.lean_process()
    try:
        code = app(standalone_mode=False)
    except TyperException as exc:  # usage errors (exit code 2) and other CLI errors
        print(f"mieruka-sensor: {exc.format_message()}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))
    except CaptureError as exc:  # a file that is not a readable capture is bad input too
        print(f"mieruka-sensor: {exc}", file=sys.stderr)
        sys.exit(2)
    except Problem as exc:  # something on site: what is wrong and what to do
        print(f"mieruka-sensor: {exc.line()}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
