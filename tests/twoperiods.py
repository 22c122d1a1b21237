"""A simulated plant captured in two periods a week apart, for the changes (差分) tests: period B is
period A's batches shifted by a week, with one camera gone, a PLC's firmware upgraded, a new laptop
that opens SSH to the server, and the engineering workstation newly writing a coil on a PLC over
Modbus (a new link and a new function).

(A module of its own, not conftest: tests/core and tests/browser both use it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from coretest import flow

from sensor import simulate, wire
from sensor.meter import pipeline
from sensor.meter.observe import Observer

SHIFT = timedelta(days=7)
PACKETS = 30_000  # two one-minute batches of the simulated plant
GONE = "cam-hik-2"
UPGRADED = ("plc-logix-1", "33.11", "34.11")  # name, firmware in A, firmware in B
LAPTOP = {"ip": "10.10.0.120", "mac": "3c:52:82:00:01:20", "hostname": "contractor-laptop"}
NEW_LINKS = {("10.10.0.120", "10.10.0.2", "ssh"), ("10.10.0.30", "10.10.0.15", "modbus")}
NEW_FUNCTION = ("10.10.0.30", "10.10.0.15", "modbus", "WRITE_SINGLE_COIL")
TIMES = {"flows": ("ts", "ts_end"), "events": ("ts", "ts_end"), "observations": ("ts",)}


@dataclass
class TwoPeriods:
    a: tuple  # (start, end) of period A, UTC
    b: tuple
    devices: dict[str, dict]  # the simulated plant's hosts by name
    batches: list[wire.Batch]  # A's, then B's


def build(workdir: Path) -> TwoPeriods:
    pcap = workdir / "plant.pcap"
    summary = simulate.write_pcap(pcap, packets=PACKETS, seed=3)
    devices = {d["name"]: d for d in summary["devices"]}
    first = list(pipeline.iter_batches([pcap], sensor="SN", observer=Observer()))
    gone = devices[GONE]
    second = [_period_b(batch, {gone["ip"], gone["mac"]}, devices[UPGRADED[0]]["ip"]) for batch in first]
    second[-1] = _with_newcomers(second[-1])
    # to a minute past the last batch: the sensor stamps some facts at a batch's end
    a = (first[0].interval_start, first[-1].interval_end + timedelta(minutes=1))
    return TwoPeriods(a, (a[0] + SHIFT, a[1] + SHIFT), devices, first + second)


def _period_b(batch: wire.Batch, gone: set[str], upgraded_ip: str) -> wire.Batch:
    tables = {}
    for name, times in TIMES.items():
        rows = [r | {t: r[t] + SHIFT for t in times} for r in batch.tables[name].to_pylist()
                if not gone & {v for v in r.values() if isinstance(v, str)}]
        for r in rows:
            if name == "observations" and r["ip"] == upgraded_ip and r["attribute"] == "firmware":
                r["value"] = UPGRADED[2]
        tables[name] = wire.table_from_rows(name, rows)
    return wire.Batch(batch.interval_start + SHIFT, batch.interval_end + SHIFT, tables, batch.counters,
                      sensor=batch.sensor)


def _with_newcomers(batch: wire.Batch) -> wire.Batch:
    """The laptop (DHCP hostname, SSH to the server) and the workstation's new Modbus write."""
    at = batch.interval_start + timedelta(seconds=20)
    laptop = LAPTOP["ip"]
    ssh = flow(laptop, "10.10.0.2", "ssh", ts=at, resp_p=22, uid="Cnewssh", orig_l2_addr=LAPTOP["mac"])
    write = flow("10.10.0.30", "10.10.0.15", "modbus", ts=at, uid="Cnewwrite")
    event = dict(ts=at, ts_end=at, count=1, uid="Cnewwrite", orig_h="10.10.0.30", resp_h="10.10.0.15",
                 resp_p=502, protocol="modbus", action=NEW_FUNCTION[3], status="ok", attrs={"unit": "1"})
    hostname = dict(ts=at, mac=LAPTOP["mac"], ip=laptop, attribute="hostname", value=LAPTOP["hostname"],
                    source="dhcp", confidence=80)
    tables = {
        "flows": wire.table_from_rows("flows", batch.tables["flows"].to_pylist() + [ssh, write]),
        "events": wire.table_from_rows("events", batch.tables["events"].to_pylist() + [event]),
        "observations": wire.table_from_rows("observations",
                                             batch.tables["observations"].to_pylist() + [hostname]),
    }
    return wire.Batch(batch.interval_start, batch.interval_end, tables, batch.counters, sensor=batch.sensor)
