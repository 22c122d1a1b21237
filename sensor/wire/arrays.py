"""Arrow arrays made from numpy arrays by their buffers.

What a sensor reading captures builds each interval (the flow records' columns) is made here without
``pyarrow.compute`` (its import is ~45 ms of a start) and without ``pa.array`` of an ndarray (whose
first call imports ``numpy.ma``, ~10 ms): the same arrays, no nulls.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sensor.jit import njit


def numbers(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """``values`` as an Arrow array of the fixed-width ``kind`` (integers converted by numpy, timestamps
    from int64, booleans bit-packed). A view of a larger array is copied: Arrow would keep all of it for
    as long as the array lives."""
    if pa.types.is_boolean(kind):
        data = np.packbits(np.asarray(values, np.bool_), bitorder="little")
    else:
        data = values.astype(np.int64 if pa.types.is_timestamp(kind) else kind.to_pandas_dtype(), copy=False)
        data = data.copy() if data.base is not None or not data.flags.c_contiguous else data
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(data)])


def take_texts(texts: pa.StringArray, index: np.ndarray) -> pa.StringArray:
    """``texts[i]`` for each ``i`` of ``index`` (``texts`` without nulls), as one string array. Refuses what
    the compiled loop cannot take safely (it checks no bounds): another type, nulls, an index outside."""
    if not pa.types.is_string(texts.type) or texts.null_count:
        raise TypeError(f"take_texts: a string array without nulls, not {texts.type} with {texts.null_count} nulls")
    index = np.ascontiguousarray(index, np.int64)
    if len(index) and (index.min() < 0 or index.max() >= len(texts)):
        raise IndexError(f"take_texts: an index outside the {len(texts)} texts")
    offsets = np.frombuffer(texts.buffers()[1], np.int32, len(texts) + 1, texts.offset * 4)
    data, taken = _take(np.frombuffer(texts.buffers()[2] or b"", np.uint8), offsets, index)
    return pa.StringArray.from_buffers(len(index), pa.py_buffer(taken), pa.py_buffer(data))


def texts_at(column: pa.ChunkedArray, rows: np.ndarray) -> list[str]:
    """The texts in ``rows`` (ascending) of a string column without nulls, chunk by chunk (not copied into
    one array first: 100,000 uids are ~2 MB)."""
    texts, at = [], 0
    for chunk in column.chunks:
        lo, hi = np.searchsorted(rows, (at, at + len(chunk)))
        texts += take_texts(chunk, rows[lo:hi] - at).to_pylist()
        at += len(chunk)
    return texts


@njit(cache=True)
def _take(data, offsets, index):
    """The bytes of each string ``index`` names, one after the other, and their n + 1 offsets (a compiled
    loop: numpy's gather of the bytes needed an int64 index per byte, ~14 MB for 100,000 uids)."""
    n = len(index)
    taken = np.empty(n + 1, np.int32)
    taken[0] = 0
    for i in range(n):
        taken[i + 1] = taken[i] + offsets[index[i] + 1] - offsets[index[i]]
    out = np.empty(taken[n], np.uint8)
    for i in range(n):
        out[taken[i] : taken[i + 1]] = data[offsets[index[i]] : offsets[index[i] + 1]]
    return out, taken
