"""Our flows against the Zeek conn.log baselines shipped in the corpus.

Every BASELINE_MAP row whose baseline is a conn.log (or .filtered / .cut) and whose trace is in
the corpus is checked, except baselines that name no connection 5-tuple (listed in EXCLUDED).
A Zeek connection matches when we report a flow with the same proto, originator and responder
(address and port), paired by start time when there are several, and — where the baseline has
the columns — the same orig_pkts and resp_pkts.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import pytest

from sensor.meter.pipeline import whole_flows
from sensor.meter.zeeklog import FIELDS, write_conn_log, zeek_proto

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
SUFFIXES = ("conn.log", "conn.log.filtered", "conn.log.cut")
MIN_RATE = 0.95

# Baselines written without a '#fields' header: their columns, by column count.
HEADERLESS = {
    # icsnpp tests: zeek-cut id.orig_h id.orig_p id.resp_h id.resp_p proto service
    6: ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service"),
    # nttcom run-pcap: conn.log with local_orig/local_resp filtered out
    19: ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
         "orig_bytes", "resp_bytes", "conn_state", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
         "resp_pkts", "resp_ip_bytes", "tunnel_parents"),
}
EXCLUDED = {
    "zeek/Baseline/scripts.base.protocols.syslog.tcp-framing/conn.log":
        "zeek-cut kept only uid/service/history/duration/pkts: no 5-tuple to match on",
    "nttcom/CCLinkField-CCLinkControl/Baseline/tests.trace/conn.log":
        "the package template under test adds a demo packet analyzer for EtherType 0x88B5 wrapping IP; "
        "stock Zeek and we see that frame as non-IP",
}


def _cases() -> list[tuple[str, str]]:
    if not (CORPUS / "BASELINE_MAP.csv").exists():
        return []
    cases = []
    with open(CORPUS / "BASELINE_MAP.csv", newline="") as f:
        for row in csv.DictReader(f):
            trace, base = row["trace"], row["baseline"]
            if base.endswith(SUFFIXES) and trace and (CORPUS / trace).exists() and base not in EXCLUDED:
                cases.append((trace, base))
    return cases


def parse_conn_log(path: Path) -> list[dict]:
    """Rows of a Zeek TSV log (or a zeek-cut extract) as dicts keyed by Zeek field names."""
    fields, rows = None, []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
            continue
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if fields is None:
            if "id.orig_h" in cols or "uid" in cols:  # zeek-cut -c style header line
                fields = cols
                continue
            fields = HEADERLESS.get(len(cols))
            if fields is None:
                raise ValueError(f"{path}: cannot tell the columns of {line!r}")
        rows.append(dict(zip(fields, cols)))
    return rows


def _key(proto, oh, op, rh, rp) -> tuple:
    return (proto, oh, int(op), rh, int(rp))


def _ts(value: str | None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare(zeek_rows: list[dict], ours: list[dict]) -> tuple[int, list[str]]:
    """(matched Zeek rows, descriptions of the differences)."""
    mine = defaultdict(list)
    for f in ours:
        if f["proto"] != "l2":
            mine[_key(zeek_proto(f["proto"]), f["orig_h"], f["orig_p"], f["resp_h"], f["resp_p"])].append(f)
    matched, diffs = 0, []
    for z in sorted(zeek_rows, key=lambda r: _ts(r.get("ts")) or 0.0):
        # a zeek-cut extract may lack the proto column: then any transport matches
        protos = [z["proto"]] if "proto" in z else ["tcp", "udp", "icmp", "unknown_transport"]
        keys = [_key(pr, z["id.orig_h"], z["id.orig_p"], z["id.resp_h"], z["id.resp_p"]) for pr in protos]
        k = next((k for k in keys if mine.get(k)), keys[0])
        cands = mine.get(k)
        if not cands:
            diffs.append(f"missing {k} (zeek pkts {z.get('orig_pkts', '?')}/{z.get('resp_pkts', '?')})")
            continue
        zts = _ts(z.get("ts"))
        best = min(cands, key=lambda f: abs(f["ts"] / 1e6 - zts)) if zts is not None else cands[0]
        cands.remove(best)
        want = (z.get("orig_pkts"), z.get("resp_pkts"))
        got = (str(best["orig_pkts"]), str(best["resp_pkts"]))
        if want[0] is None or want == got:
            matched += 1
        else:
            zeek_state = f"{z.get('conn_state')} {z.get('history')}"
            diffs.append(f"{k}: pkts zeek {want[0]}/{want[1]} ours {got[0]}/{got[1]} "
                         f"(zeek {zeek_state}, ours {best['conn_state']} {best['history']})")
    return matched, diffs


@pytest.mark.skipif(not _cases(), reason="corpus not available")
def test_zeek_conn_log_agreement():
    flows_of: dict[str, list[dict]] = {}
    total = matched = 0
    lines, problems = [], []
    for trace, base in _cases():
        if trace not in flows_of:
            flows_of[trace] = whole_flows([CORPUS / trace])
        zeek_rows = parse_conn_log(CORPUS / base)
        ok, diffs = compare(zeek_rows, flows_of[trace])
        total += len(zeek_rows)
        matched += ok
        lines.append(f"{ok:5d}/{len(zeek_rows):<5d} {trace}")
        problems += [f"  {trace}: {d}" for d in diffs]
    rate = matched / total
    print("\nmatched/zeek  capture")
    print("\n".join(lines))
    excluded = "; ".join(f"{b} ({why})" for b, why in EXCLUDED.items())
    print(f"overall {matched}/{total} = {rate:.1%}; excluded: {excluded}")
    if problems:
        print("differences:\n" + "\n".join(problems))
    assert total > 0
    assert rate >= MIN_RATE, f"only {rate:.1%} of Zeek's connections match"


@pytest.mark.skipif(not _cases(), reason="corpus not available")
def test_conn_log_writer_round_trip(tmp_path):
    """Our conn.log parses back with Zeek's header conventions, IP flows only, same values."""
    flows = whole_flows([CORPUS / "icsnpp/profinet-io-cm/traces/profinet_io_cm_mixed_1.pcap"])
    out = io.StringIO()
    written = write_conn_log(flows, out, opened=0)
    path = tmp_path / "conn.log"
    path.write_text(out.getvalue())
    text = out.getvalue().splitlines()
    assert text[0] == "#separator \\x09" and text[4] == "#path\tconn" and text[5] == "#open\t1970-01-01-00-00-00"
    assert text[7] == "#types\t" + "\t".join(t for _, t in FIELDS) and text[-1].startswith("#close\t")
    rows = parse_conn_log(path)
    ip_flows = [f for f in flows if f["proto"] != "l2"]
    assert written == len(rows) == len(ip_flows) < len(flows)
    for row, f in zip(rows, ip_flows):
        assert row["uid"] == f["uid"] and row["id.orig_h"] == f["orig_h"] and row["proto"] == zeek_proto(f["proto"])
        assert (int(row["orig_pkts"]), int(row["resp_ip_bytes"])) == (f["orig_pkts"], f["resp_ip_bytes"])
        assert row["duration"] == ("-" if f["duration"] == 0 else f"{f['duration']:.6f}")
    assert {r["proto"] for r in rows} >= {"udp", "icmp", "unknown_transport"}
