"""Whole flows → Zeek TSV ``conn.log`` (IP flows only; L2 flows have no Zeek equivalent)."""

from __future__ import annotations

import time
from typing import Iterable, TextIO

# (Zeek field, Zeek type) in Zeek's column order, then our extra columns
FIELDS = (
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"),
    ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"), ("duration", "interval"),
    ("orig_bytes", "count"), ("resp_bytes", "count"), ("conn_state", "string"), ("local_orig", "bool"),
    ("local_resp", "bool"), ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"), ("vlan", "int"), ("community_id", "string"),
)
UNSET = "-"


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(t))


def zeek_proto(proto: str) -> str:
    """Zeek's transport_proto name: ICMPv6 is "icmp" too; other IP protocols are unknown."""
    if proto == "icmp6":
        return "icmp"
    return proto if proto in ("tcp", "udp", "icmp") else "unknown_transport"


def _row(f: dict) -> list[str]:
    """One flow (pipeline.whole_flows record) as Zeek column strings."""
    ts = f["ts"] / 1e6
    # Zeek only sets duration and payload sizes for connections that lasted > 0 s
    lasted = f["duration"] > 0
    return [
        f"{ts:.6f}", f["uid"], f["orig_h"], str(f["orig_p"]), f["resp_h"], str(f["resp_p"]), zeek_proto(f["proto"]),
        f["service"] or UNSET,
        f"{f['duration']:.6f}" if lasted else UNSET,
        str(f["orig_bytes"]) if lasted else UNSET,
        str(f["resp_bytes"]) if lasted else UNSET,
        f["conn_state"], UNSET, UNSET, "0", f["history"] or UNSET,
        str(f["orig_pkts"]), str(f["orig_ip_bytes"]), str(f["resp_pkts"]), str(f["resp_ip_bytes"]),
        UNSET, str(f["vlan"]) if f["vlan"] else UNSET, f["community_id"] or UNSET,
    ]


def write_conn_log(flows: Iterable[dict], out: TextIO, opened: float | None = None) -> int:
    """Write ``flows`` (dicts with wire.FLOWS names, ts in µs) as conn.log; return rows written."""
    opened = time.time() if opened is None else opened
    out.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n")
    out.write(f"#open\t{_stamp(opened)}\n")
    out.write("#fields\t" + "\t".join(name for name, _ in FIELDS) + "\n")
    out.write("#types\t" + "\t".join(kind for _, kind in FIELDS) + "\n")
    rows = 0
    for f in flows:
        if f["proto"] == "l2":
            continue
        out.write("\t".join(_row(f)) + "\n")
        rows += 1
    out.write(f"#close\t{_stamp(time.time())}\n")
    return rows
