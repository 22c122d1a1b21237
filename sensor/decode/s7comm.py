"""Siemens S7comm and S7comm-plus over ISO-on-TCP (TPKT, RFC 1006 + COTP, ISO 8073).

S7comm (magic 0x32): one event per job (read/write variable, block upload/download, PI service
such as PLC start, PLC stop …) answered by the ACK-Data with the same PDU reference, and per
user-data request (Read SZL, block list, clock …) answered by the next response of the same group
and sub-function. Module and component identification from SZL answers (order number,
firmware, module type, station and module names, serial number) become asset facts. S7comm-plus (magic
0x72, S7-1200/1500): one event per request answered by its sequence number; the PLC's order
number and firmware, which it states when a session is created, become facts. Names follow
Wireshark's s7comm dissector and ICSNPP's s7comm.log; services as ICSNPP: cotp, s7comm,
s7comm-plus. ISO transport data that starts with a session PDU is MMS (IEC 61850), which
``sensor.decode.mms`` decodes (service mms); malformed MMS is counted under this protocol.
"""

from __future__ import annotations

import re
import struct

from sensor.decode import mms
from sensor.decode.spec import Event, Fact, Protocol, Session, salvage

COTP_CR, COTP_CC, COTP_DT = 0xE0, 0xD0, 0xF0
TSAP_CALLING, TSAP_CALLED = 0xC1, 0xC2
S7, S7PLUS = 0x32, 0x72
JOB, ACK, ACK_DATA, USERDATA = 1, 2, 3, 7
ROSCTR = {JOB: "Job-Request", ACK: "Ack", ACK_DATA: "ACK-Data", USERDATA: "User-Data"}
FUNCTIONS = {
    0x00: "CPU services", 0xF0: "Setup Communication", 0x04: "Read Variable", 0x05: "Write Variable",
    0x1A: "Request Download", 0x1B: "Download Block", 0x1C: "Download Ended", 0x1D: "Start Upload",
    0x1E: "Upload", 0x1F: "End Upload", 0x28: "PLC Control", 0x29: "PLC Stop",
}
PI_SERVICES = {
    "_INSE": "Activate a PLC module", "_DELE": "Delete a PLC module", "P_PROGRAM": "PLC Start / Stop",
    "_MODU": "PLC Copy Ram to Rom", "_GARB": "Compress PLC memory", "_N_LOGIN_": "Login",
    "_N_LOGOUT": "Logout", "_N_CANCEL": "Cancels NC alarm",
}
USERDATA_GROUPS = {
    0x0: "Mode-transition", 0x1: "Programmer commands", 0x2: "Cyclic data", 0x3: "Block Functions",
    0x4: "CPU Functions", 0x5: "Security", 0x6: "PBC BSEND/BRECV", 0x7: "Time Functions", 0xF: "NC programming",
}
USERDATA_FUNCTIONS = {
    (0x1, 0x01): "Request diag data (Type 1)", (0x1, 0x02): "VarTab", (0x1, 0x0C): "Erase",
    (0x1, 0x0E): "Read diag data", (0x1, 0x0F): "Remove diag data", (0x1, 0x10): "Forces",
    (0x1, 0x13): "Request diag data (Type 2)",
    (0x2, 0x01): "Memory", (0x2, 0x04): "Unsubscribe", (0x2, 0x05): "Memory2",
    (0x3, 0x01): "List Blocks", (0x3, 0x02): "List Blocks of Type", (0x3, 0x03): "Get Block Info",
    (0x4, 0x01): "Read SZL", (0x4, 0x02): "Message Service", (0x4, 0x03): "Diagnostic Message",
    (0x4, 0x05): "ALARM_8 Indication", (0x4, 0x06): "NOTIFY Indication", (0x4, 0x07): "ALARM_8 Lock",
    (0x4, 0x08): "ALARM_8 Unlock", (0x4, 0x09): "SCAN Indication", (0x4, 0x0B): "ALARM Ack",
    (0x4, 0x0C): "ALARM Ack Indication", (0x4, 0x0D): "ALARM Lock Indication",
    (0x4, 0x0E): "ALARM Unlock Indication", (0x4, 0x11): "ALARM_SQ Indication",
    (0x4, 0x12): "ALARM_S Indication", (0x4, 0x13): "ALARM Query", (0x4, 0x16): "NOTIFY_8 Indication",
    (0x5, 0x01): "PLC Password", (0x5, 0x02): "Clean Session",
    (0x7, 0x01): "Read Clock", (0x7, 0x02): "Set Clock", (0x7, 0x03): "Read Clock (following)",
    (0x7, 0x04): "Set Clock 2",
}
ERROR_CLASSES = {
    0x00: "No error", 0x81: "Application relationship error", 0x82: "Object definition error",
    0x83: "No resources available error", 0x84: "Error on service processing", 0x85: "Error on supplies",
    0x87: "Access error",
}
BLOCK_TYPES = {"08": "OB", "0A": "DB", "0B": "SDB", "0C": "FC", "0D": "SFC", "0E": "FB", "0F": "SFB"}
AREAS = {0x03: "SYSINFO", 0x05: "SYSFLAGS", 0x06: "ANAIN", 0x07: "ANAOUT", 0x1C: "C", 0x1D: "T",
         0x80: "P", 0x81: "I", 0x82: "Q", 0x83: "M", 0x84: "DB", 0x85: "DI", 0x86: "L", 0x87: "V"}
