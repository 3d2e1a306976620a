"""Keep glibc's heap from growing with the number of threads a call uses.

``limit_malloc_arenas`` (at process start, before threads exist): glibc gives threads their own
malloc arenas, up to 8 per core, and memory freed in one arena is reused only by the threads
attached to it. A call allocates from many threads (pjmedia's clock, the VAD and STT threads,
the supervised engines' threads, pipecat's tasks), so each round of calls left some tens of MB
behind in arenas nobody used next: in one process with the tiny Whisper in the loop, RSS after
three rounds of 3 calls went 348 -> 412 -> 417 -> 421 MB with the default arenas and
299 -> 324 -> 325 -> 325 MB with two (docs/BENCHMARKS.md). Two arenas cost some malloc
contention between threads, which is noise next to the models' work.

``release_free_memory`` (glibc ``malloc_trim``):

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


M_ARENA_MAX = -8  # mallopt parameter (malloc.h)
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """``mallopt(M_ARENA_MAX, arenas)`` unless ``MALLOC_ARENA_MAX`` is set (the operator's choice
    wins). Call first thing in a process: threads already running keep their arenas. True when
    the limit is in place."""
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return True
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    try:
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (AttributeError, OSError):  # pragma: no cover
        return False


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
