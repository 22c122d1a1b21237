"""What a period's statistics depend on, summed up cheaply, so a period computed once is kept until its
data changes: the batches delivered in it (a late upload too), the alerts active in it (a new one, or
an old one whose repeats reach into it), the advisories imported, the sensors' latest health reports
dated in it. Periods are of whole days (core.stats.periods.so_far): today's batches change none."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.stats.periods import Period
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import Sensor
from core.vulns import store as advisories

_PERIOD_OF = {"month": "toStartOfMonth", "week": "toMonday"}


def fingerprints(ch: ClickHouseStore, db: Session, shown: list[Period], kind: str) -> dict[str, tuple]:
    """Period name → a value that changes whenever anything its statistics read changes."""
    bounds = {"first": shown[0].start, "last": shown[-1].end,
              "starts": [p.start for p in shown], "ends": [p.end for p in shown]}
    batches = {r["p"].isoformat(): (r["n"], r["r"]) for r in ch.query(
        f"""SELECT {_PERIOD_OF[kind]}(interval_start) AS p, count() AS n, max(received_at) AS r FROM batches
        WHERE interval_start >= {{first:DateTime64(6, 'UTC')}} AND interval_start < {{last:DateTime64(6, 'UTC')}}
        GROUP BY p""", bounds)}
    # an alert's repeats (new versions) leave a period's statistics alone unless they bring it into it
    alerts = {r["i"]: (r["n"], r["t"]) for r in ch.query(
        """SELECT i, uniqExact(id, severity) AS n, max(ts) AS t FROM alerts
        ARRAY JOIN arrayFilter(j -> ts < {ends:Array(DateTime64(6, 'UTC'))}[j]
                                    AND ts_last >= {starts:Array(DateTime64(6, 'UTC'))}[j],
                               arrayEnumerate({starts:Array(DateTime64(6, 'UTC'))})) AS i
        WHERE ts < {last:DateTime64(6, 'UTC')} AND ts_last >= {first:DateTime64(6, 'UTC')}
        GROUP BY i""", bounds)}
    reports = db.scalars(select(Sensor.health_at).where(Sensor.health_at >= bounds["first"],
                                                        Sensor.health_at < bounds["last"])).all()
    imported = advisories.fingerprint(ch)
    return {p.name: (batches.get(p.start.date().isoformat()), alerts.get(i),
                     tuple(sorted(t for t in reports if p.start <= t < p.end)), imported)
            for i, p in enumerate(shown, start=1)}
