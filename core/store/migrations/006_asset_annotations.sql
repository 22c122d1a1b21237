-- What analysts say about an asset (authorisation, importance, tags, notes), kept apart from
-- observed facts so it survives re-observation. The newest row per device wins.

CREATE TABLE IF NOT EXISTS {{TABLE asset_annotations}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    device      String,
    authorized  LowCardinality(String),
    importance  LowCardinality(String),
    tags        Array(String),
    notes       String CODEC(ZSTD),
    updated_by  String,
    updated_at  DateTime64(6, 'UTC')
)
ENGINE = {{ENGINE ReplacingMergeTree(updated_at)}}
ORDER BY (tenant_id, device);

{{DISTRIBUTED asset_annotations sipHash64(tenant_id)}};
