"""A month of a plant's sensor data generated inside ClickHouse (``INSERT … SELECT`` from ``numbers()``),
written through the real tables so every materialized view fills its rollup as ingest would.

The plant: ``devices`` devices on /24s of ``10.<net>.0.0/16`` (one VLAN and one sensor per /24), a
class per device (``index % 10``) that fixes the service it serves (Modbus, S7comm, EtherNet/IP,
RTSP cameras, HTTP, DNS, TLS), ``pairs`` communication pairs (each device talks to ten peers), a
few devices that appear only in the second half of the period, OT events with functions, units and
addresses, hourly observations (vendor, role, product, firmware — one firmware changes mid-period),
one commit marker per sensor and minute, a detection baseline and folded alerts.

Rows are spread evenly over [start, start + spread) in the order of ``number``, so a chunk of numbers
is a slice of time (as a day of ingest would be) and the views aggregate it the way they aggregate
the batches of that slice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Per device class (index % 10): the service it serves, its port, the bytes of a one-minute record.
SERVICES = "['modbus','s7comm','enip','rtsp','http','dns','tls','modbus','s7comm','http']"
PORTS = "[502,102,44818,554,80,53,443,502,102,80]"
ORIG_BYTES = "[1200,900,1500,20000,3000,60,4000,1200,900,3000]"
RESP_BYTES = "[1800,1400,2200,6000000,40000,140,90000,1800,1400,40000]"
OUI_LIST = ("00:80:f4", "00:1b:1b", "00:00:bc", "00:40:8c", "00:15:5d", "00:50:56", "00:0c:29", "00:80:f4",
            "00:1b:1b", "28:63:36")
OUIS = "[" + ",".join(f"'{oui}'" for oui in OUI_LIST) + "]"
LATE_EVERY = 600  # pair p with p % 600 = 599 belongs to a device that appears mid-period


def ip(d: str) -> str:
    return f"concat('10.', toString({{net:UInt8}}), '.', toString(intDiv({d}, 100)), '.', toString({d} % 100 + 10))"


def mac(d: str) -> str:
    return (f"concat({OUIS}[{d} % 10 + 1], ':', lower(hex(toUInt8({{net:UInt8}}))), ':', "
            f"lower(hex(toUInt8(intDiv({d}, 256)))), ':', lower(hex(toUInt8({d} % 256))))")


# A deterministic batch id per tenant, sensor and minute (what a sensor's one-minute batch would have).
BATCH_ID = """toUUID(concat(substring(k, 1, 8), '-', substring(k, 9, 4), '-', substring(k, 13, 4), '-',
                   substring(k, 17, 4), '-', substring(k, 21, 12)))"""
BATCH_KEY = """concat(leftPad(hex(cityHash64({tenant:UInt32}, sensor, minute)), 16, '0'),
                      leftPad(hex(cityHash64(minute, sensor, {tenant:UInt32})), 16, '0'))"""

# One row per number: its hash, its second and its pair (late pairs fall back to a neighbour before
# the middle of the period), the pair's originator o and responder r, r's class c, the sensor.
PAIRED = f"""
SELECT *, p % {{devices:UInt32}} AS base,
       if(p % {LATE_EVERY} = {LATE_EVERY - 1}, {{devices:UInt32}} + intDiv(p, {LATE_EVERY}), base) AS o,
       (base + 1 + intDiv(p, {{devices:UInt32}}) * 7) % {{devices:UInt32}} AS r, r % 10 AS c,
       {{sensors:Array(UInt32)}}[intDiv(r, 100) % length({{sensors:Array(UInt32)}}) + 1] AS sensor,
       toStartOfMinute(toDateTime(sec, 'UTC')) AS minute
FROM (SELECT n, h, sec, if(h % {{pairs:UInt32}} % {LATE_EVERY} = {LATE_EVERY - 1} AND sec < {{mid:UInt32}},
                           h % {{pairs:UInt32}} - 1, h % {{pairs:UInt32}}) AS p
      FROM (SELECT number AS n, cityHash64(number, {{seed:UInt32}}) AS h,
                   {{start:UInt32}} + intDiv(number * {{spread:UInt64}}, {{rows:UInt64}}) AS sec
            FROM numbers({{offset:UInt64}}, {{count:UInt64}})))
"""

FLOWS = f"""
INSERT INTO flows (tenant_id, sensor_id, batch_id, interval_start, retention_days, ts, ts_end, uid, community_id,
                   vlan, orig_h, orig_p, resp_h, resp_p, proto, ethertype, service, duration, orig_bytes,
                   resp_bytes, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state, history,
                   orig_l2_addr, resp_l2_addr, final, new_flow, sign)
