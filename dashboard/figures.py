"""Plotly figures for the overview and asset pages, built from the rows the core's analytics return.

Each builder returns ``None`` when there is nothing to draw, so the page shows an empty state
instead of blank axes. Times on the x axis are converted to the display zone and made naive,
because plotly.js ignores UTC offsets. The builders write the traces and layout as plain dicts —
what plotly's own builders would produce — and wrap them unvalidated (``figure``): plotly checks
every property as it is set, which took the overview's four figures about 100 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

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


AXIS = {"gridcolor": "#eaeef2", "zeroline": False, "automargin": True}


def _page_style(height: int) -> dict:
    """The layout every figure of the dashboard shares, besides its axes."""
    return {"height": height, "margin": {"l": 8, "r": 16, "t": 8, "b": 8},
            "font": {"family": FONT, "size": 12, "color": "#24292f"},
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "showlegend": False,
            "hoverlabel": {"font": {"family": FONT}}}


def _style(fig: go.Figure, height: int) -> go.Figure:
    """A figure built with plotly's builders in the dashboard's style."""
    fig.update_layout(**_page_style(height))
    fig.update_xaxes(**AXIS)
    fig.update_yaxes(**AXIS)
    return fig


def figure(traces: list[dict], height: int, axes: dict[str, dict] | None = None, **layout: object) -> go.Figure:
    """A figure of plain trace dicts in the dashboard's style, not validated by plotly. ``axes``: the
    layout's axes (``xaxis``, ``yaxis2``, …; an x and a y axis at least), each given the grid style;
    ``layout``: the rest of the layout, as plotly.js names it (no ``title_text`` shorthands)."""
    axes = {"xaxis": {}, "yaxis": {}} | (axes or {})
    styled = _page_style(height) | {name: axis | AXIS for name, axis in axes.items()} | layout
    return go.Figure({"data": traces, "layout": styled}, _validate=False)


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
    # Two panels sharing the time axis, as plotly's make_subplots(rows=2, shared_xaxes=True,
    # vertical_spacing=0.08) lays them out: the top panel's axis matches the bottom one's.
    panels = (("bytes", ACCENT, "tozeroy", "B", "", [0.54, 1.0]),
              ("packets", SECOND, "none", t("packets"), "2", [0.0, 0.46]))
    traces, axes = [], {}
    for key, color, fill, unit, n, domain in panels:
        y = [row[key] * per_minute for row in series]
        traces.append({"type": "scatter", "x": x, "y": y, "name": t(key), "mode": "lines", "fill": fill,
                       "line": {"color": color, "width": 1.5}, "xaxis": f"x{n}", "yaxis": f"y{n}",
                       "hovertemplate": f"%{{x|%m-%d %H:%M}}<br>%{{y:,.0f}} {unit}<extra></extra>"})
        ticks = byte_axis(max(y)) if key == "bytes" else {"tickformat": "~s"}
        axes[f"xaxis{n}"] = {"anchor": f"y{n}", "domain": [0.0, 1.0], "tickformatstops": TIME_TICKS}
        axes[f"yaxis{n}"] = {"anchor": f"x{n}", "domain": domain, "title": {"text": t(key)}, **ticks}
    axes["xaxis"] |= {"matches": "x2", "showticklabels": False}
    return figure(traces, 360, axes)


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
    shown = top[::-1]
    bar = {"type": "bar", "x": [r["bytes"] for r in shown], "y": [label(r) for r in shown], "orientation": "h",
           "marker": {"color": color}, "hovertemplate": "%{y}<br>%{x:,} B<extra></extra>"}
    if link:
        bar["customdata"] = [link(r) for r in shown]
    return figure([bar], max(160, 28 * len(top) + 60),
                  {"xaxis": {"title": {"text": t("bytes")}, **byte_axis(top[0]["bytes"])}})


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
    traces = [{"type": "scatter", "x": [local(r["ts"], tz).replace(tzinfo=None) for r in rows],
               "y": [_event_label(r) for r in rows],
               "customdata": [[r["orig_h"], r["resp_h"], r["status"], r["count"]] for r in rows],
               "name": protocol, "mode": "markers",
               "marker": {"color": PALETTE[i % len(PALETTE)], "size": 8, "opacity": 0.7},
               "hovertemplate": "%{x|%m-%d %H:%M:%S}<br>%{y}<br>%{customdata[0]} → %{customdata[1]}"
                                " %{customdata[2]} ×%{customdata[3]}<extra></extra>"}
              for i, (protocol, rows) in enumerate(sorted(by_protocol.items()))]
    return figure(traces, max(180, 32 * len({_event_label(e) for e in events}) + 80),
                  {"xaxis": {"tickformatstops": TIME_TICKS},
                   "yaxis": {"type": "category", "categoryorder": "category descending"}})


LEGEND = {"orientation": "h", "y": 1.12, "x": 0}  # above the plot, for figures with several series
# Severity colours, most severe first (the same as the alert pages' badges).
SEVERITY_COLOURS = {"critical": "#b42318", "high": "#e8590c", "medium": "#d97706", "low": "#1f6feb",
                    "info": "#98a2b3"}


def alerts_figure(rows: Sequence[Row], start: datetime, end: datetime, severity_label: Callable[[str], str],
                  t: Translator, tz: ZoneInfo = DISPLAY_TZ) -> go.Figure | None:
    """Alerts per hour (``bucket``, ``severity``, ``n`` rows) over [start, end), stacked by severity,
    most severe on top."""
    if not rows:
        return None
    traces = []
    for severity in reversed(SEVERITY_COLOURS):  # the first trace stacks at the bottom
        mine = [r for r in rows if r["severity"] == severity]
        if mine:
            traces.append({
                "type": "bar", "x": [local(r["bucket"], tz).replace(tzinfo=None) for r in mine],
                "y": [r["n"] for r in mine], "name": severity_label(severity),
                "marker": {"color": SEVERITY_COLOURS[severity]}, "width": 3600 * 900,  # ms
                "offset": 0,  # a bar covers its bucket, from the bucket's start
                "hovertemplate": f"%{{x|%m-%d %H:00}}<br>{severity_label(severity)}: %{{y}}<extra></extra>"})
    window = [local(start, tz).replace(tzinfo=None), local(end, tz).replace(tzinfo=None)]
    return figure(traces, 220, {"xaxis": {"tickformatstops": TIME_TICKS, "range": window},
                                "yaxis": {"title": {"text": t("alerts_per_hour")}, "rangemode": "tozero",
                                          "tickformat": "d"}},
                  barmode="stack", showlegend=True, legend=LEGEND)


def embed(fig: go.Figure | dict | None) -> Markup | None:
    """Figure JSON safe to place inside ``<script type="application/json">``; None stays None. A plain
    dict (data, layout) is taken as it is, without plotly's validation (much faster for many traces)."""
    if fig is None:
        return None
    text = pio.to_json(fig, validate=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    return Markup(text)


# Risk level colours, highest first (the same as the risk badges).
RISK_COLOURS = {"high": "#b42318", "medium": "#d97706", "low": "#1f6feb"}


def risk_trend_figure(trend: Sequence[Row], t: Translator) -> go.Figure | None:
    """The site's risk by day: its score (line, top) and its devices by level (stacked bars, bottom),
    two y axes over one day axis."""
    if not trend:
        return None
    days = [row["day"].isoformat() for row in trend]
    score = t("site_risk_score")
    traces = [{"type": "scatter", "x": days, "y": [row["score"] for row in trend], "mode": "lines+markers",
               "line": {"color": ACCENT}, "name": score, "hovertemplate": "%{x}<br>%{y}<extra></extra>"}]
    for level in reversed(RISK_COLOURS):  # the first trace stacks at the bottom
        label = t(f"risk_level_{level}")
        traces.append({"type": "bar", "x": days, "y": [row[level] for row in trend], "name": label, "yaxis": "y2",
                       "marker": {"color": RISK_COLOURS[level]},
                       "hovertemplate": f"%{{x}}<br>{label}: %{{y}}<extra></extra>"})
    return figure(traces, 260, {
        "xaxis": {"tickformat": "%m-%d", "dtick": 86400000, "anchor": "y2"},  # a tick a day
        "yaxis": {"title": {"text": score}, "range": [0, 105], "domain": [0.5, 1]},
        "yaxis2": {"title": {"text": t("risk_devices")}, "rangemode": "tozero", "tickformat": "d", "domain": [0, 0.4]},
    }, barmode="stack", showlegend=True, legend=LEGEND)
