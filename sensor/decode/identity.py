"""Who made a device, which model it is and what firmware it runs, read from the banners it sends:
HTTP, RTSP and SSDP ``Server`` headers and SNMP sysDescr, per the patterns of ``data/banners.csv``
(sources named there), and maker names in free text (a certificate's organisation).

``banner_facts`` gives the facts a banner supports: vendor, model, product, firmware and os. A
banner that matches no pattern gives none here (its decoder still reports it as ``software``).
"""

from __future__ import annotations

import csv
import re
from functools import cache

from sensor.decode.spec import Fact
from sensor.decode.tables import data_file

CONF_BANNER = 60  # a banner is configurable and names the software before the device
# makers of the devices the sensor meets, as free text names them (lower case) → their name
MAKERS = (("hikvision", "Hikvision"), ("dahua", "Dahua"), ("axis communications", "Axis"),
          ("hanwha", "Hanwha Vision"), ("samsung techwin", "Hanwha Vision"), ("panasonic", "Panasonic"),
          ("i-pro", "i-PRO"), ("sony", "Sony"), ("bosch", "Bosch"), ("vivotek", "Vivotek"), ("mobotix", "Mobotix"),
          ("uniview", "Uniview"), ("avigilon", "Avigilon"), ("siemens", "Siemens"),
          ("schneider electric", "Schneider Electric"), ("rockwell automation", "Rockwell Automation"),
          ("allen-bradley", "Rockwell Automation"), ("mitsubishi electric", "Mitsubishi Electric"),
          ("omron", "Omron"), ("moxa", "Moxa"), ("phoenix contact", "Phoenix Contact"), ("wago", "WAGO"),
          ("yokogawa", "Yokogawa"), ("beckhoff", "Beckhoff"), ("keyence", "Keyence"))
_MAKER_WORDS = re.compile(r"\b(" + "|".join(re.escape(word) for word, _ in MAKERS) + r")\b", re.IGNORECASE)
_MAKER_NAMES = dict(MAKERS)


@cache
def _patterns() -> dict[str, list[tuple[re.Pattern, str, str]]]:
    table: dict[str, list[tuple[re.Pattern, str, str]]] = {}
    with data_file("banners.csv") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            table.setdefault(row["kind"], []).append((re.compile(row["pattern"], re.IGNORECASE), row["vendor"],
                                                      row["os"]))
    return table


def banner_facts(kind: str, banner: str, confidence: int = CONF_BANNER) -> list[Fact]:
    """Facts about the banner's sender from the first pattern of ``kind`` ("server", "sysdescr")
    that matches it."""
    for pattern, vendor, os in _patterns().get(kind, ()):
        m = pattern.match(banner)
        if m is None:
            continue
        found = {k: v.strip() for k, v in m.groupdict().items() if v and v.strip()}
        version = found.pop("os_version", "")
        values = {"vendor": vendor, **found, "os": f"{os} {version}".strip() if os else ""}
        return [Fact(attribute, value, confidence=confidence) for attribute, value in values.items() if value]
    return []


def vendor_named(text: str) -> str:
    """The device maker ``text`` names (e.g. an organisation "Hangzhou Hikvision Digital Technology"),
    or ""."""
    m = _MAKER_WORDS.search(text)
    return _MAKER_NAMES[m[1].lower()] if m else ""
