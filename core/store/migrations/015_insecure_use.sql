-- Insecure use the decoders flag in events, per server and hour, for the assessment report's
-- "insecure protocols in use" (core/report/insecure.py): SMBv1 negotiated, SNMP v1/v2c answered,
-- logins in clear text, logins that succeeded with a vendor default (an SNMP default community
-- counts when the agent answered). A period reads this small table, never raw events. Filled from
-- the events already stored as well (the INSERT … SELECT after the view).

CREATE TABLE IF NOT EXISTS {{TABLE insecure_use_1h}} {{ON_CLUSTER}}
(
    tenant_id   UInt32,
    hour        DateTime('UTC') CODEC(DoubleDelta, ZSTD),
    host        LowCardinality(String),
    flag        LowCardinality(String),
    count       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = {{ENGINE AggregatingMergeTree}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, host, flag);

{{DISTRIBUTED insecure_use_1h sipHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS insecure_use_1h_mv {{ON_CLUSTER}}
TO {{TABLE insecure_use_1h}} AS
SELECT tenant_id, toStartOfHour(ts) AS hour, resp_h AS host, flag, sum(toUInt64(count)) AS count
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

INSERT INTO insecure_use_1h
SELECT tenant_id, toStartOfHour(ts) AS hour, resp_h AS host, flag, sum(toUInt64(count))
FROM events
ARRAY JOIN arrayFilter(x -> x != '', [
    if(protocol = 'smb' AND action = 'negotiate' AND attrs['smb1'] = 'true', 'smbv1', ''),
    if(protocol = 'snmp' AND attrs['version'] IN ('1', '2c') AND mapContains(attrs, 'rtt'), 'snmp_v1v2c', ''),
    if(protocol != 'snmp' AND attrs['cleartext_credentials'] = 'true', 'cleartext_credentials', ''),
    if(attrs['default_credentials'] = 'true' OR (attrs['default_community'] = 'true'
       AND mapContains(attrs, 'rtt') AND status IN ('', 'noError')), 'default_credentials', '')
]) AS flag
WHERE resp_h != ''
GROUP BY tenant_id, hour, host, flag;
