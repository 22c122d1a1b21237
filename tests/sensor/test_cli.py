"""mieruka-sensor as an installer or analyst runs it: a real process, real files."""

import json
import subprocess
import sys
from pathlib import Path

import dpkt
import pyarrow.parquet as pq
import pytest

CLI = str(Path(sys.executable).parent / "mieruka-sensor")


def run(*args, cwd):
    return subprocess.run([CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    res = run("simulate", "--out", "plant.pcap", "--packets", 20000, "--seed", 7, cwd=d)
    assert res.returncode == 0, res.stderr
    return d / "plant.pcap"


def pcap_totals(path):
    with open(path, "rb") as f:
        return sum(1 for _ in dpkt.pcap.Reader(f))


def test_simulate_is_deterministic(capture, tmp_path):
    assert run("simulate", "--out", "again.pcap", "--packets", 20000, "--seed", 7, cwd=tmp_path).returncode == 0
    assert (tmp_path / "again.pcap").read_bytes() == capture.read_bytes()
    assert pcap_totals(capture) == 20000


def test_analyze_jsonl_and_parquet_agree_and_sum_to_the_capture(capture, tmp_path):
    assert run("analyze", capture, "--out", "j", "--format", "jsonl", cwd=tmp_path).returncode == 0
    assert run("analyze", capture, "--out", "p", "--format", "parquet", cwd=tmp_path).returncode == 0
    rows = [json.loads(line) for line in open(tmp_path / "j" / "flows.jsonl")]
    table = pq.read_table(tmp_path / "p" / "flows.parquet")
    assert len(rows) == table.num_rows > 0
    packets = sum(r["orig_pkts"] + r["resp_pkts"] for r in rows)
    assert packets == pcap_totals(capture)
    assert sum(table.column("orig_pkts").to_pylist()) + sum(table.column("resp_pkts").to_pylist()) == packets
    observations = [json.loads(line) for line in open(tmp_path / "j" / "observations.jsonl")]
    assert any(o["attribute"] == "vendor" and "Siemens" in o["value"] for o in observations)


def test_analyze_folds_repeated_events_unless_asked_for_every_pdu(capture, tmp_path):
    assert run("analyze", capture, "--out", "folded", cwd=tmp_path).returncode == 0
    assert run("analyze", capture, "--out", "every", "--every-pdu", cwd=tmp_path).returncode == 0
    folded = [json.loads(line) for line in open(tmp_path / "folded" / "events.jsonl")]
    every = [json.loads(line) for line in open(tmp_path / "every" / "events.jsonl")]
    assert all(e["count"] == 1 for e in every) and any(e["count"] > 1 for e in folded)
    assert sum(e["count"] for e in folded) == len(every) > len(folded)


def test_analyze_zeek_writes_whole_flows(capture, tmp_path):
    res = run("analyze", capture, "--out", "z", "--format", "zeek", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "z" / "conn.log").read_text().splitlines()
    fields = next(line for line in lines if line.startswith("#fields")).split("\t")[1:]
    data = [dict(zip(fields, line.split("\t"))) for line in lines if not line.startswith("#")]
    uids = [r["uid"] for r in data]
    assert len(uids) == len(set(uids)) > 0  # one line per connection
    modbus = [r for r in data if r["id.resp_p"] == "502"]
    assert modbus and all(r["proto"] == "tcp" for r in modbus)
    assert any(r["conn_state"] == "SF" and r["history"].startswith("ShAD") for r in modbus)


@pytest.mark.parametrize(
    "args, names",
    [
        (["analyze", "missing.pcap", "--out", "o"], "missing.pcap"),
        (["analyze", "CAPTURE", "--out", "o", "--format", "xml"], "--format"),
        (["analyze", "CAPTURE"], "--out"),
        (["simulate", "--out", "x.pcap", "--packets", "0"], "--packets"),
        (["replay", "CAPTURE", "--token", "t"], "--core"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capture, tmp_path, args, names):
    res = run(*[capture if a == "CAPTURE" else a for a in args], cwd=tmp_path)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and names in res.stderr


def test_garbage_capture_is_a_clear_error_not_a_traceback(tmp_path):
    (tmp_path / "junk.pcap").write_bytes(b"this is not a capture file at all")
    res = run("analyze", "junk.pcap", "--out", "o", cwd=tmp_path)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "junk.pcap" in res.stderr


def test_start_up_leaves_scapy_until_a_vendor_is_looked_up():
    """`mieruka-sensor`'s imports leave out Scapy (~20 ms of every start): the MAC vendor table loads it when
    first asked, and then answers."""
    code = ("import sys; import sensor.cli; before = 'scapy' in sys.modules;"
            "from sensor.meter import oui; print(before, oui.vendor('00:1B:1B:12:34:56'), 'scapy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["False", "Siemens", "AG", "True"]
