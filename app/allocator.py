"""The worker's memory allocator: glibc's malloc, tamed.

jemalloc was measured as the alternative (benchmarks/results/alerts-20261130T08*-issue9-
mem-*): on a loaded machine it showed 20% less RSS per active alert, on a quiet one 40%
more (its freed pages decay back to the system only after seconds), so glibc stays.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

TRIM_EVERY = 10.0  # seconds between ``return_free_memory`` calls


@functools.cache  # find_library runs ldconfig in a subprocess
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def return_free_memory() -> None:
    """Give the pages of freed memory back to the system (glibc's ``malloc_trim``).
    glibc returns only the top of its heap by itself; the transient buffers of a flush
    (a notification of thousands of alerts, a fetched batch of records) are freed in
    the middle of it, and their pages would otherwise stay in the RSS until reused.
    It walks the free lists with the arenas locked: 0.5-27 ms at 200,000 active alerts
    under load (measured), every ``TRIM_EVERY`` s. A no-op off glibc."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def limit_malloc_arenas(arenas: int = 2, mmap_threshold: int = 256 * 1024) -> None:
    """glibc gives each thread that allocates its own malloc arena and keeps their freed
    memory, and raises its mmap threshold as large blocks are freed, after which large
    transient buffers (notification records of MBs) come from the heap and stay in the
    RSS. Capping the arenas and fixing the threshold keeps a worker's RSS close to its
    state. Called before the C libraries' threads start. A no-op off glibc."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return
    libc.mallopt(-8, arenas)  # M_ARENA_MAX
    libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD (fixed: no dynamic growth)
