-- The explorer's timeline and count filtered by an address (source, destination, device) or a flow's port
-- (core/analytics/explore.py) over buckets of an hour or more, so a week or a month of one device is not a read
-- of every raw record. A row per tenant, value, the sides it is on, hour of the records' ts and hour of their
-- batches' interval_start (no batch: a batch key makes it as large as the raw table), with the records' signed
-- count (a batch taken out, its rows re-inserted negated by core/ingest, is given back) and the least and the
-- greatest retention_days of the batches summed (0, kept for good, as 65535): the explorer reads raw the hours
-- of interval_start that straddle the window's margins and the batches the least retention may have expired;
-- the rows expire a week after the greatest. core/export/retention.py re-dates them with the raw rows.
-- A record counts once per distinct value, as the raw filters' OR matches it once. side: 1 an address of the
-- originator (flows: orig_h or orig_l2_addr; events: orig_h), 2 of the responder, 3 both; 4 a flow's port
-- (orig_p or resp_p).
-- Raw rows reach the rollup through a Null table (one row per record and value) whose views sum them per hour and
-- note each batch: the backfill, an INSERT into it in blocks of 8 M rows (its memory bounded by them), leaves out the
-- batches noted: those the view took while the file ran (uploads to other workers), and all of them when the file
-- runs again. GLOBAL: on a cluster both are Distributed tables.

CREATE TABLE IF NOT EXISTS {{TABLE explore_flow_values_1h}} {{ON_CLUSTER}}
(
    tenant_id     UInt32,
    value         String CODEC(ZSTD),
    side          UInt8,
    hour          DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    interval_hour DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    least_days    SimpleAggregateFunction(min, UInt16),
    most_days     SimpleAggregateFunction(max, UInt16),
    records       SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, value, side, hour, interval_hour)
TTL interval_hour + toIntervalDay(most_days + 7)
    WHERE most_days < dateDiff('day', interval_hour, toDateTime('2106-01-01 00:00:00', 'UTC'))
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED explore_flow_values_1h sipHash64(tenant_id)}};

CREATE TABLE IF NOT EXISTS {{TABLE explore_flow_values_batches}} {{ON_CLUSTER}}
(
    tenant_id UInt32,
    sensor_id UInt32,
    batch_id  UUID
)
ENGINE = {{ENGINE ReplacingMergeTree}}
ORDER BY (tenant_id, sensor_id, batch_id)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED explore_flow_values_batches sipHash64(tenant_id, sensor_id)}};

CREATE TABLE IF NOT EXISTS {{TABLE explore_flow_values_in}} {{ON_CLUSTER}}
(
    tenant_id     UInt32,
    sensor_id     UInt32,
    batch_id      UUID,
    value         String,
    side          UInt8,
    hour          DateTime('UTC'),
    interval_hour DateTime('UTC'),
    days          UInt16,
    records       Int64
)
ENGINE = Null;

{{DISTRIBUTED explore_flow_values_in sipHash64(tenant_id, sensor_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS explore_flow_values_batches_mv {{ON_CLUSTER}}
TO {{TABLE explore_flow_values_batches}} AS
SELECT DISTINCT tenant_id, sensor_id, batch_id FROM {{TABLE explore_flow_values_in}};

CREATE MATERIALIZED VIEW IF NOT EXISTS explore_flow_values_1h_mv {{ON_CLUSTER}}
TO {{TABLE explore_flow_values_1h}} AS
SELECT tenant_id, value, side, hour, interval_hour, min(days) AS least_days, max(days) AS most_days,
       sum(records) AS records
FROM {{TABLE explore_flow_values_in}}
GROUP BY tenant_id, value, side, hour, interval_hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS explore_flow_values_in_mv {{ON_CLUSTER}}
TO {{TABLE explore_flow_values_in}} AS
SELECT tenant_id, sensor_id, batch_id, value, side, toStartOfHour(ts) AS hour, toStartOfHour(interval_start) AS interval_hour,
       if(retention_days = 0, 65535, retention_days) AS days, toInt64(sign) AS records
FROM {{TABLE flows}}
ARRAY JOIN
    arrayConcat(arrayFilter(a -> a != '', arrayDistinct([orig_h, orig_l2_addr, resp_h, resp_l2_addr])),
                arrayMap(p -> toString(p), arrayDistinct([orig_p, resp_p]))) AS value,
    arrayConcat(arrayMap(a -> toUInt8(has([orig_h, orig_l2_addr], a) + 2 * has([resp_h, resp_l2_addr], a)),
                         arrayFilter(a -> a != '', arrayDistinct([orig_h, orig_l2_addr, resp_h, resp_l2_addr]))),
                arrayMap(p -> toUInt8(4), arrayDistinct([orig_p, resp_p]))) AS side
WHERE ts >= toDateTime64(0, 6, 'UTC');

-- A backfill commits its blocks as it goes, their batches noted with them, and a block ends where it falls:
-- run again after a failure inside it, the file would skip batches it had counted in part. So every run
-- starts the rollup over (what the views counted since goes too, unnoted, and is read from flows below).
TRUNCATE TABLE IF EXISTS {{TABLE explore_flow_values_1h}} {{ON_CLUSTER}};
TRUNCATE TABLE IF EXISTS {{TABLE explore_flow_values_batches}} {{ON_CLUSTER}};

INSERT INTO explore_flow_values_in
SELECT tenant_id, sensor_id, batch_id, value, side, toStartOfHour(ts) AS hour, toStartOfHour(interval_start) AS interval_hour,
       if(retention_days = 0, 65535, retention_days) AS days, toInt64(sign) AS records
FROM flows
ARRAY JOIN
    arrayConcat(arrayFilter(a -> a != '', arrayDistinct([orig_h, orig_l2_addr, resp_h, resp_l2_addr])),
                arrayMap(p -> toString(p), arrayDistinct([orig_p, resp_p]))) AS value,
    arrayConcat(arrayMap(a -> toUInt8(has([orig_h, orig_l2_addr], a) + 2 * has([resp_h, resp_l2_addr], a)),
                         arrayFilter(a -> a != '', arrayDistinct([orig_h, orig_l2_addr, resp_h, resp_l2_addr]))),
                arrayMap(p -> toUInt8(4), arrayDistinct([orig_p, resp_p]))) AS side
WHERE ts >= toDateTime64(0, 6, 'UTC')
  AND (tenant_id, sensor_id, batch_id) GLOBAL NOT IN (SELECT tenant_id, sensor_id, batch_id FROM explore_flow_values_batches)
SETTINGS min_insert_block_size_rows = 8388608, min_insert_block_size_bytes = 1073741824;

CREATE TABLE IF NOT EXISTS {{TABLE explore_event_values_1h}} {{ON_CLUSTER}}
(
    tenant_id     UInt32,
    value         String CODEC(ZSTD),
    side          UInt8,
    hour          DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    interval_hour DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    least_days    SimpleAggregateFunction(min, UInt16),
    most_days     SimpleAggregateFunction(max, UInt16),
    records       SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, value, side, hour, interval_hour)
TTL interval_hour + toIntervalDay(most_days + 7)
    WHERE most_days < dateDiff('day', interval_hour, toDateTime('2106-01-01 00:00:00', 'UTC'))
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED explore_event_values_1h sipHash64(tenant_id)}};

CREATE TABLE IF NOT EXISTS {{TABLE explore_event_values_batches}} {{ON_CLUSTER}}
(
    tenant_id UInt32,
    sensor_id UInt32,
    batch_id  UUID
)
ENGINE = {{ENGINE ReplacingMergeTree}}
ORDER BY (tenant_id, sensor_id, batch_id)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED explore_event_values_batches sipHash64(tenant_id, sensor_id)}};

