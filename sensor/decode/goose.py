"""IEC 61850-8-1 GOOSE (EtherType 0x88B8): the control blocks an IED publishes and their state changes.

A frame is APPID, length, two reserved words and a BER goosePdu: gocbRef, timeAllowedtoLive,
datSet, goID, t, stNum, sqNum, simulation, confRev, ndsCom, numDatSetEntries, allData. A
publisher repeats its message (sqNum + 1) and starts a new state on a change (stNum + 1, sqNum 0),
so per control block the decoder keeps the last (stNum, sqNum): a block's message is a "publish"
event (kept once per interval by the link-layer stage), a new stNum a "state_change" and a sqNum
going back within a state a "sequence_reset" (a restarted publisher, or a replayed or injected
message). The stage samples each APPID to one frame a second, so a change is seen within a
second and a burst of changes is one event whose ``prev_st_num`` shows the jump. Data values
are not kept.
"""

from __future__ import annotations

import struct

import numpy as np

from sensor.decode.ber import Reader
from sensor.decode.dns import clean_text
from sensor.decode.spec import Event, Fact, LinkProtocol, Session

ETHERTYPE = 0x88B8
GOOSE_PDU = 0x61  # [APPLICATION 1]
GOCB_REF, DAT_SET, GO_ID, ST_NUM, SQ_NUM, SIMULATION, CONF_REV, NDS_COM, ENTRIES = (
    0x80, 0x82, 0x83, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A)
MAX_BLOCKS = 64  # control blocks followed per flow


def _unsigned(fields: dict[int, bytes], tag: int) -> int:
    if tag not in fields:
        raise ValueError(f"GOOSE PDU without field {tag:#x}")
    return int.from_bytes(fields[tag], "big")


def decode(payload: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    appid, length = struct.unpack_from(">HH", payload)
    if not 8 < length <= len(payload):
        raise ValueError("GOOSE length out of range")
    fields = Reader(Reader(payload[8:length]).expect(GOOSE_PDU)).fields()
    gocb = clean_text(fields.get(GOCB_REF, b""))
    if not gocb:
        raise ValueError("GOOSE PDU without gocbRef")
    st_num, sq_num = _unsigned(fields, ST_NUM), _unsigned(fields, SQ_NUM)
    session.services.add("goose")
    publish = Event("publish", attrs={
        "appid": f"0x{appid:04x}", "gocb_ref": gocb, "dat_set": clean_text(fields.get(DAT_SET, b"")),
        "go_id": clean_text(fields.get(GO_ID, b"")), "conf_rev": _unsigned(fields, CONF_REV),
        "entries": _unsigned(fields, ENTRIES), "simulation": "true" if any(fields.get(SIMULATION, b"")) else "",
        "nds_com": "true" if any(fields.get(NDS_COM, b"")) else ""})
    out: list[Event | Fact] = [publish, Fact("goose_control_block", gocb)]
    blocks: dict[str, tuple[int, int]] = session.vars.setdefault("goose", {})
    last = blocks.get(gocb)
    if last is not None and st_num != last[0]:
        out.append(Event("state_change", attrs={"gocb_ref": gocb, "st_num": st_num, "prev_st_num": last[0],
                                                "sq_num": sq_num}))
    elif last is not None and sq_num < last[1]:
        out.append(Event("sequence_reset", attrs={"gocb_ref": gocb, "st_num": st_num, "sq_num": sq_num,
                                                  "prev_sq_num": last[1]}))
    if last is not None or len(blocks) < MAX_BLOCKS:
        blocks[gocb] = (st_num, sq_num)
    return out


PROTOCOL = LinkProtocol("goose", ETHERTYPE, decode, cyclic=lambda appids: np.ones(len(appids), np.bool_))
