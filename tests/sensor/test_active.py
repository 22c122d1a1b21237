"""Active identification against small responders on 127.77.0.x that answer as the plant's devices do
(their answers built with the simulator's PDU builders, SNMP's with Scapy), after a capture in which
the sensor saw those devices serve their protocols: what is sent, to whom, how often, and what an
answer, a silence or garbage comes to. Every assertion on what was sent reads the responders' bytes."""

from __future__ import annotations

import random
import socket
import struct
import sys
import threading
import time
from dataclasses import replace

import pytest
from scapy.asn1.asn1 import ASN1_OID, ASN1_STRING, ASN1_TIME_TICKS
from scapy.layers.snmp import SNMP, SNMPget, SNMPresponse, SNMPvarbind

from sensor import cli
from sensor import simulate as sim
from sensor import wire
from sensor.active import bacnet, enip, exchange, modbus, s7comm, snmp
from sensor.active.policy import PROBES, Identifier
from sensor.active.requestlog import RequestLog
from sensor.active.settings import ActiveSettings, SettingError, parse_table
from sensor.meter import pipeline
from sensor.meter.observe import Observer
from tests.sensor.conftest import pcap_bytes

NET = "127.77.0"
TIMEOUT = 0.2
COMMUNITY = "plantread"
SYSDESCR = b"Siemens, SIMATIC NET, SCALANCE X208, 6GK5 208-0BA10-2AA3, HW: Version 7, FW: Version V04.02.06"


def host(number: int, name: str = "") -> sim.Host:
    return sim.Host(name or f"h{number}", "plc", f"{NET}.{number}" if number < 256 else f"127.77.1.{number - 256}",
                    f"00:1b:1b:00:{number >> 8:02x}:{number & 0xFF:02x}", False, 64)


CLIENT = host(30, "hmi")
DEVICES = {  # name → (host, protocol, transport, port): what the capture shows each serve
    "s7": (host(11), "s7comm", "tcp", 102),
    "modbus": (host(12), "modbus", "tcp", 502),
    "enip": (host(13), "enip", "tcp", 44818),
    "bacnet": (host(17), "bacnet", "udp", 47808),
    "snmp": (host(19), "snmp", "udp", 161),
    "excluded": (host(21), "modbus", "tcp", 502),
    "silent": (host(22), "modbus", "tcp", 502),
    "garbage": (host(23), "modbus", "tcp", 502),
    "slow": (host(24), "enip", "udp", 44818),
    "outside": (host(256 + 40), "modbus", "tcp", 502),  # 127.77.1.40: outside the site's networks
    "known": (host(26), "modbus", "tcp", 502),  # its traffic told its identity: nothing to ask
}
UNSEEN = (host(25), "modbus", "tcp", 502)  # serves Modbus but never showed it on the mirror port
MODBUS_UNIT = 3  # what the HMI addresses the Modbus device as
AI_1 = b"\x0c\x00\x00\x00\x01\x19\x55"  # analog-input 1, present-value
PRESENT_VALUE = (sim.bacnet_apdu(b"\x00\x05\x09\x0c" + AI_1, reply=True),  # ReadProperty, and its answer
                 sim.bacnet_apdu(b"\x30\x09\x0c" + AI_1 + b"\x3e\x44\x41\xc8\x00\x00\x3f"))
LIST_SERVICES = struct.pack("<HHHHH16s", 1, 0x100, 20, 1, 0x120, b"Communications")  # one item: CIP over TCP and UDP


# -- the capture the sensor saw ----------------------------------------------------------------


def tcp_conversation(client, server, dport, t, exchanges):
    """Handshake, request/response pairs, FIN each way; (time µs, frame) pairs."""
    sport, c, s = 40000 + server.ip[-1], 1000, 5000
    out = [(t, sim.tcp_frame(client, server, sport, dport, c, 0, sim.SYN)),
           (t + 100, sim.tcp_frame(server, client, dport, sport, s, c + 1, sim.SYN_ACK)),
           (t + 200, sim.tcp_frame(client, server, sport, dport, c + 1, s + 1, sim.ACK))]
    c, s, t = c + 1, s + 1, t + 300
    for request, answer in exchanges:
        out.append((t, sim.tcp_frame(client, server, sport, dport, c, s, sim.PSH_ACK, request)))
        c += len(request)
        out.append((t + 100, sim.tcp_frame(server, client, dport, sport, s, c, sim.PSH_ACK, answer)))
        s += len(answer)
        t += 200
    out += [(t, sim.tcp_frame(client, server, sport, dport, c, s, sim.FIN_ACK)),
            (t + 100, sim.tcp_frame(server, client, dport, sport, s, c + 1, sim.FIN_ACK)),
            (t + 200, sim.tcp_frame(client, server, sport, dport, c + 1, s + 1, sim.ACK))]
    return out


