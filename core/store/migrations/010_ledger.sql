-- The ledger by time window (core/analytics/assets.py): small keyed state kept at ingest by
-- materialized views, so any period's ledger and the difference between two periods read these
-- tables only, never raw flows, events or observations. Times are kept to the microsecond
-- (min of first sighting, max of last); hourly buckets (the hour a sighting starts in) bound
-- what a window reads. min/max are
-- unchanged by a resent batch; like asset_facts, a failed batch's sightings are kept.
-- Each table is filled from the rows already stored (the INSERT … SELECT after its view), so an
-- upgraded store answers for its history; a row both copied and seen by the view is harmless.

-- Where a device (MAC and/or IP, as the sensors' observations name it) was seen, per hour.
CREATE TABLE IF NOT EXISTS {{TABLE asset_seen_1h}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    hour        DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    mac         LowCardinality(String),
    ip          LowCardinality(String),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, mac, ip);

{{DISTRIBUTED asset_seen_1h sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS asset_seen_1h_mv {{ON_CLUSTER}}
TO {{TABLE asset_seen_1h}} AS
SELECT tenant_id, toStartOfHour(ts) AS hour, mac, ip, min(ts) AS first_seen, max(ts) AS last_seen
FROM {{TABLE observations}}
GROUP BY tenant_id, hour, mac, ip;

INSERT INTO asset_seen_1h
SELECT tenant_id, toStartOfHour(ts) AS hour, mac, ip, min(ts), max(ts)
FROM observations
GROUP BY tenant_id, hour, mac, ip;

-- Every value of every attribute, per source, with its first and last sighting: the attributes
-- as they stood at the end of any window.
CREATE TABLE IF NOT EXISTS {{TABLE asset_fact_values}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    mac         LowCardinality(String),
    ip          LowCardinality(String),
    attribute   LowCardinality(String),
    source      LowCardinality(String),
    value       String CODEC(ZSTD),
    confidence  SimpleAggregateFunction(max, UInt8),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
ORDER BY (tenant_id, mac, ip, attribute, source, value);

{{DISTRIBUTED asset_fact_values sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS asset_fact_values_mv {{ON_CLUSTER}}
TO {{TABLE asset_fact_values}} AS
SELECT tenant_id, mac, ip, attribute, source, value,
       max(confidence) AS confidence, min(ts) AS first_seen, max(ts) AS last_seen
FROM {{TABLE observations}}
WHERE value != ''
GROUP BY tenant_id, mac, ip, attribute, source, value;

INSERT INTO asset_fact_values
SELECT tenant_id, mac, ip, attribute, source, value, max(confidence), min(ts), max(ts)
FROM observations
WHERE value != ''
GROUP BY tenant_id, mac, ip, attribute, source, value;

-- When each communication pair (the key of pairs_1h) was active, per hour of a flow record's
-- start: the first record's start and the last one's end. Retraction copies (sign -1) are not
-- sightings.
CREATE TABLE IF NOT EXISTS {{TABLE pair_seen_1h}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    hour        DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    orig_h      LowCardinality(String),
    resp_h      LowCardinality(String),
    resp_p      UInt16,
    vlan        UInt16,
    service     LowCardinality(String),
    proto       LowCardinality(String),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, orig_h, resp_h, resp_p, vlan, service, proto);

{{DISTRIBUTED pair_seen_1h sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS pair_seen_1h_mv {{ON_CLUSTER}}
TO {{TABLE pair_seen_1h}} AS
SELECT tenant_id, toStartOfHour(ts) AS hour, orig_h, resp_h, resp_p, vlan, service, proto,
       min(ts) AS first_seen, max(ts_end) AS last_seen
FROM {{TABLE flows}}
WHERE sign > 0
GROUP BY tenant_id, hour, orig_h, resp_h, resp_p, vlan, service, proto;

INSERT INTO pair_seen_1h
SELECT tenant_id, toStartOfHour(ts) AS hour, orig_h, resp_h, resp_p, vlan, service, proto,
       min(ts), max(ts_end)
FROM flows
WHERE sign > 0
GROUP BY tenant_id, hour, orig_h, resp_h, resp_p, vlan, service, proto;

-- Application actions (OT functions and the like) per pair and protocol, per hour.
CREATE TABLE IF NOT EXISTS {{TABLE event_actions_1h}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    hour        DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    orig_h      LowCardinality(String),
    resp_h      LowCardinality(String),
    protocol    LowCardinality(String),
    action      LowCardinality(String),
    count       SimpleAggregateFunction(sum, UInt64),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, orig_h, resp_h, protocol, action);

{{DISTRIBUTED event_actions_1h sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS event_actions_1h_mv {{ON_CLUSTER}}
TO {{TABLE event_actions_1h}} AS
SELECT tenant_id, toStartOfHour(ts) AS hour, orig_h, resp_h, protocol, action,
       sum(toUInt64(count)) AS count, min(ts) AS first_seen, max(ts_end) AS last_seen
FROM {{TABLE events}}
GROUP BY tenant_id, hour, orig_h, resp_h, protocol, action;

INSERT INTO event_actions_1h
SELECT tenant_id, toStartOfHour(ts) AS hour, orig_h, resp_h, protocol, action,
       sum(toUInt64(count)), min(ts), max(ts_end)
FROM events
GROUP BY tenant_id, hour, orig_h, resp_h, protocol, action;
