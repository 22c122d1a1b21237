"""The sensors page over TestClient with real chDB: lifecycle dates, health reports posted through the
sensor routes, deliveries through the real ingest, upload lag and staleness against the core's clock,
both languages, and tenant isolation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from coretest import bearer, flow, make_batch, post_batch

from core.access import accounts
from core.store.controlplane import Sensor, utcnow
from dashboard.i18n import MESSAGES
from dashboard.sensors import STALE_AFTER
from sensor import wire

JA, EN = MESSAGES["ja"], MESSAGES["en"]
ACME_HEALTH = {"capture_pps": 1234.4, "kernel_drops": 17, "parse_errors": 5, "spool_depth": 3,
               "spool_bytes": 4096, "spool_oldest_age_s": 125.0, "bytes_this_month": 2_500_000_000,
               "monthly_budget_bytes": 3_000_000_000, "data_mode": "economy"}
GLOBEX_HEALTH = {"capture_pps": 99.0, "kernel_drops": 424_242, "parse_errors": 0, "spool_depth": 0,
                 "spool_bytes": 0, "bytes_this_month": 100_000_000, "monthly_budget_bytes": 1_000_000_000}


@pytest.fixture
def fleet(client, clock, acme, globex):
    """acme: SN-acme installed, opening-tested and reporting economy mode, with a batch that ended
    at ``fleet`` (this minute) after the one at T0; a spare that never reported. globex: its own."""
    with client.app.state.controlplane.sessions() as db:
        accounts.create_sensor(db, accounts.tenant_named(db, "acme"), "SN-acme-spare")
    sensor = bearer(acme.sensor_token)
    clock(datetime(2024, 5, 1, 16, 0, tzinfo=UTC))  # 01:00 on 2 May in Japan
    assert client.post("/api/v1/sensor/installation", headers=sensor).status_code == 200
    start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)
    batch = make_batch([flow(ts=start)], start=start)
    clock(utcnow())  # the core takes a batch of this minute only when its clock says so
    assert post_batch(client, acme.sensor_token, wire.encode(batch)).status_code == 200
    clock(datetime(2024, 5, 2, 16, 0, tzinfo=UTC))
    r = client.post("/api/v1/sensor/opening-test", headers=sensor, json={"batch_id": batch.batch_id})
    assert r.status_code == 200, r.text
    for tenant, health in ((acme, ACME_HEALTH), (globex, GLOBEX_HEALTH)):
        r = client.post("/api/v1/sensor/health", headers=bearer(tenant.sensor_token), json=health)
        assert r.status_code == 200, r.text
    return batch.interval_end


def last_seen(client, sensor_id: int) -> datetime:
    with client.app.state.controlplane.sessions() as db:
        return db.get(Sensor, sensor_id).last_seen


def serials(html: str) -> list[str]:
    return re.findall(r'<tr data-sensor="([^"]+)"', html)


def row(html: str, serial: str) -> str:
    return re.search(rf'<tr data-sensor="{serial}"[^>]*>.*?</tr>', html, re.DOTALL).group(0)


def cell(html: str, serial: str, column: str) -> str:
    """The text of a sensor's cell, tags dropped and spaces collapsed."""
    td = re.search(rf'<td[^>]*data-col="{column}"[^>]*>(.*?)</td>', row(html, serial), re.DOTALL).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", td).split())


def test_sensors_page_needs_a_session(client):
    r = client.get("/sensors")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_each_sensor_with_lifecycle_health_and_deliveries(client, fleet, clock, acme, login):
    login(acme)
    clock(fleet + timedelta(seconds=150))
    html = client.get("/sensors").text
    assert serials(html) == ["SN-acme", "SN-acme-spare"]
    assert re.search(r'<a href="/sensors" class="active" aria-current="page">', html)
    assert f'<a href="/sensors">{JA["nav_sensors"]}</a>' in client.get("/").text
    assert JA["sensors_title"] in html and JA["upload_lag"] in html and JA["kernel_drops"] in html

    acme_row = row(html, "SN-acme")
    assert f'<span class="badge lifecycle-opened">{JA["lifecycle_opened"]}</span>' in acme_row
    assert {column: cell(html, "SN-acme", column) for column in (
        "installed", "opening-tested", "upload-lag", "capture-rate", "kernel-drops", "parse-errors", "spool",
        "batches", "packets")} == {
        "installed": "2024-05-02", "opening-tested": "2024-05-03",  # dates in Japan
        "upload-lag": "2分",  # 150 s after the newest batch's interval ended
        "capture-rate": "1,234 pps", "kernel-drops": "17", "parse-errors": "5", "spool": "3 最古 2分",
        "batches": "2", "packets": "27",  # the plant batch (20) and this minute's (7)
    }
    assert 'value="83"' in acme_row and "2.5 GB / 3.0 GB (83%)" in cell(html, "SN-acme", "data-used")
    assert f'<span class="badge economy" title="{JA["economy_hint"]}">{JA["economy_mode"]}</span>' in acme_row

    # The spare has neither reported nor delivered anything.
    assert f">{JA['lifecycle_activated']}<" in row(html, "SN-acme-spare")
    assert cell(html, "SN-acme-spare", "last-seen") == JA["never"]
    for column in ("installed", "upload-lag", "kernel-drops", "spool", "data-used"):
        assert cell(html, "SN-acme-spare", column) == "–", column
    assert cell(html, "SN-acme-spare", "batches") == "0"

    assert "stale" not in html  # heard from a minute or two ago
    assert "SN-globex" not in html and "424,242" not in html and "1.0 GB" not in html


