"""NTP (RFC 5905) with Zeek's ntp.log fields: one event per message, a client request answered by
the server reply whose origin timestamp is the request's transmit timestamp. Mode 6 (control,
ntpq) and mode 7 (private, ntpdc: monlist, the amplification vector) are named by opcode.

The status is the sender's stratum ("stratum 2"); ``ref_id`` is a stratum-1 server's clock source
("GPS", "PPS") or the address of a lower-stratum server's own upstream.
"""

from __future__ import annotations

import ipaddress
import struct

from sensor.decode import dns
from sensor.decode.spec import Event, Fact, Protocol, Session

MODES = ("reserved", "symmetric_active", "symmetric_passive", "client", "server", "broadcast", "control", "private")
CLIENT, SERVER, CONTROL, PRIVATE = 3, 4, 6, 7
HEADER = struct.Struct(">BBbbII4sQQQQ")  # flags, stratum, poll, precision, root delay/dispersion, ref id, times
CONTROL_OPCODES = {1: "read_status", 2: "read_variables", 3: "write_variables", 4: "read_clock_variables",
                   5: "write_clock_variables", 6: "set_trap", 7: "async_message", 8: "configure", 9: "save_config",
                   10: "read_mru", 11: "read_ordlist", 12: "request_nonce", 31: "unset_trap"}
PRIVATE_REQUESTS = {0: "peer_list", 1: "peer_list_summary", 2: "peer_info", 4: "sys_info", 20: "mon_getlist",
                    42: "mon_getlist_1"}
MAX_PRIVATE_REQUEST = 45  # ntpdc request codes are 0-45
MAC_LENGTHS = frozenset({0, 4, 20, 24})  # key id only (crypto-NAK), + MD5, + SHA-1 digest


def detect(payload: bytes) -> bool:
    """Version 1-4 with a sane mode: a 48-byte header (plus a MAC) with a plausible stratum, poll
    interval and clock precision for modes 1-5; a control header whose count fits the datagram
    (mode 6) or a consistent private header (mode 7). A DNS query's id and flags can look like
    any of these; it has a question where NTP has zeros (root delay, control status): ruled out
    last, as its parse costs more than these checks (and most UDP a sensor meets is DNS)."""
    return len(payload) >= 8 and _header_like(payload) and not dns.is_query_like(payload)


def _header_like(payload: bytes) -> bool:
    """The header checks of ``detect`` (at least 8 bytes)."""
    leap, version, mode = payload[0] >> 6, payload[0] >> 3 & 7, payload[0] & 7
    if not 1 <= version <= 4:
        return False
    if mode == CONTROL:  # ntpq leaves the leap bits clear; data is padded to 4 bytes, a MAC may follow
        count = int.from_bytes(payload[10:12], "big")
        return leap == 0 and len(payload) >= 12 and 12 + count <= len(payload) <= 12 + count + 3 + 24
    if mode == PRIVATE:  # response, more, version, mode; auth, sequence; implementation; request code; …
        response, more = payload[0] & 0x80, payload[0] & 0x40
        items, size = int.from_bytes(payload[4:6], "big") & 0xFFF, int.from_bytes(payload[6:8], "big")
        return (payload[2] in (0, 2, 3) and payload[3] <= MAX_PRIVATE_REQUEST and (response or not more)
                and size >> 12 == 0 and 8 + items * size <= len(payload))
    poll, precision = struct.unpack_from(">bb", payload, 2)
    return (1 <= mode <= 5 and len(payload) - HEADER.size in MAC_LENGTHS and payload[1] <= 16 and -6 <= poll <= 17
            and -32 <= precision <= 0)


def _ref_id(stratum: int, raw: bytes) -> str:
    if stratum <= 1:
        return raw.rstrip(b"\x00").decode("ascii", "replace")
    return str(ipaddress.IPv4Address(raw))


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    version, mode = pdu[0] >> 3 & 7, pdu[0] & 7
    session.services.add("ntp")
    if mode == CONTROL:
        opcode = pdu[1] & 0x1F
        return [Event("control", "response" if pdu[1] & 0x80 else "",
                      {"version": version, "opcode": CONTROL_OPCODES.get(opcode, str(opcode))})]
    if mode == PRIVATE:
        request = pdu[3]
        return [Event("private", "response" if pdu[0] & 0x80 else "",
                      {"version": version, "request": PRIVATE_REQUESTS.get(request, str(request))})]
    _, stratum, poll, precision, _, _, ref_id, _, origin, _, transmit = HEADER.unpack_from(pdu)
    attrs = {"version": version, "mode": MODES[mode], "stratum": stratum, "poll": 2.0 ** poll,
             "precision": f"{2.0 ** precision:.9f}", "ref_id": _ref_id(stratum, ref_id)}
    if mode == CLIENT:
        return [session.ask(transmit, Event(MODES[mode], attrs=attrs))]
    if mode == SERVER:
        event = session.answer(origin)
        if event is not None:
            event.status = f"stratum {stratum}"
            event.attrs.update(server_stratum=stratum, server_ref_id=attrs["ref_id"])
            return []
    return [Event(MODES[mode], f"stratum {stratum}", attrs)]


PROTOCOL = Protocol("ntp", frozenset({"udp"}), frozenset({123}), detect, decode)