# SZL 0x001C (component identification) record index → fact: the station (automation system)
# name, the module's name as configured ("PLC_1"), the plant designation, the serial number and
# the module type name ("CPU 315-2 PN/DP"); record 4 is the copyright ("Original Siemens Equipment")
COMPONENT_FACTS = {1: "station_name", 2: "device_name", 3: "plant_name", 5: "serial", 7: "product"}
COPYRIGHT = 4
SZL_MODULE_ID, SZL_COMPONENT_ID = 0x0011, 0x001C
MODULE_ORDER_NUMBER, MODULE_FIRMWARE = 0x0001, 0x0007  # SZL 0x0011 record indexes
SIEMENS = "Siemens"
CONF_VENDOR = 80  # the vendor an order number or copyright implies: above the MAC's OUI (70)
SIEMENS_ORDER_NUMBER = re.compile(r"^6(?:ES7|AG1|ES5|GK1|GK7)\b")
MAX_SZL = 1 << 16  # bytes of one SZL answer kept across its data units
PLUS_FUNCTIONS = {
    0x04B1: "Error", 0x04BB: "Explore", 0x04CA: "Create Object", 0x04D4: "Delete Object",
    0x04F2: "Set Variable", 0x04FC: "Get Variable", 0x0506: "Add Link", 0x051A: "Remove Link",
    0x0524: "Get Link", 0x0542: "Set Multi Variables", 0x054C: "Get Multi Variables",
    0x0556: "Begin Sequence", 0x0560: "End Sequence", 0x056B: "Invoke", 0x057C: "Set Var SubStreamed",
    0x0586: "Get Var SubStreamed", 0x0590: "Get Variables Address", 0x059A: "Abort", 0x05A9: "Error",
    0x05B3: "Init SSL",
}
PLUS_IDENTITY = re.compile(rb"\d;(6[A-Z]{2}\d [0-9A-Z]{3}-[0-9A-Z]{5}-[0-9A-Z]{4}) ?;(V\d+\.\d+)")
HEADER = struct.Struct(">BBHHHH")  # magic, ROSCTR, reserved, PDU reference, parameter length, data length


def frame(buf: bytes) -> int:
    """TPKT: version 3, reserved 0, total length."""
    if len(buf) < 4:
        return 0
    if buf[0] != 3 or buf[1] != 0:
        raise ValueError("not a TPKT header")
    length = struct.unpack_from(">H", buf, 2)[0]
    if length < 7:
        raise ValueError("TPKT length too short for COTP")
    return length


