-- Retention (core/export/retention.py): raw records are partitioned, ordered and expired by their
-- batch's interval (a time that moves with the data: a month-long connection's records fall in the
-- months they were seen, not the month it began), and each row carries its tenant's retention in
-- days (0: kept). The tables are rebuilt with the new keys, rows copied with their batch's interval,
-- and swapped in; the rollup views follow the names. (On a cluster a batch and its rows live on one
-- shard, so the copy joins each shard's own batches.)

CREATE TABLE IF NOT EXISTS {{TABLE flows_v2}} {{ON_CLUSTER}}
(
    tenant_id      UInt32,
    sensor_id      UInt32,
    batch_id       UUID,
    interval_start DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    retention_days UInt16 DEFAULT 0 CODEC(T64, ZSTD),
    ts             DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    ts_end         DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    uid            String CODEC(ZSTD),
    community_id   String CODEC(ZSTD),
    vlan           UInt16 CODEC(T64, ZSTD),
    orig_h         LowCardinality(String),
    orig_p         UInt16 CODEC(T64, ZSTD),
    resp_h         LowCardinality(String),
    resp_p         UInt16 CODEC(T64, ZSTD),
    proto          LowCardinality(String),
    ethertype      UInt16 CODEC(T64, ZSTD),
    service        LowCardinality(String),
    duration       Float64 CODEC(Gorilla, ZSTD),
    orig_bytes     UInt64 CODEC(T64, ZSTD),
    resp_bytes     UInt64 CODEC(T64, ZSTD),
    orig_pkts      UInt64 CODEC(T64, ZSTD),
    resp_pkts      UInt64 CODEC(T64, ZSTD),
    orig_ip_bytes  UInt64 CODEC(T64, ZSTD),
    resp_ip_bytes  UInt64 CODEC(T64, ZSTD),
    conn_state     LowCardinality(String),
    history        String CODEC(ZSTD),
    orig_l2_addr   LowCardinality(String),
    resp_l2_addr   LowCardinality(String),
    final          Bool,
    new_flow       UInt8 DEFAULT 0,
    sign           Int8 DEFAULT 1,
    INDEX batch_idx batch_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = {{ENGINE MergeTree}}
PARTITION BY toYYYYMM(interval_start)
ORDER BY (tenant_id, sensor_id, toStartOfFiveMinutes(interval_start), service, orig_h, resp_h)
TTL toDateTime(interval_start) + toIntervalDay(retention_days) WHERE retention_days > 0
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED flows_v2 sipHash64(tenant_id, sensor_id)}};

INSERT INTO flows_v2
SELECT f.tenant_id, f.sensor_id, f.batch_id, if(b.batch_id = f.batch_id, b.interval_start, f.ts_end), 0,
       f.ts, f.ts_end, f.uid, f.community_id, f.vlan, f.orig_h, f.orig_p, f.resp_h, f.resp_p, f.proto,
       f.ethertype, f.service, f.duration, f.orig_bytes, f.resp_bytes, f.orig_pkts, f.resp_pkts,
       f.orig_ip_bytes, f.resp_ip_bytes, f.conn_state, f.history, f.orig_l2_addr, f.resp_l2_addr, f.final,
       f.new_flow, f.sign
FROM flows AS f LEFT JOIN (SELECT tenant_id, sensor_id, batch_id, interval_start FROM batches FINAL) AS b
    ON b.tenant_id = f.tenant_id AND b.sensor_id = f.sensor_id AND b.batch_id = f.batch_id
SETTINGS distributed_product_mode = 'local';

EXCHANGE TABLES {{TABLE flows}} AND {{TABLE flows_v2}} {{ON_CLUSTER}};

-- a cluster's Distributed table keeps the columns it was made with: it gets the new ones
{{ALTER flows}} ADD COLUMN IF NOT EXISTS interval_start DateTime64(6, 'UTC'),
    ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 0;

DROP TABLE IF EXISTS flows_v2 {{ON_CLUSTER}} SYNC;

DROP TABLE IF EXISTS {{TABLE flows_v2}} {{ON_CLUSTER}} SYNC;

