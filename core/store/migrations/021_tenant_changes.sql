-- What can change a tenant's results, counted per tenant and writer (core/analytics/kept.py: a kept
-- result's version). Each insert into a table written outside a sensor's batch adds its rows to its
-- source's count, with the time it was counted; a batch counts once its commit marker is written
-- (its rows and every rollup they feed are in before it); an attempt whose rows were taken out
-- counts as 'ingest_intents.removed'. Mutations (retention, deletion) are counted by the code that
-- runs them. Merges add nothing: sums and maxima are what they were. Tenant 0 holds what changes
-- every tenant's results (advisories, the rollups' retention). On a cluster each shard counts its
-- own rows; reads through the Distributed table add them up. Like every view's target it drops a
-- block it saw before: a resent batch's marker is counted once.

CREATE TABLE IF NOT EXISTS {{TABLE tenant_changes}} {{ON_CLUSTER}}
(
    tenant_id  UInt32,
    source     LowCardinality(String),
    changes    SimpleAggregateFunction(sum, UInt64),
    last       SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
ORDER BY (tenant_id, source)
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED tenant_changes sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_batches_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'batches' AS source, count() AS changes, now64(6) AS last FROM {{TABLE batches}} GROUP BY tenant_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_intents_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, concat('ingest_intents.', state) AS source, count() AS changes, now64(6) AS last
FROM {{TABLE ingest_intents}} GROUP BY tenant_id, source;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_annotations_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'asset_annotations' AS source, count() AS changes, now64(6) AS last
FROM {{TABLE asset_annotations}} GROUP BY tenant_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_alerts_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'alerts' AS source, count() AS changes, now64(6) AS last FROM {{TABLE alerts}} GROUP BY tenant_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_comments_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'alert_comments' AS source, count() AS changes, now64(6) AS last
FROM {{TABLE alert_comments}} GROUP BY tenant_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_indicators_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'indicators' AS source, count() AS changes, now64(6) AS last
FROM {{TABLE indicators}} GROUP BY tenant_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_baseline_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'detect_baseline' AS source, count() AS changes, now64(6) AS last
FROM {{TABLE detect_baseline}} GROUP BY tenant_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_learning_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'detect_learning' AS source, count() AS changes, now64(6) AS last
FROM {{TABLE detect_learning}} GROUP BY tenant_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_risk_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'risk_daily' AS source, count() AS changes, now64(6) AS last FROM {{TABLE risk_daily}} GROUP BY tenant_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_advisories_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT toUInt32(0) AS tenant_id, 'advisories' AS source, count() AS changes, now64(6) AS last
FROM {{TABLE advisories}};

INSERT INTO tenant_changes
SELECT tenant_id, 'batches', count(), now64(6) FROM batches GROUP BY tenant_id
UNION ALL SELECT tenant_id, concat('ingest_intents.', state) AS source, count(), now64(6) FROM ingest_intents
    GROUP BY tenant_id, source
UNION ALL SELECT tenant_id, 'asset_annotations', count(), now64(6) FROM asset_annotations GROUP BY tenant_id
UNION ALL SELECT tenant_id, 'alerts', count(), now64(6) FROM alerts GROUP BY tenant_id
UNION ALL SELECT tenant_id, 'alert_comments', count(), now64(6) FROM alert_comments GROUP BY tenant_id
UNION ALL SELECT tenant_id, 'indicators', count(), now64(6) FROM indicators GROUP BY tenant_id
UNION ALL SELECT tenant_id, 'detect_baseline', count(), now64(6) FROM detect_baseline GROUP BY tenant_id
UNION ALL SELECT tenant_id, 'detect_learning', count(), now64(6) FROM detect_learning GROUP BY tenant_id
UNION ALL SELECT tenant_id, 'risk_daily', count(), now64(6) FROM risk_daily GROUP BY tenant_id
UNION ALL SELECT toUInt32(0), 'advisories', count(), now64(6) FROM advisories HAVING count() > 0;
