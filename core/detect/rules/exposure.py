"""A site device talking with a public address: outbound (it opened the flow; the kind's default
severity) or inbound (a public host opened a flow the site device accepted: critical)."""

from __future__ import annotations

from core.detect.kinds import Finding
from core.detect.rules.common import Findings, Site, accepted, flows, places
from sensor.wire import Batch

INBOUND_SEVERITY = "critical"


def rules(batch: Batch, site: Site) -> list[Finding]:
    found = Findings()
    where = places(batch, site)  # address → (site, public)
    for flow in flows(batch):
        orig, resp = flow["orig_h"], flow["resp_h"]
        if not orig or not resp:  # an L2 flow
            continue
        (orig_site, orig_public), (resp_site, resp_public) = where[orig], where[resp]
        if orig_site and resp_public:
            direction, severity = "outbound", ""
        elif orig_public and resp_site and accepted(flow):
            direction, severity = "inbound", INBOUND_SEVERITY
        else:
            continue
        found.add("internet_exposure", f"{direction}:{orig}>{resp}", flow["ts"], flow["ts_end"],
                  evidence=flow["uid"], severity=severity, src_ip=orig, src_mac=flow["orig_l2_addr"],
                  dst_ip=resp, dst_mac=flow["resp_l2_addr"], protocol=flow["service"] or flow["proto"],
                  details=(("direction", direction), ("port", f"{flow['proto']}/{flow['resp_p']}")))
    return found.result()
