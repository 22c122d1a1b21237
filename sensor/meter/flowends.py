"""A compiled path's flows' ends as numbers, one uint64 row a flow (``FlowTable.end_words``): its uid's
digest, IP version (0: none), the originator's and the responder's address, the responder's port; and
the texts the flow's records name them by (``FlowTable.endpoints``'s). 64 bytes a flow, where a tuple
of texts took ~190. And the flows an interval ended, as the stages are told of them: their uids as an
Arrow array (not a Python string each)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sensor import wire
from sensor.meter.flows import _digests, _texts, ip_text
from sensor.wire import flowuid

UID, VER, ORIG, RESP, PORT = 0, 2, 3, 5, 7  # UID: the digest's two words; ORIG/RESP: high and low words
WORDS = 8


def _host(ver: int, hi: int, lo: int) -> str:
    return ip_text(ver, hi, lo) if ver else ""


def uids(rows: np.ndarray) -> pa.Array:
    return flowuid.uid_texts(_digests(rows, UID))


def distinct_hosts(rows: np.ndarray, end: int) -> tuple[pa.Array, np.ndarray]:
    """The distinct addresses of the rows' ``end`` (ORIG or RESP), each formatted once, and each
    row's index into them."""
    return _texts(rows[:, [VER, end, end + 1]], _host)


def texts(rows: np.ndarray) -> tuple[pa.Array, pa.Array, pa.Array, np.ndarray]:
    """(uid, orig_h, resp_h, resp_p) of each row; each distinct address is formatted once."""
    n = len(rows)
    hosts, at = _texts(np.concatenate([rows[:, [VER, ORIG, ORIG + 1]], rows[:, [VER, RESP, RESP + 1]]]), _host)
    return uids(rows), hosts.take(at[:n]), hosts.take(at[n:]), rows[:, PORT]


def one(row: np.ndarray) -> tuple[str, str, str, int]:
    """(uid, orig_h, resp_h, resp_p) of one row."""
    v = row.tolist()
    uid = wire.uid_text(v[UID].to_bytes(8, "big") + v[UID + 1].to_bytes(4, "big"))
    return uid, _host(v[VER], v[ORIG], v[ORIG + 1]), _host(v[VER], v[RESP], v[RESP + 1]), v[PORT]


def resp_h(row: np.ndarray) -> str:
    return _host(int(row[VER]), int(row[RESP]), int(row[RESP + 1]))


def shared_uid(rows: np.ndarray) -> bool:
    """Whether two of the rows have the same uid (sorted rather than ``np.unique(axis=0)``: ~10× faster)."""
    words = rows[:, UID : UID + 2]
    ranked = words[np.lexsort(words.T)]
    return bool((ranked[1:] == ranked[:-1]).all(axis=1).any())


def forget_ended(by_uid: dict[str, object], ended: pa.Array) -> None:
    """Drop the entries of ``by_uid`` whose flow is among the ``ended`` uids: each ended uid looked up
    when they are the fewer, else the entries' uids looked up among them in one Arrow call."""
    if len(ended) <= len(by_uid):
        for uid in ended.to_pylist():
            by_uid.pop(uid, None)
    elif by_uid:
        keys = list(by_uid)
        gone = pc.is_in(pa.array(keys, pa.string()), value_set=ended).to_numpy(zero_copy_only=False)
        for at in np.flatnonzero(gone).tolist():
            del by_uid[keys[at]]
