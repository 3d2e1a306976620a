"""Give freed heap memory back to the system (glibc ``malloc_trim``).

A call allocates from many threads (pjmedia's clock, the VAD and STT pools, pipecat's tasks),
and glibc keeps what they free in per-thread arenas for reuse: after the calls end a SIP worker's
RSS stays ~40 MB above what it uses (scripts/bench_sip_memory.py --trim, docs/BENCHMARKS.md).
Not a leak (the next calls reuse it), but it reads like one and is memory other processes on
the box could have. The SIP service calls this when its last call has ended. Elsewhere (musl,
macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger("appliance.memory")


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> bool:
    """``malloc_trim(0)``: True when glibc gave memory back. Blocking (milliseconds; the GIL is
    released): call it off the event loop."""
    libc = _libc()
    if libc is None:
        return False
    try:
        return bool(libc.malloc_trim(0))
    except (AttributeError, OSError):  # pragma: no cover - not glibc after all
        log.debug("malloc_trim failed", exc_info=True)
        return False