def _cotp(pdu: bytes) -> tuple[int, bytes, bytes]:
    """(COTP PDU type, header after the type byte, user data) of one TPKT frame."""
    length = pdu[4]
    if length < 2 or 5 + length > len(pdu):
        raise ValueError("COTP header length out of range")
    return pdu[5] & 0xF0, pdu[6 : 5 + length], pdu[5 + length :]


def _tsaps(header: bytes) -> dict[int, bytes]:
    """CR/CC variable part (after dst ref, src ref, class): parameter code → value."""
    params, pos = {}, 5
    while pos + 2 <= len(header):
        code, length = header[pos], header[pos + 1]
        params[code] = header[pos + 2 : pos + 2 + length]
        pos += 2 + length
    return params


def detect(payload: bytes) -> bool:
    """A TPKT/COTP connection request naming TSAPs (unlike RDP's), or data carrying S7 or MMS PDUs."""
    try:
        n = frame(payload)
        if n == 0 or n > len(payload):
            return False
        kind, header, data = _cotp(payload[:n])
    except ValueError:
        return False
    if kind in (COTP_CR, COTP_CC):
        params = _tsaps(header)
        return TSAP_CALLING in params and TSAP_CALLED in params
    if kind == COTP_DT:
        s7 = len(data) >= 2 and (data[0] == S7 and data[1] in ROSCTR or data[0] == S7PLUS and data[1] in (1, 2, 3))
        return s7 or mms.is_data(data)
    return False


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    kind, header, data = _cotp(pdu)
    session.services.add("cotp")
    if kind != COTP_DT:
        return []
    key = f"cotp{int(is_orig)}"  # a PDU may span COTP data units until one has the EOT bit
    data = session.vars.pop(key, b"") + data
    if not header[0] & 0x80:
        if len(data) > 1 << 16:
            raise ValueError("COTP fragments exceed 64 KiB")
        session.vars[key] = data
        return []
    if data[:1] == bytes([S7]):
        session.services.add("s7comm")
        return _s7(data, is_orig, session)
    if data[:1] == bytes([S7PLUS]):
        session.services.add("s7comm-plus")
        return _s7plus(data, is_orig, session)
    if mms.is_session(data):
        return mms.decode(data, is_orig, session)
    session.done = True  # another ISO application on this transport
    return []


# -- S7comm ---------------------------------------------------------------------------------------


