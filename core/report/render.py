"""The report as HTML (one Jinja2 template, print CSS for A4) and as PDF (headless Chromium prints
the HTML; the page's fonts, Japanese included, are embedded by Chromium)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from core.analytics.risk import Factor
from core.detect.kinds import KINDS, SEVERITIES
from core.report.catalogue import Words, messages
from core.report.charts import SEVERITY_COLOURS, Bar, bar_chart
from core.report.model import Report
from core.report.period import DISPLAY_TZ

PDF_TIMEOUT_S = 120
MAX_ROWS = 30  # rows of each list of changes
CHROMIUM_ARGS = ("--headless", "--disable-gpu", "--no-first-run", "--no-pdf-header-footer",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
_ENV.filters["num"] = "{:,}".format
_ENV.filters["local"] = lambda t: t.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


class ReportError(Exception):
    """The PDF could not be made (no Chromium, or it failed); the message says why."""


def css_string(text: str) -> Markup:
    """``text`` as a CSS string literal inside a <style> element (the page header and footer)."""
    escaped = "".join(c if c.isalnum() or c in " -_.:/()〜" else f"\\{ord(c):x} " for c in text)
    return Markup(f'"{escaped}"')


_ENV.filters["css_string"] = css_string


def word(t: Words, value: str, *prefixes: str) -> str:
    """A computed key's text: the first of ``prefix_value`` the catalogue has (``role_plc``), else the
    value itself (a protocol, a zone's name)."""
    return next((t(f"{p}_{value}") for p in prefixes if f"{p}_{value}" in messages()), value)


def factor_detail(t: Words, factor: Factor) -> str:
    """What a risk factor rests on, in the report's language (its parts: a term and a value each)."""
    return t("list_separator").join(
        f"{word(t, term, 'term', 'severity', 'role', 'insecure') if term else ''} {value}".strip()
        for term, value in factor.parts)


def charts(report: Report, t: Words) -> dict[str, Markup]:
    lang = t.lang
    return {
        "severity": bar_chart([Bar(t(f"severity_{s}"), report.alerts[s], SEVERITY_COLOURS[s],
                                   report.alerts_previous[s]) for s in SEVERITIES]),
        "roles": bar_chart([Bar(word(t, r or "unknown", "role"), n) for r, n in report.roles]),
        "vendors": bar_chart([Bar(v or t("vendor_other"), n) for v, n in report.vendors]),
        "kinds": bar_chart([Bar(kind_title(k["kind"], lang), k["n"], SEVERITY_COLOURS[k["severity"]])
                            for k in report.alert_kinds]),
    }


def kind_title(kind: str, lang: str) -> str:
    found = KINDS.get(kind)
    return (found.title_ja if lang == "ja" else found.title_en) if found else kind


def render_html(report: Report, lang: str) -> str:
    t = Words(lang)
    return _ENV.get_template("report.html").render(
        report=report, t=t, lang=lang, severities=SEVERITIES, charts=charts(report, t), max_rows=MAX_ROWS,
        role=lambda value: word(t, value or "unknown", "role"), kind_title=lambda k: kind_title(k, lang),
        factor_detail=lambda f: factor_detail(t, f))


def _sandboxes() -> tuple[tuple[str, ...], ...]:
    """Chromium's sandbox first, then none: as root, or where the system gives no user namespaces,
    it cannot start with one (the page runs no script and loads nothing, as its CSP says)."""
    return ((),) * (os.geteuid() != 0) + (("--no-sandbox",),)


def render_pdf(html: str, chromium: Path) -> bytes:
    """Print ``html`` to PDF with headless Chromium (A4 and margins from the page's @page rule)."""
    if not chromium.is_file():
        raise ReportError(f"{chromium} not found: install Chromium (apt-get install chromium) or set MIERUKA_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="mieruka-report-") as tmp:
        page, pdf = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        for sandbox in _sandboxes():
            try:
                done = subprocess.run([str(chromium), *CHROMIUM_ARGS, *sandbox, f"--user-data-dir={tmp}/profile",
                                       f"--print-to-pdf={pdf}", page.as_uri()],
                                      capture_output=True, timeout=PDF_TIMEOUT_S, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ReportError(f"Chromium could not print the report: {exc}") from None
            if done.returncode == 0 and pdf.is_file():
                return pdf.read_bytes()
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ReportError(f"Chromium could not print the report (exit {done.returncode}): {tail[0]}")
