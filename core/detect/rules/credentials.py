"""Logins in clear text and logins that succeeded with a vendor default, from the decoders' flags
(``cleartext_credentials``, ``default_credentials``, SNMP's ``default_community``); the sensor
never sends a password, only these flags."""

from __future__ import annotations

from core.detect.kinds import Finding
from core.detect.rules.common import Findings, Site, events, macs
from sensor.wire import Batch

# an SNMP v1/v2c community is a password in every message: a poll is no login (the default-community
# case is ``default_credentials``)
NOT_LOGINS = frozenset({"snmp"})


def _default(event: dict) -> bool:
    attrs = event["attrs"]
    if attrs.get("default_credentials") == "true":  # the decoder saw the login succeed
        return True
    # an agent answers only a community it accepts
    return attrs.get("default_community") == "true" and "rtt" in attrs and event["status"] in ("", "noError")


def rules(batch: Batch, site: Site) -> list[Finding]:
    found, mac = Findings(), macs(batch)
    for event in events(batch):
        attrs = event["attrs"]
        details = (("action", event["action"]), ("status", event["status"]))
        if attrs.get("cleartext_credentials") == "true" and event["protocol"] not in NOT_LOGINS:
            found.event("cleartext_credentials", event, mac, details=details)
        if _default(event):
            found.event("default_credentials", event, mac, details=details)
    return found.result()
