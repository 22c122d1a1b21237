"""An installer on site: `mieruka-sensor activate`, `test` and `status` as real processes against a
real core (uvicorn on 127.0.0.1, chDB, SQLite). Interfaces are stand-in pcap files
($MIERUKA_SENSOR_CAPTURE_DIR) except where live AF_PACKET capture itself is under test."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import stat
import threading
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from coretest import LiveServer
from installtest import CLI, ETH0_MAC, PEER, SAMPLE, frames, interfaces, one_line, sensor, ship
from storetemplate import migrated

from core.access import accounts
from core.fleet import activation
from core.api.app import create_app
from core.api.deps import get_now
from core.config import Settings
from core.store.controlplane import Sensor, utcnow
from sensor.site import config as sensor_config

PR_CAPBSET_DROP, CAP_NET_ADMIN, CAP_NET_RAW = 24, 12, 13  # <linux/prctl.h>, <linux/capability.h>


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """eth0: busy management port (to and from itself); eth1: the mirror port (other hosts)."""
    own = frames(ETH0_MAC, PEER, 40) + frames(PEER, ETH0_MAC, 40) + frames(PEER, "ff:ff:ff:ff:ff:ff", 20)
    mirrored = frames("00:1b:1b:00:00:01", "00:1b:1b:00:00:02", 10) + frames(PEER, "01:00:5e:00:00:01", 5)
    return interfaces(tmp_path_factory.mktemp("site") / "ifaces", own, mirrored)


@pytest.fixture(scope="module")
def quiet_site(tmp_path_factory) -> Path:
    """No mirror session: only the box's own traffic, broadcast and multicast."""
    return interfaces(tmp_path_factory.mktemp("quiet") / "ifaces", frames(PEER, ETH0_MAC, 20),
                      frames(PEER, "ff:ff:ff:ff:ff:ff", 20) + frames(PEER, "01:00:5e:00:00:01", 5))


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("core"))))) as server:
        yield server


@pytest.fixture
def core_clock(core):
    """core_clock(seconds): the core's clock runs ``seconds`` ahead until the test ends."""
    def ahead(seconds: float) -> None:
        core.app.dependency_overrides[get_now] = lambda: utcnow() + timedelta(seconds=seconds)
    yield ahead
    core.app.dependency_overrides.pop(get_now, None)


def sensor_row(core, serial: str) -> Sensor:
    with core.app.state.controlplane.sessions() as db:
        return next(s for s in db.query(Sensor) if s.serial == serial)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


class FakeModem:
    """A pseudo-terminal that answers AT like an LTE modem's serial port."""

    def __init__(self):
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        threading.Thread(target=self._answer, daemon=True).start()

    def _answer(self):
        pending = b""
        while True:
            try:
                pending += os.read(self.master, 64)
            except OSError:  # no process has the port open at the moment
                threading.Event().wait(0.05)
                continue
            while b"\r" in pending:
                _, _, pending = pending.partition(b"\r")
                os.write(self.master, b"\r\nOK\r\n")


def test_activate_then_opening_test_then_status(core, site, tmp_path):
    code = ship(core, "SN-1")
    config, modem = tmp_path / "etc" / "sensor.toml", FakeModem()
    res = sensor("activate", "--core", core.url, "--code", code, "--spool", tmp_path / "spool",
                 "--modem", modem.path, "--sample-seconds", SAMPLE, "--no-service", config=config, capture=site)
    assert res.returncode == 0, res.stderr
    assert "activated as sensor SN-1" in res.stderr and "mirror port eth1" in res.stderr
    assert f"ExecStart={CLI} run --config {config}" in res.stdout  # the unit, printed: no systemd here
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    written = tomllib.loads(config.read_text())
    assert written["interface"] == "eth1" and written["token"].startswith("mks_")
    row = sensor_row(core, "SN-1")
    assert written["sensor_id"] == row.id and row.status == "activated" and row.installed_at is not None

    res = sensor("test", "--sample-seconds", SAMPLE, config=config, capture=site)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["PASS"] * 9, res.stdout
    assert "AT OK on" in res.stdout and "10 of 15 frames between other hosts" in res.stdout
    assert lines[-1].startswith("opening test PASSED")
    opened = sensor_row(core, "SN-1")
    assert opened.status == "opened" and opened.opening_tested_at is not None
    assert opened.health["spool_depth"] == 0 and opened.health["bytes_this_month"] > 0
    assert sensor("test", "--sample-seconds", SAMPLE, config=config, capture=site).returncode == 0
    assert sensor_row(core, "SN-1").opening_tested_at == opened.opening_tested_at  # first pass wins

    capture = tmp_path / "plant.pcap"
    assert sensor("simulate", "--out", capture, "--packets", 3000, config=config, capture=None).returncode == 0
    res = sensor("replay", capture, "--core", core.url, "--token", written["token"], "--spool", tmp_path / "spool",
                 config=config, capture=None)
    assert res.returncode == 0, res.stderr
    res = sensor("status", "--json", config=config, capture=None)
    assert res.returncode == 0, res.stderr
    health = json.loads(res.stdout)
    assert health["capture_pps"] > 0 and health["parse_errors"] == 0 and health["spool_depth"] == 0
    assert health["last_upload"] and health["bytes_this_month"] > 0
    assert health["monthly_budget_bytes"] == 3000 * 1024 * 1024
    text = sensor("status", config=config, capture=None).stdout
    assert "packets/s" in text and "of 3000.0 MiB this month" in text


