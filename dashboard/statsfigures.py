"""Plotly figures of the data team's statistics: one trace per label across the periods, from the
published rows of core.stats (suppressed cells are absent; their union is the ``other`` trace).

Figures are plain dicts in the dashboard's style (dashboard.figures), embedded without plotly's
validation: a page has eight figures of up to eight traces, which validation would take a few
hundred milliseconds to check."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence

import plotly.graph_objects as go

from dashboard.figures import PALETTE, _style

Row = Mapping[str, object]
MAX_TRACES = 8  # the largest labels; the rest are still in the table below the charts
LAYOUT = _style(go.Figure(), 260).to_plotly_json()["layout"]


def trend_figure(rows: Iterable[Row], periods: Sequence[str], table: str, measure: str,
                 label: Callable[[Row], str], percent: bool = False, lines: bool = False) -> dict | None:
    """``measure`` of ``table`` per period, a trace per label (stacked bars, or lines)."""
    series: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["table"] == table and r["measure"] == measure:
            series.setdefault(label(r), {})[r["period"]] = float(r["value"]) * (100 if percent else 1)
    if not series:
        return None
    largest = sorted(series, key=lambda name: -sum(series[name].values()))[:MAX_TRACES]
    traces = []
    for i, name in enumerate(largest):
        colour = PALETTE[i % len(PALETTE)]
        hover = f"%{{x}}<br>{name}: %{{y:,.{1 if percent else 0}f}}{'%' if percent else ''}<extra></extra>"
        traces.append({"type": "scatter" if lines else "bar", "name": name, "x": list(periods),
                       "y": [series[name].get(p) for p in periods], "hovertemplate": hover,
                       **({"mode": "lines+markers", "line": {"color": colour}} if lines else
                          {"marker": {"color": colour}})})
    layout = copy.deepcopy(LAYOUT)
    layout.update(barmode="stack", showlegend=True, legend={"orientation": "h", "y": -0.18, "x": 0})
    layout["xaxis"].update(type="category")
    layout["yaxis"].update(rangemode="tozero", ticksuffix="%" if percent else "")
    return {"data": traces, "layout": layout}
