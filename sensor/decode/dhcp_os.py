"""A DHCP client's operating system from the vendor class (option 60) and the parameter request
list (option 55) it sends, per ``data/dhcp_os.csv`` (sources named there): "MSFT 5.0" is Windows,
the request list's order tells Windows 10/11 from 7, dhclient from BusyBox's udhcpc, iOS from macOS.
"""

from __future__ import annotations

import csv
from functools import cache

from sensor.decode.tables import data_file

CONF_VENDOR_CLASS = 60  # names the family
CONF_PARAMS = 65  # one stack's exact request list: more specific than the class


@cache
def _table() -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    classes, params = [], {}
    with data_file("dhcp_os.csv") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            if row["kind"] == "vendor_class":
                classes.append((row["value"], row["os"]))
            else:
                params[row["value"]] = row["os"]
    return tuple(classes), params


def guesses(vendor_class: str, param_list: str) -> list[tuple[str, int]]:
    """(OS, confidence) from the vendor class and from the request list ("1,3,6,…"), each when known."""
    classes, params = _table()
    out = [(os, CONF_VENDOR_CLASS) for prefix, os in classes if vendor_class.startswith(prefix)][:1]
    if param_list in params:
        out.append((params[param_list], CONF_PARAMS))
    return out
