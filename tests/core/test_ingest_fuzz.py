"""A seeded share of bench/fuzz_ingest.py in the suite: mutated batches against a real core process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fuzz_ingest  # noqa: E402

BATCHES = 1000  # about 35 s on a 2-core machine running the suite; bench/fuzz_ingest.py runs 10,000+


@pytest.mark.one_pass  # the control plane is read per upload only to authenticate: covered on PostgreSQL elsewhere
def test_mutated_batches_get_no_5xx_and_store_only_valid_rows(tmp_path):
    tally = fuzz_ingest.run(BATCHES, seed=9, workdir=tmp_path, log=None)
    assert sum(tally.kinds.values()) == BATCHES
    assert tally.server_errors == 0, tally.failures
    assert tally.status[400] > BATCHES // 2  # the mutations do hit the checks
    assert tally.stored > 0  # and some mutants are valid batches, stored and counted
    assert tally.stored_but_invalid == 0 and not tally.failures, tally.failures
    reasons = {v for k, v in vars(fuzz_ingest.wire.Reason).items() if k.isupper()}
    assert set(tally.reasons) <= reasons, tally.reasons  # metric labels stay a short fixed list
