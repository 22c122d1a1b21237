"""The zstd level follows the batch's size: small batches get the smallest frames, a busy site's
batch is still packed in about a second (the curve behind the table is in bench/README.md)."""

from __future__ import annotations

import zstandard

from sensor import wire

from test_wire import make_batch


def test_levels_fall_as_batches_grow():
    sizes = [1 << 10, 4 << 20, (4 << 20) + 1, 16 << 20, (16 << 20) + 1, 64 << 20, (64 << 20) + 1, 256 << 20]
    levels = [wire.level_for(size) for size in sizes]
    assert levels == [19, 19, 9, 9, 6, 6, 3, 3]


def test_encode_picks_the_level_for_its_size_and_the_frame_decodes_the_same():
    batch = make_batch()
    body = wire.encode(batch)
    assert body == wire.encode(batch, level=19)  # a small batch: the strongest level
    assert body != wire.encode(batch, level=3)
    frame = zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(wire.encode(batch, level=3))
    assert frame == zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(body)
    back = wire.decode(wire.encode(batch, level=wire.LARGE_LEVEL))
    assert back.tables["flows"].equals(wire.decode(body).tables["flows"])
