"""NetBIOS Name Service (RFC 1002, UDP 137) as a flow's protocol: the service ``netbios-ns`` (the
name Zeek's packages and OsecT's netbios-ns.log give it) and one event per message, the name asked
for or claimed (action: query, registration, refresh, release, wack), a response pairing with its
request by transaction id, with the addresses it answers.

The names' facts (host names, workgroups) come from the observer (``sensor.meter.observe``), which
reads every NBNS datagram whatever the flow; this module labels the flows and logs the messages.
"""

from __future__ import annotations

from sensor.decode import dns, nbns
from sensor.decode.spec import Event, Fact, Protocol, Session

ENCODED_NAME = 32  # a first-level encoded name: 16 bytes as 32 letters A..P
MAX_ANSWERS = 8
QTYPES = {nbns.NB: "NB", nbns.NBSTAT: "NBSTAT"}
RCODES = {0: "ok", 1: "format_error", 2: "server_failure", 3: "name_error", 4: "unsupported", 5: "refused",
          6: "active", 7: "conflict"}


def detect(payload: bytes) -> bool:
    """A DNS-layout header with an NBNS opcode, then a 32-letter encoded name (the question's or,
    in an answer without one, the first record's)."""
    if len(payload) < 12 + 2 + ENCODED_NAME + 4:
        return False
    opcode = (payload[2] >> 3) & 0x0F
    name = payload[13 : 13 + ENCODED_NAME]
    return (opcode in nbns.OPCODES and payload[12] == ENCODED_NAME and payload[13 + ENCODED_NAME] in (0, 0x20)
            and all(0x41 <= ch <= 0x50 for ch in name))


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    msg = dns.parse(pdu, decode_values=False)
    session.services.add("netbios-ns")
    opcode = nbns.OPCODES.get(msg.opcode, str(msg.opcode)).lower()
    first = msg.questions[0] if msg.questions else next(iter(msg.records()), None)
    name, suffix = nbns.decode_name(first.name) if first is not None else ("", 0)
    kind = first.qtype if isinstance(first, dns.Question) else first.rtype if first is not None else 0
    attrs = {"name": name, "suffix": f"0x{suffix:02x}", "qtype": QTYPES.get(kind, str(kind)), "trans_id": msg.id}
    if not msg.is_response:
        return [session.ask(msg.id, Event(opcode, attrs=attrs))]
    out: list[Event | Fact] = []
    event = session.answer(msg.id)
    if event is None:  # the request was not seen in this interval
        event = Event(opcode, attrs=attrs)
        out.append(event)
    event.status = RCODES.get(msg.rcode, str(msg.rcode))
    answered = nbns.parse(pdu)
    addresses = [n.ip for n in answered.names if n.ip][:MAX_ANSWERS]
    event.attrs.update(answers=",".join(addresses), mac=answered.mac)
    return out


PROTOCOL = Protocol("netbios-ns", frozenset({"udp"}), frozenset({137}), detect, decode)
