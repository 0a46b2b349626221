"""File primitives with the durability every other storage module relies on.

Nothing is rewritten in place: a file is written under a temporary name, fsynced,
renamed over its target, and the directory is fsynced so the rename survives a
power cut. OS errors become :class:`StoreIOError`, so a full disk is a typed error.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from skillstore.errors import StoreCorruptError, StoreIOError

CHUNK = 1 << 20


@contextlib.contextmanager
def io_errors(action: str, path: Path | str) -> Iterator[None]:
    """Turn an OSError raised inside the block into a StoreIOError naming what failed.

    FileNotFoundError passes through: callers decide what a missing file means.
    """
    try:
        yield
    except (StoreIOError, FileNotFoundError):
        raise
    except OSError as exc:
        raise StoreIOError(exc.errno, f"{action} {path}: {exc.strerror or exc}") from exc


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes | memoryview, *, sync: bool = True) -> None:
    """Create ``path`` (which must not be in use) with ``data``, fsynced when ``sync``."""
    with io_errors("cannot write", path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view[:CHUNK])
                view = view[written:]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)


def replace_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``: temp file, fsync, rename, fsync directory."""
    temp = path.with_name(path.name + ".tmp")
    write_file(temp, data)
    with io_errors("cannot replace", path):
        os.replace(temp, path)
        fsync_dir(path.parent)


def read_file(path: Path, max_size: int) -> bytes:
    """Read a whole file, refusing one larger than ``max_size`` before allocating anything."""
    with io_errors("cannot read", path), open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_size:
            raise StoreCorruptError(f"file is {size} bytes, more than the {max_size} expected", str(path))
        return handle.read(size)


def crc32(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def file_crc32(path: Path) -> tuple[int, int]:
    """(size, crc32) of a file, read in chunks."""
    crc, size = 0, 0
    with io_errors("cannot read", path), open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return size, crc & 0xFFFFFFFF
