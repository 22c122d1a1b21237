"""Ledgers and risk scores kept between requests (core.analytics.kept) are never stale: whatever
changes a table they were read from — a batch, an analyst's note, an alert, an advisory import —
the next read computes them again; with nothing changed it is the very same result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coretest import T0, bearer, flow, make_batch, post_batch, provision
from fastapi.testclient import TestClient

from core.analytics import assets, overview, risk
from core.analytics.kept import Kept, Same, parts_version
from core.analytics.window import Window
from core.api.app import create_app
from core.detect import store as alerts
from core.detect.engine import _new_row
from core.detect.kinds import Finding
from core.store.clickhouse import ClickHouseStore
from sensor import wire

HMI, PLC, NEW = "10.0.0.1", "10.0.0.2", "10.0.0.9"
PLC_KEY = "00:1b:1b:00:00:02"  # the batch's observations name the PLC's MAC


def _ips(ledger: dict) -> set[str]:
    return {asset.ip for asset in ledger.values()}


def _risk_of(client, token: str, ip: str) -> int:
    rows = client.get("/api/v1/assets", headers=bearer(token)).json()
    return next(r["risk"] for r in rows if r["ip"] == ip)


def test_kept_results_follow_every_change_of_their_tables(settings, monkeypatch):
    with TestClient(create_app(settings)) as client:
        ch = client.app.state.clickhouse
        acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
        assert post_batch(client, acme.sensor_token, wire.encode(make_batch(flows=[flow()]))).status_code == 200

        first = assets.ledger(ch, acme.id)
        assert assets.ledger(ch, acme.id) is first  # nothing changed: kept
        assert _ips(first) == {HMI, PLC}
        assert assets.ledger(ch, globex.id) == {}  # per tenant
        window = assets.ledger(ch, acme.id, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))
        assert window is not first and _ips(window) == {HMI, PLC}  # per window
        hours = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
        figures = overview.window_stats(ch, acme.id, hours, 60)
        assert overview.window_stats(ch, acme.id, hours, 60) is figures
        peers = {p["peer"] for p in assets.asset_detail(ch, acme.id, HMI)["peers"]}
        assert peers == {PLC}
        scores = risk.scored(ch, acme.id, first)
        assert risk.scored(ch, acme.id, first) is scores
        before = _risk_of(client, acme.api_token, PLC)

        # an analyst's note: the ledger and the score read it at once
        assets.annotate(ch, acme.id, PLC_KEY, "analyst@acme.example", authorized="unauthorized")
        noted = assets.ledger(ch, acme.id)
        assert noted is not first and noted[PLC_KEY].annotation["authorized"] == "unauthorized"
        assert _risk_of(client, acme.api_token, PLC) > before

        # an alert changes the score, not the ledger
        marked = _risk_of(client, acme.api_token, PLC)
        now = int(datetime.now(UTC).timestamp() * 1e6)
        alerts.write(ch, [_new_row(acme.id, acme.sensor_id, "t", Finding(
            "plc_stop", "s7:stop", now, now, src_ip=HMI, dst_ip=PLC))])
        assert assets.ledger(ch, acme.id) is noted
        assert _risk_of(client, acme.api_token, PLC) > marked

        # another tenant's batch changes the tables too: computed again, the same devices
        other = make_batch(flows=[flow(orig_h="10.9.0.1", resp_h="10.9.0.2")])
        assert post_batch(client, globex.sensor_token, wire.encode(other)).status_code == 200
        again = assets.ledger(ch, acme.id)
        assert again is not noted and _ips(again) == {HMI, PLC}

        # a new device of this tenant
        newer = make_batch(flows=[flow(resp_h=NEW, uid="Cnew")], start=T0 + timedelta(minutes=1))
        assert post_batch(client, acme.sensor_token, wire.encode(newer)).status_code == 200
        assert NEW in _ips(assets.ledger(ch, acme.id))
        assert {p["peer"] for p in assets.asset_detail(ch, acme.id, HMI)["peers"]} == {PLC, NEW}
        assert overview.window_stats(ch, acme.id, hours, 60)["totals"]["batches"] == figures["totals"]["batches"] + 1
        assert NEW in {r["ip"] for r in client.get("/api/v1/assets", headers=bearer(acme.api_token)).json()}

        # risk reads the pairs of the last 30 days up to now: the next hour's score is computed anew
        latest = assets.ledger(ch, acme.id)
        kept = risk.scored(ch, acme.id, latest)
        assert risk.scored(ch, acme.id, latest) is kept

        class Later(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + timedelta(hours=1)

        monkeypatch.setattr(risk, "datetime", Later)
        assert risk.scored(ch, acme.id, latest) is not kept


def test_the_version_is_the_tables_parts_and_nothing_is_kept_on_a_cluster(settings):
    with TestClient(create_app(settings)) as client:
        ch = client.app.state.clickhouse
        empty = parts_version(ch, ("asset_annotations",))
        assert parts_version(ch, ("asset_annotations",)) == empty
        assets.annotate(ch, 1, "10.0.0.1", "someone", notes="first")
        one = parts_version(ch, ("asset_annotations",))
        assert one != empty and len(one[1]) == len(empty[1]) + 1
        assert parts_version(ch, ("alerts",)) != one  # only the tables named

        kept, calls = Kept(("asset_annotations",), size=2), []
        compute = lambda: calls.append(1) or object()  # noqa: E731
        a = kept.get(ch, "a", compute)
        assert kept.get(ch, "a", compute) is a and len(calls) == 1
        kept.get(ch, "b", compute), kept.get(ch, "c", compute)  # "a" is the oldest of three: let go
        assert kept.get(ch, "a", compute) is not a and len(calls) == 4

    clustered = ClickHouseStore(settings.clickhouse_dsn, cluster="shards")  # not opened: never asked
    assert parts_version(clustered, ("alerts",)) is None
    assert kept.get(clustered, "a", compute) is not kept.get(clustered, "a", compute)


def test_same_matches_the_very_object_only():
    one, twin = {"k": 1}, {"k": 1}
    assert Same(one) == Same(one) and hash(Same(one)) == hash(Same(one))
    assert Same(one) != Same(twin) and Same(one) != one
