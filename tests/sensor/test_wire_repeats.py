"""Decode's shortcuts give what the row-by-row definitions give: Community IDs hashed once per distinct
five-tuple (flows repeat them) equal the reference package's for every row, and a batch whose tables
come in several record batches, empty tables included, decodes to the tables it was made of."""

from __future__ import annotations

import random

import pyarrow as pa
from test_community import _table, reference

from sensor import wire
from sensor.meter.observe import Observer
from sensor.meter.pipeline import iter_batches
from sensor.simulate import write_pcap


def test_repeated_five_tuples_get_the_ids_of_their_rows():
    distinct = [("udp", "10.0.0.1", "10.0.0.2", 5000, 502), ("udp", "10.0.0.2", "10.0.0.1", 502, 5000),
                ("tcp", "10.0.0.1", "10.0.0.2", 5000, 502), ("icmp", "10.0.0.1", "10.0.0.2", 8, 0),
                ("icmp", "10.0.0.2", "10.0.0.1", 0, 0), ("udp", "fe80::1", "fe80::2", 5000, 502),
                ("udp", "::a00:1", "::a00:2", 5000, 502),  # the IPv4 pair's bytes, as IPv6
                ("l2", "", "", 0, 0)]
    rng = random.Random(11)
    rows = [rng.choice(distinct) for _ in range(400)]
    ids = wire.flow_community_ids(_table(rows))
    assert ids == [reference(*row) for row in rows]
    assert len(set(ids)) == 6  # a flow and its mirror, an echo and its reply share one; v4 and v6 do not


def test_tables_in_several_record_batches_decode_to_themselves(tmp_path):
    path = tmp_path / "plant.pcap"
    write_pcap(path, 3_000, seed=2)
    batch = next(b for b in iter_batches([path], 10.0, observer=Observer()) if b.rows("events"))
    for name in ("flows", "events"):
        table = batch.tables[name]
        split = pa.Table.from_batches(table.to_batches(max_chunksize=max(1, table.num_rows // 3)))
        assert split.num_rows == table.num_rows and split.column(0).num_chunks > 1
        batch.tables[name] = split
    batch.tables["observations"] = wire.empty_table("observations")
    decoded = wire.decode(wire.encode(batch))
    for name in wire.TABLES:
        assert decoded.tables[name].equals(batch.tables[name].combine_chunks()), name
