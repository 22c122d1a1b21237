"""The data team's statistics (core.stats) on a fleet of five simulated tenants (tests/statsfleet.py):
every published cell equals a plain pandas computation over the stored rows (raw flows, events,
alerts and batches; the ledger's devices), no published cell aggregates fewer than k tenants or m
devices, what is suppressed cannot be recovered from what is published, and no identifier of any
tenant is anywhere in the Parquet or CSV file."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow.parquet as pq
import pytest
from coretest import add_user, bearer, flow, make_batch
from fastapi.testclient import TestClient
from sqlalchemy import select
from statsfleet import CSAF, LONE, build_fleet
from storetemplate import migrated
from typer.testing import CliRunner

from core import cli
from core.analytics.assets import ledger, list_assets
from core.analytics.ledger import is_local_host
from core.analytics.roles import OT_SERVICES
from core.api.app import create_app
from core.config import Settings
from core.detect.kinds import KINDS
from core.export.anonymity import OTHER
from core.export.stats import METADATA_KEY, stats_bytes
from core.stats import labels
from core.stats import build as build_module
from core.stats.build import statistics
from core.stats.health import quantile
from core.stats.periods import periods
from core.store.controlplane import AuditLog, Sensor
from core.vulns.match import DeviceId, match_devices
from sensor import wire

pytestmark = pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there")
START, END = date(2026, 1, 1), date(2026, 2, 28)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
K, M = 3, 10


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stats")
    with TestClient(create_app(Settings(data_dir=migrated(workdir)))) as client:
        started = time.perf_counter()
        plants = build_fleet(client.app, workdir)
        print(f"\nfleet of {len(plants)} tenants ingested in {time.perf_counter() - started:.1f} s")
        client.workdir = workdir
        yield client, plants


def build(client, k=K, m=M, kind="month"):
    with client.app.state.controlplane.sessions() as db:
        return statistics(client.app.state.clickhouse, db, START, END, kind, k, m, NOW)


# -- the expected cells, in pandas ---------------------------------------------------------------

def cells(frame: pd.DataFrame, sums: tuple[str, ...] = ()) -> dict:
    """(period, table, group, label) → tenants, devices ((tenant, device) pairs) and summed columns;
    ``frame`` has columns period, table, group, label, tenant, device (None: not a device) and ``sums``."""
    out = {}
    for key, part in frame.groupby(["period", "table", "group", "label"]):
        devices = part.dropna(subset=["device"])
        out[key] = {"tenants": set(part["tenant"]), "devices": set(zip(devices["tenant"], devices["device"])),
                    **{s: part[s].sum() for s in sums}}
    return out


def query(client, sql: str, **params) -> pd.DataFrame:
    return pd.DataFrame(client.app.state.clickhouse.query(sql, params))


def expected_cells(client, plants) -> tuple[dict, dict]:
    """Every cell before suppression, and per period the fleet's sites and devices."""
    months = periods(START, END, "month")
    ch = client.app.state.clickhouse
    device_rows, totals, active_by_period = [], {}, {}
    for p in months:
        batches = query(client, "SELECT DISTINCT tenant_id FROM batches WHERE interval_start >= {s:DateTime64(6)}"
                        " AND interval_start < {e:DateTime64(6)}", s=p.start, e=p.end)
        active = sorted(batches["tenant_id"])
        active_by_period[p.name] = set(active)
        total_devices = 0
        for tenant in active:
            assets = ledger(ch, tenant, start=p.start, end=p.end)
            total_devices += len(assets)
            found = match_devices(ch, [DeviceId(key, a.best("vendor"), a.best("model", "product"),
                                                a.best("firmware", "revision")) for key, a in assets.items()])
            for key, a in assets.items():
                family = labels.model_family(a)
                for table, group, label in (("devices_by_vendor", "", labels.vendor(a)),
                                            ("devices_by_role", "", labels.role(a)),
                                            ("devices_by_model_family", "", family),
                                            *((("firmware_by_model_family", family, labels.firmware(a)),)
                                              if family not in (labels.UNKNOWN, labels.UNLISTED) else ()),
                                            *(("vulnerabilities", "", m.cve) for m in found.get(key, []))):
                    device_rows.append((p.name, table, group, label, tenant, key))
        totals[p.name] = {"sites": len(active), "devices": total_devices}
    expected = cells(pd.DataFrame(device_rows, columns=["period", "table", "group", "label", "tenant", "device"]))
    for each in (_protocols, _functions):
        expected |= each(client, months, active_by_period)
    return expected | _alerts(client, months, active_by_period), totals


