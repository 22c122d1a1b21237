"""``prefetch(buf, i)`` for kernels that walk a capture's bytes: LLVM's ``llvm.prefetch``
(``sensor.capture.prefetch_llvm``). With the ahead-of-time kernels in use (``sensor.jit``) it is compiled
into them and numba is not imported: a placeholder stands here until numba comes in (no Python calls it)."""

from sensor import jit

LINE = 64  # bytes in a cache line

prefetch = jit.numba_object("sensor.capture.prefetch_llvm", "prefetch")
