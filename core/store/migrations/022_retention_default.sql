-- The default raw retention (MIERUKA_RETENTION_RAW_DAYS) each start applied: when it changes, the
-- rows of tenants without a retention of their own are given the new one (core/export/retention.py).

CREATE TABLE IF NOT EXISTS {{TABLE retention_default}} {{ON_CLUSTER}}
(
    default_days  UInt16,
    applied_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{ENGINE MergeTree}}
ORDER BY applied_at;

{{DISTRIBUTED retention_default rand()}};
