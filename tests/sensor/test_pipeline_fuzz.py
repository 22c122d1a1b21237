"""Whole-pipeline fuzzing in CI (a seeded share of bench/fuzz_pipeline.py): mutated corpus captures
through the pipeline as `analyze` runs it, through the `analyze` command itself, and through
`mieruka-sensor run` fed by capture files and uploading to a real core: no exception escapes, every
frame is accounted for (read = decoded + parse errors), and the core's totals agree."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest
from coretest import LiveServer, provision
from installtest import sensor
from runtest import api_get, eventually, sensor_run, write_config
from storetemplate import migrated
from typer.testing import CliRunner

from core.api.app import create_app
from core.config import Settings
from sensor.capture.pcapfile import CaptureError
from sensor.cli import app
from sensor.ship.spool import Spool

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fuzz_pipeline as fz  # noqa: E402

NOW = int(time.time() * 1e6)


@pytest.fixture(scope="module")
def sources():
    """Corpus frames, the first 300 of each capture."""
    if not (fz.CORPUS / "MANIFEST.csv").exists():
        pytest.skip("corpus not available")
    return [f for f in (fz.load_frames(p)[:300] for p in fz.corpus_files()) if f]


def test_mutated_captures_through_the_pipeline(corpus):
    report = fz.fuzz(30_000, seed=9, corpus=corpus, max_frames_per_file=300)
    assert not (report.exceptions or report.mismatches or report.faults or report.slow), report.failures
    assert report.written >= 30_000 and report.read > 15_000
    assert set(report.reasons) == {"record", "link_type", "link", "ip", "transport"}  # every stage was hit
    assert len(report.link_types) >= 3


def test_the_analyze_command(sources, tmp_path):
    rng = random.Random(4)
    checked = 0
    for n in range(12):
        cap = fz.mutate(rng, rng.choice(sources), NOW)
        path = tmp_path / f"m{n}.cap"
        path.write_bytes(cap.data)
        stats, problems = fz.check(path, cap)
        assert not problems
        result = CliRunner().invoke(app, ["analyze", str(path), "--out", str(tmp_path / f"out{n}")])
        if isinstance(result.exception, CaptureError):  # no longer a capture at all: the CLI's one line, exit 2
            assert stats.read == 0 and not cap.intact
            continue
        assert result.exit_code == 0, result.output
        errors = sum(stats.errors.values())
        assert f"{stats.read} packets, {errors} parse errors" in result.output
        assert (f"unparsed: {stats.summary()}" in result.output) == bool(errors)
        checked += 1
    assert checked >= 8


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    with LiveServer(create_app(Settings(data_dir=migrated(tmp_path_factory.mktemp("core"))))) as server:
        yield server


@pytest.mark.parametrize("damaged", [False, True], ids=["records-intact", "container-damaged"])
def test_run_fed_by_mutated_captures(core, sources, tmp_path, damaged):
    """`run` on a stand-in interface whose capture mixes many corpus captures' mutated frames (several
    link types, some unknown): it stays up, and the core stores exactly the accounting `analyze`'s
    pipeline makes of the same file."""
    rng = random.Random(11 + damaged)
    frames = sorted((fz.Frame(f.ts + NOW - src[-1].ts, f.linktype, f.data, f.wirelen)  # each ending now
                     for src in rng.sample(sources, 25) for f in src), key=lambda f: f.ts)
    for f in rng.sample(frames, 40):
        f.linktype = rng.choice((147, 239, 0xFFFF))
    mutated, _ = fz.mutate_frames(rng, frames, NOW)
    cap = fz.Capture(fz.write_pcapng(mutated, big=False)[0], len(mutated))
    if damaged:
        cap = fz.Capture(fz._flip(rng, cap.data[: len(cap.data) * 3 // 4], 30), len(mutated), intact=False)
    (tmp_path / "site").mkdir()
    capture = tmp_path / "site" / "eth1.pcap"
    capture.write_bytes(cap.data)
    stats, problems = fz.check(capture, cap)
    assert not problems and stats.errors["link_type"] > 0

    tenant = provision(core.app, f"fuzz-{damaged}")
    config = write_config(tmp_path / "sensor.toml", core.url, tenant, f"SN-fuzz-{damaged}", interval_s=60.0,
                          heartbeat_s=1.0)
    with sensor_run(config, tmp_path / "site") as run:
        run.wait_for("the capture ended")
        eventually(lambda: not Spool(tmp_path / "spool").pending(), 60)
        assert run.stop() == 0, run.log
    assert "Traceback" not in run.log and "rejected" not in run.log, run.log
    assert f"frames read {stats.read}: {stats.decoded} decoded, {sum(stats.errors.values())} parse errors" in run.log
    totals = api_get(core.url, tenant, "/api/v1/totals")
    assert (totals["captured_packets"], totals["packets"], totals["parse_errors"]) == (
        stats.read, stats.decoded, sum(stats.errors.values()))
    status = sensor("status", config=config, capture=None).stdout
    assert "link types   not decoded: " in status and "147 (" in status, status
