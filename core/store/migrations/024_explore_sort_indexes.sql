-- The explorer's pages sorted by a column other than time (core/analytics/explore.py) read the sort column
-- alone for the page's last value, then only the rows at or past it (and of the rows at that value, those
-- late enough): a minmax index per granule on each numeric column it sorts by, on ts_end and on ts lets
-- both reads skip the granules that cannot reach the page.
-- (Text columns are left out: their order is by name, and a granule's min and max span most names.)

ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS ts_minmax ts TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS ts_end_minmax ts_end TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS orig_p_minmax orig_p TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS resp_p_minmax resp_p TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS duration_minmax duration TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS orig_bytes_minmax orig_bytes TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS resp_bytes_minmax resp_bytes TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS orig_pkts_minmax orig_pkts TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS resp_pkts_minmax resp_pkts TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS ts_minmax ts TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS ts_end_minmax ts_end TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS resp_p_minmax resp_p TYPE minmax GRANULARITY 1;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} ADD INDEX IF NOT EXISTS count_minmax count TYPE minmax GRANULARITY 1;

-- Parts written before this migration get the indexes too (a background mutation; until it reaches a
-- part, reads of that part use no index and return the same rows).
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX ts_minmax;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX ts_end_minmax;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX orig_p_minmax;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX resp_p_minmax;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX duration_minmax;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX orig_bytes_minmax;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX resp_bytes_minmax;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX orig_pkts_minmax;
ALTER TABLE {{TABLE flows}} {{ON_CLUSTER}} MATERIALIZE INDEX resp_pkts_minmax;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} MATERIALIZE INDEX ts_minmax;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} MATERIALIZE INDEX ts_end_minmax;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} MATERIALIZE INDEX resp_p_minmax;
ALTER TABLE {{TABLE events}} {{ON_CLUSTER}} MATERIALIZE INDEX count_minmax;
