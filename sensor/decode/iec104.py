"""IEC 60870-5-104: APCI frames (I, S, U format) and their ASDUs.

Each I-format ASDU becomes an event named by its type (``C_SC_NA_1`` single command,
``M_ME_NC_1`` measured value …) with the cause of transmission, common address and first
information object address; a command's activation confirmation or termination (same type,
common address and object address, sent the other way) answers the activation. STARTDT and STOPDT
U-frames are events too; TESTFR keep-alives and S-format acknowledgements are flow control.
"""

from __future__ import annotations

import struct

from sensor.decode.spec import Event, Protocol, Session
from sensor.decode.stream import whole_pdus

TYPES = {
    1: "M_SP_NA_1", 2: "M_SP_TA_1", 3: "M_DP_NA_1", 4: "M_DP_TA_1", 5: "M_ST_NA_1", 6: "M_ST_TA_1",
    7: "M_BO_NA_1", 8: "M_BO_TA_1", 9: "M_ME_NA_1", 10: "M_ME_TA_1", 11: "M_ME_NB_1", 12: "M_ME_TB_1",
    13: "M_ME_NC_1", 14: "M_ME_TC_1", 15: "M_IT_NA_1", 16: "M_IT_TA_1", 17: "M_EP_TA_1", 18: "M_EP_TB_1",
    19: "M_EP_TC_1", 20: "M_PS_NA_1", 21: "M_ME_ND_1", 30: "M_SP_TB_1", 31: "M_DP_TB_1", 32: "M_ST_TB_1",
    33: "M_BO_TB_1", 34: "M_ME_TD_1", 35: "M_ME_TE_1", 36: "M_ME_TF_1", 37: "M_IT_TB_1", 38: "M_EP_TD_1",
    39: "M_EP_TE_1", 40: "M_EP_TF_1", 41: "S_IT_TC_1", 45: "C_SC_NA_1", 46: "C_DC_NA_1", 47: "C_RC_NA_1",
    48: "C_SE_NA_1", 49: "C_SE_NB_1", 50: "C_SE_NC_1", 51: "C_BO_NA_1", 58: "C_SC_TA_1", 59: "C_DC_TA_1",
    60: "C_RC_TA_1", 61: "C_SE_TA_1", 62: "C_SE_TB_1", 63: "C_SE_TC_1", 64: "C_BO_TA_1", 70: "M_EI_NA_1",
    81: "S_CH_NA_1", 82: "S_RP_NA_1", 83: "S_AR_NA_1", 84: "S_KR_NA_1", 85: "S_KS_NA_1", 86: "S_KC_NA_1",
    87: "S_ER_NA_1", 90: "S_US_NA_1", 91: "S_UQ_NA_1", 92: "S_UR_NA_1", 93: "S_UK_NA_1", 94: "S_UA_NA_1",
    95: "S_UC_NA_1", 100: "C_IC_NA_1", 101: "C_CI_NA_1", 102: "C_RD_NA_1", 103: "C_CS_NA_1", 104: "C_TS_NA_1",
    105: "C_RP_NA_1", 106: "C_CD_NA_1", 107: "C_TS_TA_1", 110: "P_ME_NA_1", 111: "P_ME_NB_1", 112: "P_ME_NC_1",
    113: "P_AC_NA_1", 120: "F_FR_NA_1", 121: "F_SR_NA_1", 122: "F_SC_NA_1", 123: "F_LS_NA_1", 124: "F_AF_NA_1",
    125: "F_SG_NA_1", 126: "F_DR_TA_1", 127: "F_SC_NB_1",
}
CAUSES = {
    1: "per/cyc", 2: "back", 3: "spont", 4: "init", 5: "req", 6: "act", 7: "actcon", 8: "deact", 9: "deactcon",
    10: "actterm", 11: "retrem", 12: "retloc", 13: "file", 20: "inrogen", **{20 + n: f"inro{n}" for n in range(1, 17)},
    37: "reqcogen", **{37 + n: f"reqco{n}" for n in range(1, 5)}, 44: "unknown type", 45: "unknown cause",
    46: "unknown common address", 47: "unknown object address",
}
ANSWERS = frozenset({7, 9, 10, 44, 45, 46, 47})  # causes that answer an activation
U_FUNCTIONS = {0x07: "STARTDT act", 0x0B: "STARTDT con", 0x13: "STOPDT act", 0x23: "STOPDT con",
               0x43: "TESTFR act", 0x83: "TESTFR con"}
