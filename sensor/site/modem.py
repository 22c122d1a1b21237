"""Is the LTE modem answering? Asked through ModemManager (``mmcli``) or with ``AT`` on its serial port."""

from __future__ import annotations

import os
import select
import subprocess
import termios
import time
import tty

from sensor.errors import Problem

REMEDY = "check the LTE dongle is plugged in, and the modem setting in the sensor config"

class ModemError(Problem):
    """The modem did not answer; the message says what was tried."""

    def __init__(self, detail: str):
        super().__init__(detail, REMEDY)


def probe(spec: str, timeout: float = 3.0) -> str:
    """What answered, for ``spec`` "mmcli" or a serial device path; ModemError if nothing did."""
    return _mmcli(timeout) if spec == "mmcli" else _at(spec, timeout)


def _mmcli(timeout: float) -> str:
    try:
        out = subprocess.run(["mmcli", "-L"], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise ModemError("mmcli not found: install ModemManager or configure the modem's AT port") from None
    except subprocess.TimeoutExpired:
        raise ModemError("ModemManager did not answer") from None
    modems = [line.strip() for line in out.stdout.splitlines() if "/Modem/" in line]
    if out.returncode or not modems:
        raise ModemError(f"ModemManager sees no modem: {(out.stderr or out.stdout).strip() or 'empty list'}")
    return modems[0]


def _at(device: str, timeout: float) -> str:
    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise ModemError(f"cannot open {device}: {exc.strerror}") from None
    try:
        tty.setraw(fd)
        termios.tcflush(fd, termios.TCIOFLUSH)
        os.write(fd, b"AT\r")
        reply = b""
        end = time.monotonic() + timeout
        while b"OK" not in reply and b"ERROR" not in reply and (left := end - time.monotonic()) > 0:
            if select.select([fd], [], [], left)[0]:
                reply += os.read(fd, 256)
    except termios.error:
        raise ModemError(f"{device} is not a serial port") from None
    except OSError as exc:
        raise ModemError(f"{device}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if b"OK" not in reply:
        raise ModemError(f"no OK from {device} to AT within {timeout:g} s (got {reply.strip()[:40]!r})")
    return f"AT OK on {device}"
