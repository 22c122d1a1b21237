-- Site risk by day (core.analytics.risk): a snapshot of the device scores' summary, written when the
-- site summary is computed (API, overview) and its figures changed; the newest of a day wins.

CREATE TABLE IF NOT EXISTS {{TABLE risk_daily}} {{ON_CLUSTER}}
(
    tenant_id    UInt32,
    day          Date,
    score        UInt8,
    max_score    UInt8,
    mean_score   Float32,
    devices      UInt32,
    high         UInt32,
    medium       UInt32,
    low          UInt32,
    computed_at  DateTime64(6, 'UTC')
)
ENGINE = {{ENGINE ReplacingMergeTree(computed_at)}}
ORDER BY (tenant_id, day);

{{DISTRIBUTED risk_daily sipHash64(tenant_id)}};
