"""Charts as inline SVG drawn here: no script and no network, so the HTML file, the browser's
print and the PDF all show them the same way."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

SEVERITY_COLOURS = {"critical": "#b71c1c", "high": "#e65100", "medium": "#f9a825", "low": "#1565c0",
                    "info": "#78909c"}
BAR_COLOUR = "#37609a"
PREVIOUS_COLOUR = "#c5ccd6"


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    colour: str = BAR_COLOUR
    previous: int | None = None  # drawn as a thin grey bar under it


def bar_chart(bars: list[Bar], width: int = 640, label_width: int = 240, row: int = 24) -> Markup:
    """Horizontal bars, one row each, the value at the end of the bar; long labels are shortened."""
    top = max([b.value for b in bars] + [b.previous or 0 for b in bars] + [1])
    span = width - label_width - 60
    height = row * len(bars) + 4
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for i, b in enumerate(bars):
        y = i * row + 2
        length = round(span * b.value / top, 1)
        parts.append(f'<text x="{label_width - 8}" y="{y + row * 0.62:.1f}" text-anchor="end">'
                     f"{escape(_short(b.label))}</text>")
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{length}" height="{row * 0.5:.1f}" '
                     f'fill="{b.colour}"/>')
        if b.previous is not None:
            previous = round(span * b.previous / top, 1)
            parts.append(f'<rect x="{label_width}" y="{y + 3 + row * 0.55:.1f}" width="{previous}" '
                         f'height="{row * 0.18:.1f}" fill="{PREVIOUS_COLOUR}"/>')
        parts.append(f'<text x="{label_width + length + 6}" y="{y + row * 0.62:.1f}">{b.value:,}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(label: str, most: int = 28) -> str:
    return label if len(label) <= most else label[:most - 1] + "…"
