"""The write-ahead log: an append-only file of framed msgpack records.

Frame layout (little-endian)::

    u32 payload length | u32 CRC-32 of payload | u32 CRC-32 of the previous 8 bytes | payload

Damage with no intact frame after it is a torn tail: a crash in the middle of an
append leaves the file ending early, in zeros, or in whatever the disk held. It
is dropped, since it was never acknowledged. Damage followed by an intact frame
is corruption (a flipped bit in acknowledged data) and raises
:class:`StoreCorruptError` rather than silently losing the frames after it. The
header's own checksum keeps a damaged length from hiding the frames that follow.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skillstore.codec import pack, unpack
from skillstore.errors import StoreCorruptError
from skillstore.storage.files import crc32, io_errors

_HEADER = struct.Struct("<III")
HEADER_SIZE = _HEADER.size
_SEARCH_WINDOW = 1 << 20  # bytes of damaged log examined per vectorised step


@dataclass
class LogScan:
    """What a scan of the log from some offset found."""

    frames: list[Any] = field(default_factory=list)
    end: int = 0  # offset just past the last good frame
    torn_bytes: int = 0  # bytes after ``end`` that form no complete frame


def encode_frame(record: Any) -> bytes:
    payload = pack(record)
    head = struct.pack("<II", len(payload), crc32(payload))
    return head + struct.pack("<I", crc32(head)) + payload


def scan(path: Path, start: int = 0) -> LogScan:
    """Decode every complete frame from ``start``; raises FileNotFoundError for a missing log."""
    with io_errors("cannot read", path), open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read()
    result = LogScan(end=start)
    pos = 0
    while pos < len(data):
        stop = _frame_end(data, pos)
        if stop is None:
            if _frame_follows(data, pos):
                raise StoreCorruptError(
                    f"log frame damaged at offset {start + pos}, with valid frames after it", str(path)
                )
            break  # an append that never completed: the file ends early, in zeros or in garbage
        try:
            result.frames.append(unpack(data[pos + HEADER_SIZE : stop]))
        except ValueError as exc:
            raise StoreCorruptError(f"log frame at offset {start + pos} cannot be decoded: {exc}", str(path)) from None
        pos = stop
    result.end = start + pos
    result.torn_bytes = len(data) - pos
    return result


def scan_prefix(path: Path) -> LogScan:
    """The frames before the first damaged or undecodable one; never raises for damage.

    What :func:`skillstore.repair.repair_store` keeps of a damaged log. ``torn_bytes``
    counts everything after the prefix, intact frames included."""
    with io_errors("cannot read", path), open(path, "rb") as handle:
        data = handle.read()
    result = LogScan()
    pos = 0
    while (stop := _frame_end(data, pos)) is not None:
        try:
            result.frames.append(unpack(data[pos + HEADER_SIZE : stop]))
        except ValueError:
            break
        pos = stop
    result.end = pos
    result.torn_bytes = len(data) - pos
    return result


def _frame_end(data: bytes, pos: int) -> int | None:
    """The offset just past the intact frame starting at ``pos``, or None if there is none."""
    if len(data) - pos < HEADER_SIZE:
        return None
    length, payload_crc, header_crc = _HEADER.unpack_from(data, pos)
    if crc32(data[pos : pos + 8]) != header_crc:
        return None
    stop = pos + HEADER_SIZE + length
    if stop > len(data) or crc32(data[pos + HEADER_SIZE : stop]) != payload_crc:
        return None
    return int(stop)


def _frame_follows(data: bytes, pos: int) -> bool:
    """Whether an intact frame starts anywhere after ``pos``: then the damage at ``pos`` is
    corruption of acknowledged data, not the unfinished last append.

    Every offset is a possible frame start, so candidates are first narrowed with NumPy:
    a frame's payload is never empty (msgpack has no zero-byte value) and must fit in
    the file. Garbage and zeros almost never pass, so a damaged log of many megabytes is
    searched in about the time it takes to read it, not one Python step per byte."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    last = len(data) - HEADER_SIZE  # the last offset where a header fits
    for start in range(pos + 1, last + 1, _SEARCH_WINDOW):
        stop = min(start + _SEARCH_WINDOW, last + 1)
        count = stop - start
        window = buffer[start : stop + 3].astype(np.uint32)
        lengths = window[:count] | window[1 : count + 1] << 8 | window[2 : count + 2] << 16 | window[3:] << 24
        room = len(data) - HEADER_SIZE - np.arange(start, stop, dtype=np.int64)
        for at in np.flatnonzero((lengths >= 1) & (lengths <= room)):
            if _frame_end(data, start + int(at)) is not None:
                return True
    return False


class LogWriter:
    """Appends frames to one log file. Callers hold the writer lock."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        self.path = path
        self.sync = sync
        with io_errors("cannot open", path):
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def truncate(self, size: int) -> None:
        with io_errors("cannot truncate", self.path):
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)

    def append(self, frame: bytes, at: int) -> int:
        """Write ``frame`` at offset ``at`` (the end of the valid log) and make it durable.

        Returns the new end offset. On any OS error the partial frame is cut off again,
        so the log holds exactly the acknowledged frames, and a StoreIOError is raised.
        """
        try:
            with io_errors("cannot append to", self.path):
                view = memoryview(frame)
                offset = at
                while view:
                    written = os.pwrite(self._fd, view, offset)
                    view, offset = view[written:], offset + written
                if self.sync:
                    os.fdatasync(self._fd)
        except Exception:
            # if even this fails, the next writer drops the torn tail before it appends
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, at)
            raise
        return at + len(frame)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
