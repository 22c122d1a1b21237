"""Alerts as SIEM messages: ArcSight CEF:0, IBM LEEF 2.0, the RFC 5424 syslog line around them, and
the webhook's signed JSON body."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from datetime import UTC, datetime

from core.detect.kinds import SEVERITIES

VENDOR, PRODUCT, VERSION = "mieruka", "mieruka", "0.1.0"
CEF_SEVERITY = dict(zip(SEVERITIES, (10, 8, 5, 3, 1)))  # CEF and LEEF: 0-10, 10 most severe
SYSLOG_SEVERITY = dict(zip(SEVERITIES, (2, 3, 4, 5, 6)))  # crit, err, warning, notice, info
FACILITY = 13  # log audit
SIGNATURE_HEADER = "X-Mieruka-Signature"  # t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">


def _datetime(us: int | None) -> datetime:
    return datetime.fromtimestamp((us or 0) / 1e6, UTC)


def _ms(us: int | None) -> int:
    return (us or 0) // 1000


def _details(alert: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in (alert.get("details") or {}).items())


def _cef_header(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _cef_value(value: object) -> str:
    return (str(value).replace("\\", "\\\\").replace("=", "\\=")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r"))


def _ip_field(ip: str, v4: str, v6: str) -> list[tuple[str, str]]:
    """CEF's src/dst hold IPv4 only; IPv6 goes to the custom IPv6 fields c6a2 (source)/c6a3."""
    try:
        version = ipaddress.ip_address(ip).version
    except ValueError:
        return []
    return [(v4, ip)] if version == 4 else [(v6, ip), (v6 + "Label", "source" if v6 == "c6a2" else "destination")]


def cef(alert: dict) -> str:
    src, dst = alert.get("src") or {}, alert.get("dst") or {}
    extension = [
        ("rt", _ms(alert.get("ts_last"))), ("start", _ms(alert.get("ts"))), ("end", _ms(alert.get("ts_last"))),
        ("cat", alert["kind"]), ("externalId", alert["id"]), ("cnt", alert.get("count", 1)),
        *_ip_field(src.get("ip", ""), "src", "c6a2"), *_ip_field(dst.get("ip", ""), "dst", "c6a3"),
        ("smac", src.get("mac", "")), ("dmac", dst.get("mac", "")),
        ("app", alert.get("protocol", "")), ("deviceExternalId", alert.get("sensor", "")),
        ("cs1", alert.get("technique", "")), ("cs1Label", "technique"),
        ("cs2", alert.get("status", "")), ("cs2Label", "status"),
        ("cs3", alert.get("title_ja", "")), ("cs3Label", "title_ja"),
        ("msg", _details(alert)),
    ]
    head = "|".join(_cef_header(v) for v in (
        "CEF:0", VENDOR, PRODUCT, VERSION, alert["kind"], alert.get("title_en") or alert["kind"],
        CEF_SEVERITY[alert["severity"]]))
    return head + "|" + " ".join(f"{k}={_cef_value(v)}" for k, v in extension if v not in ("", None))


def _leef_value(value: object) -> str:
    return (str(value).replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\r", "\\r").replace("\n", "\\n"))


LEEF_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"  # Java SimpleDateFormat, as LEEF's devTimeFormat


def leef(alert: dict) -> str:
    src, dst = alert.get("src") or {}, alert.get("dst") or {}
    dev_time = _datetime(alert.get("ts_last")).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    attributes = [
        ("devTime", dev_time), ("devTimeFormat", LEEF_TIME_FORMAT),
        ("cat", alert["kind"]), ("sev", CEF_SEVERITY[alert["severity"]]),
        ("src", src.get("ip", "")), ("dst", dst.get("ip", "")),
        ("srcMAC", src.get("mac", "")), ("dstMAC", dst.get("mac", "")),
        ("alertId", alert["id"]), ("status", alert.get("status", "")), ("count", alert.get("count", 1)),
        ("technique", alert.get("technique", "")), ("protocol", alert.get("protocol", "")),
        ("sensor", alert.get("sensor", "")), ("titleEn", alert.get("title_en", "")),
        ("titleJa", alert.get("title_ja", "")), ("firstTime", _ms(alert.get("ts"))),
        ("details", _details(alert)),
    ]
    # LEEF 2.0 header: the sixth field names the attribute delimiter, here tab as hex.
    head = "|".join(_cef_header(v) for v in ("LEEF:2.0", VENDOR, PRODUCT, VERSION, alert["kind"], "x09"))
    return head + "|" + "\t".join(f"{k}={_leef_value(v)}" for k, v in attributes if v not in ("", None))


def syslog(alert: dict, message: str, hostname: str | None = None) -> bytes:
    """One RFC 5424 message: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG (UTF-8, no BOM: CEF/LEEF
    parsers expect the message to start with their prefix)."""
    pri = FACILITY * 8 + SYSLOG_SEVERITY[alert["severity"]]
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    host = (hostname or socket.gethostname() or "-")[:255].replace(" ", "_")
    return f"<{pri}>1 {stamp} {host} mieruka - alert - {message}".encode()


def octet_counted(frame: bytes) -> bytes:
    """RFC 6587 octet-counting framing (TCP; RFC 5425 uses the same over TLS)."""
    return str(len(frame)).encode() + b" " + frame


def webhook_body(alert: dict) -> bytes:
    """The JSON POSTed to a webhook: the alert, with ts/ts_last as ISO 8601 UTC."""
    body = dict(alert)
    for field in ("ts", "ts_last"):
        if isinstance(body.get(field), int):
            body[field] = _datetime(body[field]).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": "alert", "alert": body}, ensure_ascii=False, sort_keys=True).encode()


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value; a receiver recomputes it and refuses old timestamps (replays)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