def udp_exchange(client, server, port, t, request, answer):
    return [(t, sim.udp_frame(client, server.mac, server.ip, 47000, port, request)),
            (t + 100, sim.udp_frame(server, client.mac, client.ip, port, 47000, answer))]


def snmp_answer(request_id: int, community: bytes) -> bytes:
    return bytes(SNMP(version=1, community=community, PDU=SNMPresponse(id=request_id, varbindlist=[
        SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.1.0"), value=ASN1_STRING(SYSDESCR)),
        SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.2.0"), value=ASN1_OID("1.3.6.1.4.1.4329.6.1.2")),
        SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.5.0"), value=ASN1_STRING(b"sw-line1"))])))


def seen_traffic(t: int = sim.EPOCH * 1_000_000) -> list[tuple[int, bytes]]:
    frames = []
    for name, (device, protocol, transport, port) in DEVICES.items():
        t += 10_000
        if protocol == "s7comm":
            frames += tcp_conversation(CLIENT, device, port, t, [
                (sim.COTP_CR, sim.COTP_CC), (sim.s7_job(1, sim.S7_SETUP), sim.s7_ack(1, sim.S7_SETUP))])
        elif protocol == "modbus":
            unit = MODBUS_UNIT if name == "modbus" else 1
            told = [(sim.modbus(8, unit, b"\x2b\x0e\x01\x00"), modbus_answer(sim.modbus(8, unit, b"\x2b\x0e\x01\x00")))]
            frames += tcp_conversation(CLIENT, device, port, t, [
                (sim.modbus(7, unit, b"\x03\x00\x00\x00\x02"), sim.modbus(7, unit, b"\x03\x04\x00\x01\x00\x02")),
                *(told if name == "known" else [])])
        elif protocol == "enip" and transport == "tcp":
            frames += tcp_conversation(CLIENT, device, port, t, [
                (sim.enip(0x65, 0, b"\x01\x00\x00\x00"), sim.enip(0x65, 0x1234, b"\x01\x00\x00\x00"))])
        elif protocol == "enip":  # List Services: no identity on the wire
            frames += udp_exchange(CLIENT, device, port, t, sim.enip(0x04, 0, b""), sim.enip(0x04, 0, LIST_SERVICES))
        elif protocol == "bacnet":
            frames += [(t, sim.udp_frame(device, sim.BROADCAST_MAC, sim.BROADCAST_IP, port, port, sim.bacnet_i_am()))]
            frames += udp_exchange(CLIENT, device, port, t + 1000, *PRESENT_VALUE)
        elif protocol == "snmp":
            request = bytes(SNMP(version=1, community=b"other", PDU=SNMPget(id=5, varbindlist=[
                SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.3.0"))])))
            answer = bytes(SNMP(version=1, community=b"other", PDU=SNMPresponse(id=5, varbindlist=[
                SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.3.0"), value=ASN1_TIME_TICKS(360000))])))
            frames += udp_exchange(CLIENT, device, port, t, request, answer)
    return frames


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    path = tmp_path_factory.mktemp("seen") / "seen.pcap"
    path.write_bytes(pcap_bytes(seen_traffic()))
    return list(pipeline.iter_batches([path], observer=Observer()))


# -- responders --------------------------------------------------------------------------------


def modbus_answer(request: bytes) -> bytes:
    tid, _, _, unit, function, mei, code = struct.unpack(">HHHBBBB", request[:10])
    if code == modbus.BASIC:
        return sim.modbus(tid, unit, sim.modbus_device_id_answer(sim.MODBUS_IDENTITY["plc-m340-1"]))
    return sim.modbus(tid, unit, b"\xab\x02")  # regular objects: exception 2 (no such object)


def s7_answer(request: bytes) -> bytes:
    if request[5] == 0xE0:
        return sim.COTP_CC
    if request[8] == 1:  # job: setup communication
        return sim.s7_ack(struct.unpack(">H", request[11:13])[0], sim.S7_SETUP)
    return sim.s7_identity_answers(5, sim.S7_IDENTITY["plc-s7-1"])[0][1]


ANSWERS = {
    "s7": s7_answer,
    "modbus": modbus_answer,
    "enip": lambda request: sim.list_identity_reply(DEVICES["enip"][0], 0x2A),
    "bacnet": lambda request: sim.bacnet_device_properties(request[8])[1],
    "snmp": lambda request: snmp_answer(int(SNMP(request).PDU.id.val), COMMUNITY.encode()),
    "known": modbus_answer,
    "garbage": lambda request: b"\x00\x07\x00\x00\x00\x03\x01\x2b\x0e",  # MBAP length 3, then a cut-short MEI answer
    "slow": lambda request: sim.list_identity_reply(DEVICES["slow"][0], 1),  # after DELAYS
}
DELAYS = {"slow": 3 * TIMEOUT}


class Responder:
    """A device on 127.77.0.x: records every byte it receives, answers each message with ``answer``
    (None: never answers) after ``delay`` seconds."""

    def __init__(self, ip: str, transport: str, port: int, answer, delay: float = 0.0):
        self.received = bytearray()
        self.answer = answer
        self.delay = delay
        self.closed = threading.Event()
        kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        if transport == "tcp":
            self.sock.listen()
        self.thread = threading.Thread(target=self._tcp if transport == "tcp" else self._udp, daemon=True)
        self.thread.start()

    def _tcp(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            while data := self._recv(conn.recv):
                if self._answering():
                    conn.sendall(self.answer(data))

    def _udp(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            if peer is None:  # shut down
                return
            self.received += data
            if self._answering():
                self.sock.sendto(self.answer(data), peer)

    def _answering(self) -> bool:
        return self.answer is not None and not self.closed.wait(self.delay)

    def _recv(self, recv) -> bytes:
        try:
            data = recv(65536)
        except OSError:
            return b""
        self.received += data
        return data

    def close(self):
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept/recvfrom
        except OSError:
            pass
        self.sock.close()
        self.thread.join(1)


@pytest.fixture
def responders():
    devices = {name: Responder(d[0].ip_text, d[2], d[3], ANSWERS.get(name), DELAYS.get(name, 0.0))
               for name, d in DEVICES.items()}
    devices["unseen"] = Responder(UNSEEN[0].ip_text, "tcp", 502, modbus_answer)
    yield devices
    for r in devices.values():
        r.close()


def settings(tmp_path, **changes) -> ActiveSettings:
    base = ActiveSettings(mode="on", protocols=["enip", "s7comm", "modbus", "bacnet", "snmp"],
                          networks=[f"{NET}.0/24"], exclude=[f"{NET}.21/32"], max_rate=100.0, timeout_s=TIMEOUT,
                          snmp_community=COMMUNITY, log=str(tmp_path / "active.jsonl"))
    return replace(base, **changes)


def identifier(s: ActiveSettings, batches) -> Identifier:
    ident = Identifier(s, sensor="SN-1")
    for batch in batches:
        ident.learn(batch)
    return ident


def facts(batch: wire.Batch, ip: str):
    rows = batch.tables["observations"].to_pylist()
    assert {r["source"] for r in rows} == {"active"}
    return {r["attribute"]: r["value"] for r in rows if r["ip"] == ip}.items()


def planned(ident: Identifier, name: str) -> list[bytes]:
    device, protocol = DEVICES[name][0], DEVICES[name][1]
    target, = [t for t in ident.seen.targets() if t.key == (device.ip_text, protocol)]
    return [m.data for m in PROBES[protocol].messages(target, ident.settings)]


# -- tests -------------------------------------------------------------------------------------


def test_off_by_default_sends_nothing(tmp_path, batches, responders):
    s = parse_table({"log": str(tmp_path / "active.jsonl")})
    assert s.mode == "off" and not s.networks
    ident = identifier(s, batches)
    assert ident.round() is None
    assert {d for _, d, _ in ident.plan()} == {"active identification is off"}
    assert all(r.received == b"" for r in responders.values())
    assert not (tmp_path / "active.jsonl").exists()


def test_asks_each_seen_device_once_and_reads_the_answers(tmp_path, batches, responders):
    ident = identifier(settings(tmp_path), batches)
    started = time.monotonic()
    batch = ident.round()
    took = time.monotonic() - started
    # exactly the planned requests, to the devices seen serving the protocol, inside the networks
    for name in ("s7", "modbus", "enip", "bacnet", "snmp", "slow"):
        assert bytes(responders[name].received) == b"".join(planned(ident, name)), name
    for name in ("silent", "garbage"):  # no next message once an answer failed
        assert bytes(responders[name].received) == planned(ident, name)[0], name
    for name in ("excluded", "outside", "unseen", "known"):
        assert responders[name].received == b"", name
    assert responders["modbus"].received[6] == MODBUS_UNIT  # the unit id the HMI used
    assert responders["bacnet"].received[11:15] == struct.pack(">I", 8 << 22 | sim.BACNET_DEVICE)  # from its I-Am

    ip = {name: d[0].ip_text for name, d in DEVICES.items()}
    decisions = {t.ip: decision for t, decision, _ in ident.plan()}
    assert decisions[ip["known"]] == "its traffic already told its model and firmware"
    assert decisions[ip["modbus"]].startswith("asked at ")
    assert facts(batch, ip["s7"]) >= {"model": "6ES7 214-1AG40-0XB0", "firmware": "V4.4.0", "vendor": "Siemens"}.items()
    assert facts(batch, ip["modbus"]) >= {"vendor": "Schneider Electric", "model": "BMX P34 2020", "firmware": "v2.8"}.items()
    assert facts(batch, ip["enip"]) >= {"product": "1756-L83E/B LOGIX5583E", "serial": "0x0000002a"}.items()
    assert facts(batch, ip["bacnet"]) >= {"vendor": "Delta Controls", "model": "O3-DIN-CPU", "firmware": "4.40.1"}.items()
    assert facts(batch, ip["snmp"]) >= {"hostname": "sw-line1", "firmware": "V04.02.06"}.items()

    events = {r["resp_h"]: r for r in batch.tables["events"].to_pylist()}
    assert {r["protocol"] for r in events.values()} == {"active"}
    status = {name: events[ip[name]]["status"] for name in ip if ip[name] in events}
    assert status == {"s7": "identified", "modbus": "identified", "enip": "identified", "bacnet": "identified",
                      "snmp": "identified", "silent": "timeout", "garbage": "malformed", "slow": "timeout"}
    assert dict(events[ip["modbus"]]["attrs"])["detail"] == "ENCAP_INTERFACE_TRANSPORT: ILLEGAL_DATA_ADDRESS"
    assert dict(events[ip["snmp"]]["attrs"])["request"].count("2a" * len(COMMUNITY)) == 1  # the community masked
    assert COMMUNITY.encode().hex() not in (tmp_path / "active.jsonl").read_text()
    assert ident.counts == {"identified": 5, "timeout": 2, "malformed": 1}
    assert took < 8 * TIMEOUT  # a silent device costs its timeout, no more

    # the batch is one the core takes (wire validation), events and observations as sent
    back = wire.decode(wire.encode(batch))
    assert back.rows("events") == 8 and back.rows("observations") == batch.rows("observations")

    # logged: a request line before each exchange, its result after
    entries = RequestLog(tmp_path / "active.jsonl").entries()
    assert [e["event"] for e in entries] == ["request", "result"] * 8
    assert {e["device"] for e in entries} == {ip[n] for n in status}


def test_rate_limits_hold_across_rounds_and_restarts(tmp_path, batches, responders):
    s = settings(tmp_path, protocols=["modbus", "enip"], max_rate=20.0)
    ident = identifier(s, batches)
    assert ident.round() is not None
    sent = {name: bytes(r.received) for name, r in responders.items()}
    assert ident.round() is None  # asked within interval_hours: not again
    assert identifier(s, batches).round() is None  # nor after a restart (the log remembers)
    assert {name: bytes(r.received) for name, r in responders.items()} == sent
    times = [e["ts"] for e in RequestLog(tmp_path / "active.jsonl").entries() if e["event"] == "request"]
    assert len(times) == 5 and all(b - a >= 0.045 for a, b in zip(times, times[1:]))  # ≤ 20 requests/s
    assert sent["s7"] == sent["bacnet"] == sent["snmp"] == b""  # protocols switched off


def test_the_service_loop_asks_once_a_batch_shows_devices(tmp_path, batches, responders):
    emitted: list[wire.Batch] = []
    ident = Identifier(settings(tmp_path, protocols=["modbus"]), "SN-1", emit=emitted.append)
    stop = threading.Event()
    loop = threading.Thread(target=ident.run, args=(stop,))
    loop.start()
    try:
        for batch in batches:  # as `run` hands it each batch it spooled
            ident.learn(batch)
        deadline = time.monotonic() + 5
        while not emitted and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(5)
    assert not loop.is_alive()
    assert len(emitted) == 1  # one round's batch: the Modbus devices inside the networks, each once
    assert sorted(emitted[0].tables["events"].column("resp_h").to_pylist()) == [f"{NET}.{n}" for n in (12, 22, 23)]


@pytest.mark.parametrize("name", ["s7", "modbus", "enip", "bacnet", "snmp"])
def test_hostile_answers_cost_a_counted_outcome_never_a_crash(name, tmp_path, batches):
    """Random bytes, a valid answer cut in half or followed by junk, an answer claiming a huge length:
    each exchange ends with an outcome naming it, within the timeout."""
    device, protocol, transport, port = DEVICES[name]
    rng = random.Random(name)
    valid = ANSWERS[name]
    hostile = [lambda request: bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300))),
               lambda request: valid(request)[: len(valid(request)) // 2],
               lambda request: valid(request) + b"\xff" * 40,
               lambda request: valid(request)[:2] + b"\xff\xff" + valid(request)[4:]]
    ident = identifier(settings(tmp_path), batches)
    target, = [t for t in ident.seen.targets() if t.key == (device.ip_text, protocol)]
    messages = PROBES[protocol].messages(target, ident.settings)
    outcomes = []
    for answer in hostile:
        responder = Responder(device.ip_text, transport, port, answer)
        try:
            started = time.monotonic()
            outcomes.append(exchange.run(protocol, transport, device.ip_text, port, messages, TIMEOUT).status)
            assert time.monotonic() - started < TIMEOUT + 0.2
        finally:
            responder.close()
    assert set(outcomes) <= {"identified", "answered", "timeout", "refused", "malformed"}
    assert "malformed" in outcomes or "timeout" in outcomes, outcomes


def test_a_round_hands_on_its_answers_after_its_time_budget(tmp_path, batches, responders):
    ident = identifier(settings(tmp_path, protocols=["modbus"]), batches)
    first = ident.round(budget=0.0)  # the budget is spent after the first device
    assert first.rows("events") == 1
    rest = ident.round()
    assert rest.rows("events") == 2 and ident.round() is None  # the others next, each once


def test_dry_run_logs_and_sends_nothing(tmp_path, batches, responders):
    ident = identifier(settings(tmp_path, mode="dry-run"), batches)
    assert ident.round() is None
    assert all(r.received == b"" for r in responders.values())
    entries = RequestLog(tmp_path / "active.jsonl").entries()
    assert len(entries) == 8 and all(e["dry_run"] and e["event"] == "request" for e in entries)
    assert ident.counts == {"dry_run": 8}
    assert ident.round() is None and len(RequestLog(tmp_path / "active.jsonl").entries()) == 8  # once per interval
    switched_on = identifier(settings(tmp_path), batches)  # the operator switches it on: asked at once
    assert switched_on.round().rows("events") == 8


@pytest.mark.parametrize(("table", "message"), [
    ({"mode": "always"}, "active.mode must be one of"),
    ({"mode": "on"}, "active.networks must name"),
    ({"protocols": ["modbus", "dnp3"]}, "'dnp3' is not one of"),
    ({"networks": ["10.10.0.0/33"]}, "active.networks"),
    ({"max_rate": 0}, "active.max_rate must be a positive number"),
    ({"max_rate": 1000}, "active.max_rate must be a positive number up to 100"),
    ({"timeout_s": True}, "active.timeout_s must be a positive number"),
    ({"interval_hours": "daily"}, "active.interval_hours must be a positive number"),
    ({"protocols": ["snmp"]}, "snmp_community is empty"),
    ({"s7_tsap": "zz"}, "active.s7_tsap"),
    ({"write": True}, "active.write is not a setting"),
])
def test_bad_settings_are_named(table, message):
    with pytest.raises(SettingError, match=message):
        parse_table(table)


def test_never_a_group_address_nor_outside_the_networks():
    s = ActiveSettings(mode="on", networks=["10.10.0.0/24", "127.77.0.0/24"], exclude=["10.10.0.13"])
    assert s.may_ask("10.10.0.11") and s.may_ask("127.77.0.12")
    for ip in ("10.10.0.13", "10.10.0.255", "10.10.0.0", "10.10.1.5", "224.0.0.1", "255.255.255.255", "", "x"):
        assert not s.may_ask(ip), ip


def test_the_requests_are_reads_of_identity_only():
    """What each builder sends, read back by the passive decoders as the requests they are."""
    from sensor.active.exchange import _decoder
    from sensor.decode.spec import Session
    s = ActiveSettings(protocols=["snmp"], snmp_community=COMMUNITY)
    target = type("T", (), {"unit": 1, "instance": None, "transport": "tcp"})()
    actions = {}
    for module in (modbus, enip, s7comm, bacnet, snmp):
        session = Session("tcp")
        for message in module.PROBE.messages(target, s):
            for event in _decoder(module.PROBE.name).decode(message.data, True, session):
                actions.setdefault(module.PROBE.name, []).append((event.action, event.attrs.get("mei_type", ""),
                                                                  event.attrs.get("szl_id", "")))
    assert actions == {
        "modbus": [("ENCAP_INTERFACE_TRANSPORT", 14, ""), ("ENCAP_INTERFACE_TRANSPORT", 14, "")],
        "enip": [("List Identity", "", "")],
        "s7comm": [("Setup Communication", "", ""), ("Read SZL", "", "0x0011")],
        "bacnet": [("read_property_multiple", "", "")],
        "snmp": [("get_request", "", "")],
    }


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """``mieruka-sensor ARGS`` through its entry point, in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["mieruka-sensor", *map(str, args)])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    out = capsys.readouterr()
    return stopped.value.code, out.out, out.err


def test_cli_lists_what_would_be_sent_and_refuses_bad_values(tmp_path, monkeypatch, capsys):
    config = tmp_path / "sensor.toml"
    body = ('core_url = "http://127.0.0.1:9"\ntoken = "t"\nsensor_id = 1\nserial = "SN-1"\ninterface = "lo"\n'
            '[active]\nprotocols = ["modbus", "s7comm", "snmp"]\nsnmp_community = "plantread"\n'
            f'networks = ["{NET}.0/24"]\nlog = "{tmp_path / "active.jsonl"}"\n')
    config.write_text(body)
    code, out, _ = run_cli(monkeypatch, capsys, "active-id", "--list", "--config", config)
    assert code == 0 and out.startswith("active identification off: nothing is sent; protocols modbus, s7comm, snmp")
    assert "\nrequest log: no request logged\n" in out
    assert modbus.request(1, 1, modbus.BASIC, 0).hex() in out
    assert s7comm.read_szl(0x0011).hex() in out and "Read SZL 0x0011" in out
    assert "List Identity" not in out  # enip switched off

    pcap = tmp_path / "seen.pcap"
    pcap.write_bytes(pcap_bytes(seen_traffic()))
    code, out, _ = run_cli(monkeypatch, capsys, "active-id", "--list", "--config", config, "--capture", pcap)
    assert code == 0 and f"{NET}.12 modbus TCP 502: active identification is off" in out
    assert modbus.request(1, MODBUS_UNIT, modbus.BASIC, 0).hex() in out  # the unit id seen in use

    log = RequestLog(tmp_path / "active.jsonl")
    log.write({"ts": 1.0, "time": "1970-01-01T00:00:01+00:00", "event": "request", "device": f"{NET}.12",
               "protocol": "modbus", "dry_run": False})
    log.write({"ts": 1.1, "event": "result", "device": f"{NET}.12", "protocol": "modbus", "status": "identified"})
    code, out, _ = run_cli(monkeypatch, capsys, "active-id", "--config", config)
    assert out.splitlines()[1] == (f"request log: 1 requests sent, 0 logged in dry run; last 1970-01-01T00:00:01+00:00 "
                                   f"to {NET}.12 (modbus); identified 1")

    for bad, named in (('exclude = ["everywhere"]', "active.exclude"), ('mode = "loud"', "active.mode")):
        config.write_text(body + bad + "\n")
        code, out, err = run_cli(monkeypatch, capsys, "active-id", "--list", "--config", config)
        assert code == 2 and out == "" and len(err.splitlines()) == 1 and named in err, err