CREATE TABLE IF NOT EXISTS {{TABLE events_v2}} {{ON_CLUSTER}}
(
    tenant_id      UInt32,
    sensor_id      UInt32,
    batch_id       UUID,
    interval_start DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    retention_days UInt16 DEFAULT 0 CODEC(T64, ZSTD),
    ts             DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    ts_end         DateTime64(6, 'UTC') DEFAULT ts CODEC(Delta, ZSTD),
    count          UInt32 DEFAULT 1 CODEC(T64, ZSTD),
    uid            String CODEC(ZSTD),
    orig_h         LowCardinality(String),
    resp_h         LowCardinality(String),
    resp_p         UInt16 CODEC(T64, ZSTD),
    protocol       LowCardinality(String),
    action         LowCardinality(String),
    status         LowCardinality(String),
    attrs          Map(LowCardinality(String), String) CODEC(ZSTD),
    INDEX batch_idx batch_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = {{ENGINE MergeTree}}
PARTITION BY toYYYYMM(interval_start)
ORDER BY (tenant_id, sensor_id, toStartOfFiveMinutes(interval_start), protocol, action)
TTL toDateTime(interval_start) + toIntervalDay(retention_days) WHERE retention_days > 0
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED events_v2 sipHash64(tenant_id, sensor_id)}};

INSERT INTO events_v2
SELECT e.tenant_id, e.sensor_id, e.batch_id, if(b.batch_id = e.batch_id, b.interval_start, e.ts_end), 0,
       e.ts, e.ts_end, e.count, e.uid, e.orig_h, e.resp_h, e.resp_p, e.protocol, e.action, e.status, e.attrs
FROM events AS e LEFT JOIN (SELECT tenant_id, sensor_id, batch_id, interval_start FROM batches FINAL) AS b
    ON b.tenant_id = e.tenant_id AND b.sensor_id = e.sensor_id AND b.batch_id = e.batch_id
SETTINGS distributed_product_mode = 'local';

EXCHANGE TABLES {{TABLE events}} AND {{TABLE events_v2}} {{ON_CLUSTER}};

-- a cluster's Distributed table keeps the columns it was made with: it gets the new ones
{{ALTER events}} ADD COLUMN IF NOT EXISTS interval_start DateTime64(6, 'UTC'),
    ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 0;

DROP TABLE IF EXISTS events_v2 {{ON_CLUSTER}} SYNC;

DROP TABLE IF EXISTS {{TABLE events_v2}} {{ON_CLUSTER}} SYNC;

CREATE TABLE IF NOT EXISTS {{TABLE observations_v2}} {{ON_CLUSTER}}
(
    tenant_id      UInt32,
    sensor_id      UInt32,
    batch_id       UUID,
    interval_start DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    retention_days UInt16 DEFAULT 0 CODEC(T64, ZSTD),
    ts             DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    mac            LowCardinality(String),
    ip             LowCardinality(String),
    attribute      LowCardinality(String),
    value          String CODEC(ZSTD),
    source         LowCardinality(String),
    confidence     UInt8 CODEC(T64, ZSTD),
    INDEX batch_idx batch_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = {{ENGINE MergeTree}}
PARTITION BY toYYYYMM(interval_start)
ORDER BY (tenant_id, sensor_id, toStartOfFiveMinutes(interval_start), attribute, mac, ip)
TTL toDateTime(interval_start) + toIntervalDay(retention_days) WHERE retention_days > 0
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED observations_v2 sipHash64(tenant_id, sensor_id)}};

INSERT INTO observations_v2
SELECT o.tenant_id, o.sensor_id, o.batch_id, if(b.batch_id = o.batch_id, b.interval_start, o.ts), 0,
       o.ts, o.mac, o.ip, o.attribute, o.value, o.source, o.confidence
FROM observations AS o LEFT JOIN (SELECT tenant_id, sensor_id, batch_id, interval_start FROM batches FINAL) AS b
    ON b.tenant_id = o.tenant_id AND b.sensor_id = o.sensor_id AND b.batch_id = o.batch_id
SETTINGS distributed_product_mode = 'local';

EXCHANGE TABLES {{TABLE observations}} AND {{TABLE observations_v2}} {{ON_CLUSTER}};

-- a cluster's Distributed table keeps the columns it was made with: it gets the new ones
{{ALTER observations}} ADD COLUMN IF NOT EXISTS interval_start DateTime64(6, 'UTC'),
    ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 0;

DROP TABLE IF EXISTS observations_v2 {{ON_CLUSTER}} SYNC;

DROP TABLE IF EXISTS {{TABLE observations_v2}} {{ON_CLUSTER}} SYNC;
