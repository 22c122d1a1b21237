"""One call from a tenant and period to the report's file, for the CLI and the dashboard."""

from __future__ import annotations

from pathlib import Path

from core.report.model import build_report
from core.report.period import Period
from core.report.render import render_html, render_pdf
from core.store.clickhouse import ClickHouseStore

FORMATS = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}


def make_report(ch: ClickHouseStore, tenant_id: int, tenant: str, period: Period, lang: str, fmt: str,
                chromium: Path) -> bytes:
    """The report as a PDF or HTML file's bytes; ReportError when the PDF cannot be printed."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    html = render_html(build_report(ch, tenant_id, tenant, period), lang)
    return render_pdf(html, chromium) if fmt == "pdf" else html.encode()


def file_name(tenant: str, period: Period, fmt: str) -> str:
    """e.g. ``assessment-acme-20261101-20261130.pdf`` (the period's days in Japan)."""
    first, last = period.local()
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in tenant)
    return f"assessment-{safe}-{first:%Y%m%d}-{last:%Y%m%d}.{fmt}"
