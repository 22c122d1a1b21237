"""The explorer (探索): flows and events of the whole site with filters, a sort by any column, keyset
pages, the result's count and timeline, dangerous OT actions marked, and the download (CSV, Parquet)
of exactly the result shown — the same filters and sort, up to EXPORT_CAP rows, streamed.
Backed by core.analytics.explore like GET /api/v1/explore/*. Mounted through ``mieruka.routers``."""

from __future__ import annotations

import io
import json
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from core.analytics import explore
from core.analytics.window import Window, clamp, ending, resolve_window
from core.api.deps import ClickHouse
from core.detect.danger import DANGERS
from core.export.csvsafe import csv_chunks
from dashboard.explorelinks import INPUT_FORMAT
from dashboard.figures import ACCENT, _style, embed
from dashboard.i18n import N_, Translator, translator
from dashboard.overview import RANGES
from dashboard.reported import details, function_label
from dashboard.render import page, request_lang
from dashboard.routes import SessionUser
from dashboard.timefmt import DISPLAY_TZ, SECONDS, absolute, local, zone_name

router = APIRouter(include_in_schema=False)
PAGE_SIZES = (25, 100, 500)
PAGE_SIZE = 100
DEFAULT_RANGE = "24h"
FILTERS = {"flows": ("sensor", "protocol", "status", "source", "destination", "device", "port"),
           "events": ("sensor", "protocol", "action", "status", "source", "destination", "device", "port", "attr")}
BAD_FILTER = N_("explore_bad_filter")
# the table's columns, each sortable (attrs excepted); the download has every column
SHOWN = {"flows": ("ts", "orig_h", "resp_h", "resp_p", "proto", "service", "conn_state", "duration", "orig_bytes",
                   "resp_bytes", "uid"),
         "events": ("ts", "orig_h", "resp_h", "resp_p", "protocol", "action", "status", "count", "attrs", "uid")}
# Messages the template names by key ("explore_col_" + a column, "explore_danger_" + a kind, …)
LABELS = (N_("explore_flows"), N_("explore_events"), N_("explore_range_1h"), N_("explore_range_24h"),
          N_("explore_range_7d"), N_("explore_records"), N_("explore_danger_plc_stop"),
          N_("explore_danger_plc_start"), N_("explore_danger_plc_program_change"),
          N_("explore_danger_firmware_change"), N_("explore_danger_write"), N_("explore_filter_sensor"),
          N_("explore_filter_protocol"), N_("explore_filter_action"), N_("explore_filter_status"),
          N_("explore_filter_source"), N_("explore_filter_destination"), N_("explore_filter_device"),
          N_("explore_filter_port"), N_("explore_filter_attr"), N_("explore_col_ts"), N_("explore_col_ts_end"),
          N_("explore_col_sensor_id"), N_("explore_col_uid"), N_("explore_col_orig_h"), N_("explore_col_orig_p"),
          N_("explore_col_resp_h"), N_("explore_col_resp_p"), N_("explore_col_proto"), N_("explore_col_service"),
          N_("explore_col_conn_state"), N_("explore_col_duration"), N_("explore_col_orig_bytes"),
          N_("explore_col_resp_bytes"), N_("explore_col_orig_pkts"), N_("explore_col_resp_pkts"),
          N_("explore_col_orig_l2_addr"), N_("explore_col_resp_l2_addr"), N_("explore_col_protocol"),
          N_("explore_col_action"), N_("explore_col_status"), N_("explore_col_count"), N_("explore_col_danger"))


def _typed(text: str) -> datetime | None:
    try:
        return clamp(datetime.strptime(text.strip(), INPUT_FORMAT).replace(tzinfo=DISPLAY_TZ))
    except ValueError:
        return None


def _window(request: Request, ch, tenant: int) -> tuple[str, Window]:
    """A typed start/end (site time) wins; else the quick range up to the newest data."""
    q = request.query_params
    start, end = _typed(q.get("start", "")), _typed(q.get("end", ""))
    if start or end:
        return "", resolve_window(ch, tenant, start, end)
    key = q.get("range", DEFAULT_RANGE)
    key = key if key in RANGES else DEFAULT_RANGE
    return key, ending(resolve_window(ch, tenant).end, RANGES[key])


def _query(request: Request, kind: str) -> tuple[dict, str]:
    """The filters as parse_filters takes them, and the link query that repeats them (no cursor)."""
    q = request.query_params
    values = {name: q.get(name, "") for name in FILTERS[kind] if name != "attr"}
    values |= {"attr": [a for a in q.getlist("attr") if a.strip()] if kind == "events" else [],
               "uid": [u for u in q.getlist("uid") if u.strip()]}
    kept = [(k, v) for k in ("range", "start", "end", "sort", "size") if (v := q.get(k))]
    kept += [(k, v) for k, v in values.items() if isinstance(v, str) and v]
    kept += [(k, v) for k in ("attr", "uid") for v in values[k]]
    return values, urlencode(kept)


def relinker(link: str):
    """For the template: this result's query with some parameters set (None: removed)."""
    def relink(changes: dict) -> str:
        kept = [(k, v) for k, v in parse_qsl(link) if k not in changes]
        return urlencode(kept + [(k, v) for k, v in changes.items() if v is not None])
    return relink


def _parsed(request: Request, ch, user, kind: str):
    range_key, window = _window(request, ch, user.tenant_id)
    values, link = _query(request, kind)
    filters = explore.parse_filters(window, values)
    sort = explore.sort_of(explore.KINDS[kind], request.query_params.get("sort", "-ts"))
    return range_key, filters, sort, values, link


