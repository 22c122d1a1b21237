-- The explorer's timeline and count (core/analytics/explore.py) per minute of the records' ts, so a week
-- or a month is not a read of every raw record. A row per tenant, minute, batch and the columns the
-- explorer's rollup-answerable filters name (flows: sensor, protocol, status; events: sensor, protocol,
-- action, status, port), counting the batch's records with their sign: a batch taken out (its rows
-- re-inserted negated, core/ingest) is given back. The batch's interval_start is kept exactly, so the
-- raw tables' window rule on it is applied as the raw read applies it, and its retention_days (the
-- largest: a batch resent after a take-out keeps the resend's), which core/export/retention.py re-dates
-- with the raw rows'. These tables expire a week after the raw rows
-- they count (not by the rollup retention): rows the raw tables may have dropped are read from raw.
-- Each is filled from the raw rows already stored (the INSERT … SELECT after its view), less the batches it
-- holds already: those the view took while the file ran (uploads to other workers), and all of them when the
-- file runs again (a failure after the first backfill records no version); GLOBAL: on a cluster both are
-- Distributed tables.

CREATE TABLE IF NOT EXISTS {{TABLE explore_flows_1m}} {{ON_CLUSTER}}
(
    tenant_id      UInt32,
    minute         DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    sensor_id      UInt32,
    interval_start DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    batch_id       UUID,
    service        LowCardinality(String),
    proto          LowCardinality(String),
    conn_state     LowCardinality(String),
    retention_days SimpleAggregateFunction(max, UInt16),
    records        SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, sensor_id, interval_start, batch_id, service, proto, conn_state)
TTL toDateTime(interval_start) + toIntervalDay(retention_days + 7)
    WHERE retention_days > 0 AND retention_days < dateDiff('day', interval_start, toDateTime('2106-01-01 00:00:00', 'UTC'))
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED explore_flows_1m sipHash64(tenant_id, sensor_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS explore_flows_1m_mv {{ON_CLUSTER}}
TO {{TABLE explore_flows_1m}} AS
SELECT tenant_id, toStartOfMinute(ts) AS minute, sensor_id, interval_start, batch_id, service, proto, conn_state,
       max(retention_days) AS retention_days, sum(toInt64(sign)) AS records
FROM {{TABLE flows}}
WHERE ts >= toDateTime64(0, 6, 'UTC')
GROUP BY tenant_id, minute, sensor_id, interval_start, batch_id, service, proto, conn_state;

INSERT INTO explore_flows_1m
SELECT tenant_id, toStartOfMinute(ts) AS minute, sensor_id, interval_start, batch_id, service, proto, conn_state,
       max(retention_days), sum(toInt64(sign))
FROM flows
WHERE ts >= toDateTime64(0, 6, 'UTC')
  AND (tenant_id, sensor_id, batch_id) GLOBAL NOT IN (SELECT tenant_id, sensor_id, batch_id FROM explore_flows_1m)
GROUP BY tenant_id, minute, sensor_id, interval_start, batch_id, service, proto, conn_state;

CREATE TABLE IF NOT EXISTS {{TABLE explore_events_1m}} {{ON_CLUSTER}}
(
    tenant_id      UInt32,
    minute         DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    sensor_id      UInt32,
    interval_start DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    batch_id       UUID,
    protocol       LowCardinality(String),
    action         LowCardinality(String),
    status         LowCardinality(String),
    resp_p         UInt16,
    retention_days SimpleAggregateFunction(max, UInt16),
    records        SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, sensor_id, interval_start, batch_id, protocol, action, status, resp_p)
TTL toDateTime(interval_start) + toIntervalDay(retention_days + 7)
    WHERE retention_days > 0 AND retention_days < dateDiff('day', interval_start, toDateTime('2106-01-01 00:00:00', 'UTC'))
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED explore_events_1m sipHash64(tenant_id, sensor_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS explore_events_1m_mv {{ON_CLUSTER}}
TO {{TABLE explore_events_1m}} AS
SELECT tenant_id, toStartOfMinute(ts) AS minute, sensor_id, interval_start, batch_id, protocol, action, status,
       resp_p, max(retention_days) AS retention_days, sum(toInt64(sign)) AS records
FROM {{TABLE events}}
WHERE ts >= toDateTime64(0, 6, 'UTC')
GROUP BY tenant_id, minute, sensor_id, interval_start, batch_id, protocol, action, status, resp_p;

INSERT INTO explore_events_1m
SELECT tenant_id, toStartOfMinute(ts) AS minute, sensor_id, interval_start, batch_id, protocol, action, status,
       resp_p, max(retention_days), sum(toInt64(sign))
FROM events
WHERE ts >= toDateTime64(0, 6, 'UTC')
  AND (tenant_id, sensor_id, batch_id) GLOBAL NOT IN (SELECT tenant_id, sensor_id, batch_id FROM explore_events_1m)
GROUP BY tenant_id, minute, sensor_id, interval_start, batch_id, protocol, action, status, resp_p;
