"""Helpers for tests of the installer commands (`mieruka-sensor activate/test/status`) against a live
core: stand-in interfaces as pcap files, shipped sensors, the CLI as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from core.access import accounts
from core.fleet import activation
from sensor.site import config as sensor_config
from sensor.capture.mirror import REPLAY_ENV

CLI = str(Path(sys.executable).parent / "mieruka-sensor")
SAMPLE = "0.3"  # seconds of "capture" per interface (the stand-in files are read whole)
ETH0_MAC, ETH1_MAC, PEER = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:99"


def frames(src: str, dst: str, n: int) -> list:
    return [Ether(src=src, dst=dst) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=502) / bytes(60)] * n


def interfaces(directory: Path, eth0: list, eth1: list) -> Path:
    directory.mkdir()
    for name, mac, packets in (("eth0", ETH0_MAC, eth0), ("eth1", ETH1_MAC, eth1)):
        wrpcap(str(directory / f"{name}.pcap"), packets)
        (directory / f"{name}.mac").write_text(mac)
    return directory


def ship(core, serial: str, valid=timedelta(days=14)) -> str:
    with core.app.state.controlplane.sessions() as db:
        try:
            tenant = accounts.tenant_named(db, "acme")
        except accounts.AccountError:
            tenant = accounts.create_tenant(db, "acme")
        return activation.ship_sensor(db, tenant, serial, "", valid)[1]


def sensor_env(config: Path, capture: Path | None) -> dict[str, str]:
    """The environment of a sensor command: its config, and stand-in interfaces if ``capture``."""
    env = {k: v for k, v in os.environ.items() if k not in (REPLAY_ENV, sensor_config.ENV)}
    env[sensor_config.ENV] = str(config)
    if capture:
        env[REPLAY_ENV] = str(capture)
    return env


def sensor(*args, config: Path, capture: Path | None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *map(str, args)], env=sensor_env(config, capture), capture_output=True, text=True,
                          timeout=120, **kw)


def one_line(res: subprocess.CompletedProcess) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]
