-- Detection (core/detect/): the baseline learned per tenant, when each sensor started learning,
-- imported indicators, and alerts with their comments.

-- What is normal, by kind: device (MAC or site IP), link (pair and service), function (pair,
-- protocol and action), attribute (device and attribute; value holds the current value).
CREATE TABLE IF NOT EXISTS {{TABLE detect_baseline}} {{ON_CLUSTER}}
(
    tenant_id  UInt32,
    kind       LowCardinality(String),
    key        String,
    value      String,
    ts         DateTime64(6, 'UTC')
)
ENGINE = {{ENGINE ReplacingMergeTree(ts)}}
ORDER BY (tenant_id, kind, key);

{{DISTRIBUTED detect_baseline sipHash64(tenant_id)}};

-- A sensor's first data time in a learning epoch (the tenant's relearn counter).
CREATE TABLE IF NOT EXISTS {{TABLE detect_learning}} {{ON_CLUSTER}}
(
    tenant_id  UInt32,
    sensor_id  UInt32,
    epoch      UInt32,
    first_ts   DateTime64(6, 'UTC')
)
ENGINE = {{ENGINE ReplacingMergeTree}}
ORDER BY (tenant_id, sensor_id, epoch);

{{DISTRIBUTED detect_learning sipHash64(tenant_id)}};

-- Indicators of compromise; tenant 0 holds the global list.
CREATE TABLE IF NOT EXISTS {{TABLE indicators}} {{ON_CLUSTER}}
(
    tenant_id    UInt32,
    type         LowCardinality(String),
    value        String,
    note         String,
    source       String,
    imported_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{ENGINE ReplacingMergeTree(imported_at)}}
ORDER BY (tenant_id, type, value);

{{DISTRIBUTED indicators sipHash64(tenant_id)}};

-- Alerts are mutable records: every change is a new row with a higher version; read with FINAL.
CREATE TABLE IF NOT EXISTS {{TABLE alerts}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    id          String,
    sensor_id   UInt32,
    kind        LowCardinality(String),
    key         String,
    ts          DateTime64(6, 'UTC'),
    ts_last     DateTime64(6, 'UTC'),
    count       UInt64,
    severity    LowCardinality(String),
    title_ja    String,
    title_en    String,
    src_ip      String,
    src_mac     String,
    src_device  String,
    dst_ip      String,
    dst_mac     String,
    dst_device  String,
    protocol    LowCardinality(String),
    details     String CODEC(ZSTD),
    technique   LowCardinality(String),
    evidence    Array(String),
    status      LowCardinality(String),
    assignee    String,
    last_batch  String,
    version     UInt64
)
ENGINE = {{ENGINE ReplacingMergeTree(version)}}
-- detection looks up the open alert of (sensor, kind, key); an id never changes its sensor, kind or key
ORDER BY (tenant_id, sensor_id, kind, key, id);

{{DISTRIBUTED alerts sipHash64(tenant_id)}};

CREATE TABLE IF NOT EXISTS {{TABLE alert_comments}} {{ON_CLUSTER}}
(
    tenant_id  UInt32,
    alert_id   String,
    ts         DateTime64(6, 'UTC'),
    author     String,
    text       String CODEC(ZSTD)
)
ENGINE = {{ENGINE MergeTree}}
ORDER BY (tenant_id, alert_id, ts);

{{DISTRIBUTED alert_comments sipHash64(tenant_id)}};