@pytest.mark.parametrize(("problem", "message"), [
    ("unknown", "the core answered 404: activation code not recognised"),
    ("malformed", "the core answered 400: not an activation code"),
    ("expired", "the core answered 410: activation code expired"),
    ("reused", "the core answered 409: activation code already used"),
])
def test_activate_refuses_bad_codes(core, site, tmp_path, problem, message):
    code = {
        "unknown": activation.new_code,
        "malformed": lambda: "HELLO",
        "expired": lambda: ship(core, "SN-expired", valid=timedelta(seconds=-1)),
        "reused": lambda: ship(core, "SN-reused"),
    }[problem]()
    if problem == "reused":
        with core.app.state.controlplane.sessions() as db:
            activation.redeem(db, code)
    config = tmp_path / "sensor.toml"
    res = sensor("activate", "--core", core.url, "--code", code, "--sample-seconds", SAMPLE,
                 "--no-service", config=config, capture=site)
    assert res.returncode == 1
    assert one_line(res).startswith(f"mieruka-sensor: activation failed: {message}")
    assert not config.exists()


@pytest.mark.parametrize(("where", "message"), [
    ("unreachable", "cannot reach the core at http://127.0.0.1:"),
    ("quiet", "no traffic between other hosts on any interface in 0.3 s (eth0: 20 frames, eth1: 25 frames)"),
])
def test_a_failed_activation_does_not_use_up_the_code(core, site, quiet_site, tmp_path, where, message):
    code = ship(core, f"SN-{where}")
    config = tmp_path / "sensor.toml"
    url, capture = (closed_port_url(), site) if where == "unreachable" else (core.url, quiet_site)
    res = sensor("activate", "--core", url, "--code", code, "--spool", tmp_path / "spool",
                 "--sample-seconds", SAMPLE, "--no-service", config=config, capture=capture)
    assert res.returncode == 1 and message in one_line(res)
    assert not config.exists()
    res = sensor("activate", "--core", core.url, "--code", code, "--spool", tmp_path / "spool",
                 "--sample-seconds", SAMPLE, "--no-service", config=config, capture=site)
    assert res.returncode == 0, res.stderr


def test_activate_on_a_given_port_without_mirrored_traffic_warns(core, site, tmp_path):
    config = tmp_path / "sensor.toml"
    res = sensor("activate", "--core", core.url, "--code", ship(core, "SN-warn"), "--interface", "eth0",
                 "--spool", tmp_path / "spool", "--sample-seconds", SAMPLE, "--no-service",
                 config=config, capture=site)
    assert res.returncode == 0, res.stderr
    assert "warning: no traffic between other hosts seen on eth0" in res.stderr
    assert tomllib.loads(config.read_text())["interface"] == "eth0"


@pytest.mark.parametrize(("args", "names"), [
    (["--core", "ftp://core.example", "--code", "C"], "--core"),
    (["--core", "core.example", "--code", "C"], "--core"),
    (["--core", "http://core.example"], "--code"),
    (["--core", "http://core.example", "--code", "C", "--interface", "eth9"], "no network interface named 'eth9'"),
    (["--core", "http://core.example", "--code", "C", "--modem", "usb"], "--modem"),
    (["--core", "http://core.example", "--code", "C", "--sample-seconds", "0"], "--sample-seconds"),
])
def test_activate_bad_input_is_one_line_and_exit_2(site, tmp_path, args, names):
    res = sensor("activate", *args, config=tmp_path / "sensor.toml", capture=site)
    assert res.returncode == 2 and names in one_line(res)


def configured(core, tmp_path: Path, serial: str, **settings) -> tuple[Path, str]:
    """An activated sensor's config file (written directly, without `activate`) and its token."""
    with core.app.state.controlplane.sessions() as db:
        sensor, token = activation.redeem(db, ship(core, serial))
    cfg = sensor_config.SensorConfig(core_url=core.url, token=token, sensor_id=sensor.id, serial=serial,
                                     interface="eth1", spool=str(tmp_path / "spool"))
    path = tmp_path / "sensor.toml"
    sensor_config.save(sensor_config.SensorConfig(**vars(cfg) | settings), path)
    return path, token


