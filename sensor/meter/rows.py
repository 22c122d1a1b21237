"""Rows the decoding stages hand to a batch: asset facts merged per interval, and decoder events
as wire.EVENTS dicts."""

from __future__ import annotations

from datetime import datetime, timezone

from sensor.decode.spec import Event

MAX_OBSERVATIONS = 50_000  # per interval and stage


class Facts:
    """One interval's facts, one row per (mac, ip, attribute, value, source) with the earliest
    time and highest confidence; empty values are ignored, facts beyond ``cap`` are counted in
    ``dropped``."""

    __slots__ = ("_rows", "cap", "dropped")

    def __init__(self, cap: int = MAX_OBSERVATIONS) -> None:
        self.cap = cap
        self.dropped = 0  # cumulative
        self._rows: dict[tuple[str, str, str, str, str], list] = {}

    def add(self, ts: float, mac: str, ip: str, attribute: str, value: str, source: str, confidence: int) -> None:
        if not value:
            return
        key = (mac, ip, attribute, value, source)
        seen = self._rows.get(key)
        if seen is not None:
            seen[0] = min(seen[0], ts)
            seen[1] = max(seen[1], confidence)
        elif len(self._rows) < self.cap:
            self._rows[key] = [ts, confidence]
        else:
            self.dropped += 1

    def flush(self) -> list[dict]:
        """The interval's rows (wire.OBSERVATIONS dicts); starts the next interval."""
        utc = timezone.utc
        rows = [{"ts": datetime.fromtimestamp(ts, utc), "mac": mac, "ip": ip, "attribute": attribute, "value": value,
                 "source": source, "confidence": confidence}
                for (mac, ip, attribute, value, source), (ts, confidence) in self._rows.items()]
        self._rows = {}
        return rows


def event_row(event: Event, uid: str, orig_h: str, resp_h: str, resp_p: int, protocol: str) -> dict:
    """A decoder event stamped with its flow (``protocol``: the decoder's, unless the event names one)."""
    ts = datetime.fromtimestamp(event.ts, timezone.utc)
    return {"ts": ts, "ts_end": ts, "count": 1, "uid": uid, "orig_h": orig_h, "resp_h": resp_h, "resp_p": resp_p,
            "protocol": event.protocol or protocol, "action": event.action, "status": event.status,
            "attrs": {k: v if v.__class__ is str else str(v) for k, v in event.attrs.items() if v != ""}}
