"""Arrow arrays made from numpy arrays by their buffers.

What a sensor reading captures builds each interval (the flow records' columns) is made here without
``pyarrow.compute`` (its import is ~45 ms of a start) and without ``pa.array`` of an ndarray (whose
first call imports ``numpy.ma``, ~10 ms): the same arrays, no nulls.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


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
    """``texts[i]`` for each ``i`` of ``index`` (``texts`` without nulls), as one string array."""
    offsets = np.frombuffer(texts.buffers()[1], np.int32, len(texts) + 1, texts.offset * 4)
    data = np.frombuffer(texts.buffers()[2] or b"", np.uint8)
    start = offsets[index]
    length = offsets[index + 1] - start
    out = np.zeros(len(index) + 1, np.int32)
    np.cumsum(length, out=out[1:])
    picked = data[np.repeat(start - out[:-1], length) + np.arange(out[-1])]
    return pa.StringArray.from_buffers(len(index), pa.py_buffer(out), pa.py_buffer(picked))
