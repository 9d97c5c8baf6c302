"""The worker's memory allocator: jemalloc where it is installed, else glibc, tamed.

A worker holds hundreds of thousands of small long-lived objects (alerts) allocated
between short-lived ones (the batches they were decoded from). glibc's malloc keeps the
pages those leave behind, and at 200,000 active alerts a worker's RSS was 2,564 B per
alert with it against 1,982 B with jemalloc in the same conditions
(benchmarks/results/alerts-20261130T0832*). jemalloc must be loaded before the process
starts, so the worker re-executes itself once with it preloaded (same PID: ``execve``).
``ALERTSTREAM_ALLOCATOR=system`` keeps glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys


def use_jemalloc(argv: list[str]) -> None:
    """Re-execute ``python -m app.cli <argv>`` with jemalloc preloaded, if it is
    installed and not loaded yet; returns only when it does not (then glibc is tamed)."""
    preload = os.environ.get("LD_PRELOAD", "")
    choice = os.environ.get("ALERTSTREAM_ALLOCATOR", "jemalloc")
    jemalloc = ctypes.util.find_library("jemalloc")  # the loader's cache: not dlopen,
    # which jemalloc refuses once a process has started (static TLS)
    if choice == "jemalloc" and "jemalloc" not in preload and jemalloc:
        env = {**os.environ, "LD_PRELOAD": f"{jemalloc} {preload}".strip()}
        os.execve(sys.executable, [sys.executable, "-m", "app.cli", *argv], env)
    if "jemalloc" not in preload:
        limit_malloc_arenas()


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
