-- Asset ledger, latest state: per tenant, device (mac, ip) and attribute, the best value seen
-- (highest confidence, then newest) with first/last sighting. Re-inserting the same
-- observations leaves it unchanged, so retried batches are harmless.

CREATE TABLE IF NOT EXISTS {{TABLE asset_facts}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    mac         LowCardinality(String),
    ip          LowCardinality(String),
    attribute   LowCardinality(String),
    value       AggregateFunction(argMax, String, Tuple(UInt8, DateTime64(6, 'UTC'))),
    first_seen  SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {{ENGINE AggregatingMergeTree}}
ORDER BY (tenant_id, mac, ip, attribute);

{{DISTRIBUTED asset_facts sipHash64(tenant_id, mac, ip)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS asset_facts_mv {{ON_CLUSTER}}
TO {{TABLE asset_facts}} AS
SELECT
    tenant_id,
    mac,
    ip,
    attribute,
    argMaxState(value, (confidence, ts)) AS value,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM {{TABLE observations}}
GROUP BY tenant_id, mac, ip, attribute;
