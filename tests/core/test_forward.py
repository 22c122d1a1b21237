"""Forwarding alerts: CEF/LEEF/RFC 5424 as parsed back by real receivers on 127.0.0.1 (UDP, TCP and
TLS syslog listeners, an HTTP server checking the HMAC), the receiver down for a while (refusing
connections) and back, minimum severity, tenant isolation, the CLI and the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from coretest import T0, bearer, flow, make_batch, post_batch, provision
from pgtest import controlplane_url
from runtest import eventually, free_port
from sqlalchemy import select
from typer.testing import CliRunner

from core import cli
from core.access import accounts
from core.config import Settings
from core.forward import destinations, formats, outbox
from core.forward.models import OutboxEntry
from core.forward.worker import Worker
from core.store.controlplane import ControlPlane, Tenant
from sensor import wire

SECRET = "hmac-key-for-tests"
RFC5424 = re.compile(r"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)", re.S)


def alert(n: int, severity: str = "critical", **extra) -> dict:
    return {"id": f"A{n:04d}", "kind": "plc_stop", "severity": severity, "title_ja": "PLC停止",
            "title_en": "PLC stop", "ts": 1_733_450_000_000_000 + n, "ts_last": 1_733_450_060_000_000 + n,
            "count": 2, "status": "new", "src": {"ip": "10.0.0.5", "mac": "00:11:22:33:44:55"},
            "dst": {"ip": "10.0.0.10", "mac": "00:11:22:33:44:66"}, "protocol": "s7comm",
            "technique": "T0858", "details": {"function": "PLC STOP"}, "sensor": "SN-1", **extra}


# --- parsing what arrives ----------------------------------------------------------------------------

def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m[1], m[1]), text)


def _header(text: str, fields: int) -> tuple[list[str], str]:
    """The first ``fields`` |-separated header fields (\\| and \\\\ escaped) and the rest."""
    parts, current, i = [], "", 0
    while len(parts) < fields:
        if text[i] == "\\":
            current, i = current + text[i + 1], i + 2
        elif text[i] == "|":
            parts, current, i = parts + [current], "", i + 1
        else:
            current, i = current + text[i], i + 1
    return parts, text[i:]


def parse_cef(text: str) -> tuple[list[str], dict[str, str]]:
    head, extension = _header(text, 7)
    pairs = re.finditer(r"(\w+)=((?:\\.|[^\\=])*?)(?= \w+=|$)", extension)
    return head, {m[1]: _unescape(m[2]) for m in pairs}


def parse_leef(text: str) -> tuple[list[str], dict[str, str]]:
    head, attributes = _header(text, 6)
    return head, {k: _unescape(v) for k, v in (a.split("=", 1) for a in attributes.split("\t"))}


def parse_syslog(frame: bytes) -> re.Match:
    match = RFC5424.fullmatch(frame.decode())
    assert match, frame
    return match


# --- receivers -----------------------------------------------------------------------------------------

class UdpReceiver:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port, self.frames = self.sock.getsockname()[1], []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                self.frames.append(self.sock.recv(65535))
            except OSError:
                return

    def close(self):
        self.sock.close()


class StreamReceiver:
    """Syslog over TCP (or TLS with ``context``), octet-counted frames; ``stop()`` makes the port refuse."""

    def __init__(self, context: ssl.SSLContext | None = None, port: int | None = None):
        self.context, self.port, self.frames = context, port or free_port(), []
        self.listener = None
        self.start()

    def start(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self):
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); only then does the port refuse
        self.listener.close()

    def _accept(self, listener):
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        try:
            if self.context:
                conn = self.context.wrap_socket(conn, server_side=True)
            stream = conn.makefile("rb")
            while length := self._length(stream):
                self.frames.append(stream.read(length))
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    @staticmethod
    def _length(stream) -> int:
        digits = b""
        while (c := stream.read(1)) not in (b" ", b""):
            digits += c
        return int(digits) if digits else 0


class WebhookReceiver:
    """An HTTP server that takes a POST only with a valid, fresh signature (401 otherwise)."""

    def __init__(self, port: int | None = None):
        self.port, self.bodies, self.refused = port or free_port(), [], 0
        self.unavailable_after, self.unavailable = None, 0  # answer 503 this often after that many bodies
        self.server = None
        self.start()

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.unavailable and len(receiver.bodies) == receiver.unavailable_after:
                    receiver.unavailable -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                fields = dict(p.split("=", 1) for p in self.headers[formats.SIGNATURE_HEADER].split(","))
                mac = hmac.new(SECRET.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
                fresh = abs(time.time() - int(fields["t"])) < 300
                if hmac.compare_digest(mac, fields["v1"]) and fresh:
                    receiver.bodies.append(json.loads(body))
                    self.send_response(204)
                else:
                    receiver.refused += 1
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI; (cert, key)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def cp(tmp_path):
    controlplane = ControlPlane(controlplane_url(tmp_path))
    controlplane.create_schema()
    yield controlplane
    controlplane.close()


def tenant(cp, name: str) -> int:
    with cp.sessions() as db:
        return accounts.create_tenant(db, name).id


def add(cp, tenant_id: int, name: str, url: str, fmt: str, **options) -> None:
    with cp.session() as db:
        destinations.add(db, tenant_id, name, url, fmt, **options)


def enqueue(cp, tenant_id: int, alerts: list[dict]) -> None:
    with cp.session() as db:
        for a in alerts:
            outbox.enqueue(db, tenant_id, a)


def state(cp, name: str) -> destinations.State:
    with cp.sessions() as db:
        return next(s for _, s in destinations.states(db, None) if s.name == name)


# --- formats -------------------------------------------------------------------------------------------

def test_cef_and_leef_escape_what_would_break_their_fields():
    tricky = alert(1, title_en="stop | now \\ here", details={"why": "a=b\nc\td"},
                   src={"ip": "fe80::1", "mac": "00:11:22:33:44:55"})
    head, ext = parse_cef(formats.cef(tricky))
    assert head == ["CEF:0", "mieruka", "mieruka", "0.1.0", "plc_stop", "stop | now \\ here", "10"]
    assert ext["msg"] == "why=a=b\nc\td" and "\n" not in formats.cef(tricky)
    assert ext["c6a2"] == "fe80::1" and "src" not in ext and ext["dst"] == "10.0.0.10"
    assert (ext["smac"], ext["dmac"], ext["cat"], ext["externalId"]) == (
        "00:11:22:33:44:55", "00:11:22:33:44:66", "plc_stop", "A0001")
    assert (ext["cs1"], ext["cs1Label"], ext["cs3"], ext["cnt"]) == ("T0858", "technique", "PLC停止", "2")
    assert ext["rt"] == str((1_733_450_060_000_000 + 1) // 1000)
    head, attrs = parse_leef(formats.leef(tricky))
    assert head == ["LEEF:2.0", "mieruka", "mieruka", "0.1.0", "plc_stop", "x09"]
    assert attrs["details"] == "why=a=b\nc\td" and attrs["titleEn"] == "stop | now \\ here"
    assert (attrs["sev"], attrs["src"], attrs["dstMAC"]) == ("10", "fe80::1", "00:11:22:33:44:66")
    assert attrs["devTime"] == "2024-12-06T01:54:20.000+0000"
    assert [parse_cef(formats.cef(alert(1, s)))[0][6] for s in ("critical", "high", "medium", "low", "info")] \
        == ["10", "8", "5", "3", "1"]


def test_enqueue_takes_the_alert_as_the_api_shows_it(cp):
    """Datetimes, sensor_id, extra keys (comments, evidence): stored JSON-ready, only the forwarded fields."""
    acme = tenant(cp, "acme")
    add(cp, acme, "siem", "udp://127.0.0.1:9", "cef")
    shown = alert(1, ts=datetime(2024, 12, 6, 1, 53, 20, tzinfo=UTC), ts_last=datetime(2024, 12, 6, 1, 54, 20, tzinfo=UTC),
                  sensor_id=7, comments=[{"at": datetime.now(UTC), "text": "seen"}], evidence=["C1"])
    del shown["sensor"]
    enqueue(cp, acme, [shown])
    with cp.sessions() as db:
        [row] = db.scalars(select(OutboxEntry)).all()
    assert set(row.alert) == set(outbox.FIELDS)
    assert (row.alert["ts"], row.alert["ts_last"], row.alert["sensor"]) == (
        1_733_450_000_000_000, 1_733_450_060_000_000, "7")


def test_enqueue_belongs_to_the_callers_transaction(cp):
    acme = tenant(cp, "acme")
    add(cp, acme, "siem", "udp://127.0.0.1:9", "cef")
    with cp.sessions() as db, db.begin():
        assert outbox.enqueue(db, acme, alert(1)) == 1
        db.rollback()
    with cp.sessions() as db:
        assert db.scalars(select(OutboxEntry)).all() == []
        with pytest.raises(ValueError):
            outbox.enqueue(db, acme, {"id": "x", "severity": "urgent"})


# --- delivery to real receivers ------------------------------------------------------------------------

def test_syslog_udp_tcp_tls_and_webhook_receive_every_alert_in_order(cp, tls_files):
    cert, key = tls_files
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    udp, tcp, tls, hook = UdpReceiver(), StreamReceiver(), StreamReceiver(server_tls), WebhookReceiver()
    acme = tenant(cp, "acme")
    add(cp, acme, "udp", f"udp://127.0.0.1:{udp.port}", "cef")
    add(cp, acme, "tcp", f"tcp://127.0.0.1:{tcp.port}", "leef")
    add(cp, acme, "tls", f"tls://127.0.0.1:{tls.port}", "cef", ca_file=str(cert))
    add(cp, acme, "tls-unknown-ca", f"tls://127.0.0.1:{tls.port}", "cef")  # system CAs: refused
    add(cp, acme, "hook", f"http://127.0.0.1:{hook.port}/in", "json", secret=SECRET)
    sent = [alert(n, s) for n, s in enumerate(("critical", "high", "info"))]
    enqueue(cp, acme, sent)
    assert Worker(cp).run_once() == 12
    eventually(lambda: (len(tcp.frames), len(tls.frames), len(udp.frames)) == (3, 3, 3), 10)

    for frame, a in zip(udp.frames, sent):
        pri, stamp, host, app, procid, msgid, sd, msg = parse_syslog(frame).groups()
        assert (int(pri), app, msgid, sd) == (13 * 8 + formats.SYSLOG_SEVERITY[a["severity"]], "mieruka", "alert", "-")
        head, ext = parse_cef(msg)
        assert (head[4], ext["externalId"], ext["src"], ext["deviceExternalId"]) == ("plc_stop", a["id"], "10.0.0.5", "SN-1")
    assert [parse_leef(parse_syslog(f)[8])[1]["alertId"] for f in tcp.frames] == ["A0000", "A0001", "A0002"]
    assert [parse_cef(parse_syslog(f)[8])[1]["externalId"] for f in tls.frames] == ["A0000", "A0001", "A0002"]
    assert [b["alert"]["id"] for b in hook.bodies] == ["A0000", "A0001", "A0002"] and hook.refused == 0
    assert hook.bodies[0]["alert"]["ts"] == "2024-12-06T01:53:20Z" and hook.bodies[0]["alert"]["src"]["ip"] == "10.0.0.5"

    refused = state(cp, "tls-unknown-ca")
    assert refused.queued == 3 and "CERTIFICATE_VERIFY_FAILED" in refused.last_error and refused.failures == 1
    assert state(cp, "tls").queued == 0 and state(cp, "tls").last_success is not None
    for r in (udp, tcp, tls, hook):
        (r.close if r is udp else r.stop)()


def test_a_receiver_down_for_a_while_gets_everything_once_in_order(cp):
    tcp, hook = StreamReceiver(), WebhookReceiver()
    tcp.stop(), hook.stop()  # down: the ports refuse connections
    acme = tenant(cp, "acme")
    add(cp, acme, "tcp", f"tcp://127.0.0.1:{tcp.port}", "cef")
    add(cp, acme, "hook", f"http://127.0.0.1:{hook.port}/", "json", secret=SECRET)
    worker = Worker(cp, poll_s=0.05, backoff_s=0.1, backoff_max_s=0.4)
    worker.start()
    try:
        for n in range(0, 40, 10):  # alerts keep coming while the receivers are down
            enqueue(cp, acme, [alert(i) for i in range(n, n + 10)])
            time.sleep(0.2)
        eventually(lambda: state(cp, "tcp").failures >= 3 and state(cp, "hook").failures >= 3, 10)
        down = state(cp, "tcp")
        assert down.queued == 40 and "Connection refused" in down.last_error and down.last_success is None
        tcp.start(), hook.start()
        eventually(lambda: state(cp, "tcp").queued == 0 and state(cp, "hook").queued == 0, 20)
    finally:
        worker.stop()
    expected = [f"A{i:04d}" for i in range(40)]
    eventually(lambda: len(tcp.frames) == 40, 5)
    assert [parse_cef(parse_syslog(f)[8])[1]["externalId"] for f in tcp.frames] == expected
    assert [b["alert"]["id"] for b in hook.bodies] == expected
    up = state(cp, "tcp")
    assert up.failures == 0 and up.next_attempt is None and up.last_success > up.last_failure
    with cp.sessions() as db:  # delivered rows are kept (for the page), marked
        rows = db.scalars(select(OutboxEntry)).all()
        assert len(rows) == 80 and all(r.delivered_at for r in rows) and max(r.attempts for r in rows) >= 2
    tcp.stop(), hook.stop()


def test_a_refusal_midway_holds_back_the_rest_until_it_is_taken(cp):
    """The webhook answers 503 to the 5th alert three times: the 6th and later wait, nothing is skipped."""
    hook = WebhookReceiver()
    hook.unavailable_after, hook.unavailable = 4, 3
    acme = tenant(cp, "acme")
    add(cp, acme, "hook", f"http://127.0.0.1:{hook.port}/", "json", secret=SECRET)
    enqueue(cp, acme, [alert(i) for i in range(10)])
    worker = Worker(cp, poll_s=0.02, backoff_s=0.05)
    worker.start()
    try:
        eventually(lambda: state(cp, "hook").queued == 0, 20)
    finally:
        worker.stop()
    assert [b["alert"]["id"] for b in hook.bodies] == [f"A{i:04d}" for i in range(10)] and hook.unavailable == 0
    assert "503" in state(cp, "hook").last_error
    hook.stop()


def test_two_workers_on_one_control_plane_send_each_alert_once(cp):
    """Two core processes share the database: a destination is leased to one worker at a time."""
    tcp = StreamReceiver()
    acme = tenant(cp, "acme")
    add(cp, acme, "tcp", f"tcp://127.0.0.1:{tcp.port}", "cef")
    workers = [Worker(cp, poll_s=0.01, batch=5) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        enqueue(cp, acme, [alert(i) for i in range(60)])
        eventually(lambda: state(cp, "tcp").queued == 0, 20)
    finally:
        for w in workers:
            w.stop()
    time.sleep(0.2)
    assert [parse_cef(parse_syslog(f)[8])[1]["externalId"] for f in tcp.frames] == [f"A{i:04d}" for i in range(60)]
    tcp.stop()


def test_min_severity_and_tenants_keep_to_their_own_destinations(cp):
    receivers = {name: StreamReceiver() for name in ("acme", "globex")}
    ids = {name: tenant(cp, name) for name in receivers}
    add(cp, ids["acme"], "siem", f"tcp://127.0.0.1:{receivers['acme'].port}", "cef", min_severity="high")
    add(cp, ids["globex"], "siem", f"tcp://127.0.0.1:{receivers['globex'].port}", "cef")
    enqueue(cp, ids["acme"], [alert(n, s) for n, s in enumerate(("critical", "high", "medium", "low", "info"))])
    enqueue(cp, ids["globex"], [alert(100, "info")])
    assert Worker(cp).run_once() == 3
    eventually(lambda: len(receivers["acme"].frames) == 2 and len(receivers["globex"].frames) == 1, 10)
    time.sleep(0.2)  # nothing more arrives
    got = {name: [parse_cef(parse_syslog(f)[8])[1]["externalId"] for f in r.frames] for name, r in receivers.items()}
    assert got == {"acme": ["A0000", "A0001"], "globex": ["A0100"]}
    for r in receivers.values():
        r.stop()


# --- CLI -----------------------------------------------------------------------------------------------

def test_forward_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args, stdin=None):
        return runner.invoke(cli.app, list(args), input=stdin)

    assert run("tenants", "add", "acme").exit_code == 0
    tcp = StreamReceiver()
    assert run("forward", "add", "siem", "--tenant", "acme", "--url", f"tcp://127.0.0.1:{tcp.port}",
               "--format", "leef", "--min-severity", "high").exit_code == 0
    r = run("forward", "add", "hook", "--tenant", "acme", "--url", "https://siem.example/hooks/T0123456789/secret",
            "--secret-stdin", stdin="s3cr3t-key\n")
    assert r.exit_code == 0, r.output
    for bad, reason in [(("--url", "ftp://x:1"), "scheme"), (("--url", "tcp://x"), "want tcp://host:port"),
                        (("--url", "tcp://x:1", "--format", "json"), "cef or leef"),
                        (("--url", "https://x/"), "needs a secret"),
                        (("--url", "tcp://x:1", "--min-severity", "urgent"), "min severity"),
                        (("--url", "tls://x:1", "--ca", str(tmp_path / "missing.pem")), "not a readable file")]:
        r = run("forward", "add", "other", "--tenant", "acme", *bad)
        assert r.exit_code == 2 and r.output.count("\n") == 1 and r.output.startswith("error:") and reason in r.output, r.output
    r = run("forward", "add", "siem", "--tenant", "acme", "--url", "udp://x:1")
    assert r.exit_code == 2 and "exists" in r.output

    listed = run("forward", "list", "--tenant", "acme")
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 2
    assert "s3cr3t" not in listed.stdout and "/secret" not in listed.stdout
    assert "\thttps://siem.example/hooks/T0123…\t" in listed.stdout

    r = run("forward", "test", "siem", "--tenant", "acme")
    assert r.exit_code == 0 and r.stdout.startswith("ok: test alert sent to siem"), r.output
    eventually(lambda: tcp.frames, 5)
    assert parse_leef(parse_syslog(tcp.frames[0])[8])[1]["titleEn"] == "Forwarding test"
    tcp.stop()
    r = run("forward", "test", "siem", "--tenant", "acme")
    assert r.exit_code == 1 and r.stdout.startswith("failed: siem") and "refused" in r.stdout and r.stdout.count("\n") == 1
    assert run("forward", "test", "nope", "--tenant", "acme").exit_code == 2
    assert run("forward", "remove", "siem", "--tenant", "acme").exit_code == 0
    r = run("forward", "remove", "siem", "--tenant", "acme")
    assert r.exit_code == 2 and r.output == "error: no destination 'siem'\n"
    assert len(run("forward", "list").stdout.splitlines()) == 1


# --- API -----------------------------------------------------------------------------------------------

def test_forwarding_api_shows_the_tenants_queue_and_no_secrets(client, tls_files):
    acme, globex = provision(client.app, "acme"), provision(client.app, "globex")
    cp = client.app.state.controlplane
    port = free_port()  # nobody listens: the app's own worker fails and backs off
    add(cp, acme.id, "hook", f"http://127.0.0.1:{port}/hooks/abcdefghijklmnop", "json", secret=SECRET)
    add(cp, acme.id, "tls", f"tls://127.0.0.1:{port}", "cef", ca_file=str(tls_files[0]))
    enqueue(cp, acme.id, [alert(1), alert(2)])
    answer = eventually(lambda: (r := client.get("/api/v1/forwarding", headers=bearer(acme.api_token)).json())
                        and all(d["last_error"] for d in r) and r, 20)
    hook, tls = sorted(answer, key=lambda d: d["name"])
    assert (hook["queued"], hook["secret_set"], hook["url"]) == (2, True, f"http://127.0.0.1:{port}/hooks/abcde…")
    assert tls["tls_files"] == ["cert.pem"] and tls["queued"] == 2 and tls["oldest_queued"]
    assert SECRET not in json.dumps(answer) and str(tls_files[0]) not in json.dumps(answer)
    assert client.get("/api/v1/forwarding", headers=bearer(globex.api_token)).json() == []
    with cp.sessions() as db:
        user = accounts.create_user(db, accounts.tenant_named(db, "acme"), "bill@acme.example",
                                    "correct horse battery", "billing")
        token = accounts.create_api_token(db, user, "t")[1]
    assert client.get("/api/v1/forwarding", headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/forwarding").status_code == 401


def test_an_alert_raised_at_ingest_and_its_status_change_reach_the_siem(client):
    """Ingest → detection → outbox (same transaction) → the app's worker → a TCP syslog receiver."""
    site = provision(client.app, "plant")
    with client.app.state.controlplane.session() as db:
        db.get(Tenant, site.id).learning_hours = 1
    receiver = StreamReceiver()
    add(client.app.state.controlplane, site.id, "siem", f"tcp://127.0.0.1:{receiver.port}", "cef",
        min_severity="medium")

    def post(at, orig_h: str, mac: str) -> None:
        batch = make_batch([flow(orig_h=orig_h, resp_h="10.0.0.2", service="modbus", ts=at, uid=f"C{orig_h}",
                                 orig_l2_addr=mac, resp_l2_addr="00:1b:1b:00:00:02")], [], [], start=at)
        assert post_batch(client, site.sensor_token, wire.encode(batch)).status_code == 200

    post(T0, "10.0.0.1", "00:1b:1b:00:00:01")  # learning
    post(T0 + timedelta(hours=2), "10.0.0.66", "02:00:00:00:00:66")  # an unknown laptop after it
    eventually(lambda: receiver.frames, 20)
    events = [parse_cef(parse_syslog(f)[8]) for f in receiver.frames]
    new_device = next(ext for head, ext in events if head[4] == "new_device")
    assert new_device["src"] == "10.0.0.66" and new_device["cs2"] == "new" and new_device["deviceExternalId"]
    raised = {a["id"]: a["severity"] for a in client.get("/api/v1/alerts", headers=bearer(site.api_token)).json()["alerts"]}
    assert "low" in raised.values()  # new_link: raised, stored, but below this destination's minimum
    assert sorted(ext["externalId"] for _, ext in events) == sorted(i for i, sev in raised.items() if sev != "low")
    seen = len(receiver.frames)
    r = client.patch(f"/api/v1/alerts/{new_device['externalId']}", json={"status": "acknowledged"},
                     headers=bearer(site.api_token))
    assert r.status_code == 200, r.text
    eventually(lambda: len(receiver.frames) > seen, 20)
    head, ext = parse_cef(parse_syslog(receiver.frames[-1])[8])
    assert (ext["externalId"], ext["cs2"]) == (new_device["externalId"], "acknowledged")
    receiver.stop()