SELECT {{tenant:UInt32}}, sensor, {BATCH_ID}, minute, 0, ts, ts + toIntervalMillisecond(dur_ms),
       concat('C', substring(base64Encode(reinterpretAsString(cityHash64(o, r, intDiv(sec, 3600), fin * n))), 1, 17)),
       concat('1:', base64Encode(reinterpretAsString(cityHash64(o, r, c)))),
       10 + intDiv(r, 100), {ip('o')}, if(c = 5, 1024 + h % 60000, 49152 + cityHash64(o, r, intDiv(sec, 3600)) % 16000),
       {ip('r')}, {PORTS}[c + 1], if(c = 5, 'udp', 'tcp'), 2048, {SERVICES}[c + 1], dur_ms / 1000,
       ob, rb, intDiv(ob, 400) + 1, intDiv(rb, 1200) + 1, ob + (intDiv(ob, 400) + 1) * 40,
       rb + (intDiv(rb, 1200) + 1) * 40, if(fin, 'SF', 'S1'), if(fin, 'ShADadFf', 'ShADad'),
       {mac('o')}, {mac('r')}, fin, fin OR h % 60 = 0, 1
FROM (SELECT *, {BATCH_KEY} AS k,
             toDateTime64(sec, 6, 'UTC') + toIntervalMicrosecond(h % 1000000) AS ts,
             c IN (4, 5, 9) AS fin, if(fin, 20 + bitShiftRight(h, 8) % 2000, 1000 + bitShiftRight(h, 8) % 58000) AS dur_ms,
             intDiv({ORIG_BYTES}[c + 1] * (50 + bitShiftRight(h, 16) % 100), 100) AS ob,
             intDiv({RESP_BYTES}[c + 1] * (50 + bitShiftRight(h, 24) % 100), 100) AS rb
      FROM ({PAIRED}))
"""

# Per class: the protocol its events name, and the action by the row's hash (commonest first).
ACTION = """multiIf(
    c IN (0, 7), multiIf(q < 85, 'READ_HOLDING_REGISTERS', q < 95, 'READ_INPUT_REGISTERS',
                         q < 99, 'WRITE_SINGLE_REGISTER', 'WRITE_MULTIPLE_REGISTERS'),
    c IN (1, 8), multiIf(q < 90, 'Read Variable', q < 98, 'Write Variable', q < 99, 'Setup Communication',
                         'Request Download'),
    c = 2, multiIf(q < 90, 'Read Tag', q < 99, 'Write Tag', 'Execute PCCC'),
    c = 3, multiIf(q < 70, 'GET_PARAMETER', q < 80, 'OPTIONS', q < 90, 'DESCRIBE', q < 95, 'SETUP', 'PLAY'),
    c = 5, 'query', c = 6, 'client_hello', if(q < 90, 'GET', 'POST'))"""
PROTOCOL = "['modbus','s7comm','cip','rtsp','http','dns','tls','modbus','s7comm','http'][c + 1]"
STATUS = "['OK','OK','OK','200','200','NOERROR','','OK','OK','200'][c + 1]"
ATTRS = f"""multiIf(
    c IN (0, 7), map('unit', toString(h % 4 + 1), 'address', toString(bitShiftRight(h, 8) % 100 * 10), 'quantity', '10',
                     'rtt', '0.001500'),
    c IN (1, 8), map('rosctr', 'Job-Request', 'items', '1', 'areas', concat('DB', toString(h % 8 + 1)), 'rtt', '0.001500'),
    c = 2, map('service', '0x4c', 'tag', concat('Tank_', toString(h % 20)), 'rtt', '0.001500'),
    c = 3, map('url', concat('rtsp://', {ip('r')}, ':554/stream1'), 'user_agent', 'NVR/4.1', 'rtt', '0.001500'),
    c = 5, map('qname', concat('host', toString(h % 50), '.plant.local'), 'qtype', 'A', 'rcode', 'NOERROR'),
    c = 6, map('sni', concat('svc', toString(r), '.plant.local'), 'version', 'TLSv1.2'),
    map('host', {ip('r')}, 'uri', '/status', 'version', '1.1', 'rtt', '0.001500'))"""

EVENTS = f"""
INSERT INTO events (tenant_id, sensor_id, batch_id, interval_start, retention_days, ts, ts_end, count, uid,
                    orig_h, resp_h, resp_p, protocol, action, status, attrs, sign)
