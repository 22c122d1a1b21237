"""What a period's statistics depend on, summed up cheaply, so a period computed once is kept until its
data changes: the batches delivered in it (a late upload too), the alerts active in it (a new alert,
a folded repeat), the advisories imported, the sensors' latest health reports, and, for a period not
yet over, the minute (its uptimes run to now)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.stats.periods import Period
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import Sensor
from core.vulns import store as advisories

_PERIOD_OF = {"month": "toStartOfMonth", "week": "toMonday"}


def fingerprints(ch: ClickHouseStore, db: Session, shown: list[Period], kind: str, now: datetime) -> dict[str, tuple]:
    """Period name → a value that changes whenever anything its statistics read changes."""
    bounds = {"first": shown[0].start, "last": shown[-1].end,
              "starts": [p.start for p in shown], "ends": [p.end for p in shown]}
    batches = {r["p"].isoformat(): (r["n"], r["r"]) for r in ch.query(
        f"""SELECT {_PERIOD_OF[kind]}(interval_start) AS p, count() AS n, max(received_at) AS r FROM batches
        WHERE interval_start >= {{first:DateTime64(6, 'UTC')}} AND interval_start < {{last:DateTime64(6, 'UTC')}}
        GROUP BY p""", bounds)}
    alerts = {r["i"]: (r["n"], r["v"]) for r in ch.query(
        """SELECT i, count() AS n, max(version) AS v FROM alerts
        ARRAY JOIN arrayFilter(j -> ts < {ends:Array(DateTime64(6, 'UTC'))}[j]
                                    AND ts_last >= {starts:Array(DateTime64(6, 'UTC'))}[j],
                               arrayEnumerate({starts:Array(DateTime64(6, 'UTC'))})) AS i
        WHERE ts < {last:DateTime64(6, 'UTC')} AND ts_last >= {first:DateTime64(6, 'UTC')}
        GROUP BY i""", bounds)}
    health = tuple(db.execute(select(func.count(Sensor.health_at), func.max(Sensor.health_at))).one())
    imported = advisories.fingerprint(ch)
    minute = now.replace(second=0, microsecond=0)
    return {p.name: (batches.get(p.start.date().isoformat()), alerts.get(i), health, imported,
                     minute if p.end > now else None)
            for i, p in enumerate(shown, start=1)}
