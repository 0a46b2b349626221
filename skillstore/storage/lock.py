"""The writer lock: ``flock`` on the store's LOCK file, shared by every writing process.

``flock`` locks belong to an open file description, so two threads of one process
would both "hold" it; ``SkillStore`` adds a thread lock on top. For the same reason a
process forked from a writer must not use the inherited descriptor: parent and child
would share one lock and write at once. The lock is re-opened in each new process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from skillstore.errors import StoreLockedError
from skillstore.storage.files import io_errors

NAME = "LOCK"


class WriterLock:
    def __init__(self, store_dir: Path, timeout: float) -> None:
        self.path = store_dir / NAME
        self.timeout = timeout
        self._open()

    def _open(self) -> None:
        with io_errors("cannot open", self.path):
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self._pid = os.getpid()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._pid != os.getpid():  # inherited across fork: get a lock of our own
            os.close(self._fd)
            self._open()
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
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
