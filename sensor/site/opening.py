"""`mieruka-sensor test`: the opening test (開通試験), run on site once the sensor is installed.

Each check ends PASS, FAIL with a remedy, or SKIP (a check it needs failed, or it does not apply).
The test batch is an empty batch sent through the real spool and uplink; the core confirms it, and
on a full pass records the opening-test completion date, which billing's opening date depends on
(specs/tariff.md), after the batch is found in its store.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sensor.site import config as sensor_config
from sensor import wire
from sensor.ship import health
from sensor.site import modem
from sensor.capture import mirror
from sensor.site.config import MIB, SensorConfig
from sensor.ship.coreapi import UNREACHABLE, CoreClient
from sensor.errors import Problem
from sensor.ship.spool import Spool
from sensor.ship.uplink import Uplink, UplinkReport

MAX_SKEW = 5.0  # seconds


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str
    remedy: str = ""

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<20} {self.detail}" + (f" — {self.remedy}" if self.remedy else "")


class NotApplicable(Exception):
    """The check does not apply here (a SKIP that does not fail the test)."""


def heartbeat(serial: str) -> wire.Batch:
    """An empty batch: proves the path from spool to core store without any capture."""
    now = datetime.now(timezone.utc)
    return wire.Batch(now, now, {name: wire.empty_table(name) for name in wire.TABLES}, sensor=serial)


class OpeningTest:
    def __init__(self, config_path: Path, sample_seconds: float = 5.0):
        self.config_path = config_path
        self.sample_seconds = sample_seconds
        self.capture = mirror.source()
        self.config: SensorConfig | None = None
        self.client: CoreClient | None = None
        self.skew = 0.0
        self.batch_id = ""
        # (name, check, names of the checks it needs to have passed)
        self.checks: list[tuple[str, Callable[[], str], tuple[str, ...]]] = [
            ("config", self.check_config, ()),
            ("core reachable", self.check_core, ("config",)),
            ("credentials", self.check_credentials, ("core reachable",)),
            ("clock", self.check_clock, ("credentials",)),
            ("capture permission", self.check_capture, ("config",)),
            ("mirrored traffic", self.check_traffic, ("capture permission",)),
            ("spool disk", self.check_spool, ("config",)),
            ("test batch", self.check_round_trip, ("credentials", "spool disk")),
            ("LTE modem", self.check_modem, ("config",)),
        ]

    def run(self) -> Iterator[Result]:
        passed: set[str] = set()
        for name, check, needs in self.checks:
            missing = [n for n in needs if n not in passed]
            if missing:
                yield Result(name, "SKIP", f"needs {missing[0]}")
                continue
            try:
                result = Result(name, "PASS", check())
                passed.add(name)
            except NotApplicable as exc:
                result = Result(name, "SKIP", str(exc))
            except Problem as exc:
                result = Result(name, "FAIL", str(exc), exc.remedy)
            yield result

    def record(self, results: list[Result]) -> dict:
        """After a full pass: the core records installation (if not yet) and the opening test."""
        self.client.installation()
        checks = [{"name": r.name, "status": r.status, "detail": r.detail} for r in results]
        return self.client.opening_test(self.batch_id, checks)

    def close(self) -> None:
        if self.client:
            self.client.close()

    def check_config(self) -> str:
        self.config = cfg = sensor_config.load(self.config_path)
        if stat.S_IMODE(self.config_path.stat().st_mode) & 0o077:
            raise Problem(f"{self.config_path} is readable by other users; it holds the sensor's token",
                          f"chmod 600 {self.config_path}")
        return f"{self.config_path}: sensor {cfg.serial} (id {cfg.sensor_id}), interface {cfg.interface}"

    def check_core(self) -> str:
        cfg = self.config
        self.client = CoreClient(cfg.core_url, cfg.token, cfg.verify)
        status = self.client.healthz()
        if status == 503:
            raise Problem(f"the core at {cfg.core_url} answers but reports its storage unavailable",
                          "tell the operator, then test again")
        if status != 200:
            raise Problem(f"{cfg.core_url} answered {status} to /healthz: not a mieruka core?",
                          "check the core URL in the config")
        if not cfg.core_url.startswith("https://"):
            return f"{cfg.core_url} over plain HTTP (lab use only)"
        return f"{cfg.core_url} over TLS, certificate checked against " + (cfg.ca_file or "the system CAs")

    def check_credentials(self) -> str:
        self.skew = self.client.clock_skew()
        return f"token accepted for sensor {self.config.serial}"

    def check_clock(self) -> str:
        if abs(self.skew) >= MAX_SKEW:
            side = "behind" if self.skew > 0 else "ahead of"
            raise Problem(f"this clock is {abs(self.skew):.1f} s {side} the core's (limit {MAX_SKEW:g} s)",
                          "turn on time sync (timedatectl set-ntp true) or set the clock, then test again")
        return f"{self.skew:+.2f} s from the core's clock"

    def check_capture(self) -> str:
        name = self.config.interface
        if not self.capture.exists(name):
            raise Problem(f"no interface named {name}",
                          "set `interface` in the config to the mirror port, or activate again")
        self.capture.check(name)
        return f"can capture on {name} in promiscuous mode"

    def check_traffic(self) -> str:
        [s] = mirror.sample(self.capture, [self.config.interface], self.sample_seconds)
        if not s.mirrored:
            raise Problem(f"no traffic between other hosts on {s.interface} in {s.seconds:g} s "
                          f"({s.frames} frames to or from this box, or broadcast)",
                          f"check the switch's mirror (SPAN) session and that its cable is in {s.interface}")
        return (f"{s.mirrored} of {s.frames} frames between other hosts in {s.seconds:g} s "
                f"({s.mirrored_bytes / 1000:.0f} kB)")

    def check_spool(self) -> str:
        cfg = self.config
        try:
            spool = Spool(Path(cfg.spool), cfg.spool_max_mb * MIB)
        except OSError as exc:
            raise Problem(f"cannot use the spool directory {cfg.spool}: {exc.strerror}",
                          "run as root, or point `spool` in the config at a writable disk") from None
        if not os.access(spool.dir, os.W_OK):
            raise Problem(f"cannot write to the spool directory {spool.dir}",
                          "run as root, or point `spool` in the config at a writable disk")
        queued = spool.stats()
        free = shutil.disk_usage(spool.dir).free
        needed = cfg.spool_max_mb * MIB - queued["bytes"]
        if free < needed:
            raise Problem(f"{free / MIB:.0f} MiB free on {spool.dir}; the spool may grow by {needed / MIB:.0f} MiB",
                          "free disk space, or lower spool_max_mb in the config")
        return f"{free / MIB:.0f} MiB free for a spool of up to {cfg.spool_max_mb} MiB ({queued['depth']} queued)"

    def check_round_trip(self) -> str:
        cfg = self.config
        spool = Spool(Path(cfg.spool), cfg.spool_max_mb * MIB)
        batch = heartbeat(cfg.serial)
        try:
            queued = spool.put(batch.batch_id, wire.encode(batch))
        except OSError as exc:
            raise Problem(f"cannot spool the test batch: {exc.strerror}", "free disk space on the spool disk") from None
        uplink = Uplink(cfg.core_url, cfg.token, spool, timeout=30, verify=cfg.verify)
        report = UplinkReport()
        try:
            outcome = uplink.deliver(queued, report)
        finally:
            uplink.close()
        if outcome not in ("stored", "duplicate"):
            spool.ack(queued)  # an empty test batch is not worth keeping for a later upload
            raise Problem(f"test batch not taken by the core: {report.last_error}", UNREACHABLE)
        self.batch_id = batch.batch_id
        self.client.health(health.snapshot(spool, cfg.monthly_budget_mb * MIB))
        return f"batch {batch.batch_id} stored by the core; health report accepted"

    def check_modem(self) -> str:
        if not self.config.modem:
            raise NotApplicable("no LTE modem configured (wired uplink)")
        return modem.probe(self.config.modem)
