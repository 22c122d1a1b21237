-- Per-hour communication pairs (who talks to whom over what), for talkers and peer maps.

CREATE TABLE IF NOT EXISTS {{TABLE pairs_1h}} {{ON_CLUSTER}}
(
    tenant_id  UInt32,
    sensor_id  UInt32,
    hour       DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    orig_h     LowCardinality(String),
    resp_h     LowCardinality(String),
    resp_p     UInt16,
    vlan       UInt16,
    service    LowCardinality(String),
    proto      LowCardinality(String),
    bytes      Int64,
    packets    Int64,
    flows      Int64
)
ENGINE = {{ENGINE SummingMergeTree((bytes, packets, flows))}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, sensor_id, hour, orig_h, resp_h, resp_p, vlan, service, proto)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED pairs_1h sipHash64(tenant_id, sensor_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS pairs_1h_mv {{ON_CLUSTER}}
TO {{TABLE pairs_1h}} AS
SELECT
    tenant_id,
    sensor_id,
    toStartOfHour(ts_end) AS hour,
    orig_h,
    resp_h,
    resp_p,
    vlan,
    service,
    proto,
    sum(sign * toInt64(orig_ip_bytes + resp_ip_bytes)) AS bytes,
    sum(sign * toInt64(orig_pkts + resp_pkts)) AS packets,
    sum(sign * new_flow) AS flows
FROM {{TABLE flows}}
GROUP BY tenant_id, sensor_id, hour, orig_h, resp_h, resp_p, vlan, service, proto;
