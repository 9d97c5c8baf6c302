"""Files only the pipeline's user may read (the keyring, the audit signing key), shared
by every process of the pipeline that runs beside them.

Whichever process needs one first creates it; the others read the same file.  A file is
written whole to a new name (mode 0600) and renamed over the old one, under a lock file
beside it, so a reader never sees half a file and two processes creating or changing it
at once do it one after the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path


class PrivateFileError(OSError):
    """A private file cannot be read, written or locked (path and reason in the message)."""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively (created 0600, with ``path``'s directory)."""
    lock = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise PrivateFileError(f"{lock}: cannot lock: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Atomically: a new file (0600) renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PrivateFileError(f"{path}: cannot write: {exc.strerror}") from None


def create_once(path: Path, make: Callable[[], bytes]) -> bool:
    """Write ``make()`` to ``path`` unless it exists (checked under the lock: of several
    processes starting together, one creates it); whether this call created it."""
    if path.exists():
        return False
    with locked(path):
        if path.exists():
            return False
        write_private(path, make())
        return True