def timeline_figure(window: Window, step: int, buckets: list[dict], t: Translator) -> go.Figure | None:
    """Records per bucket over the whole window (so where in it they fall shows)."""
    if not buckets:
        return None
    fig = go.Figure(go.Bar(x=[local(b["t"]).replace(tzinfo=None) for b in buckets], y=[b["n"] for b in buckets],
                           marker_color=ACCENT, width=step * 1000 * 0.9,
                           hovertemplate="%{x|%m-%d %H:%M}<br>%{y:,} " + t("explore_records") + "<extra></extra>"))
    fig.update_yaxes(rangemode="tozero", tickformat="~s")
    fig.update_xaxes(tickformat="%H:%M\n%m-%d" if step < 86400 else "%m-%d",
                     range=[local(window.start).replace(tzinfo=None), local(window.end).replace(tzinfo=None)])
    return _style(fig, 180)


def _shown(kind: str, row: dict, t: Translator) -> dict:
    """A row as the table shows it: local times; an event's function and details in the page's
    language (the sensor's own names stay in the title and the downloads)."""
    shown = row | {"ts_shown": absolute(row["ts"], SECONDS), "ts_end_shown": absolute(row["ts_end"], SECONDS)}
    if kind == "events":
        shown |= {"action_label": function_label(row["action"], t), "details": details(row["attrs"], t)}
    return shown


def _explore_page(request: Request, user, ch, kind: str) -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    t = translator(request_lang(request))
    try:
        range_key, filters, sort, values, link = _parsed(request, ch, user, kind)
        cursor = request.query_params.get("cursor") or None
        size = int(request.query_params.get("size") or PAGE_SIZE)
        if size not in PAGE_SIZES:
            raise ValueError(f"size: one of {', '.join(map(str, PAGE_SIZES))}")
        found = explore.search(ch, explore.KINDS[kind], user.tenant_id, filters, sort, size, cursor)
    except ValueError as exc:
        return page(request, "error.html", status_code=422, message=BAD_FILTER, detail=str(exc), user=user,
                    back="explore_flows")
    page_no = int(p) if (p := request.query_params.get("page", "1")).isdigit() else 1
    return page(request, "explorer.html", user=user, nav="explore_flows", kind=kind, t=t,
                rows=[_shown(kind, r, t) for r in found.page.rows], count=found.count,
                figure=embed(timeline_figure(filters.window, found.step, found.buckets, t)), step=found.step,
                sort=sort, values=values,
                columns=SHOWN[kind], link=link, relink=relinker(link), range=range_key,
                ranges=list(RANGES), page_no=page_no, page_size=size, page_sizes=PAGE_SIZES,
                next_link=f"?{link}&{urlencode({'cursor': found.page.next_cursor, 'page': page_no + 1})}"
                if found.page.next_cursor else None,
                inputs={"start": local(filters.window.start).strftime(INPUT_FORMAT),
                        "end": local(filters.window.end).strftime(INPUT_FORMAT)},
                shown={"start": absolute(filters.window.start), "end": absolute(filters.window.end)},
                tz_name=zone_name(), filters=FILTERS[kind])


@router.get("/flows", name="explore_flows")
def flows_page(request: Request, user: SessionUser, ch: ClickHouse) -> Response:
    return _explore_page(request, user, ch, "flows")


@router.get("/events", name="explore_events")
def events_page(request: Request, user: SessionUser, ch: ClickHouse) -> Response:
    return _explore_page(request, user, ch, "events")


def _cells(kind: str, row: dict, zoned: bool) -> list:
    """A row as a download writes it: attrs as JSON; times in the site's zone with their offset when
    ``zoned`` (CSV), else the UTC instants (Parquet keeps the zone)."""
    cells = dict(row)
    if zoned:
        cells |= {"ts": local(row["ts"]).isoformat(), "ts_end": local(row["ts_end"]).isoformat()}
    if kind == "events":
        cells["attrs"] = json.dumps(row["attrs"], ensure_ascii=False, sort_keys=True)
    return [cells[c] for c in explore.export_columns(explore.KINDS[kind])]


def _download(request: Request, user, ch, kind: str, fmt: str) -> Response:
    if user is None:
        return RedirectResponse(request.url_for("login").path, status_code=303)
    try:
        _, filters, sort, _, _ = _parsed(request, ch, user, kind)
    except ValueError as exc:
        return Response(f"{exc}\n", status_code=422, media_type="text/plain")
    rows = explore.export_rows(ch, explore.KINDS[kind], user.tenant_id, filters, sort)
    headers = {"Content-Disposition": f'attachment; filename="{kind}.{fmt}"', "Cache-Control": "no-store"}
    if fmt == "csv":
        lines = csv_chunks(explore.export_columns(explore.KINDS[kind]), (_cells(kind, r, zoned=True) for r in rows))
        return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers=headers)
    names = explore.export_columns(explore.KINDS[kind])
    columns = list(zip(*(_cells(kind, r, zoned=False) for r in rows), strict=True)) or [[] for _ in names]
    out = io.BytesIO()
    pq.write_table(pa.table({n: list(c) for n, c in zip(names, columns, strict=True)}), out, compression="zstd")
    return Response(out.getvalue(), media_type="application/vnd.apache.parquet", headers=headers)


def _download_route(kind: str, fmt: str):
    def download(request: Request, user: SessionUser, ch: ClickHouse) -> Response:
        return _download(request, user, ch, kind, fmt)
    return download


for _kind in explore.KINDS:
    for _fmt in ("csv", "parquet"):
        router.add_api_route(f"/{_kind}.{_fmt}", _download_route(_kind, _fmt), methods=["GET"],
                             name=f"explore_{_kind}_{_fmt}")