def _s7(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    _, rosctr, _, ref, plen, dlen = HEADER.unpack_from(pdu)
    pos = HEADER.size
    error = 0
    if rosctr in (ACK, ACK_DATA):
        error = struct.unpack_from(">H", pdu, pos)[0]
        pos += 2
    param, data = pdu[pos : pos + plen], pdu[pos + plen : pos + plen + dlen]
    if len(param) != plen or len(data) != dlen:
        raise ValueError("S7 parameter or data truncated")
    if rosctr == JOB:
        event = Event(_function(param[0]), attrs={"rosctr": ROSCTR[JOB], "pdu_ref": ref, **_job(param)})
        return [session.ask(("job", ref), event)]
    if rosctr in (ACK, ACK_DATA):
        event = session.answer(("job", ref))
        out: list[Event | Fact] = []
        if event is None:
            function = param[0] if param else 0
            event = Event(_function(function), attrs={"rosctr": ROSCTR[rosctr], "pdu_ref": ref})
            out.append(event)
        event.status = _error_text(error)
        if error:
            event.attrs["error_code"] = f"0x{error:04x}"
        return out
    if rosctr == USERDATA:
        return _userdata(param, data, ref, session)
    raise ValueError(f"unknown S7 ROSCTR {rosctr}")


def _function(code: int) -> str:
    return FUNCTIONS.get(code, f"unknown-0x{code:02x}")


def _error_text(error: int) -> str:
    if error == 0:
        return "OK"
    return ERROR_CLASSES.get(error >> 8, f"error 0x{error:04x}")


def _job(param: bytes) -> dict[str, object]:
    function = param[0]
    if function == 0xF0:  # reserved, max AmQ calling, max AmQ called, PDU length
        return {"pdu_size": struct.unpack_from(">H", param, 6)[0]}
    if function in (0x04, 0x05):
        return _items(param)
    if function in (0x1A, 0x1D):  # status, 2 unknown, upload/download id, filename length, filename
        name = param[9 : 9 + param[8]].decode("latin-1")
        if len(name) != param[8]:
            raise ValueError("S7 block filename truncated")
        return {"filename": name, **_block(name)}
    if function == 0x28:  # unknown (7), parameter block length (2), parameter block, name length, name
        pos = 10 + struct.unpack_from(">H", param, 8)[0]
        service = param[pos + 1 : pos + 1 + param[pos]].decode("latin-1")
        return {"pi_service": service, "pi_description": PI_SERVICES.get(service, "")}
    if function == 0x29:  # unknown (5), name length, name
        return {"pi_service": param[7 : 7 + param[6]].decode("latin-1")}
    return {}


def _block(filename: str) -> dict[str, object]:
    """'_0A00001P' → DB 1 on the passive file system ('A' active, 'B' both)."""
    if len(filename) < 9 or filename[0] != "_":
        return {}
    return {"block_type": BLOCK_TYPES.get(filename[1:3], filename[1:3]), "block_number": filename[3:8].lstrip("0") or "0",
            "filesystem": filename[8]}


def _items(param: bytes) -> dict[str, object]:
    """Read/write variable: item count and the memory areas the items address (S7ANY items)."""
    count, pos, areas = param[1], 2, []
    for _ in range(count):
        spec, length, syntax = param[pos], param[pos + 1], param[pos + 2]
        if spec == 0x12 and syntax == 0x10 and length >= 10:
            area = param[pos + 8]
            number = struct.unpack_from(">H", param, pos + 6)[0]
            name = AREAS.get(area, f"0x{area:02x}")
            areas.append(f"DB{number}" if area == 0x84 else name)
        pos += 2 + length
    return {"items": count, "areas": ",".join(dict.fromkeys(areas))}


def _userdata(param: bytes, data: bytes, ref: int, session: Session) -> list[Event | Fact]:
    """Parameter: head (3), length, method, type|group, sub-function, sequence [, ref, last, error]."""
    kind, group, sub = param[5] >> 4, param[5] & 0x0F, param[6]
    name = USERDATA_FUNCTIONS.get((group, sub), f"unknown-{group}/{sub}")
    key = ("userdata", group, sub)
    if kind in (4, 0):  # request (or push from the PLC, which nothing answers)
        attrs = {"rosctr": ROSCTR[USERDATA], "pdu_ref": ref, "group": USERDATA_GROUPS.get(group, str(group))}
        if (group, sub) == (0x4, 0x01) and len(data) >= 8:  # return code, size, length, SZL id, index
            szl_id, index = struct.unpack_from(">HH", data, 4)
            attrs.update(szl_id=f"0x{szl_id:04x}", szl_index=f"0x{index:04x}")
        event = Event(name, attrs=attrs)
        return [session.ask(key, event) if kind == 4 else event]
    event = session.answer(key)
    out: list[Event | Fact] = []
    if event is None:
        event = Event(name, attrs={"rosctr": ROSCTR[USERDATA], "pdu_ref": ref,
                                   "group": USERDATA_GROUPS.get(group, str(group))})
        out.append(event)
    error = struct.unpack_from(">H", param, 10)[0] if param[3] >= 8 else 0
    event.status = "OK" if error == 0 else "Parameter Error"
    if error:
        event.attrs["error_code"] = f"0x{error:04x}"
    elif (group, sub) == (0x4, 0x01) and data[:1] == b"\xff":
        out += salvage(session, _szl_answer, data, param[9] if param[3] >= 8 else 0, "szl_id" in event.attrs, session)
    return out


def _szl_answer(data: bytes, more: int, first: bool, session: Session) -> list[Fact]:
    """Read SZL answer data (return code, transport size, length, then the SZL); an answer longer
    than one PDU comes in data units, the first (the answer to a request naming the SZL) with the
    SZL header, each with "more follow" set (parameter byte "last data unit" non-zero) but the last."""
    length = struct.unpack_from(">H", data, 2)[0]
    part = data[4 : 4 + length]
    held = session.vars.pop("szl", None)
    szl = held + part if isinstance(held, bytes) and not first else part
    if more:
        if len(szl) <= MAX_SZL:
            session.vars["szl"] = szl
        return []
    return _szl_facts(szl) if len(szl) >= 8 else []


def _szl_facts(szl: bytes) -> list[Fact]:
    """An SZL: id, index, record length, record count, records (each starts with its index)."""
    szl_id, _, size, count = struct.unpack_from(">HHHH", szl)
    records = [szl[8 + i * size : 8 + (i + 1) * size] for i in range(count)]
    facts: list[Fact] = []
    for record in records:
        if len(record) != size or size < 2:
            break
        index = struct.unpack_from(">H", record)[0]
        text = record[2:].split(b"\x00")[0].decode("latin-1").strip()
        if szl_id & 0xFF == SZL_COMPONENT_ID & 0xFF:
            if index in COMPONENT_FACTS and text:
                facts.append(Fact(COMPONENT_FACTS[index], text))
            elif index == COPYRIGHT and SIEMENS.lower() in text.lower():
                facts.append(Fact("vendor", SIEMENS, confidence=CONF_VENDOR))
        elif szl_id & 0xFF == SZL_MODULE_ID & 0xFF and size >= 28:
            facts += _module_facts(index, record)
    return facts


def _module_facts(index: int, record: bytes) -> list[Fact]:
    """SZL 0x0011 record: index, order number (MLFB, 20 characters), module type id, then two
    version words; the firmware record's are 'V', major, minor, patch."""
    if index == MODULE_ORDER_NUMBER:
        order = record[2:22].decode("latin-1").strip("\x00 ")
        if not order:
            return []
        vendor = [Fact("vendor", SIEMENS, confidence=CONF_VENDOR)] if SIEMENS_ORDER_NUMBER.match(order) else []
        return [Fact("model", order), *vendor]
    if index == MODULE_FIRMWARE and record[24:25] == b"V":
        major, minor, patch = record[25], record[26], record[27]
        return [Fact("firmware", f"V{major}.{minor}.{patch}")]
    return []


# -- S7comm-plus ----------------------------------------------------------------------------------


def _s7plus(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    version = pdu[1]
    pos = 4
    if version == 3 and pdu[pos] == 0x20:  # integrity part: digest length, digest
        pos += 1 + 0x20
    opcode = pdu[pos]
    out: list[Event | Fact] = []
    if not is_orig:
        match = PLUS_IDENTITY.search(pdu)
        if match:
            out += [Fact("model", match[1].decode()), Fact("firmware", match[2].decode()),
                    Fact("vendor", SIEMENS, confidence=CONF_VENDOR)]
    if opcode not in (0x31, 0x32, 0x02):  # notifications are cyclic data
        return out
    function, seq = struct.unpack_from(">H2xH", pdu, pos + 3)
    name = PLUS_FUNCTIONS.get(function, f"unknown-0x{function:04x}")
    if opcode == 0x31:
        event = Event(name, protocol="s7comm-plus", attrs={"version": version, "seq": seq})
        return out + [session.ask(("plus", seq), event)]
    event = session.answer(("plus", seq))
    if event is None:
        event = Event(name, protocol="s7comm-plus", attrs={"version": version, "seq": seq})
        out.append(event)
    event.status = "OK"
    return out


PROTOCOL = Protocol("s7comm", frozenset({"tcp"}), frozenset({102}), detect, decode, frame)
