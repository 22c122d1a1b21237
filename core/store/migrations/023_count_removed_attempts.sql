-- Of the attempt log, only an attempt taken out changes what a tenant's results read (its rows went;
-- core/analytics/kept.py reads 'ingest_intents.removed'): a started attempt's rows count with its
-- commit marker. Counting 'started' attempts too wrote a part into tenant_changes for every ingest
-- group; a view whose query gives no rows writes none.

DROP VIEW IF EXISTS tenant_changes_intents_mv {{ON_CLUSTER}};

CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_changes_intents_mv {{ON_CLUSTER}} TO {{TABLE tenant_changes}} AS
SELECT tenant_id, 'ingest_intents.removed' AS source, count() AS changes, now64(6) AS last
FROM {{TABLE ingest_intents}} WHERE state = 'removed' GROUP BY tenant_id;
