"""Devices from a purchase list: a CSV file with the columns vendor, model, firmware."""

from __future__ import annotations

import csv
from pathlib import Path

from core.vulns.match import DeviceId

COLUMNS = ("vendor", "model", "firmware")
MAX_ROWS = 100_000


class PurchaseListError(ValueError):
    pass


def read_devices(path: Path) -> list[DeviceId]:
    """One device per row, keyed by its row number (2 = the first after the header)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise PurchaseListError(f"{path}: no column {', '.join(missing)} (needs {','.join(COLUMNS)})")
            devices = []
            for row in reader:
                if len(devices) >= MAX_ROWS:
                    raise PurchaseListError(f"{path}: more than {MAX_ROWS} rows")
                devices.append(DeviceId(str(reader.line_num), *((row.get(c) or "").strip() for c in COLUMNS)))
            return devices
    except OSError as exc:
        raise PurchaseListError(f"{path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PurchaseListError(f"{path}: not a UTF-8 CSV file ({exc})") from None
