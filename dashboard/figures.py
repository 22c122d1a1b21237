"""Plotly figures for the overview and asset pages, built from the rows the core's analytics return.

Each builder returns ``None`` when there is nothing to draw, so the page shows an empty state
instead of blank axes. Times on the x axis are converted to the display zone and made naive,
because plotly.js ignores UTC offsets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup
from plotly.subplots import make_subplots

from dashboard.i18n import Translator
from dashboard.timefmt import DISPLAY_TZ, local

Row = Mapping[str, object]

ACCENT = "#1f6feb"
SECOND = "#0f9d8a"
FONT = "system-ui, -apple-system, 'Segoe UI', 'Hiragino Sans', 'Noto Sans JP', sans-serif"
MAX_BARS = 12
# One colour per protocol on the events timeline.
PALETTE = (ACCENT, SECOND, "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#b42318")
# A time axis's tick labels by the distance between ticks (ms): the clock to the needed precision, and
# under it the date, which plotly writes on the first tick and where it changes ("12-03" once, not on
# every tick). The x values are already in the display zone.
DAY_MS = 86_400_000
TIME_TICKS = [
    dict(dtickrange=[None, 1000], value="%H:%M:%S.%L\n%Y-%m-%d"),
    dict(dtickrange=[1000, 60_000], value="%H:%M:%S\n%Y-%m-%d"),
    dict(dtickrange=[60_000, DAY_MS], value="%H:%M\n%Y-%m-%d"),
    dict(dtickrange=[DAY_MS, "M1"], value="%m-%d\n%Y"),
    dict(dtickrange=["M1", None], value="%Y-%m"),
]


def byte_label(value: float) -> str:
    """``6 MB``, ``1.5 kB``, ``0 B``: bytes in SI units (powers of 1000)."""
    for power, unit in ((4, "TB"), (3, "GB"), (2, "MB"), (1, "kB")):
        if abs(value) >= 1000 ** power:
            return f"{value / 1000 ** power:.3g} {unit}"
    return f"{value:.3g} B"


def byte_axis(top: float) -> dict:
    """An axis of 0 to ``top`` bytes with about five round ticks (1, 2 or 5 × 10ⁿ apart), each
    labelled with its unit — plotly's own SI format writes "6M", not "6 MB"."""
    rough = max(top, 1) / 5
    magnitude = 10 ** math.floor(math.log10(rough))
    step = max(1, next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough))  # whole bytes
    values = [i * step for i in range(math.floor(top / step) + 1)]
    return dict(tickmode="array", tickvals=values, ticktext=[byte_label(v) for v in values])


def _style(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=8, r=16, t=8, b=8),
        font=dict(family=FONT, size=12, color="#24292f"),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
        hoverlabel=dict(font_family=FONT),
    )
    fig.update_xaxes(gridcolor="#eaeef2", zeroline=False, automargin=True)
    fig.update_yaxes(gridcolor="#eaeef2", zeroline=False, automargin=True)
    return fig


def traffic_figure(
    series: Sequence[Row], step: int, t: Translator, tz: ZoneInfo = DISPLAY_TZ
) -> go.Figure | None:
    """Bytes (area, top) and packets (line, bottom) per minute on a shared time axis.

    ``series`` has one point per ``step`` seconds; points are scaled to per-minute averages.
    """
    if not any(row["bytes"] or row["packets"] for row in series):
        return None
    x = [local(row["t"], tz).replace(tzinfo=None) for row in series]
    per_minute = 60 / step
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    panels = (("bytes", ACCENT, "tozeroy", "B"), ("packets", SECOND, "none", t("packets")))
    for row_no, (key, color, fill, unit) in enumerate(panels, start=1):
        y = [row[key] * per_minute for row in series]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=t(key),
                mode="lines",
                fill=fill,
                line=dict(color=color, width=1.5),
                hovertemplate=f"%{{x|%m-%d %H:%M}}<br>%{{y:,.0f}} {unit}<extra></extra>",
            ),
            row=row_no,
            col=1,
        )
        ticks = byte_axis(max(y)) if key == "bytes" else {"tickformat": "~s"}
        fig.update_yaxes(title_text=t(key), row=row_no, col=1, **ticks)
    fig.update_xaxes(tickformatstops=TIME_TICKS)
    return _style(fig, 360)


def _protocol_label(row: Row) -> str:
    service, proto = row.get("service") or "", row.get("proto") or ""
    return f"{service}/{proto}" if service else str(proto)


