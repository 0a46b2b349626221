"""File primitives with the durability and safety every other storage module relies on.

Nothing is rewritten in place: a file is written under a fresh temporary name
(created with ``O_EXCL``), every byte checked and fsynced, renamed over its target,
and the directory is fsynced so the rename survives a power cut. OS errors become
:class:`StoreIOError`, so a full disk or a file-size limit is a typed error.

A store only touches what it owns: every file is opened with ``O_NOFOLLOW``, so a
symbolic link planted inside a store's directory is refused instead of followed.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import re
import secrets
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path

from skillstore.errors import StoreCorruptError, StoreIOError

CHUNK = 1 << 20
# O_NONBLOCK: a FIFO planted under a store file's name must be refused, not waited on
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_SUFFIX = re.compile(r"\.tmp-[0-9a-f]{16}$")  # what temp_name appends


@contextlib.contextmanager
def io_errors(action: str, path: Path | str) -> Iterator[None]:
    """Turn an OSError raised inside the block into a StoreIOError naming what failed.

    FileNotFoundError passes through: callers decide what a missing file means. A
    symbolic link where a store file should be (``ELOOP`` from ``O_NOFOLLOW``) is damage.
    """
    try:
        yield
    except (StoreIOError, FileNotFoundError, StoreCorruptError):
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            message = "is a symbolic link; a store never follows links in its directory"
            raise StoreCorruptError(message, str(path)) from None
        raise StoreIOError(exc.errno, f"{action} {path}: {exc.strerror or exc}") from exc


def temp_name(name: str) -> str:
    """A fresh temporary name beside ``name``: never an existing file, never a planted link."""
    return f"{name}.tmp-{secrets.token_hex(8)}"


def fsync_dir(directory: Path) -> None:
    with io_errors("cannot sync", directory):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view[:CHUNK])
        if written <= 0:  # a write that makes no progress would loop forever
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]


def write_file(path: Path, data: bytes | memoryview, *, sync: bool = True) -> None:
    """Create ``path``, which must not exist, holding exactly ``data`` (fsynced when ``sync``).

    A short write, a full disk or a file-size limit raises StoreIOError and removes the
    partial file."""
    with io_errors("cannot write", path):
        fd = os.open(path, _CREATE_FLAGS, 0o644)
        try:
            _write_all(fd, data)  # past RLIMIT_FSIZE: EFBIG (Python ignores SIGXFSZ)
            if sync:
                os.fsync(fd)
            if os.fstat(fd).st_size != len(memoryview(data).cast("B")):
                raise OSError(errno.EIO, "file size differs from what was written")
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        os.close(fd)


def replace_file(path: Path, data: bytes, *, sync_directory: bool = True) -> None:
    """Atomically replace ``path`` with ``data``: temp file, fsync, rename, fsync directory
    (left to the caller with ``sync_directory=False``: the rename has happened when it returns)."""
    temp = path.with_name(temp_name(path.name))
    write_file(temp, data)
    try:
        with io_errors("cannot replace", path):
            os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if sync_directory:
        fsync_dir(path.parent)


def open_for_reading(path: Path, *, dir_fd: int | None = None) -> int:
    """A descriptor of the regular file ``path``; never follows a symbolic link."""
    with io_errors("cannot open", path):
        fd = os.open(path, _READ_FLAGS, dir_fd=dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StoreCorruptError("is not a regular file", str(path))
    return fd


def read_fd(fd: int, path: Path | str, max_size: int, *, offset: int = 0) -> bytes:
    """The bytes of an open file from ``offset``, refusing more than ``max_size`` before reading."""
    with io_errors("cannot read", path):
        size = os.fstat(fd).st_size - offset
        if size > max_size:
            raise StoreCorruptError(f"file is {size + offset} bytes, more than the {max_size} expected", str(path))
        parts = []
        try:
            while size > 0:
                chunk = os.pread(fd, min(size, CHUNK * 64), offset)
                if not chunk:
                    break  # the file shrank while we read it (a writer cut a failed append)
                parts.append(chunk)
                offset += len(chunk)
                size -= len(chunk)
            return b"".join(parts)
        except MemoryError:  # a sparse file can claim far more than the disk holds
            raise StoreCorruptError(f"file of {size + offset} bytes does not fit in memory", str(path)) from None


def read_file(path: Path, max_size: int) -> bytes:
    """Read a whole regular file, refusing one larger than ``max_size`` before allocating anything."""
    fd = open_for_reading(path)
    try:
        return read_fd(fd, path, max_size)
    finally:
        os.close(fd)


def crc32(data: bytes | memoryview | mmap.mmap, seed: int = 0) -> int:
    return zlib.crc32(data, seed) & 0xFFFFFFFF


def file_crc32(path: Path) -> tuple[int, int]:
    """(size, crc32) of a regular file, read in chunks."""
    fd = open_for_reading(path)
    crc, size = 0, 0
    try:
        with io_errors("cannot read", path):
            while chunk := os.read(fd, CHUNK):
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
    finally:
        os.close(fd)
    return size, crc & 0xFFFFFFFF


def is_regular(path: Path) -> bool:
    """True for a regular file (a symbolic link is not one, whatever it points to)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def is_real_dir(path: Path) -> bool:
    """True for a directory (a symbolic link to one is not)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
