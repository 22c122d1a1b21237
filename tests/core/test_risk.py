"""Device risk on constructed ledgers: Asset objects and alert rows stored in real chDB, each factor
moving the score as docs/risk.md says, weights from configuration, the cap at 100."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from coretest import provision
from fastapi.testclient import TestClient

from core.analytics import risk
from core.analytics.ledger import Asset, Attribute
from core.analytics.roles import Role
from core.api.app import create_app
from core.config import RiskWeights, Settings
from core.detect import store as alerts
from core.detect.engine import _new_row
from core.detect.kinds import Finding
from core.vulns import store as vulns_store
from core.vulns.match import DeviceId, match_devices

CSAF = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
NOW = datetime.now(UTC).replace(microsecond=0)
W = RiskWeights()
_tenants = count(1)


@pytest.fixture(scope="module")
def app(module_settings):
    with TestClient(create_app(module_settings)) as client:
        yield client.app


@pytest.fixture
def ch(app):
    return app.state.clickhouse


@pytest.fixture
def tenant(app) -> int:
    """A fresh tenant per test, so alerts and pairs of one test never reach another."""
    return provision(app, f"risk{next(_tenants)}").id


def device(key: str, ip: str, role: str = "", served: tuple[str, ...] = (), **annotation) -> Asset:
    return Asset(key, mac=key if ":" in key else "", ips={ip}, served=dict.fromkeys(served, True),
                 role=Role(role, "behaviour", 80) if role else None, annotation=annotation)


def raise_alert(ch, tenant: int, kind: str, src: str = "", dst: str = "", severity: str = "",
                key: str = "", status: str = "new", protocol: str = "") -> None:
    ts = int(NOW.timestamp() * 1e6)
    finding = Finding(kind, key or f"{kind}:{src}>{dst}", ts, ts, severity=severity, src_ip=src, dst_ip=dst,
                      protocol=protocol)
    alerts.write(ch, [_new_row(tenant, 1, "test", finding) | {"status": status}])


def add_pair(ch, tenant: int, orig: str, resp: str, service: str = "", hours_ago: int = 1) -> None:
    hour = (NOW - timedelta(hours=hours_ago)).replace(minute=0, second=0)
    row = {"tenant_id": tenant, "sensor_id": 1, "orig_h": orig, "resp_h": resp, "resp_p": 80, "vlan": 0,
           "service": service, "proto": "tcp", "bytes": 1000, "packets": 10, "flows": 1}
    ch.insert_rows("pairs_1h", [row | {"hour": hour}])  # and its day, as the views keep both
    ch.insert_rows("pairs_1d", [row | {"day": hour.replace(hour=0), "first_hour": hour, "last_hour": hour}])


def scores(ch, tenant, *assets: Asset, weights: RiskWeights = W) -> dict[str, risk.Risk]:
    return risk.device_risk(ch, tenant, {a.device: a for a in assets}, weights, NOW)


def points(r: risk.Risk, name: str) -> int:
    return sum(f.points for f in r.factors if f.name == name)


def test_a_quiet_authorised_hmi_scores_low(ch, tenant):
    hmi = device("00:00:00:00:00:01", "10.0.0.1", "hmi", authorized="authorized", importance="high")
    found = scores(ch, tenant, hmi)[hmi.device]
    assert found == risk.Risk(0, ())
    assert risk.level(found.score, W) == "low"


def test_a_critical_plc_served_telnet_and_reached_from_the_internet_scores_high(ch, tenant):
    plc = device("00:1b:1b:00:00:02", "10.0.0.2", "plc", served=("s7comm", "telnet"))
    raise_alert(ch, tenant, "plc_stop", src="10.0.0.9", dst="10.0.0.2")  # critical
    raise_alert(ch, tenant, "internet_exposure", src="203.0.113.5", dst="10.0.0.2", severity="critical",
                key="inbound:203.0.113.5>10.0.0.2")
    found = scores(ch, tenant, plc)[plc.device]
    assert found.score == 100 and found.total > 100  # capped
    by_name = {f.name: f for f in found.factors}
    assert by_name["alerts"] == risk.Factor("alerts", 40, "critical 2", (("critical", "2"),))  # 2 × 30, capped
    assert by_name["exposure"].points == 30  # inbound 25 + remote access (telnet) 15, capped at 30
    assert "internet inbound" in by_name["exposure"].detail and "telnet" in by_name["exposure"].detail
    assert by_name["insecure_services"] == risk.Factor("insecure_services", 10, "telnet", (("telnet", ""),))
    assert by_name["role"].detail == "plc ×1.5" and by_name["role"].points == round(80 * 1.5) - 80
    assert risk.level(found.score, W) == "high"


def test_open_alerts_count_by_severity_and_closed_ones_do_not(ch, tenant):
    host = device("00:00:00:00:00:03", "10.0.0.3")
    assert scores(ch, tenant, host)[host.device].score == 0
    raise_alert(ch, tenant, "new_link", src="10.0.0.3", dst="10.0.0.4")  # low: 3
    assert scores(ch, tenant, host)[host.device].score == 3
    raise_alert(ch, tenant, "scan", src="10.0.0.3", key="scan:a")  # high: 20
    raise_alert(ch, tenant, "scan", src="10.0.0.3", key="scan:b", status="acknowledged")
    assert scores(ch, tenant, host)[host.device].score == 43 - 3  # 3 + 20 + 20 = 43, capped at 40
    raise_alert(ch, tenant, "scan", src="10.0.0.3", key="scan:c", status="resolved")
    raise_alert(ch, tenant, "scan", src="10.0.0.3", key="scan:d", status="false_positive")
    assert points(scores(ch, tenant, host)[host.device], "alerts") == 40


def test_alerts_find_their_device_by_mac_ip_or_key(ch, tenant):
    by_mac = device("00:00:00:00:00:05", "10.0.0.5")
    by_ip = device("10.9.0.1", "10.9.0.1")  # a host behind a router: keyed by its IP
    ts = int(NOW.timestamp() * 1e6)
    alerts.write(ch, [_new_row(tenant, 1, "t", Finding("device_change", "k1", ts, ts, src_mac=by_mac.device))])
    raise_alert(ch, tenant, "device_change", dst="10.9.0.1")
    found = scores(ch, tenant, by_mac, by_ip)
    assert points(found[by_mac.device], "alerts") == 10 and points(found[by_ip.device], "alerts") == 10
    # a public host's frames carry the router's MAC: the alert is not the router's
    router = device("00:00:00:00:00:fe", "10.0.0.254", "router")
    inbound = Finding("internet_exposure", "inbound:52.94.0.9>10.9.0.1", ts, ts, src_ip="52.94.0.9",
                      src_mac=router.device, dst_ip="10.9.0.1")
    alerts.write(ch, [_new_row(tenant, 1, "t", inbound)])
    found = scores(ch, tenant, by_mac, by_ip, router)
    assert found[router.device].score == 0 and points(found[by_ip.device], "alerts") == 10 + 20


def test_insecure_services_served_and_flagged_by_alerts(ch, tenant):
    server = device("00:00:00:00:00:06", "10.0.0.6", served=("ftp", "http", "snmp", "https"))
    client = device("00:00:00:00:00:07", "10.0.0.7")
    found = scores(ch, tenant, server, client)
    assert points(found[server.device], "insecure_services") == 8 + 5 + 5
    raise_alert(ch, tenant, "default_credentials", src="10.0.0.7", dst="10.0.0.6", protocol="snmp")  # high
    raise_alert(ch, tenant, "smbv1", src="10.0.0.6", severity="info", key="announcement:10.0.0.6")
    found = scores(ch, tenant, server, client)
    factor = next(f for f in found[server.device].factors if f.name == "insecure_services")
    assert factor.points == 30 and factor.detail == "default credentials, SMBv1, ftp, http, snmp"
    assert [term for term, _ in factor.parts] == ["default_credentials", "smbv1", "ftp", "http", "snmp"]
    # the client that logged in offers nothing insecure: only the alert's points
    assert points(found[client.device], "insecure_services") == 0
    assert points(found[client.device], "alerts") == 20


def test_exposure_from_public_peers_in_the_hourly_pairs(ch, tenant):
    cam = device("00:00:00:00:00:08", "10.0.0.8", served=("ssh",))
    assert points(scores(ch, tenant, cam)[cam.device], "exposure") == 15  # remote access: ssh
    add_pair(ch, tenant, "10.0.0.8", "52.94.0.7")  # outbound to the internet
    add_pair(ch, tenant, "10.0.0.8", "239.255.255.250")  # multicast: not the internet
    assert points(scores(ch, tenant, cam)[cam.device], "exposure") == 30  # 15 + 15
    old = device("00:00:00:00:00:09", "10.0.0.9")
    add_pair(ch, tenant, "52.94.0.8", "10.0.0.9", hours_ago=24 * 40)  # before the 30 days counted
    assert points(scores(ch, tenant, old)[old.device], "exposure") == 0


@pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there")
def test_known_vulnerabilities_count_the_worst_cvss(ch, tenant):
    vulns_store.import_path(ch, CSAF / "icsa-17-320-01.json")  # Moxa NPort; advisories are global
    nport = device("00:90:e8:00:00:01", "10.0.0.20")
    seen = dict(source="test", confidence=90, first_seen=NOW, last_seen=NOW)
    nport.attributes = {"vendor": [Attribute("Moxa", **seen)], "model": [Attribute("NPort 5150", **seen)],
                        "firmware": [Attribute("3.7", **seen)]}
    fixed = device("00:90:e8:00:00:02", "10.0.0.21")
    fixed.attributes = dict(nport.attributes, firmware=[Attribute("4.0", **seen)])  # past every range
    matches = match_devices(ch, [DeviceId(nport.device, "Moxa", "NPort 5150", "3.7")])[nport.device]
    worst = max(matches, key=lambda m: m.cvss)
    found = scores(ch, tenant, nport, fixed)
    factor = next(f for f in found[nport.device].factors if f.name == "vulnerabilities")
    assert factor.points == round(min(worst.cvss * 4, 40)) > 0
    assert factor.detail.startswith(f"{worst.cve}, CVSS {worst.cvss:g}, exact match, CVEs ")
    assert found[fixed.device].score == 0


def test_unauthorised_and_new_devices_never_authorised(ch, tenant):
    marked = device("00:00:00:00:00:0a", "10.0.0.10", authorized="unauthorized")
    newcomer = device("00:00:00:00:00:0b", "10.0.0.11")
    accepted = device("00:00:00:00:00:0c", "10.0.0.12", authorized="authorized")
    for ip in ("10.0.0.11", "10.0.0.12"):
        raise_alert(ch, tenant, "new_device", src=ip, key=f"device:{ip}")  # medium: 10 each
    found = scores(ch, tenant, marked, newcomer, accepted)
    assert found[marked.device].score == 25
    assert found[newcomer.device].score == 10 + 10
    assert found[accepted.device].score == 10  # the open alert only


def test_links_to_other_zones(ch, tenant):
    engineering = device("00:00:00:00:00:30", "10.0.0.30")
    plc_line1, plc_line2 = device("00:00:00:00:00:31", "10.0.1.31"), device("00:00:00:00:00:32", "10.0.2.32")
    add_pair(ch, tenant, "10.0.0.30", "10.0.1.31")
    add_pair(ch, tenant, "10.0.0.30", "10.0.2.32")
    found = scores(ch, tenant, engineering, plc_line1, plc_line2)
    zones = next(f for f in found[engineering.device].factors if f.name == "zones")
    assert (zones.points, zones.detail) == (10, "10.0.1.0/24, 10.0.2.0/24")  # default zones: the /24s
    assert points(found[plc_line1.device], "zones") == points(found[plc_line2.device], "zones") == 5
    for a in (engineering, plc_line1, plc_line2):  # the analyst puts them in one zone
        a.annotation = {"zone": "Cell 1"}
    assert all(r.score == 0 for r in scores(ch, tenant, engineering, plc_line1, plc_line2).values())


def test_role_and_importance_multiply(ch, tenant):
    plc = device("00:00:00:00:00:0d", "10.0.0.13", "plc", importance="critical", authorized="unauthorized")
    low = device("00:00:00:00:00:0e", "10.0.0.14", importance="low", authorized="unauthorized")
    found = scores(ch, tenant, plc, low)
    assert found[plc.device].score == round(25 * 1.5 * 1.5)
    assert found[low.device].score == round(25 * 0.9)
    assert next(f for f in found[low.device].factors if f.name == "role").points == round(25 * 0.9) - 25
    assert found[plc.device].total == found[plc.device].score


def test_weights_come_from_configuration(ch, tenant, tmp_path, monkeypatch):
    plc = device("00:00:00:00:00:0f", "10.0.0.15", "plc", served=("telnet",))
    assert scores(ch, tenant, plc)[plc.device].score == round((10 + 15) * 1.5)
    monkeypatch.setenv("MIERUKA_RISK", json.dumps({"insecure": {"telnet": 30}, "role": {"plc": 1.0}}))
    configured = Settings().risk_weights
    assert configured.insecure["ftp"] == 8  # a table given is merged over its defaults
    assert risk.device_risk(ch, tenant, {plc.device: plc}, now=NOW)[plc.device].score == 30 + 15
    path = tmp_path / "risk.toml"
    path.write_text("remote_access = 0\nexposure_cap = 0\n[insecure]\ntelnet = 2\n")
    monkeypatch.setenv("MIERUKA_RISK_FILE", str(path))
    assert risk.device_risk(ch, tenant, {plc.device: plc}, now=NOW)[plc.device].score == round(2 * 1.5)


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="no_such"):
        RiskWeights.model_validate({"no_such": 1})


def test_site_summary_keeps_a_snapshot_a_day(ch, tenant):
    assets = {a.device: a for a in (
        device("00:00:00:00:01:01", "10.1.0.1", "plc", served=("telnet", "ftp", "http"),
               authorized="unauthorized"),
        device("00:00:00:00:01:02", "10.1.0.2", authorized="unauthorized"),
        device("00:00:00:00:01:03", "10.1.0.3"))}
    ch.insert_rows("risk_daily", [{"tenant_id": tenant, "day": (NOW - timedelta(days=2)).date(), "score": 9,
                                   "max_score": 20, "mean_score": 7.5, "devices": 3, "high": 0, "medium": 0,
                                   "low": 3, "computed_at": NOW - timedelta(days=2)}])

    def rows() -> list[dict]:
        scores = risk.scored(ch, tenant, assets, W)
        return [a.summary() | scores[key] for key, a in assets.items()]

    first = risk.site_risk(ch, tenant, rows(), weights=W, now=NOW)
    plc_score = round((15 + 23 + 25) * 1.5)  # remote access 15, insecure 10+8+5, unauthorised 25
    assert (first["max_score"], first["devices"], first["high"], first["medium"], first["low"]) == (
        plc_score, 3, 1, 0, 2)
    assert first["score"] == round((plc_score + 25 + 0) / 3)
    assert [d["day"] for d in first["trend"]] == [(NOW - timedelta(days=2)).date(), NOW.date()]
    assert first["top"][0] == {"device": "00:00:00:00:01:01", "ip": "10.1.0.1", "role": "plc",
                               "score": plc_score, "level": "high"}
    again = risk.site_risk(ch, tenant, rows(), weights=W, now=NOW + timedelta(minutes=1))
    stored = ch.query("SELECT count() AS n FROM risk_daily WHERE tenant_id = {t:UInt32}", {"t": tenant})
    assert again["trend"] == first["trend"] and stored[0]["n"] == 2  # unchanged: nothing written
    del assets["00:00:00:00:01:01"]
    later = risk.site_risk(ch, tenant, rows(), weights=W, now=NOW + timedelta(minutes=2))
    assert later["trend"][-1]["max_score"] == 25 and len(later["trend"]) == 2  # today's replaced