def _top_bars(rows: Sequence[Row], label: Callable[[Row], str], color: str, t: Translator,
              link: Callable[[Row], str] | None = None) -> go.Figure | None:
    """Horizontal bars of the ``MAX_BARS`` largest byte counts, largest on top; a click on a bar opens
    ``link(row)`` when given (dashboard.js follows a path in customdata)."""
    top = sorted((r for r in rows if r["bytes"]), key=lambda r: r["bytes"], reverse=True)[:MAX_BARS]
    if not top:
        return None
    fig = go.Figure(
        go.Bar(
            x=[r["bytes"] for r in reversed(top)],
            y=[label(r) for r in reversed(top)],
            orientation="h",
            marker_color=color,
            customdata=[link(r) for r in reversed(top)] if link else None,
            hovertemplate="%{y}<br>%{x:,} B<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=t("bytes"), **byte_axis(top[0]["bytes"]))
    return _style(fig, max(160, 28 * len(top) + 60))


def protocol_figure(rows: Sequence[Row], t: Translator) -> go.Figure | None:
    """Bytes by service/proto, e.g. ``modbus/tcp``."""
    return _top_bars(rows, _protocol_label, ACCENT, t)


def talkers_figure(rows: Sequence[Row], t: Translator, link: Callable[[Row], str] | None = None) -> go.Figure | None:
    """Bytes sent and received per host; ``link``: where a click on a host's bar goes."""
    return _top_bars(rows, lambda r: str(r["ip"]), SECOND, t, link)


def events_figure(events: Sequence[Row], function: Callable[[str], str] = str,
                  tz: ZoneInfo = DISPLAY_TZ) -> go.Figure | None:
    """Each event a dot at its time, on a row per ``protocol · action`` (the action as ``function``
    names it), one colour per protocol."""
    if not events:
        return None

    def _event_label(event: Row) -> str:
        return f"{event['protocol']} · {function(str(event['action'])) if event['action'] else '-'}"

    by_protocol: dict[str, list[Row]] = {}
    for event in events:
        by_protocol.setdefault(str(event["protocol"]), []).append(event)
    fig = go.Figure()
    for i, (protocol, rows) in enumerate(sorted(by_protocol.items())):
        fig.add_trace(
            go.Scatter(
                x=[local(r["ts"], tz).replace(tzinfo=None) for r in rows],
                y=[_event_label(r) for r in rows],
                customdata=[[r["orig_h"], r["resp_h"], r["status"], r["count"]] for r in rows],
                name=protocol,
                mode="markers",
                marker={"color": PALETTE[i % len(PALETTE)], "size": 8, "opacity": 0.7},
                hovertemplate="%{x|%m-%d %H:%M:%S}<br>%{y}<br>%{customdata[0]} → %{customdata[1]}"
                " %{customdata[2]} ×%{customdata[3]}<extra></extra>",
            )
        )
    fig.update_yaxes(type="category", categoryorder="category descending")
    fig.update_xaxes(tickformatstops=TIME_TICKS)
    return _style(fig, max(180, 32 * len({_event_label(e) for e in events}) + 80))


# Severity colours, most severe first (the same as the alert pages' badges).
SEVERITY_COLOURS = {"critical": "#b42318", "high": "#e8590c", "medium": "#d97706", "low": "#1f6feb",
                    "info": "#98a2b3"}


def alerts_figure(rows: Sequence[Row], start: datetime, end: datetime, severity_label: Callable[[str], str],
                  t: Translator, tz: ZoneInfo = DISPLAY_TZ) -> go.Figure | None:
    """Alerts per hour (``bucket``, ``severity``, ``n`` rows) over [start, end), stacked by severity,
    most severe on top."""
    if not rows:
        return None
    fig = go.Figure()
    for severity in reversed(SEVERITY_COLOURS):  # the first trace stacks at the bottom
        mine = [r for r in rows if r["severity"] == severity]
        if mine:
            fig.add_trace(go.Bar(
                x=[local(r["bucket"], tz).replace(tzinfo=None) for r in mine], y=[r["n"] for r in mine],
                name=severity_label(severity), marker_color=SEVERITY_COLOURS[severity], width=3600 * 900,  # ms
                offset=0,  # a bar covers its bucket, from the bucket's start
                hovertemplate=f"%{{x|%m-%d %H:00}}<br>{severity_label(severity)}: %{{y}}<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformatstops=TIME_TICKS, range=[local(start, tz).replace(tzinfo=None),
                                                       local(end, tz).replace(tzinfo=None)])
    fig.update_yaxes(title_text=t("alerts_per_hour"), rangemode="tozero", tickformat="d")
    fig = _style(fig, 220)
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=1.12, x=0))
    return fig


def embed(fig: go.Figure | dict | None) -> Markup | None:
    """Figure JSON safe to place inside ``<script type="application/json">``; None stays None. A plain
    dict (data, layout) is taken as it is, without plotly's validation (much faster for many traces)."""
    if fig is None:
        return None
    text = fig.to_json() if isinstance(fig, go.Figure) else pio.to_json(fig, validate=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    return Markup(text)


# Risk level colours, highest first (the same as the risk badges).
RISK_COLOURS = {"high": "#b42318", "medium": "#d97706", "low": "#1f6feb"}


def risk_trend_figure(trend: Sequence[Row], t: Translator) -> go.Figure | None:
    """The site's risk by day: its score (line, top) and its devices by level (stacked bars, bottom),
    two y axes over one day axis (built directly: ``make_subplots`` costs the overview 30 ms)."""
    if not trend:
        return None
    days = [row["day"].isoformat() for row in trend]
    score = t("site_risk_score")
    traces = [go.Scatter(x=days, y=[row["score"] for row in trend], mode="lines+markers", line_color=ACCENT,
                         name=score, hovertemplate="%{x}<br>%{y}<extra></extra>")]
    for level in reversed(RISK_COLOURS):  # the first trace stacks at the bottom
        label = t(f"risk_level_{level}")
        traces.append(go.Bar(x=days, y=[row[level] for row in trend], name=label, yaxis="y2",
                             marker_color=RISK_COLOURS[level],
                             hovertemplate=f"%{{x}}<br>{label}: %{{y}}<extra></extra>"))
    fig = go.Figure(traces, layout=dict(
        barmode="stack",
        xaxis=dict(tickformat="%m-%d", dtick=86400000, anchor="y2"),  # a tick a day
        yaxis=dict(title_text=score, range=[0, 105], domain=[0.5, 1]),
        yaxis2=dict(title_text=t("risk_devices"), rangemode="tozero", tickformat="d", domain=[0, 0.4])))
    fig = _style(fig, 260)
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=1.12, x=0))
    return fig
