"""The ledger's search matches what its page shows in the page's language (the API: the values it
returns), and its sort puts empty values last both ways and breaks ties by IP, then MAC (issue 14,
faults 2 and 6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from test_assets_pages import PLC, annotate, devices, plant  # noqa: F401 (plant: a fixture)

from core.analytics.assets import sort_assets
from dashboard.i18n import MESSAGES

ALL = ["10.1.0.1", PLC, "10.1.0.3"]  # the HMI, the PLC (Siemens, plc-10.1.0), an unknown device


def page(client, lang: str, **query) -> list[str]:
    return devices(client.get("/assets", params={"lang": lang, **query}).text)


def api(client, plant, **query) -> list[str]:  # noqa: F811
    r = client.get("/api/v1/assets", params=query, headers={"Authorization": f"Bearer {plant.api_token}"})
    assert r.status_code == 200, r.text
    return [a["device"] for a in r.json()]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_search_matches_the_labels_the_page_shows_in_its_language(client, plant, login, lang):  # noqa: F811
    login(plant)
    assert annotate(client, PLC, importance="high", authorized="authorized").status_code == 303
    shown = MESSAGES[lang]
    assert page(client, lang, q=shown["role_plc"].lower()) == [PLC]
    assert page(client, lang, q=shown["role_hmi"]) == ["10.1.0.1"]
    assert page(client, lang, q=shown["auth_unknown"]) == ["10.1.0.1", "10.1.0.3"]
    assert page(client, lang, q=shown["auth_authorized"]) == [PLC]
    assert page(client, lang, q=shown["importance_high"]) == [PLC]
    other = MESSAGES["en" if lang == "ja" else "ja"]
    assert page(client, lang, q=other["auth_unknown"]) == []  # the other language's label is not on screen
    for internal in ("unknown", "_", "behaviour", "T12:00"):  # keys, role source, ISO times: not shown
        assert page(client, lang, q=internal) == [], internal
    # vendor, hostname, IP, MAC in any case, protocol, and a time as shown (21:00 JST = 12:00 UTC)
    assert page(client, lang, q="siemens") == [PLC]
    assert page(client, lang, q="PLC-10.1") == [PLC]
    assert page(client, lang, q="10.1.0.3") == ["10.1.0.3"]
    assert page(client, lang, q=PLC.upper()) == [PLC]
    assert page(client, lang, q="modbus") == ["10.1.0.1", PLC]  # the HMI uses it, the PLC serves it
    assert page(client, lang, q="05-01 21:0") == ALL


def test_the_api_search_matches_the_values_it_returns(client, plant, login):  # noqa: F811
    login(plant)
    assert annotate(client, PLC, importance="high", authorized="authorized").status_code == 303
    assert api(client, plant, q="unknown") == ["10.1.0.1", "10.1.0.3"]  # the status key it returns
    assert api(client, plant, q="HIGH") == [PLC]
    assert api(client, plant, q="T12:0") == ALL  # ISO 8601 UTC, as returned
    assert api(client, plant, q="未確認") == [] and api(client, plant, q="21:0") == []
    assert api(client, plant, q="[") == []  # a list is matched item by item, not as its Python text


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_empty_values_sort_last_both_ways_in_the_page_and_the_api(client, plant, login, order):  # noqa: F811
    login(plant)
    assert page(client, "ja", sort="vendor", order=order)[0] == PLC  # the only vendor, then the empty ones
    assert page(client, "ja", sort="vendor", order=order)[1:] == ["10.1.0.1", "10.1.0.3"]  # by IP
    assert api(client, plant, sort="vendor", order=order) == [PLC, "10.1.0.1", "10.1.0.3"]
    assert page(client, "en", sort="role", order=order)[-1] == "10.1.0.3"  # no role: last


def test_importance_sorts_by_rank_and_ties_by_ip_both_ways(client, plant, login):  # noqa: F811
    login(plant)
    for device, importance in (("10.1.0.3", "high"), ("10.1.0.1", "high"), (PLC, "critical")):
        assert annotate(client, device, importance=importance).status_code == 303
    assert page(client, "ja", sort="importance", order="asc") == ["10.1.0.1", "10.1.0.3", PLC]
    assert page(client, "ja", sort="importance", order="desc") == [PLC, "10.1.0.1", "10.1.0.3"]
    assert api(client, plant, sort="importance", order="desc") == [PLC, "10.1.0.1", "10.1.0.3"]


def _row(ip: str, mac: str, vendor: str = "", last_seen: datetime | None = None) -> dict:
    return {"ip": ip, "mac": mac, "vendor": vendor, "last_seen": last_seen}


@pytest.mark.parametrize("descending", [False, True])
def test_ties_are_broken_by_ip_then_mac_whatever_order_rows_come_in(descending):
    seen = datetime(2024, 5, 1, tzinfo=UTC)
    rows = [_row("10.0.0.10", "b", "Axis", seen), _row("", "a", "Axis", seen), _row("10.0.0.2", "c", "Axis", seen),
            _row("10.0.0.2", "a", "Axis", seen), _row("10.0.0.9", "d"), _row("10.0.0.1", "e")]
    ties = [("10.0.0.2", "a"), ("10.0.0.2", "c"), ("10.0.0.10", "b"), ("", "a")]  # numeric IP order, no IP last
    empties = [("10.0.0.1", "e"), ("10.0.0.9", "d")]
    for column in ("vendor", "last_seen"):
        assert [(r["ip"], r["mac"]) for r in sort_assets(rows, column, descending)] == ties + empties
        assert [(r["ip"], r["mac"]) for r in sort_assets(rows[::-1], column, descending)] == ties + empties
