"""The assessment report on the simulated plant (a normal capture learned, so the incidents of a
risky one raise alerts; the real CISA advisories imported): the PDF's key figures,
read back with pdftotext, equal what the API answers for the same tenant and period, in Japanese
and English; the PDF embeds a Japanese font; the report names the plant's insecure protocols with
their recommendations."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path

import httpx
import pytest
from coretest import LiveServer, bearer, post_batch, provision
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings
from core.detect.indicators import import_file
from core.detect.kinds import SEVERITIES
from core.report.catalogue import Words
from core.report.make import make_report
from core.report.model import build_report
from core.report.period import period
from core.report.render import css_string, render_html
from core.store.controlplane import Tenant
from core.vulns.store import import_path
from sensor import simulate, wire
from sensor.meter import pipeline
from sensor.meter.observe import Observer

PACKETS = 60_000
ADVISORIES = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
DAY = "2026-01-05"  # simulate.EPOCH's day in Japan: the whole capture
START, END = "2026-01-04T15:00:00Z", "2026-01-05T15:00:00Z"  # that day in UTC, as the API takes it

PREVIOUS_SCORE = 42  # a risk_daily snapshot in the previous period (2026-01-03, UTC)
needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="apt-get install poppler-utils")


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    """acme's simulated plant: a normal capture learned, the risky one two hours later; indicators
    and advisories imported."""
    workdir = tmp_path_factory.mktemp("report")
    with LiveServer(create_app(Settings(data_dir=migrated(workdir)))) as live:
        acme = provision(live.app, "acme")
        provision(live.app, "globex")
        ch = live.app.state.clickhouse
        with live.app.state.controlplane.session() as db:
            db.get(Tenant, acme.id).learning_hours = 1
        indicators = workdir / "indicators.csv"
        indicators.write_text(f"type,value\ndomain,{simulate.INDICATOR_DOMAIN}\n")
        import_file(ch, indicators, acme.id)
        if ADVISORIES.is_dir():
            import_path(ch, ADVISORIES)
        with httpx.Client(base_url=live.url) as client:  # an hour of the normal plant, then the risky one
            for start, risky in ((simulate.EPOCH, False), (simulate.EPOCH + 7200, True)):
                capture = workdir / f"plant-{risky}.pcap"
                summary = simulate.write_pcap(capture, packets=PACKETS, seed=1, start=start, risky=risky)
                for batch in pipeline.iter_batches([capture], sensor="SN-acme", observer=Observer()):
                    assert post_batch(client, acme.sensor_token, wire.encode(batch)).status_code == 200
        ch.insert_rows("risk_daily", [{  # the site's score the day before, as the risk page keeps it
            "tenant_id": acme.id, "day": date(2026, 1, 3), "score": PREVIOUS_SCORE, "max_score": 50,
            "mean_score": 20.0, "devices": 10, "high": 0, "medium": 2, "low": 8, "computed_at": datetime.now(UTC)}])
        live.acme, live.summary = acme, summary
        yield live


def api(plant, path: str, **params) -> object:
    r = httpx.get(f"{plant.url}{path}", params=params, headers=bearer(plant.acme.api_token))
    assert r.status_code == 200, r.text
    return r.json()


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def figures(text: str, label: str) -> tuple[int, int | None]:
    """This period's and the previous period's figure (None: "–") on ``label``'s line of the
    key-figures table."""
    found = re.search(rf"^\s*{re.escape(label)}\s+([\d,]+)\s+([\d,]+|–)\s*$", text, re.M)
    assert found, f"{label!r} not in the PDF"
    return tuple(None if n == "–" else int(n.replace(",", "")) for n in found.groups())


def figure(text: str, label: str) -> int:
    return figures(text, label)[0]


@needs_poppler
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_pdf_key_figures_equal_the_api(plant, lang, tmp_path):
    ch, t = plant.app.state.clickhouse, Words(lang)
    started = time.perf_counter()
    pdf = make_report(ch, plant.acme.id, "acme", period(DAY, DAY), lang, "pdf", Settings().chromium)
    print(f"\nPDF ({lang}) made in {time.perf_counter() - started:.2f} s, {len(pdf):,} bytes")
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path)
    print(text[:3000])

    devices = api(plant, "/api/v1/assets", start=START, end=END)
    assert len(devices) >= len(plant.summary["devices"])
    assert figure(text, t("figure_devices")) == len(devices)
    total = 0
    for severity in SEVERITIES:
        n = api(plant, "/api/v1/alerts", start=START, end=END, severity=severity, limit=1)["total"]
        assert figure(text, t("figure_alerts_severity", severity=t(f"severity_{severity}"))) == n, severity
        total += n
    assert total > 0, "the incidents raised no alerts"
    assert figure(text, t("figure_alerts")) == total == api(plant, "/api/v1/alerts", start=START, end=END)["total"]

    risk = api(plant, "/api/v1/risk")
    assert figures(text, t("figure_risk_score")) == (risk["score"], PREVIOUS_SCORE)
    level = re.search(rf"{re.escape(t('risk_level'))}:\s*(\S+)", text)
    assert level and level.group(1) == t(f"level_{risk['level']}")

    vulnerable = api(plant, "/api/v1/vulnerabilities")  # all the tenant's data is in the period
    assert figure(text, t("figure_vulnerable_devices")) == vulnerable["devices_affected"]
    if ADVISORIES.is_dir():  # the ControlLogix's firmware is inside a real advisory's range
        assert vulnerable["devices_affected"] > 0
        assert all(entry["cve"] in text for entry in vulnerable["by_cve"]), vulnerable["by_cve"]


@needs_poppler
def test_pdf_embeds_a_japanese_font(plant, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_report(plant.app.state.clickhouse, plant.acme.id, "acme", period(DAY, DAY), "ja", "pdf",
                                 Settings().chromium))
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    embedded = [line for line in fonts.splitlines() if "IPA" in line]
    assert embedded and all(" yes " in line for line in embedded), fonts
    pages = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", pages).group(1)) >= 5  # a chapter a page at least


def test_findings_name_the_incidents_with_recommendations(plant):
    report = build_report(plant.app.state.clickhouse, plant.acme.id, "acme", period(DAY, DAY))
    rules = {f.rule.id for f in report.findings}
    # the incidents: a PLC stop and program download, the laptop's scan and default camera login,
    # Telnet into a PLC, SMBv1, the indicator domain, the Internet both ways
    assert {"plc_change", "scan", "default_credentials", "smbv1", "indicator_match",
            "internet_exposure"} <= rules, rules
    assert set(report.insecure) >= {"default_credentials", "smbv1", "telnet"}
    by_ip = {d.ip: d for d in report.devices.values()}
    laptop = next(f for f in report.findings if f.rule.id == "scan")
    assert simulate_ip(simulate.LAPTOP[0], plant) in [report.device(k).ip for k in laptop.devices]
    exposed = next(f for f in report.findings if f.rule.id == "internet_exposure")
    router = next(d["ip"] for d in plant.summary["devices"] if d["role"] == "router")
    assert router not in [report.device(k).ip for k in exposed.devices]  # it only carries the frames
    assert all(by_ip.get(report.device(k).ip) for f in report.findings for k in f.devices)
    html = make_report(plant.app.state.clickhouse, plant.acme.id, "acme", period(DAY, DAY), "en", "html",
                       Settings().chromium).decode()
    text = unescape(html)  # advisories' remediation texts hold quotes, ampersands, angle brackets
    for f in report.findings:
        assert f.recommendation("en") in text
    assert "<script" not in html and "default-src 'none'" in html  # nothing runs, nothing is fetched


def test_the_page_header_quotes_any_tenant_name_safely():
    """The header's text sits in a CSS string inside <style>: quotes, backslashes and angle brackets
    are escapes, so no name ends the string or the element."""
    assert css_string('a"b\\c</style>') == '"a\\22 b\\5c c\\3c /style\\3e "'
    assert css_string("デモ工場 (A-1)") == '"デモ工場 (A-1)"'


def simulate_ip(name: str, plant) -> str:
    return next(d["ip"] for d in plant.summary["devices"] if d["name"] == name)


def test_another_tenant_and_an_empty_period_report_nothing(plant):
    ch = plant.app.state.clickhouse
    with plant.app.state.controlplane.session() as db:
        globex = db.query(Tenant).filter_by(name="globex").one()
    empty = build_report(ch, globex.id, "globex", period(DAY, DAY))
    assert not empty.devices and not empty.findings and empty.alerts_total == 0
    later = build_report(ch, plant.acme.id, "acme", period("2026-01-06", "2026-01-07"))
    assert not later.devices and later.alerts_total == 0 and not later.insecure
    # the two days before hold the plant: the comparison counts it
    day = build_report(ch, plant.acme.id, "acme", period(DAY, DAY))
    assert later.devices_previous == len(day.devices) and later.alerts_previous == day.alerts
    assert later.changes["totals"]["devices_removed"] == len(day.devices) == day.changes["totals"]["devices_added"]


def test_changes_since_the_previous_period_name_the_laptop_and_the_renamed_hmi(plant):
    """The hour and a half around the risky capture against the one before it (the normal capture)."""
    ch = plant.app.state.clickhouse
    report = build_report(ch, plant.acme.id, "acme", period("2026-01-05T01:30:00Z", "2026-01-05T03:00:00Z"))
    found = report.changes
    assert simulate_ip(simulate.LAPTOP[0], plant) in {d["ip"] for d in found["devices_added"]}
    renamed = {(c["attribute"], c["new"]) for c in found["attributes_changed"]}
    assert ("hostname", "HMI-3-NEW") in renamed
    html = render_html(report, "en")
    assert "Devices added" in html and "HMI-3-NEW" in html


def test_insecure_use_is_read_from_state_kept_at_ingest(plant):
    """Last in the module: it empties acme's raw events, and the report's insecure protocols stay."""
    ch = plant.app.state.clickhouse
    before = build_report(ch, plant.acme.id, "acme", period(DAY, DAY)).insecure
    assert {"smbv1", "default_credentials", "cleartext_credentials"} <= before.keys()
    ch.command("ALTER TABLE events DELETE WHERE tenant_id = {t:UInt32}", {"t": plant.acme.id},
               settings={"mutations_sync": 2})
    assert ch.query("SELECT count() AS n FROM events WHERE tenant_id = {t:UInt32}", {"t": plant.acme.id})[0]["n"] == 0
    assert build_report(ch, plant.acme.id, "acme", period(DAY, DAY)).insecure == before
