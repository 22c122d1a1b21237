"""Sending formatted alerts to one destination: syslog over UDP, TCP or TLS, or a webhook over HTTP(S).

``connect(destination)`` opens what the destination needs; ``send`` raises ``OSError`` or
``httpx.HTTPError`` when the receiver did not take the alert, so the worker keeps it queued.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx

from core.forward import formats
from core.forward.models import Destination

TIMEOUT_S = 10.0
DRAIN_S = 2.0  # how long a closing stream waits for the receiver to close its side


def tls_context(destination: Destination) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=destination.ca_file or None)
    if not destination.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if destination.cert_file:
        context.load_cert_chain(destination.cert_file, destination.key_file or None)
    return context


class Syslog:
    """RFC 5424 messages in CEF or LEEF; over TCP and TLS with octet counting (RFC 6587/5425)."""

    def __init__(self, destination: Destination):
        url = urlsplit(destination.url)
        self.format = formats.cef if destination.format == "cef" else formats.leef
        self.datagram = url.scheme == "udp"
        if self.datagram:
            family, kind, proto, _, address = socket.getaddrinfo(url.hostname, url.port, type=socket.SOCK_DGRAM)[0]
            self.sock = socket.socket(family, kind, proto)
            self.sock.settimeout(TIMEOUT_S)
            self.sock.connect(address)  # connected: a refusal (ICMP) shows on a later send
        else:
            self.sock = socket.create_connection((url.hostname, url.port), timeout=TIMEOUT_S)
            if url.scheme == "tls":
                self.sock = tls_context(destination).wrap_socket(self.sock, server_hostname=url.hostname)

    def send(self, alert: dict, delivery: str) -> None:
        frame = formats.syslog(alert, self.format(alert))
        if self.datagram:
            self.sock.send(frame)
        else:
            self.sock.sendall(formats.octet_counted(frame))

    def close(self) -> None:
        """Close after the receiver has read everything: FIN, then drain until its close. A socket
        closed with unread input (a TLS server's session tickets) is reset, and a reset can drop the
        frames the receiver has not read yet."""
        if not self.datagram:
            try:
                self.sock.settimeout(DRAIN_S)
                self.sock.shutdown(socket.SHUT_WR)
                while self.sock.recv(4096):
                    pass
            except OSError:
                pass
        self.sock.close()


class Webhook:
    """A JSON POST per alert, signed with HMAC-SHA256 over the timestamp and body; 2xx is delivered."""

    def __init__(self, destination: Destination):
        self.url, self.secret = destination.url, destination.secret or ""
        verify = tls_context(destination) if self.url.startswith("https:") else False
        self.client = httpx.Client(verify=verify, timeout=TIMEOUT_S, follow_redirects=False)

    def send(self, alert: dict, delivery: str) -> None:
        body = formats.webhook_body(alert)
        headers = {"Content-Type": "application/json", "X-Mieruka-Delivery": delivery,
                   formats.SIGNATURE_HEADER: formats.signature(self.secret, body, int(time.time()))}
        self.client.post(self.url, content=body, headers=headers).raise_for_status()

    def close(self) -> None:
        self.client.close()


@contextmanager
def connect(destination: Destination) -> Iterator[Syslog | Webhook]:
    sender = Webhook(destination) if destination.format == "json" else Syslog(destination)
    try:
        yield sender
    finally:
        sender.close()


def sample_alert() -> dict:
    """The alert ``mieruka forward test`` sends: marked as a test in its id and details."""
    now = int(time.time() * 1e6)
    return {"id": f"test-{now}", "kind": "new_device", "severity": "info", "title_ja": "転送テスト",
            "title_en": "Forwarding test", "ts": now, "ts_last": now, "count": 1, "status": "new",
            "src": {"ip": "192.0.2.1", "mac": "00:00:5e:00:53:01"}, "dst": {"ip": "", "mac": ""},
            "protocol": "", "technique": "", "details": {"test": "true"}, "sensor": ""}
