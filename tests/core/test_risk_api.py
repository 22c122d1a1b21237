"""Risk through the API: the ledger's rows carry their score and factors, sort by risk, and the site
summary answers for the caller's tenant only."""

from __future__ import annotations

from datetime import UTC, datetime

from coretest import bearer, flow, make_batch, post_batch, provision
from fastapi.testclient import TestClient

from core.analytics.risktrend import keep_daily
from core.api.app import create_app
from core.detect import store as alerts
from core.detect.engine import _new_row
from core.detect.kinds import Finding
from sensor import wire

PLC = "00:1b:1b:00:00:02"  # its observations name its MAC; the other two are known by IP only
HMI, OLD_BOX = "10.0.0.1", "10.0.0.3"


def test_assets_sort_by_risk_and_the_site_summary(settings):
    telnet = flow(resp_h="10.0.0.3", service="telnet", resp_p=23, uid="Ctelnet", resp_l2_addr="02:00:00:00:00:03")
    with TestClient(create_app(settings)) as client:
        acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
        batch = make_batch(flows=[flow(), telnet])
        assert post_batch(client, acme.sensor_token, wire.encode(batch)).status_code == 200
        now = int(datetime.now(UTC).timestamp() * 1e6)
        stop = Finding("plc_stop", "s7:stop", now, now, src_ip=HMI, dst_ip="10.0.0.2",
                       dst_mac=PLC)
        alerts.write(client.app.state.clickhouse, [_new_row(acme.id, acme.sensor_id, "t", stop)])
        auth = bearer(acme.api_token)

        ranked = client.get("/api/v1/assets", params={"sort": "risk", "order": "desc"}, headers=auth).json()
        assert [(a["device"], a["role"], a["risk"]) for a in ranked] == [
            (PLC, "plc", round(30 * 1.5)),  # the critical alert, × the PLC's weight
            (HMI, "hmi", round(30 * 1.2)),  # the same alert names it as its source
            (OLD_BOX, "", 10 + 15),  # Telnet: an insecure service and remote access
        ]
        assert ranked[0]["risk_factors"] == [
            {"name": "alerts", "points": 30, "detail": "critical 1", "parts": [["critical", "1"]]},
            {"name": "role", "points": 15, "detail": "plc ×1.5", "parts": [["plc", "×1.5"]]}]
        assert ranked[0]["risk_level"] == "medium" and ranked[2]["risk_level"] == "low"
        ascending = client.get("/api/v1/assets", params={"sort": "risk"}, headers=auth).json()
        assert [a["device"] for a in ascending] == [OLD_BOX, HMI, PLC]

        detail = client.get(f"/api/v1/assets/{PLC}", headers=auth).json()
        assert {k: detail[k] for k in ("risk", "risk_level", "risk_factors")} == {
            k: ranked[0][k] for k in ("risk", "risk_level", "risk_factors")}

        site = client.get("/api/v1/risk", headers=auth).json()
        assert (site["score"], site["max_score"], site["devices"], site["medium"], site["low"]) == (
            round((45 + 36 + 25) / 3), 45, 3, 1, 2)
        assert [d["device"] for d in site["top"]] == [PLC, HMI, OLD_BOX]
        assert site["trend"][-1]["day"] == datetime.now(UTC).date().isoformat()

        theirs = client.get("/api/v1/risk", headers=bearer(globex.api_token)).json()
        assert (theirs["devices"], theirs["top"]) == (0, [])  # acme's devices are not globex's

        for bad in ({"days": 0}, {"days": "week"}, {"days": 367}):
            r = client.get("/api/v1/risk", params=bad, headers=auth)
            assert r.status_code == 422 and "days" in r.text
        assert client.get("/api/v1/assets", params={"sort": "danger"}, headers=auth).status_code == 422
        assert client.get("/api/v1/risk").status_code == 401

        # the core's hourly job keeps today's snapshot current with nobody looking
        ch = client.app.state.clickhouse
        alerts.write(ch, [_new_row(acme.id, acme.sensor_id, "t", Finding(
            "plc_program_change", "s7:download", now, now, src_ip=HMI, dst_ip=OLD_BOX))])
        keep_daily(ch, client.app.state.controlplane)
        today = ch.query("SELECT tenant_id, max_score, medium FROM risk_daily FINAL WHERE day = today()"
                         " ORDER BY tenant_id")
        # the box now 30 + 10 + 15, the HMI 40 × 1.2, the PLC 45: all medium
        assert today == [{"tenant_id": acme.id, "max_score": 55, "medium": 3},
                         {"tenant_id": globex.id, "max_score": 0, "medium": 0}]  # as the API left it
