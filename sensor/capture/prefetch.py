"""``prefetch(buf, i)`` for kernels that walk a capture's bytes: LLVM's ``llvm.prefetch``
(``sensor.capture.prefetch_llvm``). With the ahead-of-time kernels in use (``sensor.jit``) it is compiled
into them and numba is not imported: a placeholder stands here until numba comes in (no Python calls it)."""

from sensor import jit

LINE = 64  # bytes in a cache line

if jit.AOT:
    prefetch = jit.Placeholder("sensor.capture.prefetch_llvm", "prefetch")
else:
    from sensor.capture.prefetch_llvm import prefetch  # noqa: F401
