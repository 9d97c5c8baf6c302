"""The worker's allocator tuning: freed memory in the middle of the heap goes back."""

from __future__ import annotations

from app.allocator import return_free_memory


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def test_freed_pages_inside_the_heap_are_returned_to_the_system():
    # 1 KiB blocks come from malloc's heap; keeping every 64th pins the heap's extent,
    # so only the free pages between them can go back (as a flush's buffers do)
    blocks = [bytes(1024) + bytes([i % 256]) for i in range(120_000)]
    kept = blocks[::64]
    del blocks
    before = rss_kib()
    return_free_memory()
    after = rss_kib()
    assert len(kept) == 1875
    assert before - after > 50_000, (before, after)  # of ~120 MiB freed, most returned
