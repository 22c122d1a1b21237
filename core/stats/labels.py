"""The labels a statistics cell may carry. Nothing observed from the network is published as it came:
vendors, model families, roles, alert kinds and CVE ids come from closed lists (a vendor the tables
do not know keeps its registry name only when it looks like one); protocol, function and firmware
names must look like what a decoder or a vendor's version notation produces. Anything else becomes
``unlisted``, and any label is published only when k tenants share it (core.export.anonymity)."""

from __future__ import annotations

import re

from core.analytics.ledger import Asset
from core.vulns.catalogue import device_families, families, vendor_key

UNKNOWN = "unknown"  # nothing observed
UNLISTED = "unlisted"  # observed, but not a label of the closed list (or not like one)
ROLES = ("plc", "hmi", "engineering_workstation", "camera", "nvr", "server", "router", "switch", "iot", "io_device")
INSECURE_PRACTICES = ("cleartext_credentials", "default_credentials", "smbv1", "internet_exposure",
                      "remote_access")

# An address, a MAC or a long number (serials) anywhere in a name disqualifies it.
_IDENTIFYING = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}|:[0-9a-f]{0,4}:|\d{6,}", re.I)
_VENDOR = re.compile(r"[A-Za-z][\w .,&()/+'-]{1,63}")
_NAME = re.compile(r"[A-Za-z][\w .,()+-]{0,47}")  # protocol and function names (no paths, no URLs)
_VERSION = re.compile(r"[vV]?\d{1,4}(?:[._-][0-9A-Za-z]{1,8}){0,4}")
_CVE = re.compile(r"CVE-\d{4}-\d{4,7}")
_FAMILY_ORDER = {(f.vendor, f.name): i for i, f in enumerate(families())}


def _fits(pattern: re.Pattern, text: str) -> bool:
    return bool(pattern.fullmatch(text)) and not _IDENTIFYING.search(text)


def vendor(asset: Asset) -> str:
    """The vendor's key from the closed table, capitalised (``Siemens``), else its registry name when it looks
    like one, else ``unlisted``; ``unknown`` when none was observed."""
    text = " ".join(asset.best("vendor").split())
    if not text:
        return UNKNOWN
    key = vendor_key(text)
    return key.title() if key else (text if _fits(_VENDOR, text) else UNLISTED)


def role(asset: Asset) -> str:
    value = asset.role.value if asset.role else ""
    return value if value in ROLES else (UNLISTED if value else UNKNOWN)


def model_family(asset: Asset) -> str:
    """The product family (the vulnerability tables' closed list) of the device's model."""
    model = asset.best("model", "product")
    if not model.strip():
        return UNKNOWN
    key = vendor_key(asset.best("vendor"))
    found = device_families(key, model) if key else frozenset()
    return min(found, key=lambda name: _FAMILY_ORDER[(key, name)]) if found else UNLISTED


def firmware(asset: Asset) -> str:
    text = asset.best("firmware", "revision").strip()
    if not text:
        return UNKNOWN
    return text if _fits(_VERSION, text) else UNLISTED


def name(text: str) -> str:
    """A protocol, service or function name as a decoder writes it, else ``unlisted``."""
    if not text:
        return UNKNOWN
    return text if _fits(_NAME, text) else UNLISTED


def cve(text: str) -> str:
    return text if _CVE.fullmatch(text) else UNLISTED
