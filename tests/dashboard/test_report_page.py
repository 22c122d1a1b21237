"""The Report page (/report) over TestClient with real chDB and SQLite: admins and analysts only,
a form defaulting to the 30 days up to the tenant's newest data, downloads in both formats and
languages with only the caller's tenant in them, each audited; a bad period is a 400 on the form."""

from __future__ import annotations

from pathlib import Path

import pytest
from coretest import T0, add_user
from sqlalchemy import select

from core.store.controlplane import AuditLog
from dashboard.i18n import MESSAGES

JA, EN = MESSAGES["ja"], MESSAGES["en"]
DAY = T0.date().isoformat()  # the batch's day (T0 is early enough in the day to be the same in Japan)


def test_the_page_needs_a_session_and_an_analyst_or_admin(client, acme, login):
    assert client.get("/report").status_code == 303
    add_user(client.app, "acme", "billing@acme.example", "billing")
    login(acme, email="billing@acme.example")
    r = client.get("/report")
    assert r.status_code == 403 and JA["report_forbidden"] in r.text
    assert client.get("/report/download", params={"start": DAY, "end": DAY}).status_code == 403
    assert 'href="/report"' not in client.get("/").text


def test_the_form_defaults_to_the_last_30_days_of_data(client, acme, login):
    login(acme)
    r = client.get("/report")
    assert r.status_code == 200 and JA["report_title"] in r.text
    assert 'href="/report"' in r.text  # in the navigation
    assert f'name="end" value="{DAY}"' in r.text
    assert 'name="start" value="' in r.text and 'option value="pdf" selected' in r.text


@pytest.mark.parametrize("params", [
    {"start": "2026-02-30", "end": DAY}, {"start": DAY, "end": "2001-01-01"}, {"start": DAY, "end": ""},
    {"start": DAY, "end": DAY, "language": "fr"}, {"start": DAY, "end": DAY, "format": "docx"},
])
def test_a_bad_choice_is_a_400_on_the_form(client, acme, login, params):
    login(acme)
    r = client.get("/report/download", params=params)
    assert r.status_code == 400 and JA["report_bad_choice"] in r.text
    assert 'id="report-form"' in r.text


def test_html_download_in_english_has_only_the_callers_tenant_and_is_audited(client, acme, globex, login):
    login(acme)
    r = client.get("/report/download", params={"start": DAY, "end": DAY, "language": "en", "format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"] == f'attachment; filename="assessment-acme-{DAY.replace("-", "")}-{DAY.replace("-", "")}.html"'
    assert "Security assessment report" in r.text and "acme" in r.text
    assert "10.1.0.2" in r.text and "10.2.0." not in r.text and "globex" not in r.text
    with client.app.state.controlplane.session() as db:
        audited = db.scalars(select(AuditLog).where(AuditLog.action == "report")).all()
    assert [(a.actor, a.tenant_id) for a in audited] == [(acme.email, acme.id)]
    assert audited[0].detail.endswith(" en html")


def test_pdf_download_in_japanese(client, acme, login):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("apt-get install chromium")
    login(acme)
    r = client.get("/report/download", params={"start": DAY, "end": DAY, "language": "ja", "format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and r.headers["cache-control"] == "no-store"