def _in(frame: pd.DataFrame, column: str, months) -> pd.Series:
    return frame[column].map(lambda t: next((p.name for p in months if p.start <= t < p.end), None))


def _of_active(frame: pd.DataFrame, active: dict) -> pd.DataFrame:
    """The rows of a period's tenants that delivered a batch in it."""
    frame = frame.dropna(subset=["period"])
    return frame[[tenant in active[period] for tenant, period in zip(frame["tenant"], frame["period"])]]


def _with_hosts(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    """One row per record (device None) and one per site address on either side (sums 0)."""
    rows = [frame.assign(device=None)]
    for side in ("orig_h", "resp_h"):
        hosts = frame[frame[side].map(is_local_host)]
        rows.append(hosts.assign(device=hosts[side], **{k: 0 for k in keys}))
    return pd.concat(rows)


def _protocols(client, months, active: dict) -> dict:
    flows = query(client, "SELECT tenant_id AS tenant, proto, service, ts_end, orig_h, resp_h, sign,"
                          " orig_ip_bytes + resp_ip_bytes AS ip_bytes, orig_pkts + resp_pkts AS pkts, new_flow"
                          " FROM flows")
    flows = flows.assign(period=_in(flows, "ts_end", months), table="protocols", group=flows["proto"].map(labels.name),
                         label=flows["service"].map(labels.name), flows=flows["sign"] * flows["new_flow"],
                         bytes=flows["sign"] * flows["ip_bytes"], packets=flows["sign"] * flows["pkts"])
    sums = ("flows", "bytes", "packets")
    return cells(_with_hosts(_of_active(flows, active), *sums), sums)


def _functions(client, months, active: dict) -> dict:
    events = query(client, "SELECT tenant_id AS tenant, protocol, action, toStartOfHour(ts) AS hour, orig_h, resp_h,"
                           " count FROM events")
    events = events[events["protocol"].isin(OT_SERVICES)]
    events = events.assign(period=_in(events, "hour", months), table="ot_functions",
                           group=events["protocol"].map(labels.name), label=events["action"].map(labels.name),
                           events=events["count"])
    return cells(_with_hosts(_of_active(events, active), "events"), ("events",))


def _alerts(client, months, active: dict) -> dict:
    """Alerts of the tenants that delivered data in the period: raised in it, or (insecure practices)
    active in it."""
    alerts = query(client, "SELECT tenant_id AS tenant, kind, severity, ts, ts_last, src_device, dst_device"
                           " FROM alerts FINAL")
    rows = []
    for p in months:
        for a in alerts[alerts["tenant"].isin(active[p.name])].itertuples():
            ends = [d for d in (a.src_device, a.dst_device) if d]
            if p.start <= a.ts < p.end:
                rows.append((p.name, "alerts", a.kind, a.severity, a.tenant, None, 1))
                rows += [(p.name, "alerts", a.kind, a.severity, a.tenant, d, 0) for d in ends]
            if a.kind in labels.INSECURE_PRACTICES and a.ts < p.end and a.ts_last >= p.start:
                rows.append((p.name, "insecure_practices", "", a.kind, a.tenant, None, 0))
                rows += [(p.name, "insecure_practices", "", a.kind, a.tenant, d, 0) for d in ends]
    frame = pd.DataFrame(rows, columns=["period", "table", "group", "label", "tenant", "device", "alerts"])
    return cells(frame, ("alerts",))


def measures(table: str, cell: dict, whole: dict, total: dict, family_devices: int) -> dict:
    """What the export must say of a cell (``whole``: the sums over the table's every cell)."""
    sites, devices = len(cell["tenants"]), len(cell["devices"])
    site_share = sites / total["sites"]
    if table in ("devices_by_vendor", "devices_by_role", "devices_by_model_family", "vulnerabilities"):
        return {"device_share": devices / total["devices"], "site_share": site_share}
    if table == "firmware_by_model_family":
        return {"device_share_of_family": devices / family_devices}
    if table == "protocols":
        return {"site_share": site_share, **{m: cell[m] for m in ("flows", "bytes", "packets")},
                **{f"{m[:-1]}_share": cell[m] / whole[m] for m in ("flows", "bytes", "packets")}}
    if table == "ot_functions":
        return {"site_share": site_share, "events": cell["events"], "event_share": cell["events"] / whole["events"]}
    if table == "alerts":
        return {"alerts": cell["alerts"], "alerts_per_site": cell["alerts"] / total["sites"], "site_share": site_share}
    if table == "insecure_practices":
        return {"site_share": site_share, "device_share": devices / total["devices"]}
    raise AssertionError(table)


def published(stats) -> dict:
    """(period, table, group, label) → sites, devices and measure → value, from the export's rows."""
    out: dict = {}
    for r in stats.rows:
        cell = out.setdefault((r["period"], r["table"], r["group"], r["label"]), {"sites": r["sites"],
                                                                                    "devices": r["devices"]})
        cell[r["measure"]] = r["value"]
    return out


def merged(parts: list[dict]) -> dict:
    out = {"tenants": set().union(*(p["tenants"] for p in parts)),
           "devices": set().union(*(p["devices"] for p in parts))}
    for key in parts[0].keys() - {"tenants", "devices"}:
        out[key] = sum(p[key] for p in parts)
    return out


# -- the tests -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def expected(fleet):
    client, plants = fleet
    return expected_cells(client, plants)


def test_every_published_cell_equals_pandas_and_other_merges_exactly_the_rest(fleet, expected):
    client, _ = fleet
    cells_by_key, totals = expected
    started = time.perf_counter()
    stats = build(client)
    print(f"statistics of {len(totals)} months: {(time.perf_counter() - started) * 1000:.0f} ms, "
          f"{len(stats.rows)} rows, suppressed {json.dumps(stats.metadata(START, END)['suppressed'])}")
    got = published(stats)
    checked = 0
    for (period, table), keys in _by_table(cells_by_key).items():
        whole = merged([cells_by_key[k] for k in keys])
        shown = {k for k in keys if k in got}
        hidden = [cells_by_key[k] for k in keys if k not in got]
        families = {g: len(merged([cells_by_key[k] for k in keys if k[2] == g])["devices"])
                    for g in {k[2] for k in keys}}
        for key in shown:
            cell = cells_by_key[key]
            want = {"sites": len(cell["tenants"]), "devices": len(cell["devices"]),
                    **measures(table, cell, whole, totals[period], families.get(key[2], 0))}
            assert got[key] == pytest.approx({k: v for k, v in want.items()} | _cvss(got[key])), key
            checked += 1
        other = [k for k in got if k[:2] == (period, table) and k[3] == OTHER]
        if hidden and table != "firmware_by_model_family":
            assert len(other) <= 1
            if other:  # the merged cell is the union of exactly the unpublished cells
                union = merged(hidden)
                want = {"sites": len(union["tenants"]), "devices": len(union["devices"]),
                        **measures(table, union, whole, totals[period], 0)}
                assert got[other[0]] == pytest.approx(want), other[0]
                checked += 1
    assert checked >= 40
    for period, total in totals.items():
        assert got[(period, "totals", "", "all")]["devices"] == total["devices"]


def _cvss(cell: dict) -> dict:
    return {"cvss": cell["cvss"]} if "cvss" in cell else {}


def _by_table(cells_by_key: dict) -> dict:
    out: dict = {}
    for key in cells_by_key:
        out.setdefault(key[:2], []).append(key)
    return out


@pytest.mark.parametrize("k, m", [(3, 10), (3, 4), (4, 20)])
def test_no_published_cell_has_fewer_than_k_tenants_or_m_devices(fleet, expected, k, m):
    client, _ = fleet
    stats = build(client, k, m)
    for r in stats.rows:
        assert r["sites"] >= k and r["devices"] >= m, r
    # every cell that fails on its own is absent; the tables still publish something
    cells_by_key, _ = expected
    got = published(stats)
    failing = [key for key, c in cells_by_key.items() if len(c["tenants"]) < k or len(c["devices"]) < m]
    assert failing and not [key for key in failing if key in got]
    assert {key[1] for key in got} >= {"totals", "devices_by_vendor", "devices_by_role", "protocols", "ot_functions"}


def test_the_cells_of_one_tenant_are_suppressed_and_the_totals_do_not_reveal_them(fleet, expected):
    """Only one tenant has an Omron CJ2M PLC (every simulated plant has an Omron CP1L): its model family
    is not published, and the 'other' cell it went into holds more devices and sites than it, as does
    what the total minus the published cells leaves."""
    client, plants = fleet
    cells_by_key, totals = expected
    lone = next(p.id for p in plants if p.name == LONE)
    stats = build(client)
    got = published(stats)
    for table, label in (("devices_by_model_family", "CJ2M"),):
        key = ("2026-01", table, "", label)
        assert cells_by_key[key]["tenants"] == {lone} and len(cells_by_key[key]["devices"]) == 1
        assert key not in got
        other = got[("2026-01", table, OTHER, OTHER)]
        assert other["sites"] >= K and other["devices"] >= M
        shown = sum(c["devices"] for k, c in got.items() if k[:2] == ("2026-01", table) and k[3] != OTHER)
        assert totals["2026-01"]["devices"] - shown == other["devices"] > 1
    # every family held back is counted under its reason (complementary suppression, needed when the
    # 'other' cell alone would fall short, is shown in tests/core/test_stats_anonymity.py)
    families = [k for k in cells_by_key if k[:2] == ("2026-01", "devices_by_model_family")]
    assert sum(stats.suppressed["2026-01/devices_by_model_family"].values()) == len(
        [k for k in families if k not in got]) >= 1
    # the Omron family's firmware is not shown at all
    assert not [k for k in got if k[1] == "firmware_by_model_family" and k[2] == "CJ2M"]


def test_vulnerabilities_and_fleet_health(fleet, expected):
    client, _ = fleet
    got = published(build(client, 3, 4))
    cve = got[("2026-01", "vulnerabilities", "", "CVE-2017-7921")]
    assert cve["sites"] == 5 and cve["devices"] >= 15 and cve["cvss"] >= 9
    health = got[("2026-01", "fleet_health", "", "fleet")]
    batches = query(client, "SELECT tenant_id, sensor_id, interval_start, interval_end, received_at, bytes"
                            " FROM batches FINAL WHERE interval_start < toDateTime64('2026-02-01', 6, 'UTC')")
    per_sensor = batches.groupby("sensor_id").agg(first=("interval_start", "min"), captured=("bytes", "sum"))
    seconds = (batches["interval_end"] - batches["interval_start"]).dt.total_seconds()
    covered = seconds.groupby(batches["sensor_id"]).sum()
    until = datetime(2026, 2, 1, tzinfo=UTC)
    uptime = [covered[s] / (until - per_sensor.loc[s, "first"]).total_seconds() for s in per_sensor.index]
    lag = (batches["received_at"] - batches["interval_end"]).dt.total_seconds().clip(lower=0)
    with client.app.state.controlplane.sessions() as db:
        used = [s.health["bytes_this_month"] / s.health["monthly_budget_bytes"] for s in db.query(Sensor)
                if s.id in set(per_sensor.index)]
    assert health == pytest.approx({
        "sites": 5, "devices": 5, "sensors": 5, "uptime_median": pd.Series(uptime).median(),
        "uptime_p10": pd.Series(uptime).quantile(0.1), "upload_lag_median_s": lag.median(),
        "upload_lag_p95_s": lag.quantile(0.95), "captured_bytes_median": per_sensor["captured"].median(),
        "data_used_share_median": pd.Series(used).median()}, rel=1e-6)
    assert quantile([1, 2, 3, 4], 0.1) == pd.Series([1, 2, 3, 4]).quantile(0.1)
    # five sensors are fewer than the default ten: suppressed, and said so
    stats = build(client)
    assert ("2026-01", "fleet_health", "", "fleet") not in published(stats)
    assert stats.suppressed["2026-01/fleet_health"] == {"fewer_than_m_devices": 1, "table_below_threshold": 1}


def test_weeks(fleet):
    client, _ = fleet
    got = published(build(client, 3, 4, kind="week"))
    assert {k[0] for k in got} == {"2026-W02", "2026-W07"}  # the weeks of 5 January and 9 February


def identifiers(client, plants) -> set[str]:
    found = set()
    for plant in plants:
        found |= plant.identifiers
        for asset in list_assets(client.app.state.clickhouse, plant.id):
            found |= {asset["device"], asset["mac"], asset["hostname"], asset["serial"], *asset["ips"]}
    return {f for f in found if f}


@pytest.mark.parametrize("fmt", [".parquet", ".csv"])
def test_no_identifier_of_any_tenant_is_in_the_file(fleet, fmt):
    client, plants = fleet
    stats = build(client, 3, 4)
    meta = stats.metadata(START, END)
    data = stats_bytes(stats.all_rows(), fmt, meta)
    text = data.decode("utf-8", "replace")
    if fmt == ".parquet":
        table = pq.read_table(io.BytesIO(data))
        text += json.dumps(table.to_pylist()) + table.schema.metadata[METADATA_KEY].decode()
        assert json.loads(table.schema.metadata[METADATA_KEY])["suppressed"] == meta["suppressed"]
        assert len(table) == len(stats.all_rows())
    else:
        assert pd.read_csv(io.BytesIO(data), keep_default_na=False)["value"].sum() == pytest.approx(
            sum(r["value"] for r in stats.all_rows()))
    names = identifiers(client, plants)
    assert len(names) > 100  # names, addresses, MACs, host names, serials of five plants
    leaked = sorted(n for n in names if n in text or n.lower() in text.lower())
    assert leaked == []
    # and every label is from the closed vocabularies or a shared vendor registry name
    for r in stats.rows:
        assert r["table"] != "alerts" or r["group"] in KINDS or r["group"] == OTHER


def test_labels_refuse_what_identifies():
    class Fake:
        def __init__(self, **best):
            self.values, self.role = best, None

        def best(self, *names):
            return next((self.values[n] for n in names if self.values.get(n)), "")

    assert labels.vendor(Fake(vendor="Siemens AG")) == labels.vendor(Fake(vendor="SIEMENS")) == "Siemens"
    assert labels.vendor(Fake(vendor="Advantech Co., Ltd.")) == "Advantech Co., Ltd."
    for hostile in ("PLC at 10.1.2.3", "aa:bb:cc:dd:ee:ff Inc", "=HYPERLINK(\"x\")", "Serial 12345678", "x" * 80):
        assert labels.vendor(Fake(vendor=hostile)) == labels.UNLISTED, hostile
    assert labels.firmware(Fake(firmware="V4.4.9")) == "V4.4.9"
    assert labels.firmware(Fake(firmware="V5.4.0 build 160530")) == labels.UNLISTED
    assert labels.firmware(Fake(firmware="zgrab/0.x")) == labels.UNLISTED
    assert labels.name("cotp,s7comm") == "cotp,s7comm" and labels.name("GET /plant-7/") == labels.UNLISTED
    assert labels.cve("CVE-2017-7921") == "CVE-2017-7921" and labels.cve("see 10.0.0.1") == labels.UNLISTED


def test_an_export_of_nothing_publishes_nothing(fleet):
    client, _ = fleet
    with client.app.state.controlplane.sessions() as db:
        stats = statistics(client.app.state.clickhouse, db, date(2025, 6, 1), date(2025, 6, 30), "month", K, M, NOW)
    assert stats.rows == [] and stats.suppressed == {}



# -- who may read them: the API and the CLI ----------------------------------------------------------

def test_the_api_answers_the_providers_data_team_only(fleet):
    client, _ = fleet
    query = {"start": "2026-01-01", "end": "2026-02-28", "purpose": "quarterly attack-trend report"}
    started = time.perf_counter()
    r = client.get("/api/v1/stats", params=query, headers=bearer(client.app.state.datateam_token))
    print(f"GET /api/v1/stats (two months): {(time.perf_counter() - started) * 1000:.0f} ms")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["k"] == K and body["m"] == M and body["period"] == "month"
    assert all(row["sites"] >= K and row["devices"] >= M for row in body["rows"]) and body["rows"]
    assert body["suppressed"]["2026-01/fleet_health"]["fewer_than_m_devices"] == 1
    for fmt, media in ((".csv", "text/csv"), (".parquet", "application/vnd.apache.parquet")):
        r = client.get(f"/api/v1/stats{fmt}", params=query, headers=bearer(client.app.state.datateam_token))
        assert r.status_code == 200 and r.headers["content-type"].startswith(media)
    refused = [add_user(client.app, "provider", f"{role}@provider.example", role)
               for role in ("analyst", "admin", "billing")]
    refused += [add_user(client.app, "kawasaki-seiko", f"{role}@kawasaki-seiko.example", role)
                for role in ("admin", "billing", "datateam")]
    for token in refused:
        r = client.get("/api/v1/stats", params=query, headers=bearer(token))
        assert r.status_code == 403 and r.json() == {"detail": "the provider's data team only"}
        assert client.get("/api/v1/stats.csv", params=query, headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/stats", params=query).status_code == 401
    with client.app.state.controlplane.sessions() as db:
        reads = db.scalars(select(AuditLog).where(AuditLog.action.like("stats.%"))).all()
    assert [(a.action, a.tenant_id) for a in reads] == [
        ("stats.export", None), ("stats.export.csv", None), ("stats.export.parquet", None)]
    assert all("purpose: quarterly attack-trend report" in a.detail for a in reads)


@pytest.mark.parametrize("query, status", [
    ({"start": "2026-01-01", "end": "2026-02-28"}, 422),  # no purpose
    ({"purpose": "x"}, 422),  # too short to say anything
    ({"purpose": "  \t   "}, 422),
    ({"purpose": "trend", "period": "day"}, 422),
    ({"purpose": "trend", "start": "2026-02-01", "end": "2026-01-01"}, 400),
    ({"purpose": "trend", "start": "1900-01-01", "end": "2026-01-01"}, 400),
    ({"purpose": "trend", "start": "2000-01-01", "end": "2026-01-01", "period": "week"}, 400),  # too many periods
    ({"purpose": "trend", "start": "2026-13-01"}, 422),
])
def test_bad_arguments_are_refused_with_a_reason(fleet, query, status):
    client, _ = fleet
    r = client.get("/api/v1/stats", params=query, headers=bearer(client.app.state.datateam_token))
    assert r.status_code == status and r.json()["detail"], r.text


def test_the_cli_writes_the_file_and_audits_its_purpose(fleet, monkeypatch, tmp_path):
    client, _ = fleet
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(client.workdir))
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli.app, ["export", "stats", *args])

    out = tmp_path / "stats.parquet"
    started = time.perf_counter()
    r = run("--start", "2026-01-01", "--end", "2026-02-28", "--out", str(out), "--purpose", "service quality review")
    print(f"mieruka export stats (two months, Parquet): {(time.perf_counter() - started) * 1000:.0f} ms")
    assert r.exit_code == 0, r.output
    assert len(pq.read_table(out)) == len(build(client).all_rows())
    weekly = tmp_path / "stats.csv"
    assert run("--start", "2026-01-01", "--end", "2026-02-28", "--period", "week", "--out", str(weekly),
               "--purpose", "weekly trend").exit_code == 0
    assert "2026-W07" in weekly.read_text()
    window = ("--start", "2026-01-01", "--end", "2026-02-28")
    for args, says in (
            (("--start", "2026-01-32", "--end", "2026-02-28", "--out", str(out), "--purpose", "x y"), "--start/--end"),
            (("--start", "2026-03-01", "--end", "2026-02-28", "--out", str(out), "--purpose", "x y"), "--start/--end"),
            ((*window, "--out", "stats.xlsx", "--purpose", "x y z"), "--out"),
            ((*window, "--out", str(out), "--purpose", "x y z", "--period", "day"), "--period"),
            ((*window, "--out", str(out)), "--purpose"),
            ((*window, "--out", str(out), "--purpose", " "), "--purpose")):
        r = run(*args)
        assert r.exit_code == 2 and says in r.stderr and r.stdout == "", (args, r.output)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 or "Missing option" in r.stderr
    with client.app.state.controlplane.sessions() as db:
        details = db.scalars(select(AuditLog.detail).where(AuditLog.actor == "cli", AuditLog.action == "stats.export"))
        assert sorted(d.split("purpose: ")[1] for d in details) == ["service quality review", "weekly trend"]


