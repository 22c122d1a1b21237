"""The data team's statistics are of whole days (core.stats.periods.so_far): a period not yet over is
published up to the end of yesterday, so today's batches leave the kept period alone, and a late batch
for one of its days computes it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coretest import flow, make_batch, provision

from core.stats import build as build_module
from core.stats.build import statistics
from core.stats.periods import Period, period_of, so_far
from sensor import wire

MAY = period_of(datetime(2026, 5, 10).date(), "month")


def test_a_period_so_far_is_its_whole_days():
    assert so_far(MAY, datetime(2026, 6, 1, tzinfo=UTC)) == MAY  # over: all of it
    assert so_far(MAY, datetime(2026, 7, 3, 8, tzinfo=UTC)) == MAY
    assert so_far(MAY, datetime(2026, 5, 10, 23, 59, tzinfo=UTC)) == Period("2026-05", MAY.start,
                                                                              datetime(2026, 5, 10, tzinfo=UTC))
    assert so_far(MAY, datetime(2026, 5, 1, 23, tzinfo=UTC)) is None  # its first day is not over
    assert so_far(MAY, datetime(2026, 4, 30, tzinfo=UTC)) is None


def test_todays_batches_leave_the_running_period_kept(client, monkeypatch):
    ch, now = client.app.state.clickhouse, datetime.now(UTC)
    site = provision(client.app, "site")
    computed = []
    compute = build_module._period
    monkeypatch.setattr(build_module, "_period", lambda ch, db, period, now, out: (
        computed.append(period), compute(ch, db, period, now, out)))

    def store(at: datetime, host: str) -> None:
        batch = make_batch(flows=[flow("10.10.0.1", host, ts=at)], start=at)
        assert client.app.state.ingestor.ingest(site.id, site.sensor_id, wire.encode(batch)).status == "stored"

    def build():
        with client.app.state.controlplane.sessions() as db:
            return statistics(ch, db, (now - timedelta(days=2)).date(), now.date(), "week", 1, 1, now)

    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
    store(midnight - timedelta(days=2, minutes=-5), "10.10.0.2")
    first = build()
    assert all(p.end <= midnight for p in computed)  # none reaches into today
    computed.clear()
    store(midnight + timedelta(minutes=1), "10.10.0.3")  # today: no period holds it yet
    assert build().rows == first.rows and computed == []
    store(midnight - timedelta(days=1, minutes=-5), "10.10.0.4")  # late, for yesterday
    late = build()
    yesterday = period_of((midnight - timedelta(days=1)).date(), "week").name  # on a Tuesday, a week not shown before
    assert sorted({p.name for p in computed}) == [yesterday] and late.rows != first.rows
