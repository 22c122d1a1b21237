"""Remote-access sessions into the site: RDP, VNC, TeamViewer, AnyDesk, SSH or Telnet accepted by a
site device; from a public address they are high, from inside the kind's default (medium)."""

from __future__ import annotations

from core.detect.kinds import Finding
from core.detect.rules.common import Findings, Site, accepted, flows, places, services
from sensor.wire import Batch

REMOTE = frozenset({"rdp", "vnc", "teamviewer", "anydesk", "ssh", "telnet"})
ANYDESK_PORTS = frozenset({7070})  # AnyDesk's direct connections: TLS on its own port
FROM_OUTSIDE = "high"


def service_of(flow: dict) -> str:
    named = services(flow)
    remote = sorted(named & REMOTE)
    if remote:
        return remote[0]
    if "ssl" in named and flow["resp_p"] in ANYDESK_PORTS:
        return "anydesk"
    return ""


def rules(batch: Batch, site: Site) -> list[Finding]:
    found, where = Findings(), places(batch, site)  # address → (site, public)
    for flow in flows(batch):
        service = service_of(flow) if flow["resp_h"] else ""
        if not service or not accepted(flow) or not where[flow["resp_h"]][0]:
            continue
        outside = where[flow["orig_h"]][1]
        found.add("remote_access", f"{service}:{flow['orig_h']}>{flow['resp_h']}", flow["ts"], flow["ts_end"],
                  evidence=flow["uid"], severity=FROM_OUTSIDE if outside else "", src_ip=flow["orig_h"],
                  src_mac=flow["orig_l2_addr"], dst_ip=flow["resp_h"], dst_mac=flow["resp_l2_addr"],
                  protocol=service, details=(("service", service), ("from", "internet" if outside else "site")))
    return found.result()
