"""The worker's memory allocator: glibc's malloc, tamed.

jemalloc was measured as the alternative (benchmarks/results/alerts-20261130T08*-issue9-
mem-*): on a loaded machine it showed 20% less RSS per active alert, on a quiet one 40%
more (its freed pages decay back to the system only after seconds), so glibc stays.
"""

from __future__ import annotations

import ctypes
import ctypes.util


def limit_malloc_arenas(arenas: int = 2, mmap_threshold: int = 256 * 1024) -> None:
    """glibc gives each thread that allocates its own malloc arena and keeps their freed
    memory, and raises its mmap threshold as large blocks are freed, after which large
    transient buffers (notification records of MBs) come from the heap and stay in the
    RSS. Capping the arenas and fixing the threshold keeps a worker's RSS close to its
    state. Called before the C libraries' threads start. A no-op off glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD (fixed: no dynamic growth)
    except (OSError, AttributeError):
        return
