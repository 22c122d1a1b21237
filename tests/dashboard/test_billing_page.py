"""The billing page over TestClient with real chDB and SQLite: billing staff only, the month's invoices
with the opening date and how it was derived, month navigation, the CSV link, ja/en, tenant scope, audit."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from coretest import OSECT_EXAMPLE, SCC_EXAMPLE, add_user, store_contract
from sqlalchemy import select

from core.store.controlplane import AuditLog
from dashboard.i18n import MESSAGES
from tariff.calendar import Month, tokyo_date

JA, EN = MESSAGES["ja"], MESSAGES["en"]


@pytest.fixture
def contracts(client, acme, globex):
    """acme holds the OsecT worked example, globex the Secure Camera Cloud one."""
    store_contract(client.app, "acme", OSECT_EXAMPLE, ("SN-acme",))
    store_contract(client.app, "globex", SCC_EXAMPLE)


def billing_user(client, tenant: str) -> str:
    email = f"billing@{tenant}.example"
    add_user(client.app, tenant, email, "billing")
    return email


def contract_ids(html: str) -> list[str]:
    return re.findall(r'data-contract="([^"]+)"', html)


def test_the_page_needs_a_session_and_the_billing_role(client, acme, login):
    r = client.get("/billing")
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    login(acme)  # an analyst
    r = client.get("/billing")
    assert r.status_code == 403 and JA["billing_only"] in r.text
    assert 'href="/billing"' not in client.get("/").text  # no menu entry either


def test_billing_staff_see_their_tenants_invoices_with_the_opening_derivation(client, contracts, acme, login):
    login(acme, billing_user(client, "acme"))
    r = client.get("/billing?month=2026-12")
    assert r.status_code == 200
    html = r.text
    assert contract_ids(html) == ["C-1"]  # not globex's S-1
    assert '<a href="/billing" class="active" aria-current="page">' in html
    assert '<span class="opening-date">2026-12-03</span>' in html
    assert JA["opening_rule"].format(desired="2026-12-01", days=2, shipping=2, test=0) in html
    assert "equipment delivered 2026-11-19, after bd(D,-9) = 2026-11-17" in html
    assert JA["date_from_contract"] in html
    for amount in ("500,000", "112,258"):
        assert f'<td class="num">{amount}</td>' in html
    assert '<td class="num subtotal">612,258</td>' in html and '<td class="num tax">61,225</td>' in html
    assert "<strong>673,483</strong>" in html
    assert 'href="/billing?month=2026-11"' in html and 'href="/billing?month=2027-01"' in html
    assert 'href="/api/v1/billing/invoices.csv?month=2026-12"' in html
    csv = client.get("/api/v1/billing/invoices.csv?month=2026-12")  # the link works with the session
    assert csv.status_code == 200 and "673483" in csv.text and "S-1" not in csv.text


def test_the_provider_sees_every_tenant_and_english(client, contracts, login):
    login(None, billing_user(client, "provider"))
    html = client.get("/billing?month=2026-10&lang=en").text
    assert contract_ids(html) == ["C-1", "S-1"]
    assert EN["not_billed"] in html  # C-1 opens in December
    assert EN["billing_title"] in html and '<td class="num subtotal">18,000</td>' in html
    assert EN["date_from_contract"] in html


def test_a_missing_or_malformed_month_shows_this_month(client, login):
    login(None, billing_user(client, "provider"))
    this_month = str(Month.of(tokyo_date(datetime.now(UTC))))
    for query in ("", "?month=2026-13"):
        html = client.get(f"/billing{query}").text
        assert f'<span id="month">{this_month}</span>' in html and JA["no_contracts"] in html


def test_every_view_is_audited(client, contracts, acme, login):
    login(acme, billing_user(client, "acme"))
    client.get("/billing?month=2026-12")
    with client.app.state.controlplane.sessions() as db:
        [entry] = db.scalars(select(AuditLog).where(AuditLog.action == "billing.page"))
        assert (entry.actor, entry.tenant_id) == ("billing@acme.example", acme.id)
        assert entry.detail == "2026-12: 1 contract(s)"
