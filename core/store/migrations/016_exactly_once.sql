-- Exactly-once ingest (core/ingest.py). Each attempt to store a batch is logged before its rows
-- ('started') and, when its partial rows are taken out again, after that ('removed'); the next attempt
-- has the next generation. Every insert's deduplication token is the batch, its generation and the
-- table, so a resend after a crash re-inserts nothing already stored and completes the rest.

CREATE TABLE IF NOT EXISTS {{TABLE ingest_intents}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    sensor_id   UInt32,
    batch_id    UUID,
    generation  UInt32,
    state       LowCardinality(String),
    at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{ENGINE MergeTree}}
ORDER BY (tenant_id, sensor_id, batch_id, generation, state)
TTL toDateTime(at) + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 1000;

{{DISTRIBUTED ingest_intents sipHash64(tenant_id, sensor_id)}};

-- The commit marker and every table a view fills from the raw tables drop a block they saw before
-- (on a cluster, replicated tables do so by default).
ALTER TABLE {{TABLE batches}} {{ON_CLUSTER}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{TABLE asset_facts}} {{ON_CLUSTER}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{TABLE asset_fact_values}} {{ON_CLUSTER}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{TABLE asset_seen_1h}} {{ON_CLUSTER}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{TABLE pair_seen_1h}} {{ON_CLUSTER}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{TABLE event_actions_1h}} {{ON_CLUSTER}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{TABLE insecure_use_1h}} {{ON_CLUSTER}} MODIFY SETTING non_replicated_deduplication_window = 1000;
