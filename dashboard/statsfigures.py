"""Plotly figures of the data team's statistics: one trace per label across the periods, from the
published rows of core.stats (suppressed cells are absent; their union is the ``other`` trace)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import plotly.graph_objects as go

from dashboard.figures import PALETTE, _style

Row = Mapping[str, object]
MAX_TRACES = 8  # the largest labels; the rest are still in the table below the charts


def trend_figure(rows: Iterable[Row], periods: Sequence[str], table: str, measure: str,
                 label: Callable[[Row], str], percent: bool = False, lines: bool = False) -> go.Figure | None:
    """``measure`` of ``table`` per period, a trace per label (stacked bars, or lines)."""
    series: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["table"] == table and r["measure"] == measure:
            series.setdefault(label(r), {})[r["period"]] = float(r["value"]) * (100 if percent else 1)
    if not series:
        return None
    largest = sorted(series, key=lambda name: -sum(series[name].values()))[:MAX_TRACES]
    fig = go.Figure()
    for i, name in enumerate(largest):
        y = [series[name].get(p) for p in periods]
        colour = PALETTE[i % len(PALETTE)]
        hover = f"%{{x}}<br>{name}: %{{y:,.{1 if percent else 0}f}}{'%' if percent else ''}<extra></extra>"
        fig.add_trace(go.Scatter(x=list(periods), y=y, name=name, mode="lines+markers", line_color=colour,
                                 hovertemplate=hover) if lines else
                      go.Bar(x=list(periods), y=y, name=name, marker_color=colour, hovertemplate=hover))
    fig = _style(fig, 260)
    fig.update_layout(barmode="stack", showlegend=True, legend=dict(orientation="h", y=-0.18, x=0))
    fig.update_xaxes(type="category")
    fig.update_yaxes(rangemode="tozero", ticksuffix="%" if percent else "")
    return fig