def test_a_period_is_computed_again_only_when_what_it_reads_changes(fleet, monkeypatch):
    """(Last: it changes the store.) A second build reuses both months; a sensor's report moving out of
    January recomputes January only, a batch delivered in February February only, and the answer then
    equals a build from nothing."""
    client, plants = fleet
    computed = []
    compute = build_module._period
    monkeypatch.setattr(build_module, "_period", lambda ch, db, period, now, out: (
        computed.append(period.name), compute(ch, db, period, now, out)))
    first = build(client, 3, 4)
    assert build(client, 3, 4).rows == first.rows and computed.count("2026-01") <= 1
    computed.clear()
    with client.app.state.controlplane.session() as db:  # a sensor's latest report is now of March
        db.get(Sensor, plants[1].sensor_id).health_at = NOW
    moved = build(client, 3, 4)
    assert computed == ["2026-01"] and moved.rows != first.rows  # January's data used changed
    computed.clear()
    late = datetime(2026, 2, 20, 3, 0, tzinfo=UTC)
    batch = make_batch(flows=[flow("10.10.0.21", "10.10.0.99", ts=late)], start=late)
    assert client.app.state.ingestor.ingest(plants[0].id, plants[0].sensor_id, wire.encode(batch)).status == "stored"
    after = build(client, 3, 4)
    assert computed == ["2026-02"]
    build_module._cache.clear()
    assert build(client, 3, 4).rows == after.rows != moved.rows
