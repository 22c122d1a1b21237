-- Batches report the decoder events the sensor dropped over its per-interval cap, next to the
-- other capture counters.

{{ALTER batches}} ADD COLUMN IF NOT EXISTS dropped_events UInt64 DEFAULT 0 AFTER evicted_flows;
