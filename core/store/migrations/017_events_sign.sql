-- Events can be retracted like flows: a failed store takes a batch's rows out (core/ingest.py) by
-- re-inserting them with sign -1 before deleting them, so the views that sum event counts
-- (actions per pair, insecure use per server) give the batch back.

{{ALTER events}} ADD COLUMN IF NOT EXISTS sign Int8 DEFAULT 1;

{{ALTER event_actions_1h}} MODIFY COLUMN count SimpleAggregateFunction(sum, Int64);

{{ALTER insecure_use_1h}} MODIFY COLUMN count SimpleAggregateFunction(sum, Int64);

DROP VIEW IF EXISTS event_actions_1h_mv {{ON_CLUSTER}};

CREATE MATERIALIZED VIEW IF NOT EXISTS event_actions_1h_mv {{ON_CLUSTER}}
TO {{TABLE event_actions_1h}} AS
SELECT tenant_id, toStartOfHour(ts) AS hour, orig_h, resp_h, protocol, action,
       sum(sign * toInt64(count)) AS count, min(ts) AS first_seen, max(ts_end) AS last_seen
FROM {{TABLE events}}
GROUP BY tenant_id, hour, orig_h, resp_h, protocol, action;

DROP VIEW IF EXISTS insecure_use_1h_mv {{ON_CLUSTER}};

CREATE MATERIALIZED VIEW IF NOT EXISTS insecure_use_1h_mv {{ON_CLUSTER}}
TO {{TABLE insecure_use_1h}} AS
SELECT tenant_id, toStartOfHour(ts) AS hour, resp_h AS host, flag, sum(sign * toInt64(count)) AS count
FROM {{TABLE events}}
ARRAY JOIN arrayFilter(x -> x != '', [
    if(protocol = 'smb' AND action = 'negotiate' AND attrs['smb1'] = 'true', 'smbv1', ''),
    if(protocol = 'snmp' AND attrs['version'] IN ('1', '2c') AND mapContains(attrs, 'rtt'), 'snmp_v1v2c', ''),
    if(protocol != 'snmp' AND attrs['cleartext_credentials'] = 'true', 'cleartext_credentials', ''),
    if(attrs['default_credentials'] = 'true' OR (attrs['default_community'] = 'true'
       AND mapContains(attrs, 'rtt') AND status IN ('', 'noError')), 'default_credentials', '')
]) AS flag
WHERE resp_h != ''
GROUP BY tenant_id, hour, host, flag;
