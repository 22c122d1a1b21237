-- Batches report the flows the sensor's full flow table reported early (its memory bound), next
-- to the other capture counters.

{{ALTER batches}} ADD COLUMN IF NOT EXISTS evicted_flows UInt64 DEFAULT 0 AFTER decode_errors;
