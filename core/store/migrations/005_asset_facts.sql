-- Asset facts, latest state: per tenant, device (mac, ip), attribute and source, the newest value
-- that source reported, its highest confidence and first/last sighting. The ledger
-- (core/analytics/ledger.py) ranks sources per attribute. Re-inserting the same observations
-- leaves it unchanged, so retried batches are harmless.

CREATE TABLE IF NOT EXISTS {{TABLE asset_facts}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    mac         LowCardinality(String),
    ip          LowCardinality(String),
    attribute   LowCardinality(String),
    source      LowCardinality(String),
    value       AggregateFunction(argMax, String, DateTime64(6, 'UTC')),
    confidence  SimpleAggregateFunction(max, UInt8),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
ORDER BY (tenant_id, mac, ip, attribute, source);

{{DISTRIBUTED asset_facts sipHash64(tenant_id, mac, ip)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS asset_facts_mv {{ON_CLUSTER}}
TO {{TABLE asset_facts}} AS
SELECT
    tenant_id,
    mac,
    ip,
    attribute,
    source,
    argMaxState(value, ts) AS value,
    max(confidence) AS confidence,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM {{TABLE observations}}
GROUP BY tenant_id, mac, ip, attribute, source;