SELECT {{tenant:UInt32}}, sensor, {BATCH_ID}, minute, 0, ts, ts + toIntervalMillisecond(bitShiftRight(h, 12) % 59000),
       1 + bitShiftRight(h, 24) % 60,
       concat('C', substring(base64Encode(reinterpretAsString(cityHash64(o, r, intDiv(sec, 3600), 0))), 1, 17)),
       {ip('o')}, {ip('r')}, {PORTS}[c + 1], {PROTOCOL}, {ACTION}, {STATUS}, {ATTRS}, 1
FROM (SELECT *, {BATCH_KEY} AS k, bitShiftRight(h, 32) % 100 AS q,
             toDateTime64(sec, 6, 'UTC') + toIntervalMicrosecond(h % 1000000) AS ts
      FROM ({PAIRED}))
"""

# Observations: per device and hour, what the sensor reports about it (late devices from mid-period).
OBSERVATIONS = f"""
INSERT INTO observations (tenant_id, sensor_id, batch_id, interval_start, retention_days, ts, mac, ip, attribute,
                          value, source, confidence)
SELECT {{tenant:UInt32}}, sensor, {BATCH_ID}, minute, 0, ts, {mac('d')}, {ip('d')}, fact.1, fact.2, fact.3, fact.4
FROM (SELECT *, {BATCH_KEY} AS k FROM (
    SELECT d, toDateTime64(sec, 6, 'UTC') AS ts, toStartOfMinute(toDateTime(sec, 'UTC')) AS minute,
           {{sensors:Array(UInt32)}}[intDiv(d, 100) % length({{sensors:Array(UInt32)}}) + 1] AS sensor,
           d % 10 AS c, sec
    FROM (SELECT number % ({{devices:UInt32}} + {{late:UInt32}}) AS d,
                 {{start:UInt32}} + intDiv(number, {{devices:UInt32}} + {{late:UInt32}}) * 3600 + d * 7 % 3600 AS sec
          FROM numbers({{hours:UInt64}} * ({{devices:UInt32}} + {{late:UInt32}})))
    WHERE d < {{devices:UInt32}} OR sec >= {{mid:UInt32}}))
ARRAY JOIN arrayFilter(f -> f.2 != '', [
    ('ip', {ip('d')}, 'arp', toUInt8(90)),
    ('vendor', ['Schneider Electric','Siemens AG','Rockwell Automation/Allen-Bradley','Axis Communications AB',
                'Microsoft Corporation','VMware, Inc.','VMware, Inc.','Schneider Electric','Siemens AG',
                'Hikvision'][c + 1], 'oui', toUInt8(60)),
    ('role', ['plc','plc','plc','camera','server','server','server','plc','plc','camera'][c + 1], 'passive', toUInt8(50)),
    ('product', ['BMX P34 2020','CPU 1516-3 PN/DP','1756-L83E/B LOGIX5583E','','','','','BMX P34 2020',
                 'CPU 1516-3 PN/DP',''][c + 1], 'enip', toUInt8(95)),
    ('firmware', if(c IN (0, 1, 2, 7, 8), if(d % 50 = 0 AND sec >= {{mid:UInt32}}, '33.12', '33.11'), ''),
     'enip', toUInt8(95)),
    ('hostname', concat(['plc','plc','plc','cam','srv','dns','web','plc','plc','cam'][c + 1], '-', toString(d)),
     'dhcp', toUInt8(80))]) AS fact
"""

# The commit marker of every sensor's one-minute batch.
BATCHES = f"""
INSERT INTO batches (tenant_id, sensor_id, batch_id, interval_start, interval_end, flows, events, observations,
                     packets, bytes, parse_errors, kernel_drops, non_ip_packets, decode_errors)
SELECT {{tenant:UInt32}}, sensor, {BATCH_ID}, minute, minute + 60, per_flows, per_events, 5,
       per_flows * 40, per_flows * 60000, 0, 0, 0, 0
FROM (SELECT *, {BATCH_KEY} AS k,
             toUInt32({{flows:UInt64}} DIV {{minutes:UInt64}} DIV length({{sensors:Array(UInt32)}})) AS per_flows,
             toUInt32({{events:UInt64}} DIV {{minutes:UInt64}} DIV length({{sensors:Array(UInt32)}})) AS per_events
      FROM (SELECT minute, sensor
            FROM (SELECT toDateTime({{start:UInt32}} + number * 60, 'UTC') AS minute FROM numbers({{minutes:UInt64}}))
            ARRAY JOIN {{sensors:Array(UInt32)}} AS sensor))
