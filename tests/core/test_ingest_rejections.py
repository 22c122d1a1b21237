"""Ingest rejections over a real HTTP server: each gets a 4xx with its reason, stores nothing."""

from __future__ import annotations

import io
import json
import struct

import httpx
import pyarrow as pa
import pytest
import zstandard
from coretest import EMPTY, flow, make_batch, post_batch, row_counts

from sensor import wire

@pytest.fixture
def shared_http(shared_live):
    """Client of the module's shared server; tests using it must store nothing."""
    with httpx.Client(base_url=shared_live.url, timeout=30) as c:
        yield c
    assert row_counts(shared_live.app) == EMPTY


def _frame(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(raw)


def _with_version(version: int) -> bytes:
    raw = zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(
        wire.encode(make_batch()), max_output_size=1 << 24
    )
    return _frame(raw[:4] + bytes([version]) + raw[5:])


def _with_header(**changes) -> bytes:
    raw = zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(
        wire.encode(make_batch()), max_output_size=1 << 24
    )
    (length,) = struct.unpack_from("<I", raw, 5)
    header = json.loads(raw[9 : 9 + length]) | changes
    head = json.dumps(header).encode()
    return _frame(raw[:5] + struct.pack("<I", len(head)) + head + raw[9 + length :])


def _with_flows_table(table: pa.Table) -> bytes:
    """A batch whose flows table is ``table``, written as the encoder would but unvalidated."""
    raw = zstandard.ZstdDecompressor(dict_data=wire.zstd_prefix()).decompress(
        wire.encode(make_batch()), max_output_size=1 << 24
    )
    (length,) = struct.unpack_from("<I", raw, 5)
    pos = 9 + length
    (flows_len,) = struct.unpack_from("<Q", raw, pos)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    body = sink.getvalue()
    return _frame(
        raw[:pos] + struct.pack("<Q", len(body)) + body + raw[pos + 8 + flows_len :]
    )


REJECTIONS = {
    "not zstd": (b"definitely not zstd", "not a zstd frame"),
    "bad magic": (_frame(b"XXXX" + b"\0" * 32), "bad magic"),
    "wrong version": (_with_version(9), "unsupported batch version 9"),
    "bad header": (_with_header(batch_id="not-a-uuid"), "bad header"),
    "row count mismatch": (
        _with_header(rows={"flows": 5, "events": 1, "observations": 2}),
        "header says 5",
    ),
    "schema mismatch": (
        _with_flows_table(
            wire.table_from_rows("flows", [flow()]).drop_columns(["vlan"])
        ),
        "schema mismatch",
    ),
}


@pytest.mark.parametrize("case", REJECTIONS)
def test_invalid_batch_is_rejected_with_reason(shared_live, shared_http, case):
    acme, _ = shared_live.tenants
    body, reason = REJECTIONS[case]
    r = post_batch(shared_http, acme.sensor_token, body)
    assert r.status_code == 400
    assert reason in r.json()["detail"]


@pytest.mark.parametrize("token", [None, "mks_wrong", "api"])
def test_ingest_needs_a_sensor_token(shared_live, shared_http, token):
    acme, _ = shared_live.tenants
    r = post_batch(
        shared_http,
        acme.api_token if token == "api" else token,
        wire.encode(make_batch()),
    )
    assert r.status_code == 401
    assert "sensor token" in r.json()["detail"]


def test_oversized_body_is_refused(shared_live, shared_http, module_settings):
    acme, _ = shared_live.tenants
    r = post_batch(
        shared_http, acme.sensor_token, b"\0" * (module_settings.max_batch_bytes + 1)
    )
    assert r.status_code == 413
    assert "larger than" in r.json()["detail"]


def test_oversized_chunked_body_is_refused(shared_live, shared_http, module_settings):
    """No Content-Length to go by: the limit applies while reading."""
    acme, _ = shared_live.tenants
    chunks = (
        b"\0" * 65536 for _ in range(module_settings.max_batch_bytes // 65536 + 2)
    )
    r = shared_http.post(
        "/api/v1/ingest",
        content=chunks,
        headers={"Authorization": f"Bearer {acme.sensor_token}"},
    )
    assert r.status_code == 413
