"""Locks: the writer lock on the store's directory, and pins on generations.

The writer lock is an ``flock`` on the store's directory itself, not on a file in
it: a file can be deleted and created again while a writer holds a lock on the old
one, and then two writers write at once. A directory holding a store cannot be
deleted, and if it is moved or replaced, :meth:`WriterLock.held` sees that its
path no longer names the directory it locked and refuses to write
(:class:`StoreReplacedError`).

``flock`` locks belong to an open file description, so two threads of one process
would both "hold" it; ``SkillStore`` adds a thread lock on top. For the same reason a
process forked from a writer must not use the inherited descriptor: parent and child
would share one lock and write at once. The lock is re-opened in each new process.

A pin is a shared ``flock`` on a generation's snapshot directory, held by every open
store for the generation it has loaded. A checkpoint removes an old generation only
if it can take that lock exclusively, so a reader never has files removed under it
however often writers checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from skillstore.errors import StoreLockedError, StoreReplacedError
from skillstore.storage.files import io_errors

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def check_identity(path: Path, expected: tuple[int, int]) -> None:
    """Raise StoreReplacedError unless ``path`` still names the directory we opened."""
    try:
        st = os.stat(path)
    except OSError:
        raise StoreReplacedError(f"{path}: the store's directory was moved or deleted while open") from None
    if (st.st_dev, st.st_ino) != expected:
        raise StoreReplacedError(f"{path}: the store's directory was replaced by another while open")


class WriterLock:
    def __init__(self, store_dir: Path, timeout: float) -> None:
        self.path = store_dir
        self.timeout = timeout
        self._fd = -1
        self._open()
        self.identity = identity(self._fd)

    def _open(self) -> None:
        with io_errors("cannot open", self.path):
            self._fd = os.open(self.path, _DIR_FLAGS)
        self._pid = os.getpid()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock, after checking that the path still names the locked directory."""
        if self._fd < 0:
            raise StoreLockedError(f"{self.path}: the writer lock was closed")
        if self._pid != os.getpid():  # inherited across fork: get a lock of our own
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = -1
            try:
                self._open()
            except FileNotFoundError:
                raise StoreReplacedError(f"{self.path}: the store's directory was moved or deleted") from None
            if identity(self._fd) != self.identity:
                raise StoreReplacedError(f"{self.path}: the store's directory was replaced by another while open")
        deadline = time.monotonic() + self.timeout
        pause = 0.0005
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"{self.path}: another process has held the writer lock for over {self.timeout:g}s"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
        try:
            check_identity(self.path, self.identity)
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Pin:
    """A shared lock on one generation's snapshot directory; ``fd`` opens files inside it."""

    def __init__(self, fd: int, generation: int) -> None:
        self.fd = fd
        self.generation = generation

    @classmethod
    def take(cls, snapshot: Path, generation: int) -> Pin | None:
        """Pin ``snapshot``; None when it is missing or being removed (read the MANIFEST again)."""
        with io_errors("cannot open", snapshot):  # a planted symbolic link is damage
            try:
                fd = os.open(snapshot, _DIR_FLAGS | os.O_NOFOLLOW)
            except (FileNotFoundError, NotADirectoryError):
                return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(fd, generation)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the last descriptor releases the lock
            self.fd = -1


@contextlib.contextmanager
def claimed(snapshot: Path) -> Iterator[int | None]:
    """An exclusive lock on a snapshot directory, or None when a store has it pinned (or it
    is not a real directory). The caller removes the generation while this is held."""
    try:
        fd = os.open(snapshot, _DIR_FLAGS | os.O_NOFOLLOW)
    except OSError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield fd
    finally:
        os.close(fd)
