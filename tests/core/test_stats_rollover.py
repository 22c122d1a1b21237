"""The data team's statistics of a running period are kept while nothing they read changes — but a
new day moves the period's end even when no batch arrived: what was kept for [start, yesterday) is
not served for [start, today)."""

from datetime import UTC, datetime, timedelta

from coretest import flow, make_batch, provision

from core.stats import build
from sensor import wire


def test_a_quiet_day_still_moves_the_running_period(client):
    ch, now = client.app.state.clickhouse, datetime.now(UTC)
    site = provision(client.app, "site")
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
    for hours in (30, 28, 26):  # the day before yesterday: a sensor's batches, then silence
        at = midnight - timedelta(hours=hours)
        batch = make_batch(flows=[flow("10.10.0.1", "10.10.0.2", ts=at)], start=at)
        assert client.app.state.ingestor.ingest(site.id, site.sensor_id, wire.encode(batch)).status == "stored"

    def rows(at: datetime) -> list[dict]:
        with client.app.state.controlplane.sessions() as db:
            return build.statistics(ch, db, (now - timedelta(days=3)).date(), at.date(), "month", 1, 1, at).rows

    rows(now)  # kept: the month up to today's midnight
    tomorrow = now + timedelta(days=1)  # and nothing at all arrives today
    kept = rows(tomorrow)
    build._cache.clear()
    assert kept == rows(tomorrow)
    assert any(r["measure"] == "uptime_median" for r in kept)
