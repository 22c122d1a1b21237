"""The application layer's compiled DNP3 path (``sensor.decode.fast.dnp3``; DNP3 over TCP): a detected
flow's packets go to the numba kernel a chunk at a time; its event rows read as ``sensor.decode.dnp3``
values them. The segments of fragments spread over link frames are put together here, as
``dnp3._transport`` does, and the whole fragment handed back to the kernel; the starts held count
against the one budget of held bytes (``dnp3.MAX_HELD``) the Python decoder's count against. A flow
the kernel cannot follow moves to Python (``sensor.meter.fast_path``), with the start of a fragment held."""

from __future__ import annotations

import numpy as np

from sensor.decode import dnp3
from sensor.decode.fast import dnp3 as k
from sensor.decode.fast import framed, tcp
from sensor.meter.fast_path import FramedFlows
from sensor.meter.flows import FlowTable
from sensor.meter.rows import Facts

MAX_EVENTS = 1 << 17  # per interval (192 bytes each), with the Python path's DNP3 events (applayer.CAPPED)
FUNCTIONS = [dnp3.FUNCTIONS.get(code, f"unknown-{code}") for code in range(256)]
VALUE_MASK = (1 << k.VALUE_BITS) - 1


def _label(word: int) -> str:
    """An object header word as dnp3._walk labels the header."""
    name, label = f"g{word >> 54}v{word >> 46 & 0xFF}", word >> 44 & 3
    a, b = word >> k.VALUE_BITS & VALUE_MASK, word & VALUE_MASK
    return name if label == k.LABEL_NONE else f"{name}[{a}-{b}]" if label == k.LABEL_RANGE else f"{name}[{a}]"


def _objects(words: list[int]) -> str:
    return ",".join(_label(word) for word in words if word)


def _transport(held: bytes | None, data: bytes, live: int) -> tuple[bytes | None, np.ndarray | None, bool]:
    """dnp3._transport of a link frame's user data ``data`` with the start of a fragment ``held``
    (None: none) and ``live`` the bytes of the direction's start held now (what dnp3.over_budget
    weighs): (what is
    held after, the fragment when whole (after its transport header byte), whether it was given up)."""
    header, segment = data[0], data[1:]
    if header & 0x40:
        held = b""
    elif held is None:  # a segment of a fragment whose start was not seen
        return None, None, False
    fragment = held + segment
    if len(fragment) > dnp3.MAX_FRAGMENT:
        return None, None, True
    if header & 0x80:
        return None, np.frombuffer(data[:1] + fragment, np.uint8), False
    if dnp3.over_budget(live, len(fragment)):
        return None, None, True
    return fragment, None, False