def test_english_labels(client, fleet, clock, acme, login):
    login(acme)
    clock(fleet + timedelta(seconds=150))
    html = client.get("/sensors?lang=en").text
    for message in ("sensors_title", "upload_lag", "kernel_drops", "parse_errors", "data_used", "lifecycle_opened",
                    "economy_mode", "nav_sensors"):
        assert EN[message] in html, message
    assert cell(html, "SN-acme", "upload-lag") == "2 min"
    assert cell(html, "SN-acme", "spool") == "3 oldest 2 min"
    assert cell(html, "SN-acme-spare", "last-seen") == EN["never"]
    assert JA["sensors_title"] not in html


def test_a_sensor_not_heard_from_is_highlighted(client, fleet, clock, acme, login):
    login(acme)
    seen = last_seen(client, acme.sensor_id)
    clock(seen + STALE_AFTER)
    assert 'class="stale"' not in client.get("/sensors").text  # on the threshold: not yet
    clock(seen + STALE_AFTER + timedelta(seconds=1))
    html = client.get("/sensors").text
    assert '<tr data-sensor="SN-acme" class="stale">' in html
    assert f'<span class="badge stale">{JA["stale"]}</span>' in row(html, "SN-acme")
    assert JA["stale_count"].format(n=1) in html
    assert '<tr data-sensor="SN-acme-spare">' in html  # never seen is not stale: not yet installed


def test_other_tenant_sees_only_its_own_sensor(client, fleet, globex, login):
    login(globex)
    html = client.get("/sensors?tenant_id=1&tenant=acme").text  # a tenant from the client must not matter
    assert serials(html) == ["SN-globex"]
    assert cell(html, "SN-globex", "kernel-drops") == "424,242"
    assert "100.0 MB / 1.0 GB (10%)" in cell(html, "SN-globex", "data-used")
    assert "SN-acme" not in html and "1,234 pps" not in html and JA["economy_mode"] not in html
    assert JA["lifecycle_activated"] in html and cell(html, "SN-globex", "installed") == "–"


def test_why_uploads_are_failing_is_shown(client, fleet, acme, login):
    refused = "401: the core refused this sensor's credentials (invalid token); batches stay queued"
    report = ACME_HEALTH | {"last_error": refused}
    assert client.post("/api/v1/sensor/health", headers=bearer(acme.sensor_token), json=report).status_code == 200
    login(acme)
    acme_row = row(client.get("/sensors").text, "SN-acme")
    assert 'data-col="upload-error"' in acme_row and "401: the core refused" in acme_row
    assert "upload-error" not in row(client.get("/sensors").text, "SN-acme-spare")


def test_batches_set_aside_are_counted_with_the_newest_reason(client, fleet, acme, login):
    reason = "400: invalid batch: interval 9999-12-31T23:00:00+00:00..9999-12-31T23:01:00+00:00 outside what this core takes"
    report = ACME_HEALTH | {"spool_rejected": 2, "last_rejection": reason}
    assert client.post("/api/v1/sensor/health", headers=bearer(acme.sensor_token), json=report).status_code == 200
    login(acme)

    def note(html: str, column: str) -> str:
        return re.search(rf'data-col="{column}"[^>]*>(.*?)</div>', row(html, "SN-acme"), re.DOTALL).group(1).strip()

    html = client.get("/sensors").text
    assert note(html, "set-aside") == JA["set_aside"].format(n=2)
    shown = note(html, "last-rejection")
    assert shown.endswith("...") and shown.startswith("interval 9999-12") and len(shown) <= 20
    assert reason in row(html, "SN-acme")  # whole, in the tooltip
    assert "set-aside" not in row(html, "SN-acme-spare")
    assert note(client.get("/sensors?lang=en").text, "set-aside") == "2 set aside"


def test_frames_of_unknown_link_types_are_shown_per_type(client, fleet, acme, login):
    report = ACME_HEALTH | {"unknown_link_types": {"147": 3, "239": 1200}}
    assert client.post("/api/v1/sensor/health", headers=bearer(acme.sensor_token), json=report).status_code == 200
    login(acme)
    def note(html: str) -> str:
        return re.search(r'data-col="unknown-link-types"[^>]*>(.*?)</div>', row(html, "SN-acme")).group(1)

    assert note(client.get("/sensors").text) == "DLT 147: 3, DLT 239: 1,200"
    assert note(client.get("/sensors?lang=en").text) == "DLT 147: 3, DLT 239: 1,200"
    assert "unknown-link-types" not in row(client.get("/sensors").text, "SN-acme-spare")
    for bad in ({"ppp": 1}, {"147": -1}, {str(n): 1 for n in range(65)}):
        r = client.post("/api/v1/sensor/health", headers=bearer(acme.sensor_token), json=ACME_HEALTH | {"unknown_link_types": bad})
        assert r.status_code == 422, bad
