"""`mieruka-sensor activate`: the installer's first command on site.

Find the mirror port (unless given), trade the one-time activation code for the sensor's
credentials, write the config (and the core's CA certificate, pinned from then on) and tell the
core the installation is complete. Everything that can fail on site is checked before the code is
redeemed, so a wrong cable or a read-only disk does not use the code up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sensor.site import config as sensor_config
from sensor.ship import coreapi
from sensor.capture import mirror
from sensor.site.config import SensorConfig
from sensor.errors import Problem

CA_FILE = "core-ca.pem"  # next to the config


@dataclass
class Request:
    core_url: str
    code: str
    config_path: Path
    interface: str | None
    ca: Path | None  # CA to trust for the activation call itself
    spool: Path
    modem: str
    budget_mb: int
    sample_seconds: float


def choose_interface(src, interface: str | None, seconds: float, warn: Callable[[str], None]) -> str:
    """The given interface (warning when it shows no mirrored traffic), else the busiest mirror port."""
    if interface:
        try:
            [s] = mirror.sample(src, [interface], seconds)
        except mirror.CaptureUnavailable as exc:
            warn(f"cannot look for mirrored traffic on {interface}: {exc.line()}")
            return interface
        if not s.mirrored:
            warn(f"no traffic between other hosts seen on {interface} in {seconds:g} s; "
                 "check the switch's mirror (SPAN) session before the opening test")
        return interface
    names = src.interfaces()
    if not names:
        raise Problem("no Ethernet interface is up", "plug in the mirror port cable, or pass --interface")
    samples = mirror.sample(src, names, seconds)
    best = mirror.busiest(samples)
    if best is None:
        seen = ", ".join(f"{s.interface}: {s.frames} frames" for s in samples)
        raise Problem(f"no traffic between other hosts on any interface in {seconds:g} s ({seen})",
                      "check the switch's mirror (SPAN) session and cable, or pass --interface")
    return best.interface


def _writable(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Problem(f"cannot create {path.parent}: {exc.strerror}", "run as root, or pass --config") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise Problem(f"cannot write {path}", "run as root, or pass --config")


def activate(req: Request, warn: Callable[[str], None]) -> SensorConfig:
    """Activate this box; returns the config written. Raises Problem."""
    _writable(req.config_path)
    interface = choose_interface(mirror.source(), req.interface, req.sample_seconds, warn)
    try:
        creds = coreapi.activate(req.core_url, req.code, sensor_config.trust(req.ca))
    except coreapi.CoreError as exc:
        raise Problem(f"activation failed: {exc}", exc.remedy) from None
    pem = creds["ca_pem"] or (req.ca.read_text() if req.ca else None)
    ca_file = req.config_path.parent / CA_FILE
    if pem:
        ca_file.write_text(pem)
    cfg = SensorConfig(
        core_url=req.core_url, token=creds["token"], sensor_id=creds["sensor_id"], serial=creds["serial"],
        interface=interface, spool=str(req.spool.resolve()), ca_file=str(ca_file.resolve()) if pem else "",
        monthly_budget_mb=req.budget_mb, modem=req.modem,
    )
    sensor_config.save(cfg, req.config_path)
    client = coreapi.CoreClient(cfg.core_url, cfg.token, cfg.verify)
    try:
        client.installation()
    except coreapi.CoreError as exc:
        warn(f"the core did not record the installation ({exc}); `mieruka-sensor test` will record it")
    finally:
        client.close()
    return cfg
