"""GET /api/v1/vulnerabilities and the vulnerabilities of /api/v1/assets/{device}: the tenant's
ledger (real ingest into chDB) matched against the shared CISA advisories."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from coretest import T0, make_batch, post_batch, provision
from fastapi.testclient import TestClient

from core.api.app import create_app
from core.vulns.store import import_path
from sensor import wire

CSAF = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
pytestmark = pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there")

S7 = "00:1b:1b:00:00:02"
EN2T = "00:00:bc:00:00:03"
CAMERA = "44:19:b6:00:00:04"


def facts(mac: str, ip: str, **attributes) -> list[dict]:
    return [dict(ts=T0, mac=mac, ip=ip, attribute=name, value=value, source="test", confidence=90)
            for name, value in attributes.items()]


@pytest.fixture(scope="module")
def site(module_settings):
    with TestClient(create_app(module_settings)) as client:
        acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
        acme_facts = (facts(S7, "10.0.0.2", vendor="Siemens AG", model="6ES7 214-1AG40-0XB0", firmware="V4.4.9")
                      + facts(EN2T, "10.0.0.3", vendor="Rockwell Automation/Allen-Bradley", model="1756-EN2T/D",
                              firmware="11.001"))
        globex_facts = facts(CAMERA, "10.0.0.4", vendor="Hangzhou Hikvision Digital Technology Co.,Ltd.",
                             model="DS-2CD2032F-I", firmware="V5.4.0 build 160530")
        for tenant, rows in ((acme, acme_facts), (globex, globex_facts)):
            body = wire.encode(make_batch(observations=rows))
            assert post_batch(client, tenant.sensor_token, body).status_code == 200
        import_path(client.app.state.clickhouse, CSAF)
        yield client, acme, globex


def get(client, token, path, status=200):
    r = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == status, r.text
    return r.json()


def test_by_cve_and_by_device_for_the_callers_tenant_only(site):
    client, acme, globex = site
    started = time.perf_counter()
    found = get(client, acme.api_token, "/api/v1/vulnerabilities")
    print(f"GET /api/v1/vulnerabilities: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert [d["device"] for d in found["by_device"]] == [S7]  # the EN2T's 11.001 is past the fix
    cves = {c["cve"]: c for c in found["by_cve"]}
    assert set(cves) == {"CVE-2022-38465", "CVE-2019-10943"}  # from V4.4.0 on not CVE-2019-10929
    top = found["by_cve"][0]
    assert top["cve"] == "CVE-2022-38465" and top["cvss"] == 9.3 and top["severity"] == "critical"
    assert [a["advisory"] for a in top["advisories"]] == ["ICSA-22-286-04"]
    assert top["advisories"][0]["title"].startswith("Siemens SIMATIC")
    (device,) = top["devices"]
    assert device["device"] == S7 and device["confidence"] == "family" and device["remediation"]
    assert found["counts"] == {"critical": 1, "high": 0, "medium": 1, "low": 0, "none": 0}
    assert found["devices_affected"] == 1

    theirs = get(client, globex.api_token, "/api/v1/vulnerabilities")
    assert [d["device"] for d in theirs["by_device"]] == [CAMERA]
    assert {c["cve"] for c in theirs["by_cve"]} == {"CVE-2017-7921", "CVE-2017-7923"}
    assert all(c["devices"][0]["confidence"] == "exact" for c in theirs["by_cve"])


def test_filters_and_bad_filters(site):
    client, acme, _ = site
    critical = get(client, acme.api_token, "/api/v1/vulnerabilities?min_cvss=9")
    assert [c["cve"] for c in critical["by_cve"]] == ["CVE-2022-38465"]
    assert get(client, acme.api_token, "/api/v1/vulnerabilities?confidence=exact")["by_cve"] == []
    for bad in ("min_cvss=11", "min_cvss=-1", "min_cvss=x", "confidence=maybe"):
        assert get(client, acme.api_token, f"/api/v1/vulnerabilities?{bad}", status=422)["detail"]
    assert client.get("/api/v1/vulnerabilities").status_code == 401


def test_asset_detail_lists_the_devices_vulnerabilities(site):
    client, acme, globex = site
    started = time.perf_counter()
    detail = get(client, acme.api_token, f"/api/v1/assets/{S7}")
    print(f"GET /api/v1/assets/{{device}}: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert [v["cve"] for v in detail["vulnerabilities"]] == ["CVE-2022-38465", "CVE-2019-10943"]
    assert detail["vulnerabilities"][0] == {**detail["vulnerabilities"][0], "advisory": "ICSA-22-286-04",
                                            "cvss": 9.3, "severity": "critical", "confidence": "family"}
    assert get(client, acme.api_token, f"/api/v1/assets/{EN2T}")["vulnerabilities"] == []
    get(client, globex.api_token, f"/api/v1/assets/{S7}", status=404)
