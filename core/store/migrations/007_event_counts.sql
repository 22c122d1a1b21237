-- Wire version 2: repeated events arrive folded (count, last time), and batches report the
-- application PDUs the sensor's decoders found malformed.

{{ALTER events}} ADD COLUMN IF NOT EXISTS ts_end DateTime64(6, 'UTC') DEFAULT ts CODEC(Delta, ZSTD) AFTER ts,
    ADD COLUMN IF NOT EXISTS count UInt32 DEFAULT 1 CODEC(T64, ZSTD) AFTER ts_end;

{{ALTER batches}} ADD COLUMN IF NOT EXISTS decode_errors UInt64 DEFAULT 0 AFTER non_ip_packets;