KEEPALIVE = frozenset({0x43, 0x83})
START = 0x68
ASDU_HEADER = 6  # type, SQ/count, cause, originator address, common address (2)


def frame(buf: bytes) -> int:
    if len(buf) < 2:
        return 0
    if buf[0] != START or not 4 <= buf[1] <= 253:
        raise ValueError("not an IEC 104 APCI")
    return 2 + buf[1]


def _plausible(apdu: bytes) -> bool:
    control = apdu[2]
    if control & 0x01 == 0:  # I-format: an ASDU of a known type and cause
        return len(apdu) >= 6 + ASDU_HEADER and apdu[6] in TYPES and (apdu[8] & 0x3F) in CAUSES
    if control & 0x03 == 0x01:  # S-format
        return len(apdu) == 6 and control == 0x01 and apdu[3] == 0
    return len(apdu) == 6 and control in U_FUNCTIONS and apdu[3:6] == b"\0\0\0"


def detect(payload: bytes) -> bool:
    return whole_pdus(payload, frame, _plausible)


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event]:
    session.services.add("iec104")
    control = pdu[2]
    if control & 0x03 == 0x03:
        if control in KEEPALIVE or control not in U_FUNCTIONS:
            return []
        return [Event(U_FUNCTIONS[control], attrs={"format": "U"})]
    if control & 0x01:
        return []  # S-format: acknowledgement only
    return _asdu(pdu[6:], is_orig, session)


def _asdu(asdu: bytes, is_orig: bool, session: Session) -> list[Event]:
    kind, variable, cause_byte, originator, common = struct.unpack_from("<BBBBH", asdu)
    count, cause = variable & 0x7F, cause_byte & 0x3F
    if len(asdu) < ASDU_HEADER + 3:
        raise ValueError("ASDU without an information object")
    ioa = int.from_bytes(asdu[ASDU_HEADER : ASDU_HEADER + 3], "little")
    name = TYPES.get(kind, f"unknown-{kind}")
    cause_name = CAUSES.get(cause, f"unknown-{cause}")
    key = (kind, common, ioa)
    if cause in ANSWERS:
        pair = (key, not is_orig)
        pending = session.pending.get(pair)
        if cause == 10 and pending is not None and "rtt" in pending.attrs:  # termination after the confirmation
            del session.pending[pair]  # the event keeps the confirmation's reply and round-trip time
            pending.attrs["term_rtt"] = f"{max(session.ts - pending.ts, 0.0):.6f}"
            return []
        event = session.answer(pair)
        if event is not None:
            event.status = "negative" if cause_byte & 0x40 or cause >= 44 else "OK"
            event.attrs["reply"] = cause_name
            if cause == 7:  # the termination may follow
                session.ask((key, not is_orig), event)
            return []
    event = Event(name, attrs={"format": "I", "cot": cause_name, "common_address": common, "ioa": ioa,
                               "objects": count, "originator": originator})
    if cause_byte & 0x40:
        event.status = "negative"
    if cause_byte & 0x80:
        event.attrs["test"] = 1
    if cause in (6, 8):  # activation or deactivation: a command awaiting its confirmation
        session.ask((key, is_orig), event)
    return [event]


PROTOCOL = Protocol("iec104", frozenset({"tcp"}), frozenset({2404}), detect, decode, frame)
