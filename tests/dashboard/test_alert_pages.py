"""The alert pages (/alerts, /alerts/{id}), the device page's and overview's alert sections, on alerts
the real detection engine raised from real batches: both languages, filters, refusals, CSRF, and the
analyst's actions changing the alert and landing in the audit log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from coretest import T0, add_user, flow, make_batch, post_batch, provision
from pagetest import csrf_token, figure, plant_batch
from sqlalchemy import select

from core.detect import store
from core.detect.kinds import KINDS, SEVERITIES, STATUSES
from core.store.controlplane import AuditLog, Tenant
from dashboard.alertview import DETAIL_NAMES, what_happened
from dashboard.i18n import MESSAGES, translator
from sensor import wire

LAPTOP, LAPTOP_MAC, PLC = "10.1.0.66", "02:00:00:00:00:66", "10.1.0.2"
PLC_MAC = "00:1b:1b:00:00:02"


def intrusion(start):
    """A laptop nobody knew stops the PLC over S7."""
    uid = "Cstop"
    return make_batch(
        [flow(LAPTOP, PLC, "s7comm", ts=start, uid=uid, resp_p=102, orig_l2_addr=LAPTOP_MAC)],
        [dict(ts=start, ts_end=start, count=2, uid=uid, orig_h=LAPTOP, resp_h=PLC, resp_p=102, protocol="s7comm",
              action="PLC Stop", status="ok", attrs={"function": "0x29"})],
        [], start=start)


@pytest.fixture
def site(client):
    """acme learns its plant for an hour, then the intrusion; globex has an alert of its own."""
    tenants = {}
    for name, subnet in (("acme", "10.1.0"), ("globex", "10.2.0")):
        tenant = provision(client.app, name)
        with client.app.state.controlplane.session() as db:
            db.get(Tenant, tenant.id).learning_hours = 1
        for batch in (plant_batch(subnet), wire.encode(make_batch(
                [flow(f"{subnet}.9", f"{subnet}.2", ts=T0 + timedelta(hours=2), orig_l2_addr="02:00:00:00:00:09")],
                [], [], start=T0 + timedelta(hours=2)))):
            assert post_batch(client, tenant.sensor_token, batch).status_code == 200
        tenants[name] = tenant
    acme = tenants["acme"]
    assert post_batch(client, acme.sensor_token, wire.encode(intrusion(T0 + timedelta(hours=3)))).status_code == 200
    acme.ch, acme.globex = client.app.state.clickhouse, tenants["globex"]
    acme.all = store.list_alerts(acme.ch, acme.id, limit=100)
    acme.alerts = {a["kind"]: a for a in acme.all if LAPTOP in (a["src"]["ip"], a["dst"]["ip"])}  # the intrusion's
    assert {"plc_stop", "new_device"} <= acme.alerts.keys(), acme.alerts.keys()
    return acme


def rows(html: str) -> list[str]:
    return re.findall(r'data-alert="([0-9a-f]{32})"', html)


def test_the_alerts_page_lists_what_the_engine_raised_in_both_languages(client, login, site):
    login(site)
    for lang in ("ja", "en"):
        html = client.get("/alerts", params={"lang": lang}).text
        assert sorted(rows(html)) == sorted(a["id"] for a in site.all)  # open ones, this tenant's only
        stop = site.alerts["plc_stop"]
        assert KINDS["plc_stop"].title_ja if lang == "ja" else KINDS["plc_stop"].title_en in html
        assert f'href="/assets/{PLC_MAC}"' in html and LAPTOP in html  # src → dst, the PLC linked
        assert MESSAGES[lang]["nav_alerts"] in html and MESSAGES[lang]["severity_critical"] in html
        assert f'href="/alerts/{stop["id"]}"' in html and "×2" in html
        assert "10.2.0." not in html and "globex" not in html
        bars = figure(html, "alert-timeline")["data"]
        assert sum(sum(b["y"]) for b in bars) == len(site.all)
        counts = dict(re.findall(r'data-severity="(\w+)"[^>]*>\s*<span>[^<]+</span><strong>(\d+)</strong>', html))
        assert counts["critical"] == "1" and sum(map(int, counts.values())) == len(site.all)


def test_filters_sort_paging_and_the_csv(client, login, site):
    login(site)
    stop = site.alerts["plc_stop"]["id"]
    assert rows(client.get("/alerts", params={"severity": "critical"}).text) == [stop]
    assert sorted(rows(client.get("/alerts", params={"kind": "new_device"}).text)) == sorted(
        a["id"] for a in site.all if a["kind"] == "new_device")
    assert stop in rows(client.get("/alerts", params={"device": LAPTOP}).text)
    assert rows(client.get("/alerts", params={"device": "10.1.0.200"}).text) == []
    by_severity = rows(client.get("/alerts", params={"sort": "severity", "order": "desc"}).text)
    assert by_severity[0] == stop
    assert rows(client.get("/alerts", params={"status": "resolved"}).text) == []
    assert rows(client.get("/alerts", params={"range": "24h", "page": "99", "sort": "nonsense"}).text)  # clamped
    csv_href = re.search(r'id="csv" href="([^"]+)"', client.get("/alerts?severity=critical").text).group(1)
    csv = client.get(csv_href.replace("&amp;", "&"))
    assert csv.status_code == 200 and csv.text.count("\n") == 2 and stop in csv.text


def test_the_alert_page_says_what_happened_with_evidence_and_refuses_other_tenants(client, login, site):
    login(site)
    stop = site.alerts["plc_stop"]
    for lang, words in (("ja", "停止コマンド"), ("en", "stop command")):
        html = client.get(f"/alerts/{stop['id']}", params={"lang": lang}).text
        what = re.search(r'<p class="what">(.*?)</p>', html, re.S).group(1)
        assert words in what and LAPTOP in what and PLC in what
        assert "T0858" in html and "Change Operating Mode" in html
        assert f"<dt>{MESSAGES[lang]['detail_function']}</dt><dd>PLC Stop</dd>" in html
        evidence = re.search(r'id="evidence-events".*?</section>', html, re.S).group(0)
        assert "PLC Stop" in evidence and "×2" in evidence
        assert "Cstop" in re.search(r'id="evidence-flows".*?</section>', html, re.S).group(0)
        assert f'href="/assets/{PLC_MAC}"' in html
    function = site.alerts["new_ot_function"]  # known by IPs only (from events): linked through the ledger
    assert function["dst"] == {"ip": PLC, "mac": "", "device": PLC}
    html = client.get(f"/alerts/{function['id']}").text
    assert f'href="/assets/{PLC_MAC}"' in html and f'href="/assets/{LAPTOP}"' in html
    theirs = store.list_alerts(site.ch, site.globex.id)[0]["id"]
    assert client.get(f"/alerts/{theirs}").status_code == 404
    assert client.get("/alerts/not-an-id").status_code == 404


def act(client, alert_id: str, **form) -> object:
    token = csrf_token(client.get(f"/alerts/{alert_id}").text)
    return client.post(f"/alerts/{alert_id}", data={"csrf_token": token, **form})


def audited(client, site) -> list[str]:
    with client.app.state.controlplane.sessions() as db:
        return [f"{e.actor} {e.action} {e.detail}" for e in db.scalars(
            select(AuditLog).where(AuditLog.tenant_id == site.id, AuditLog.action.startswith("alert.")))]


def test_actions_change_the_alert_are_audited_and_need_csrf_and_a_role(client, login, site):
    stop, device = site.alerts["plc_stop"]["id"], site.alerts["new_device"]["id"]
    login(site)
    r = client.post(f"/alerts/{stop}", data={"csrf_token": "forged", "action": "acknowledge"})
    assert r.status_code == 403 and store.get_alert(site.ch, site.id, stop)["status"] == "new"
    r = act(client, stop, action="acknowledge")
    assert r.status_code == 303 and r.headers["location"] == f"/alerts/{stop}?done=acknowledge"
    assert store.get_alert(site.ch, site.id, stop)["status"] == "acknowledged"
    assert act(client, stop, action="assign", assignee="soc@acme.example").status_code == 303
    assert act(client, stop, action="comment", comment="called the plant <b>engineer</b>").status_code == 303
    assert act(client, stop, action="learn").status_code == 400  # a PLC stop names nothing to learn
    assert act(client, stop, action="delete").status_code == 400
    theirs = store.list_alerts(site.ch, site.globex.id)[0]["id"]
    assert client.post(f"/alerts/{theirs}", data={"csrf_token": csrf_token(client.get("/alerts").text),
                                                  "action": "resolve"}).status_code == 404
    assert store.get_alert(site.ch, site.globex.id, theirs)["status"] == "new"
    alert = store.get_alert(site.ch, site.id, stop)
    assert alert["assignee"] == "soc@acme.example" and alert["comments"][0]["text"] == "called the plant <b>engineer</b>"
    html = client.get(f"/alerts/{stop}?done=comment&lang=en").text
    history = re.search(r'id="history".*?</section>', html, re.S).group(0)
    assert "Acknowledged" in history and "soc@acme.example" in history and "&lt;b&gt;engineer" in history
    assert MESSAGES["en"]["done_comment"] in html
    assert act(client, device, action="learn").status_code == 303  # the laptop becomes normal
    assert store.get_alert(site.ch, site.id, device)["status"] == "resolved"
    log = audited(client, site)
    assert [e.split()[1] for e in log] == ["alert.update", "alert.update", "alert.update", "alert.learn",
                                           "alert.update"], log
    assert all(e.startswith(site.email) for e in log)

    add_user(client.app, "acme", "bill@acme.example", "billing")
    client.cookies.clear()
    login(site, email="bill@acme.example")
    html = client.get(f"/alerts/{stop}").text  # billing reads, without the forms
    assert 'id="actions"' not in html and rows(client.get("/alerts", params={"status": "all"}).text)
    assert act(client, stop, action="resolve").status_code == 403
    assert store.get_alert(site.ch, site.id, stop)["status"] == "acknowledged"


def test_the_device_page_and_the_overview_show_alerts(client, login, site):
    login(site)
    with client.app.state.controlplane.session() as db:  # a closed one lists after the open ones
        store.update_alert(site.ch, db, site.id, site.alerts["new_link"]["id"], site.email, status="resolved")
    html = client.get(f"/assets/{PLC_MAC}", params={"lang": "en"}).text
    section = re.search(r'id="device-alerts".*?</section>', html, re.S).group(0)
    listed = rows(section)
    assert site.alerts["plc_stop"]["id"] in listed
    statuses = re.findall(r'data-status="(\w+)"', section)
    assert "resolved" in statuses and statuses == sorted(statuses, key=lambda s: s == "resolved")  # open first
    html = client.get("/", params={"lang": "ja"}).text
    summary = re.search(r'id="alert-summary".*?</section>', html, re.S).group(0)
    assert rows(summary)[0] == site.alerts["plc_stop"]["id"]  # the most severe first
    assert f'href="/assets/{PLC_MAC}"' in summary and f'href="/alerts/{site.alerts["plc_stop"]["id"]}"' in summary
    assert MESSAGES["ja"]["open_alerts"] in summary
    assert html.index('id="alert-summary"') < html.index('id="sensors"')


def test_every_kind_severity_and_status_reads_in_both_languages():
    for lang in ("ja", "en"):
        t = translator(lang)
        for s in SEVERITIES:
            assert t(f"severity_{s}")
        for s in STATUSES:
            assert t(f"alert_status_{s}")
        for name in DETAIL_NAMES:
            assert t(f"detail_{name}")
        for kind in KINDS:  # details a kind may lack show as "–", never a KeyError
            empty = {"kind": kind, "details": {}, "protocol": "", "src": {"ip": "10.0.0.1", "mac": ""},
                     "dst": {"ip": "", "mac": ""}}
            assert "10.0.0.1" in what_happened(empty, t) or kind in ("sensor_silent", "new_flood")

