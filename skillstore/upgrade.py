"""Upgrading a store written in format 1 (the first release) to format 2.

Format 1 kept the same snapshot files, but its MANIFEST had no store id and no
count of writes, its log had no header and its frames were neither salted nor
chained (``u32 length | u32 CRC-32 of the payload | u32 CRC-32 of those 8 bytes |
payload``), and its writers locked a file named ``LOCK``.

The first read-write open of such a store upgrades it in place: under the
directory lock and the old ``LOCK`` (so that no process of the first release
writes meanwhile), it loads the snapshot, replays the log with the same
validation as any replay, and writes the result as a new generation of format 2.
Replacing the MANIFEST commits the upgrade; until then the store is untouched
and still opens with the first release. A log damaged before its last frame
refuses the upgrade (repair it with the release that wrote it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillstore.codec import unpack
from skillstore.errors import SkillStoreError, StoreCorruptError
from skillstore.frames import FrameError, check_frame
from skillstore.storage import log
from skillstore.storage.files import crc32, io_errors, is_regular, read_file
from skillstore.storage.manifest import NAME as MANIFEST_NAME
from skillstore.storage.manifest import read_format_1_manifest

if TYPE_CHECKING:
    from skillstore.store import SkillStore

OLD_LOCK = "LOCK"
_FRAME = struct.Struct("<III")


def manifest_format(directory: Path) -> Any:
    """The format version a MANIFEST declares, read without checking anything else."""
    try:
        data = read_file(directory / MANIFEST_NAME, 1 << 20)
        raw = unpack(data[8:])
    except (ValueError, TypeError, SkillStoreError):
        return None  # damaged: the normal open reports it
    return raw.get("format") if isinstance(raw, dict) else None


def upgrade_format_1(store: SkillStore) -> None:
    """Upgrade the format-1 store that ``store`` (not yet loaded) names, unless another
    process just did."""
    directory = store.path
    assert store._lock is not None
    with store._mutex, store._lock.held(), _old_lock(directory):
        if manifest_format(directory) != 1:
            return
        manifest = read_format_1_manifest(directory)
        store._adopt_snapshot(manifest)
        log_path = directory / manifest.log_name
        frames = _format_1_frames(log_path)
        for number, frame in enumerate(frames):
            try:
                store._apply(check_frame(frame, manifest.dim))
            except (FrameError, SkillStoreError) as exc:
                raise StoreCorruptError(f"log frame {number} cannot be applied: {exc}", str(log_path)) from None
        store._cursor = log.Cursor(log.HEADER_SIZE, len(frames), 0)
        store._checkpoint(manifest.index)  # writes format 2; the MANIFEST's replacement commits it
        for leftover in (log_path, directory / OLD_LOCK):
            if is_regular(leftover):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)


@contextlib.contextmanager
def _old_lock(directory: Path) -> Iterator[None]:
    with io_errors("cannot open", directory / OLD_LOCK):
        try:
            fd = os.open(directory / OLD_LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = -1
    if fd < 0:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a writer of the first release finishes its call first
        yield
    finally:
        os.close(fd)


def _format_1_frames(path: Path) -> list[Any]:
    """The frames of a format-1 log; a torn tail is dropped, damage before an intact frame raises."""
    try:
        data = read_file(path, log.MAX_LOG_BYTES)
    except FileNotFoundError:
        raise StoreCorruptError("the log the MANIFEST names is missing", str(path)) from None
    if data.startswith(log.MAGIC):
        raise StoreCorruptError("a log of format 2 under a MANIFEST of format 1", str(path))
    frames, pos = [], 0
    while (stop := _frame_end(data, pos)) is not None:
        try:
            frames.append(unpack(data[pos + _FRAME.size : stop]))
        except (ValueError, TypeError) as exc:
            raise StoreCorruptError(f"log frame at offset {pos} cannot be decoded: {exc}", str(path)) from None
        pos = stop
    if any(_frame_end(data, later) is not None for later in range(pos + 1, len(data) - _FRAME.size + 1)):
        raise StoreCorruptError(
            f"damaged at offset {pos} with intact frames after it; repair it with the release that wrote it", str(path)
        )
    return frames


def _frame_end(data: bytes, pos: int) -> int | None:
    if len(data) - pos < _FRAME.size:
        return None
    length, payload_crc, header_crc = _FRAME.unpack_from(data, pos)
    stop = pos + _FRAME.size + length
    if crc32(data[pos : pos + 8]) != header_crc or length == 0 or stop > len(data):
        return None
    return stop if crc32(data[pos + _FRAME.size : stop]) == payload_crc else None
