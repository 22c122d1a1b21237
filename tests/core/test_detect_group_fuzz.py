"""Mutated batches detected in groups: each mutant the wire accepts (bench/fuzz_ingest.py's mutations of
real and hand-made batches) is stored in a group beside a valid batch of another sensor, with a global
indicator list naming what the seeds carry — and gives exactly what the same batches give stored one
by one, with no detection step failing on it (the joined sightings and indicator matches read the
hostile rows of the whole group)."""

from __future__ import annotations

import logging
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_detect_groups import stored, tenant_with_two_sensors

from core.detect.indicators import import_file
from core.ingest import _Pending
from sensor import wire

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fuzz_ingest  # noqa: E402

MUTANTS = 250  # ~20 s on a 2-core machine running the suite; bench/fuzz_ingest.py mutates 10,000+


@pytest.mark.one_pass
def test_accepted_mutants_grouped_detect_as_one_by_one(client, tmp_path, caplog):
    app = client.app
    ingestor, ch = app.state.ingestor, app.state.clickhouse
    seeds = fuzz_ingest.seed_bodies(tmp_path, datetime.now(UTC))
    listed = tmp_path / "indicators.csv"
    decoded = [wire.decode(b) for b in seeds]
    addresses = {ip for b in decoded for ip in b.tables["flows"]["resp_h"].to_pylist()[:2] if ip}
    listed.write_text("".join(f"ip,{ip}\n" for ip in sorted(addresses)))
    import_file(ch, listed)
    alone, alone_sensors = tenant_with_two_sensors(app, "fuzz-alone", 0)
    grouped, grouped_sensors = tenant_with_two_sensors(app, "fuzz-grouped", 0)
    rng, accepted = random.Random(4), 0
    caplog.set_level(logging.WARNING)
    for i in range(MUTANTS):
        _, body = fuzz_ingest.mutate(seeds, rng)
        try:
            mutant = wire.decode(body)
        except wire.WireError:
            continue
        accepted += 1
        beside = decoded[i % len(decoded)]
        mate = wire.encode(wire.Batch(beside.interval_start, beside.interval_end, beside.tables, beside.counters))
        statuses = [ingestor.ingest(alone, alone_sensors[s], b).status for s, b in ((0, body), (1, mate))]
        group = [_Pending(grouped, grouped_sensors[0], mutant),
                 _Pending(grouped, grouped_sensors[1], wire.decode(mate))]
        ingestor._store(group)  # what group commit calls with the batches that arrived together
        assert [p.status for p in group] == statuses
    assert accepted > 20, accepted
    assert stored(ch, grouped, grouped_sensors) == stored(ch, alone, alone_sensors)
    alerts = stored(ch, grouped, grouped_sensors)[0]
    assert {"indicator_match"} <= {a["kind"] for a in alerts}
    failed = [r.getMessage() for r in caplog.records if any(s in r.getMessage() for s in fuzz_ingest.DETECTION_FAILED)]
    assert not failed, failed
