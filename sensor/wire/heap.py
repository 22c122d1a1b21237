"""Freed C heap given back to the system at once.

glibc's malloc keeps memory freed in the middle of its heap (only the top is trimmed as it is freed), so
a batch's tables let go while the frame's content is built are still resident beside it: the content,
one large block, cannot reuse the scattered free space and takes new pages. ``malloc_trim`` returns
every whole free page (``madvise``); elsewhere (another C library) there is nothing to call.
"""

from __future__ import annotations

import ctypes
import functools

WORTH = 4 << 20  # bytes let go below which giving back is not worth its walk of the heap (0.2-4 ms)


@functools.cache
def _trim():
    try:
        return ctypes.CDLL(None).malloc_trim  # the process's own symbols: its C library's
    except AttributeError:  # a C library without it
        return None


def give_back() -> None:
    """Return the C heap's free pages to the system (what is still allocated stays where it is)."""
    trim = _trim()
    if trim is not None:
        trim(0)
