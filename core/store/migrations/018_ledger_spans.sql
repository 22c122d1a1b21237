-- The ledger's state (migration 010) at two more grains, so no page reads a month of hourly rows:
-- per day (``*_1d``: a window's whole days; its edge hours still come from ``*_1h``) and for all time
-- (``*_all``: the latest state, what a window open on both sides reads), plus communication pairs per
-- day (``pairs_1d``, as pairs_1h). Each holds exactly what its hourly table holds for the same span:
-- the same views' sums, minima and maxima over days or over everything (core/analytics/spans.py).
-- Daily tables carry their day in the sorting key, so the rollup retention gives them its TTL
-- (core/export/retention.py); the all-time ones are kept like asset_facts. Each is filled from the
-- hourly table already stored (the INSERT … SELECT after its view).

CREATE TABLE IF NOT EXISTS {{TABLE pair_seen_1d}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    day         DateTime('UTC') CODEC(DoubleDelta, ZSTD),
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
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, orig_h, resp_h, resp_p, vlan, service, proto)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED pair_seen_1d sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS pair_seen_1d_mv {{ON_CLUSTER}}
TO {{TABLE pair_seen_1d}} AS
SELECT tenant_id, toStartOfDay(ts) AS day, orig_h, resp_h, resp_p, vlan, service, proto,
       min(ts) AS first_seen, max(ts_end) AS last_seen
FROM {{TABLE flows}}
WHERE sign > 0
GROUP BY tenant_id, day, orig_h, resp_h, resp_p, vlan, service, proto;

INSERT INTO pair_seen_1d
SELECT tenant_id, toStartOfDay(hour) AS day, orig_h, resp_h, resp_p, vlan, service, proto,
       min(first_seen), max(last_seen)
FROM pair_seen_1h
GROUP BY tenant_id, day, orig_h, resp_h, resp_p, vlan, service, proto;

CREATE TABLE IF NOT EXISTS {{TABLE pair_seen_all}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
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
ORDER BY (tenant_id, orig_h, resp_h, resp_p, vlan, service, proto)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED pair_seen_all sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS pair_seen_all_mv {{ON_CLUSTER}}
TO {{TABLE pair_seen_all}} AS
SELECT tenant_id, orig_h, resp_h, resp_p, vlan, service, proto, min(ts) AS first_seen, max(ts_end) AS last_seen
FROM {{TABLE flows}}
WHERE sign > 0
GROUP BY tenant_id, orig_h, resp_h, resp_p, vlan, service, proto;

INSERT INTO pair_seen_all
SELECT tenant_id, orig_h, resp_h, resp_p, vlan, service, proto, min(first_seen), max(last_seen)
FROM pair_seen_1h
GROUP BY tenant_id, orig_h, resp_h, resp_p, vlan, service, proto;

CREATE TABLE IF NOT EXISTS {{TABLE asset_seen_1d}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    day         DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    mac         LowCardinality(String),
    ip          LowCardinality(String),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, mac, ip)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED asset_seen_1d sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS asset_seen_1d_mv {{ON_CLUSTER}}
TO {{TABLE asset_seen_1d}} AS
SELECT tenant_id, toStartOfDay(ts) AS day, mac, ip, min(ts) AS first_seen, max(ts) AS last_seen
FROM {{TABLE observations}}
GROUP BY tenant_id, day, mac, ip;

INSERT INTO asset_seen_1d
SELECT tenant_id, toStartOfDay(hour) AS day, mac, ip, min(first_seen), max(last_seen)
FROM asset_seen_1h
GROUP BY tenant_id, day, mac, ip;

CREATE TABLE IF NOT EXISTS {{TABLE asset_seen_all}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    mac         LowCardinality(String),
    ip          LowCardinality(String),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
ORDER BY (tenant_id, mac, ip)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED asset_seen_all sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS asset_seen_all_mv {{ON_CLUSTER}}
TO {{TABLE asset_seen_all}} AS
SELECT tenant_id, mac, ip, min(ts) AS first_seen, max(ts) AS last_seen
FROM {{TABLE observations}}
GROUP BY tenant_id, mac, ip;

INSERT INTO asset_seen_all
SELECT tenant_id, mac, ip, min(first_seen), max(last_seen)
FROM asset_seen_1h
GROUP BY tenant_id, mac, ip;

CREATE TABLE IF NOT EXISTS {{TABLE event_actions_1d}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    day         DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    orig_h      LowCardinality(String),
    resp_h      LowCardinality(String),
    protocol    LowCardinality(String),
    action      LowCardinality(String),
    count       SimpleAggregateFunction(sum, Int64),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, orig_h, resp_h, protocol, action)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED event_actions_1d sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS event_actions_1d_mv {{ON_CLUSTER}}
TO {{TABLE event_actions_1d}} AS
SELECT tenant_id, toStartOfDay(ts) AS day, orig_h, resp_h, protocol, action,
       sum(sign * toInt64(count)) AS count, min(ts) AS first_seen, max(ts_end) AS last_seen
FROM {{TABLE events}}
GROUP BY tenant_id, day, orig_h, resp_h, protocol, action;

INSERT INTO event_actions_1d
SELECT tenant_id, toStartOfDay(hour) AS day, orig_h, resp_h, protocol, action,
       sum(count), min(first_seen), max(last_seen)
FROM event_actions_1h
GROUP BY tenant_id, day, orig_h, resp_h, protocol, action;

CREATE TABLE IF NOT EXISTS {{TABLE event_actions_all}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    orig_h      LowCardinality(String),
    resp_h      LowCardinality(String),
    protocol    LowCardinality(String),
    action      LowCardinality(String),
    count       SimpleAggregateFunction(sum, Int64),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
ORDER BY (tenant_id, orig_h, resp_h, protocol, action)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED event_actions_all sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS event_actions_all_mv {{ON_CLUSTER}}
TO {{TABLE event_actions_all}} AS
SELECT tenant_id, orig_h, resp_h, protocol, action,
       sum(sign * toInt64(count)) AS count, min(ts) AS first_seen, max(ts_end) AS last_seen
FROM {{TABLE events}}
GROUP BY tenant_id, orig_h, resp_h, protocol, action;

INSERT INTO event_actions_all
SELECT tenant_id, orig_h, resp_h, protocol, action, sum(count), min(first_seen), max(last_seen)
FROM event_actions_1h
GROUP BY tenant_id, orig_h, resp_h, protocol, action;

-- Pairs per day also keep the first and last hour they had traffic in (hours of pairs_1h), so a
-- peer's "last hour" needs no hourly read.
CREATE TABLE IF NOT EXISTS {{TABLE pairs_1d}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    sensor_id   UInt32,
    day         DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    orig_h      LowCardinality(String),
    resp_h      LowCardinality(String),
    resp_p      UInt16,
    vlan        UInt16,
    service     LowCardinality(String),
    proto       LowCardinality(String),
    bytes       SimpleAggregateFunction(sum, Int64),
    packets     SimpleAggregateFunction(sum, Int64),
    flows       SimpleAggregateFunction(sum, Int64),
    first_hour  SimpleAggregateFunction(min, DateTime('UTC')),
    last_hour   SimpleAggregateFunction(max, DateTime('UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, sensor_id, day, orig_h, resp_h, resp_p, vlan, service, proto)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED pairs_1d sipHash64(tenant_id, sensor_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS pairs_1d_mv {{ON_CLUSTER}}
TO {{TABLE pairs_1d}} AS
SELECT tenant_id, sensor_id, toStartOfDay(ts_end) AS day, orig_h, resp_h, resp_p, vlan, service, proto,
       sum(sign * toInt64(orig_ip_bytes + resp_ip_bytes)) AS bytes,
       sum(sign * toInt64(orig_pkts + resp_pkts)) AS packets,
       sum(sign * new_flow) AS flows,
       min(toStartOfHour(ts_end)) AS first_hour,
       max(toStartOfHour(ts_end)) AS last_hour
FROM {{TABLE flows}}
GROUP BY tenant_id, sensor_id, day, orig_h, resp_h, resp_p, vlan, service, proto;

INSERT INTO pairs_1d
SELECT tenant_id, sensor_id, toStartOfDay(hour) AS day, orig_h, resp_h, resp_p, vlan, service, proto,
       sum(bytes), sum(packets), sum(flows), min(hour), max(hour)
FROM pairs_1h
GROUP BY tenant_id, sensor_id, day, orig_h, resp_h, resp_p, vlan, service, proto;

-- Lookups that still read raw records — a flow or event by uid or Community ID (alert evidence),
-- a device's records (the explorer's device filter, a device's newest events) — skip the granules
-- that cannot hold the value.
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS uid_idx uid TYPE bloom_filter GRANULARITY 4;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS community_idx community_id TYPE bloom_filter GRANULARITY 4;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS orig_h_idx orig_h TYPE bloom_filter GRANULARITY 4;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS resp_h_idx resp_h TYPE bloom_filter GRANULARITY 4;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS uid_idx uid TYPE bloom_filter GRANULARITY 4;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS orig_h_idx orig_h TYPE bloom_filter GRANULARITY 4;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS resp_h_idx resp_h TYPE bloom_filter GRANULARITY 4;

-- and the records stored before get them too (a background mutation)
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX uid_idx;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX community_idx;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX orig_h_idx;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX resp_h_idx;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} MATERIALIZE INDEX uid_idx;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} MATERIALIZE INDEX orig_h_idx;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} MATERIALIZE INDEX resp_h_idx;
