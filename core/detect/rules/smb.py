"""SMBv1 in use: a session that negotiated SMBv1 (medium), or a host's SMBv1 browser announcements
(info: Windows' browser service sends them over a connectionless SMBv1 mailslot without any session)."""

from __future__ import annotations

from core.detect.kinds import Finding
from core.detect.rules.common import Findings, Site, events, macs
from sensor.wire import Batch


def rules(batch: Batch, site: Site) -> list[Finding]:
    found, mac = Findings(), macs(batch)
    for event in events(batch):
        if event["protocol"] != "smb" or event["attrs"].get("smb1") != "true":
            continue
        if event["action"] == "negotiate":
            found.event("smbv1", event, mac, details=(("dialects", event["attrs"].get("dialects", "")),))
        else:
            found.event("smbv1", event, mac, key=f"announcement:{event['orig_h']}", severity="info",
                        details=(("announcement", event["action"]), ("name", event["attrs"].get("name", ""))))
    return found.result()
