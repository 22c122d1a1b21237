"""The systemd unit that keeps the sensor capturing and uploading after activation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NAME = "mieruka-sensor.service"
UNIT_DIR = Path("/etc/systemd/system")


def unit(config: Path) -> str:
    exe = Path(sys.argv[0]).resolve()
    return f"""[Unit]
Description=mieruka sensor: capture on the mirror port and upload to the core
Wants=network-online.target
After=network-online.target

[Service]
ExecStart={exe} run --config {config.resolve()}
Restart=always
RestartSec=10
# capture needs raw sockets and promiscuous mode, nothing else
AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN
# SIGTERM to the sensor alone: it stops its dumpcap itself, after flushing what it captured
KillMode=mixed
# TimeoutStopSec stays systemd's 90 s: a stop spools the interval in seconds (it reads at most the capture
# buffer, dumpcap's files wait on disk); only sending the spool is cut short, and it resumes at the next start

[Install]
WantedBy=multi-user.target
"""


def can_install() -> bool:
    """Running as root on a host booted with systemd."""
    return os.geteuid() == 0 and Path("/run/systemd/system").is_dir()


def install(text: str) -> str | None:
    """Write, enable and (re)start the unit, so a re-activation's new credentials take effect at
    once; None on success, else why it failed."""
    (UNIT_DIR / NAME).write_text(text)
    for args in (["daemon-reload"], ["enable", NAME], ["restart", NAME]):
        done = subprocess.run(["systemctl", *args], capture_output=True, text=True)
        if done.returncode:
            return f"systemctl {' '.join(args)}: {done.stderr.strip()}"
    return None
