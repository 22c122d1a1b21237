-- Per-minute traffic per sensor and service/protocol, so dashboards never scan raw flows.
-- Signed sums: a failed batch is retracted by re-inserting its flows with sign = -1.

CREATE TABLE IF NOT EXISTS {{TABLE traffic_1m}} {{ON_CLUSTER}}
(
    tenant_id  UInt32,
    sensor_id  UInt32,
    minute     DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    service    LowCardinality(String),
    proto      LowCardinality(String),
    bytes      Int64,
    packets    Int64,
    flows      Int64
)
ENGINE = {{ENGINE SummingMergeTree((bytes, packets, flows))}}
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, sensor_id, minute, service, proto)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED traffic_1m sipHash64(tenant_id, sensor_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS traffic_1m_mv {{ON_CLUSTER}}
TO {{TABLE traffic_1m}} AS
SELECT
    tenant_id,
    sensor_id,
    toStartOfMinute(ts_end) AS minute,
    service,
    proto,
    sum(sign * toInt64(orig_ip_bytes + resp_ip_bytes)) AS bytes,
    sum(sign * toInt64(orig_pkts + resp_pkts)) AS packets,
    sum(sign * new_flow) AS flows
FROM {{TABLE flows}}
GROUP BY tenant_id, sensor_id, minute, service, proto;