class FastDnp3(FramedFlows):
    protocol = "dnp3"
    services = ((k.SERVICE, "dnp3_tcp"),)

    def __init__(self, facts: Facts, table: FlowTable) -> None:
        super().__init__(k, MAX_EVENTS, facts, table)
        self._held: dict[tuple[int, int], dnp3.Held] = {}  # (fid, direction) → the start of a fragment
        self._stale = False  # whether the kernel may have dropped starts still held here since _purge

    def _forget(self, fid: int) -> None:
        self._held.pop((fid, 0), None)
        self._held.pop((fid, 1), None)

    def _partial(self, fid: int, d: int) -> bytes | None:
        """The start of a fragment held for the direction (the kernel drops it at a whole fragment)."""
        if not self._flows[fid, k.F_PARTIAL + d]:
            self._held.pop((fid, d), None)
            return None
        return self._held.get((fid, d))

    def _hold(self, fid: int, d: int, held: bytes | None) -> None:
        self._flows[fid, k.F_PARTIAL + d] = held is not None
        self._held.pop((fid, d), None)  # (its bytes leave dnp3.Held.total before the new ones count)
        if held is not None:
            self._held[fid, d] = dnp3.Held(held)

    def _scan(self, *packets: np.ndarray | int) -> tuple[int, int]:
        status, i = super()._scan(*packets)
        self._stale |= i > packets[-1]  # the kernel read packets from ``start`` on
        return status, i

    def _purge(self) -> None:
        """Drop the starts the kernel dropped at a whole fragment, as Python drops them at once, so
        that dnp3.Held.total weighs what the Python decoder would hold."""
        for fid, d in [key for key in self._held if not self._flows[key[0], k.F_PARTIAL + key[1]]]:
            del self._held[fid, d]
        self._stale = False

    def _vars(self, fid: int) -> dict:
        return {f"fragment{1 - d}": held for d in (0, 1) if (held := self._partial(fid, d)) is not None}

    def _aside(self, buf: np.ndarray, i: int, fid: np.ndarray, is_orig: np.ndarray, ts: np.ndarray, off: np.ndarray,
               length: np.ndarray, seq: np.ndarray) -> bool:
        """A segment of whole link frames, some of them segments of fragments spread over frames:
        those put together here, the others read by the kernel; False when a fragment put together
        has more or larger object headers than the kernel holds (nothing of the segment is read)."""
        f, orig, t, lo, ln = int(fid[i]), bool(is_orig[i]), int(ts[i]), int(off[i]), int(length[i])
        d = 0 if orig else 1
        if self._stale and dnp3.Held.total + ln > dnp3.MAX_HELD:  # (no fragment of the segment grows past it)
            self._purge()
        held = self._partial(f, d)
        # each frame with, for a segment, _transport's answer: worked out before anything changes, so each
        # weighs the start held before the segment (``live``) against Held.total as it is now, which is what
        # Held.total less the start held at that frame will be as the answers are applied
        live, frames, pos = len(held or b""), [], lo
        while pos < lo + ln:
            n, kind = int(k.size(buf, pos, lo + ln - pos)), k.fragment(buf, pos)[1]
            put = None
            if kind == k.SEGMENT:
                put = held, whole, _ = _transport(held, dnp3._user_data(bytes(buf[pos : pos + n])), live)
                if whole is not None and not k.fits(whole, 0, False, len(whole), self._events):
                    return False
            elif kind == k.WHOLE:
                held = None
            frames.append((pos, kind, put))
            pos += n
        self._grow(len(frames))
        self._flows[f, k.F_SEQ + d] = (int(seq[i]) + ln) & tcp.SEQ_MASK
        for pos, kind, put in frames:
            if put is not None:
                held, whole, too_large = put
                self._hold(f, d, held)
                decoded = not too_large and (whole is None or k.assembled(
                    whole, len(whole), int(buf[pos + 6]) | int(buf[pos + 7]) << 8,
                    int(buf[pos + 4]) | int(buf[pos + 5]) << 8, f, orig, t, self._flows, self._keys, self._vals,
                    self._events, self._cnt))
            else:
                decoded = k.decode(buf, pos, 0, f, orig, t, self._flows, k.F_PENDING, self._keys, self._vals,
                                   self._events, self._cnt)
                if kind == k.WHOLE:  # the kernel dropped the start held, as Python drops it
                    self._held.pop((f, d), None)
            framed.frame_done(decoded, self._flows, f, orig, t, self._cnt)
        return True

    def _pending_key(self, key: int) -> object:
        return "dnp3", bool(key)

    def _fields(self, e: list[int]) -> tuple[str, str, dict[str, object]]:
        attrs: dict[str, object] = {"src": e[k.E_SRC], "dst": e[k.E_DST],
                                    "objects": _objects(e[k.E_OBJECTS : k.E_OBJECTS + k.MAX_HEADERS])}
        status, reply = "", e[k.E_REPLY]
        if reply >= 0:
            iin = e[k.E_IIN]
            status = "OK" if iin & 0x0007 == 0 else "IIN error"
            attrs.update(reply=FUNCTIONS[reply], iin=iin,
                         reply_objects=_objects(e[k.E_REPLY_OBJECTS : k.E_REPLY_OBJECTS + k.MAX_HEADERS]))
        return FUNCTIONS[e[k.E_FUNCTION]], status, attrs