CREATE TABLE IF NOT EXISTS {{TABLE explore_event_values_in}} {{ON_CLUSTER}}
(
    tenant_id     UInt32,
    sensor_id     UInt32,
    batch_id      UUID,
    value         String,
    side          UInt8,
    hour          DateTime('UTC'),
    interval_hour DateTime('UTC'),
    days          UInt16,
    records       Int64
)
ENGINE = Null;

{{DISTRIBUTED explore_event_values_in sipHash64(tenant_id, sensor_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS explore_event_values_batches_mv {{ON_CLUSTER}}
TO {{TABLE explore_event_values_batches}} AS
SELECT DISTINCT tenant_id, sensor_id, batch_id FROM {{TABLE explore_event_values_in}};

CREATE MATERIALIZED VIEW IF NOT EXISTS explore_event_values_1h_mv {{ON_CLUSTER}}
TO {{TABLE explore_event_values_1h}} AS
SELECT tenant_id, value, side, hour, interval_hour, min(days) AS least_days, max(days) AS most_days,
       sum(records) AS records
FROM {{TABLE explore_event_values_in}}
GROUP BY tenant_id, value, side, hour, interval_hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS explore_event_values_in_mv {{ON_CLUSTER}}
TO {{TABLE explore_event_values_in}} AS
SELECT tenant_id, sensor_id, batch_id, value, side, toStartOfHour(ts) AS hour, toStartOfHour(interval_start) AS interval_hour,
       if(retention_days = 0, 65535, retention_days) AS days, toInt64(sign) AS records
FROM {{TABLE events}}
ARRAY JOIN
    arrayFilter(a -> a != '', arrayDistinct([orig_h, resp_h])) AS value,
    arrayMap(a -> toUInt8((a = orig_h) + 2 * (a = resp_h)), arrayFilter(a -> a != '', arrayDistinct([orig_h, resp_h]))) AS side
WHERE ts >= toDateTime64(0, 6, 'UTC');

-- A backfill commits its blocks as it goes, their batches noted with them, and a block ends where it falls:
-- run again after a failure inside it, the file would skip batches it had counted in part. So every run
-- starts the rollup over (what the views counted since goes too, unnoted, and is read from events below).
TRUNCATE TABLE IF EXISTS {{TABLE explore_event_values_1h}} {{ON_CLUSTER}};
TRUNCATE TABLE IF EXISTS {{TABLE explore_event_values_batches}} {{ON_CLUSTER}};

INSERT INTO explore_event_values_in
SELECT tenant_id, sensor_id, batch_id, value, side, toStartOfHour(ts) AS hour, toStartOfHour(interval_start) AS interval_hour,
       if(retention_days = 0, 65535, retention_days) AS days, toInt64(sign) AS records
FROM events
ARRAY JOIN
    arrayFilter(a -> a != '', arrayDistinct([orig_h, resp_h])) AS value,
    arrayMap(a -> toUInt8((a = orig_h) + 2 * (a = resp_h)), arrayFilter(a -> a != '', arrayDistinct([orig_h, resp_h]))) AS side
WHERE ts >= toDateTime64(0, 6, 'UTC')
  AND (tenant_id, sensor_id, batch_id) GLOBAL NOT IN (SELECT tenant_id, sensor_id, batch_id FROM explore_event_values_batches)
SETTINGS min_insert_block_size_rows = 8388608, min_insert_block_size_bytes = 1073741824;
