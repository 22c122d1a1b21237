-- Raw sensor records: the wire columns plus who sent them (tenant, sensor, batch).
-- Ordered for per-tenant, per-sensor time-range scans; one partition per month.

CREATE TABLE IF NOT EXISTS {{TABLE flows}} {{ON_CLUSTER}}
(
    tenant_id     UInt32,
    sensor_id     UInt32,
    batch_id      UUID,
    ts            DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    ts_end        DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    uid           String CODEC(ZSTD),
    community_id  String CODEC(ZSTD),
    vlan          UInt16 CODEC(T64, ZSTD),
    orig_h        LowCardinality(String),
    orig_p        UInt16 CODEC(T64, ZSTD),
    resp_h        LowCardinality(String),
    resp_p        UInt16 CODEC(T64, ZSTD),
    proto         LowCardinality(String),
    ethertype     UInt16 CODEC(T64, ZSTD),
    service       LowCardinality(String),
    duration      Float64 CODEC(Gorilla, ZSTD),
    orig_bytes    UInt64 CODEC(T64, ZSTD),
    resp_bytes    UInt64 CODEC(T64, ZSTD),
    orig_pkts     UInt64 CODEC(T64, ZSTD),
    resp_pkts     UInt64 CODEC(T64, ZSTD),
    orig_ip_bytes UInt64 CODEC(T64, ZSTD),
    resp_ip_bytes UInt64 CODEC(T64, ZSTD),
    conn_state    LowCardinality(String),
    history       String CODEC(ZSTD),
    orig_l2_addr  LowCardinality(String),
    resp_l2_addr  LowCardinality(String),
    final         Bool,
    -- 1 when the flow's first packet is in this record's batch (counts connections once).
    new_flow      UInt8 DEFAULT 0,
    -- -1 only on the copies that retract a failed batch from the rollups (see core/ingest.py).
    sign          Int8 DEFAULT 1,
    INDEX batch_idx batch_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = {{ENGINE MergeTree}}
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, sensor_id, toStartOfFiveMinutes(ts), service, orig_h, resp_h)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED flows sipHash64(tenant_id, sensor_id)}};

CREATE TABLE IF NOT EXISTS {{TABLE events}} {{ON_CLUSTER}}
(
    tenant_id  UInt32,
    sensor_id  UInt32,
    batch_id   UUID,
    ts         DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    uid        String CODEC(ZSTD),
    orig_h     LowCardinality(String),
    resp_h     LowCardinality(String),
    resp_p     UInt16 CODEC(T64, ZSTD),
    protocol   LowCardinality(String),
    action     LowCardinality(String),
    status     LowCardinality(String),
    attrs      Map(LowCardinality(String), String) CODEC(ZSTD),
    INDEX batch_idx batch_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = {{ENGINE MergeTree}}
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, sensor_id, toStartOfFiveMinutes(ts), protocol, action)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED events sipHash64(tenant_id, sensor_id)}};

CREATE TABLE IF NOT EXISTS {{TABLE observations}} {{ON_CLUSTER}}
(
    tenant_id  UInt32,
    sensor_id  UInt32,
    batch_id   UUID,
    ts         DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    mac        LowCardinality(String),
    ip         LowCardinality(String),
    attribute  LowCardinality(String),
    value      String CODEC(ZSTD),
    source     LowCardinality(String),
    confidence UInt8 CODEC(T64, ZSTD),
    INDEX batch_idx batch_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = {{ENGINE MergeTree}}
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, sensor_id, toStartOfFiveMinutes(ts), attribute, mac, ip)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED observations sipHash64(tenant_id, sensor_id)}};
