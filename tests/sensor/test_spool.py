import os

import pytest

from sensor.ship.spool import Spool


def test_put_pending_ack_in_order(tmp_path):
    spool = Spool(tmp_path)
    a = spool.put("11111111-1111-1111-1111-111111111111", b"a" * 10)
    b = spool.put("22222222-2222-2222-2222-222222222222", b"b" * 10)
    assert [x.batch_id for x in spool.pending()] == [a.batch_id, b.batch_id]
    assert spool.pending()[0].read() == b"a" * 10
    spool.ack(a)
    assert [x.batch_id for x in spool.pending()] == [b.batch_id]


def test_survives_reopen_and_discards_partial_writes(tmp_path):
    spool = Spool(tmp_path)
    spool.put("id-1", b"x")
    # a crash mid-write leaves only a temporary file behind
    (tmp_path / ".000000000002-id-2.mrkb.tmp").write_bytes(b"partial")
    reopened = Spool(tmp_path)
    assert [b.batch_id for b in reopened.pending()] == ["id-1"]
    assert not list(tmp_path.glob(".*.tmp"))
    assert reopened.put("id-3", b"y").sequence == 2


def test_sequence_continues_when_state_file_is_lost(tmp_path):
    spool = Spool(tmp_path)
    for i in range(3):
        spool.put(f"id-{i}", b"z")
    os.remove(tmp_path / "state.json")
    assert Spool(tmp_path).put("id-next", b"z").sequence == 4


def test_bounded_with_counted_oldest_first_eviction(tmp_path):
    spool = Spool(tmp_path, max_bytes=25)
    for i in range(4):
        spool.put(f"id-{i}", bytes(10))
    assert [b.batch_id for b in spool.pending()] == ["id-2", "id-3"]
    stats = spool.stats()
    assert stats["evicted"] == 2 and stats["evicted_bytes"] == 20
    assert stats["depth"] == 2 and stats["bytes"] == 20


def test_reject_keeps_batch_and_reason_out_of_queue(tmp_path):
    spool = Spool(tmp_path)
    batch = spool.put("id-bad", b"q")
    spool.reject(batch, "400: schema mismatch")
    assert spool.pending() == []
    assert (tmp_path / "rejected" / batch.path.name).read_bytes() == b"q"
    assert "schema mismatch" in (tmp_path / "rejected" / f"{batch.path.stem}.reason.txt").read_text()


def test_a_failed_write_leaves_nothing_and_is_counted(tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    spool.put("id-1", b"x")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError):
            spool.put("id-2", b"y")
    assert [b.batch_id for b in spool.pending()] == ["id-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000000001-id-1.mrkb", "state.json"]
    assert spool.stats()["write_failures"] == 1
    spool.put("id-3", b"z")  # the count is saved with the next batch that fits
    assert Spool(tmp_path).stats()["write_failures"] == 1


def test_set_aside_counts_refused_batches_and_keeps_the_newest_reason(tmp_path):
    spool = Spool(tmp_path)
    assert spool.set_aside() == (0, "")
    first, second = spool.put("a", b"1"), spool.put("b", b"2")
    spool.reject(first, "400: bad_time")
    spool.reject(second, "400: schema mismatch")
    assert spool.set_aside() == (2, "400: schema mismatch")
    assert spool.stats()["rejected"] == 2 and spool.pending() == []