"""

# What detection learned (devices, links, functions) and the alerts it folded, in proportion.
BASELINE = f"""
INSERT INTO detect_baseline (tenant_id, kind, key, value, ts)
SELECT {{tenant:UInt32}}, entry.1, entry.2, '', toDateTime64({{start:UInt32}}, 6, 'UTC')
FROM (SELECT number AS p, p % {{devices:UInt32}} AS o, (o + 1 + intDiv(p, {{devices:UInt32}}) * 7) % {{devices:UInt32}} AS r,
             r % 10 AS c
      FROM numbers({{pairs:UInt32}}))
ARRAY JOIN [('device', {ip('o')}), ('link', concat({ip('o')}, '>', {ip('r')}, '/', {SERVICES}[c + 1])),
            ('function', concat({ip('o')}, '>', {ip('r')}, '/', {PROTOCOL}, '/read'))] AS entry
"""

ALERTS = f"""
INSERT INTO alerts (tenant_id, id, sensor_id, kind, key, ts, ts_last, count, severity, title_ja, title_en,
                    src_ip, src_mac, src_device, dst_ip, dst_mac, dst_device, protocol, details, technique,
                    evidence, status, assignee, last_batch, version)
SELECT {{tenant:UInt32}}, lower(hex(MD5(concat('bench-', toString({{tenant:UInt32}}), '-', toString(number))))),
       {{sensors:Array(UInt32)}}[number % length({{sensors:Array(UInt32)}}) + 1],
       kind, concat(kind, ':', toString(number)), ts, ts + toIntervalMinute(number % 600), 1 + number % 40,
       ['medium','low','high','critical','high'][number % 5 + 1], 'ベンチマークの警報', 'Benchmark alert',
       {ip('o')}, {mac('o')}, {mac('o')}, {ip('r')}, {mac('r')}, {mac('r')}, 'modbus', '{{}}',
       ['T0848','T0886','T0855','T0858','T0846'][number % 5 + 1], ['Cbench'],
       ['new','acknowledged','resolved','false_positive'][number % 4 + 1], '', '', 1
FROM (SELECT number, ['new_device','new_link','new_ot_function','plc_stop','scan'][number % 5 + 1] AS kind,
             number % {{devices:UInt32}} AS o, (o + 1) % {{devices:UInt32}} AS r,
             toDateTime64({{start:UInt32}} + intDiv(number * {{spread:UInt64}}, {{alerts:UInt64}}), 6, 'UTC') AS ts
      FROM numbers({{alerts:UInt64}}))
"""


@dataclass(frozen=True)
class Plant:
    """One tenant's share of the fill."""

    tenant: int
    net: int  # the plant's addresses: 10.<net>.x.y
    sensors: tuple[int, ...]
    flows: int
    events: int
    devices: int = 300
    pairs: int = 3000
    alerts: int = 2000

    @property
    def late(self) -> int:
        return len(range(LATE_EVERY - 1, self.pairs, LATE_EVERY))

    def device_ip(self, d: int) -> str:
        return f"10.{self.net}.{d // 100}.{d % 100 + 10}"

    def device_mac(self, d: int) -> str:
        return f"{OUI_LIST[d % 10]}:{self.net:02x}:{d // 256:02x}:{d % 256:02x}"

    def alert_id(self, n: int) -> str:
        return hashlib.md5(f"bench-{self.tenant}-{n}".encode()).hexdigest()


def fill(command, plant: Plant, start: int, days: int, chunk: int, progress=print) -> dict[str, int]:
    """Fill every table for ``plant`` over ``days`` from ``start`` (epoch seconds) with ``command(sql,
    params)``; flows and events in chunks of ``chunk`` rows. Returns rows written per table."""
    spread = days * 86400
    base = {"tenant": plant.tenant, "net": plant.net, "sensors": list(plant.sensors), "devices": plant.devices,
            "pairs": plant.pairs, "start": start, "spread": spread, "mid": start + spread // 2,
            "late": plant.late}
    for name, sql, rows, seed in (("flows", FLOWS, plant.flows, 1), ("events", EVENTS, plant.events, 2)):
        for offset in range(0, rows, chunk):
            command(sql, base | {"rows": rows, "offset": offset, "count": min(chunk, rows - offset), "seed": seed})
            progress(f"  tenant {plant.tenant} {name}: {min(offset + chunk, rows):,} of {rows:,}")
    command(OBSERVATIONS, base | {"hours": days * 24})
    command(BATCHES, base | {"minutes": days * 1440, "flows": plant.flows, "events": plant.events})
    command(BASELINE, base)
    command(ALERTS, base | {"alerts": plant.alerts})
    return {"flows": plant.flows, "events": plant.events}
