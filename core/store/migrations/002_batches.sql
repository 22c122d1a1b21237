-- Ingest log: one row per stored batch, written last as the batch's commit marker.
-- The key doubles as the dedupe lookup (tenant, sensor, batch_id).

CREATE TABLE IF NOT EXISTS {{TABLE batches}} {{ON_CLUSTER}}
(
    tenant_id       UInt32,
    sensor_id       UInt32,
    batch_id        UUID,
    interval_start  DateTime64(6, 'UTC'),
    interval_end    DateTime64(6, 'UTC'),
    flows           UInt32,
    events          UInt32,
    observations    UInt32,
    packets         UInt64,
    bytes           UInt64,
    parse_errors    UInt64,
    kernel_drops    UInt64,
    non_ip_packets  UInt64,
    received_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{ENGINE ReplacingMergeTree(received_at)}}
PARTITION BY toYYYYMM(interval_start)
ORDER BY (tenant_id, sensor_id, batch_id);

{{DISTRIBUTED batches sipHash64(tenant_id, sensor_id)}};