def revoke(core, serial: str) -> None:
    """The box was replaced: a new box redeemed a replacement code."""
    with core.app.state.controlplane.sessions() as db:
        tenant = accounts.tenant_named(db, "acme")
        code = activation.replace_sensor(db, tenant, serial, serial + "-new", timedelta(days=1))[1]
        activation.redeem(db, code)


@pytest.mark.parametrize(("failing", "setup", "remedy"), [
    ("config", lambda c, p: p.unlink(), "activate first"),
    ("config", lambda c, p: p.chmod(0o644), "chmod 600"),
    ("core reachable", {"core_url": closed_port_url()}, "check the LTE dongle or network cable"),
    ("credentials", "revoke", "ask the operator for a new activation code"),
    ("clock", "skew", "timedatectl set-ntp true"),
    ("mirrored traffic", "quiet", "check the switch's mirror (SPAN) session"),
    ("capture permission", {"interface": "eth7"}, "set `interface` in the config"),
    ("spool disk", {"spool_max_mb": 1 << 40}, "free disk space"),
    ("LTE modem", "silent modem", "check the LTE dongle is plugged in"),
], ids=["no-config", "config-readable-by-others", "core-unreachable", "token-revoked", "clock-skew",
        "no-mirrored-traffic", "no-such-interface", "spool-disk-full", "modem-silent"])
def test_opening_test_failures_name_the_check_and_the_remedy(core, core_clock, site, quiet_site, tmp_path,
                                                             failing, setup, remedy):
    serial = f"SN-{failing}-{len(remedy)}".replace(" ", "-")
    capture = quiet_site if setup == "quiet" else site
    silent = os.openpty() if setup == "silent modem" else None
    settings = setup if isinstance(setup, dict) else {"modem": os.ttyname(silent[1])} if silent else {}
    config, _ = configured(core, tmp_path, serial, **settings)
    if callable(setup):
        setup(core, config)
    elif setup == "revoke":
        revoke(core, serial)
    elif setup == "skew":
        core_clock(30)
    res = sensor("test", "--sample-seconds", SAMPLE, config=config, capture=capture)
    assert res.returncode == 1
    fails = [line for line in res.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and fails[0].split("  ")[1].strip() == failing, res.stdout
    assert remedy in fails[0]
    assert one_line(res) == f"opening test FAILED: {failing}"
    if setup != "revoke":
        assert sensor_row(core, serial).opening_tested_at is None


def without_capture_privileges() -> None:
    """In the child before exec: give up CAP_NET_RAW and CAP_NET_ADMIN for good (root keeps the rest)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_NET_ADMIN, CAP_NET_RAW):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0):
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_capture_needs_privileges(core, tmp_path):
    """Live AF_PACKET capture on lo without the capture capabilities: that check fails, nothing else."""
    config, _ = configured(core, tmp_path, "SN-unprivileged", interface="lo")
    drop = {"preexec_fn": without_capture_privileges} if os.geteuid() == 0 else {}
    res = sensor("test", "--sample-seconds", SAMPLE, config=config, capture=None, **drop)
    assert res.returncode == 1
    fails = [line for line in res.stdout.splitlines() if line.startswith("FAIL")]
    assert fails == [
        "FAIL  capture permission   no permission to capture on lo — run as root, or grant CAP_NET_RAW and "
        "CAP_NET_ADMIN (the systemd unit does)"], res.stdout
    assert "SKIP  mirrored traffic     needs capture permission" in res.stdout


def test_live_capture_on_loopback_sees_no_mirrored_traffic(core, tmp_path):
    """With the privileges, live capture works; lo carries only this host's own frames."""
    if os.geteuid() != 0:
        pytest.skip("live capture needs root")
    config, _ = configured(core, tmp_path, "SN-loopback", interface="lo")
    res = sensor("test", "--sample-seconds", SAMPLE, config=config, capture=None)
    assert res.returncode == 1
    assert "PASS  capture permission   can capture on lo in promiscuous mode" in res.stdout
    assert [line.split("  ")[1] for line in res.stdout.splitlines() if line.startswith("FAIL")] == [
        "mirrored traffic"], res.stdout


@pytest.mark.parametrize(("content", "message"), [
    (None, "no sensor config at"),
    ("core_url = 'http://x'\n", "is not a valid sensor config"),
    ("not toml at all [", "is not a valid sensor config"),
])
def test_status_without_a_usable_config(tmp_path, content, message):
    config = tmp_path / "sensor.toml"
    if content:
        config.write_text(content)
    res = sensor("status", config=config, capture=None)
    assert res.returncode == 1 and message in one_line(res)

