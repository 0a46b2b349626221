"""The write-ahead log: a header, then salted, chained frames of msgpack records.

Layout (little-endian)::

    header  b"SKLG" | u16 version | u16 0 | 16-byte store id | u64 generation
            | u64 base sequence | u32 salt | u32 CRC-32 of the preceding 44 bytes
    frame   u32 payload length | u64 sequence | u32 previous checksum | u32 checksum
            | u32 CRC-32 of the preceding 20 bytes, seeded with the salt | payload

Each frame's checksum covers its length, sequence, the previous frame's checksum
(the salt for the first frame) and its payload, seeded with the log's random
salt. So a frame is valid only where the writer put it: bytes inside a skill
(even a copy of a frame of this or another log) never pass for one, and a frame
that a failed append left behind and a later frame replaced breaks the chain.
CRC-32 is not a cryptographic code: this keeps data from passing for frames by
accident, not someone who reads the salt and computes checksums on purpose (who
could as well rewrite the file).

Sequence numbers count every write the store ever committed: a log's first frame
follows ``base sequence``, the number of writes folded into its generation's
snapshot. Repair compares generations by it.

Damage with no frame of this log after it is a torn tail: a crash in the middle
of an append leaves the file ending early, in zeros, or in whatever the disk held.
It is dropped, since it was never acknowledged. Damage followed by a frame of this
log is corruption of acknowledged data and raises :class:`StoreCorruptError`
rather than silently losing the frames after it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skillstore.codec import pack, unpack
from skillstore.errors import StoreCorruptError
from skillstore.storage.files import crc32, io_errors, open_for_reading, read_fd

MAGIC = b"SKLG"
VERSION = 1
_HEADER = struct.Struct("<4sHH16sQQII")
HEADER_SIZE = _HEADER.size
_FRAME = struct.Struct("<IQIII")
FRAME_HEADER_SIZE = _FRAME.size
MAX_PAYLOAD = 1 << 30  # one commit's encoded size; the frame length field could hold 4 GiB
MAX_LOG_BYTES = 1 << 40  # refused before anything is read
_SEARCH_WINDOW = 1 << 20  # bytes of damaged log examined per vectorised step


@dataclass(frozen=True)
class LogHeader:
    store_id: bytes
    generation: int
    base_seq: int
    salt: int


@dataclass
class Cursor:
    """Where a reader of a log stands: the end of the last frame it applied, and its chain."""

    end: int
    seq: int  # sequence number of the last frame applied (base_seq when none)
    chain: int  # checksum of the last frame applied (the salt when none)
    last_frame: int = -1  # offset of the last frame applied, -1 when none


@dataclass
class LogScan:
    """What a scan of a log from a cursor found."""

    header: LogHeader
    frames: list[tuple[int, Any]] = field(default_factory=list)  # (offset, decoded payload)
    cursors: list[Cursor] = field(default_factory=list)  # the cursor just past each frame
    cursor: Cursor = field(default_factory=lambda: Cursor(HEADER_SIZE, 0, 0))
    torn_bytes: int = 0  # bytes after the cursor that form no complete frame
    damage: str | None = None  # for scan_prefix: why the scan stopped early


def new_log(store_id: bytes, generation: int, base_seq: int) -> bytes:
    """The bytes of an empty log: its header, with a fresh random salt."""
    salt = secrets.randbits(32)
    head = _HEADER.pack(MAGIC, VERSION, 0, store_id, generation, base_seq, salt, 0)[:-4]
    return head + struct.pack("<I", crc32(head))


def parse_header(data: bytes, path: Path) -> LogHeader:
    if len(data) < HEADER_SIZE:
        raise StoreCorruptError(f"log header is {len(data)} bytes, expected {HEADER_SIZE}", str(path))
    magic, version, _, store_id, generation, base_seq, salt, checksum = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise StoreCorruptError("not a skillstore log (bad magic)", str(path))
    if crc32(data[: HEADER_SIZE - 4]) != checksum:
        raise StoreCorruptError("log header checksum mismatch", str(path))
    if version != VERSION:
        raise StoreCorruptError(f"log format version {version}; this release reads version {VERSION}", str(path))
    return LogHeader(store_id, generation, base_seq, salt)


def start(header: LogHeader) -> Cursor:
    return Cursor(HEADER_SIZE, header.base_seq, header.salt)


def encode_frame(record: Any, header: LogHeader, cursor: Cursor) -> tuple[bytes, Cursor]:
    """The frame that follows ``cursor``, and the cursor after it."""
    payload = pack(record)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a commit of {len(payload)} bytes exceeds the log's limit of {MAX_PAYLOAD}")
    seq = cursor.seq + 1
    checksum = _checksum(header.salt, len(payload), seq, cursor.chain, payload)
    head = _FRAME.pack(len(payload), seq, cursor.chain, checksum, 0)[:-4]
    frame = head + struct.pack("<I", crc32(head, header.salt)) + payload
    return frame, Cursor(cursor.end + len(frame), seq, checksum, cursor.end)


def _checksum(salt: int, length: int, seq: int, prev: int, payload: bytes | memoryview) -> int:
    return crc32(payload, crc32(struct.pack("<IQI", length, seq, prev), salt))


def read_log(path: Path, expected: LogHeader | None = None) -> tuple[int, LogHeader]:
    """An open descriptor of the log at ``path`` and its header, checked against ``expected``
    (store id, generation, base sequence) when given. Raises FileNotFoundError when missing."""
    fd = open_for_reading(path)
    try:
        with io_errors("cannot read", path):
            head = os.pread(fd, HEADER_SIZE, 0)
        header = parse_header(head, path)
        if expected is not None and (
            header.store_id != expected.store_id
            or header.generation != expected.generation
            or header.base_seq != expected.base_seq
        ):
            raise StoreCorruptError(
                f"log belongs to store {header.store_id.hex()} generation {header.generation} (base {header.base_seq}),"
                f" the MANIFEST to store {expected.store_id.hex()} generation {expected.generation}"
                f" (base {expected.base_seq})",
                str(path),
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, header


def scan(path: Path, expected: LogHeader, cursor: Cursor | None = None) -> LogScan:
    """Decode every frame after ``cursor`` (the start of the log when None).

    Raises FileNotFoundError for a missing log and StoreCorruptError for damage
    followed by frames of this log, or a header that does not match ``expected``."""
    fd, header = read_log(path, expected)
    try:
        at = start(header) if cursor is None else cursor
        data = read_fd(fd, path, MAX_LOG_BYTES, offset=at.end)
    finally:
        os.close(fd)
    result = _decode(data, header, at, path, strict=True)
    if result.damage is not None:
        raise StoreCorruptError(result.damage, str(path))
    return result


def scan_prefix(path: Path) -> LogScan:
    """The frames before the first damaged or undecodable one; never raises for damage
    after the header. What repair keeps of a damaged log; ``torn_bytes`` counts
    everything after the prefix, intact frames included, and ``damage`` says why."""
    fd, header = read_log(path)
    try:
        data = read_fd(fd, path, MAX_LOG_BYTES, offset=HEADER_SIZE)
    finally:
        os.close(fd)
    return _decode(data, header, start(header), path, strict=False)


def _decode(data: bytes, header: LogHeader, at: Cursor, path: Path, *, strict: bool) -> LogScan:
    result = LogScan(header=header)
    cursor = Cursor(at.end, at.seq, at.chain, at.last_frame)
    pos = 0
    while pos < len(data):
        frame = _frame_at(data, pos, header.salt)
        if frame is None or frame[1] != cursor.seq + 1 or frame[2] != cursor.chain:
            if (frame is not None and frame[1] > cursor.seq + 1) or _frame_follows(data, pos, header.salt, cursor.seq):
                result.damage = f"log frame damaged at offset {at.end + pos}, with valid frames after it"
            break  # an append that never completed: the file ends early, in zeros or in garbage
        stop, seq, _, checksum = frame
        try:
            record = unpack(data[pos + FRAME_HEADER_SIZE : stop])
        except (ValueError, TypeError) as exc:
            result.damage = f"log frame at offset {at.end + pos} cannot be decoded: {exc}"
            break
        result.frames.append((at.end + pos, record))
        cursor = Cursor(at.end + stop, seq, checksum, at.end + pos)
        result.cursors.append(cursor)
        pos = stop
    if result.damage is not None and strict:
        return result
    result.cursor = cursor
    result.torn_bytes = len(data) - pos
    return result


def _frame_at(data: bytes, pos: int, salt: int) -> tuple[int, int, int, int] | None:
    """(end, sequence, previous checksum, checksum) of an intact frame of this log at ``pos``."""
    if len(data) - pos < FRAME_HEADER_SIZE:
        return None
    length, seq, prev, checksum, header_crc = _FRAME.unpack_from(data, pos)
    if crc32(data[pos : pos + FRAME_HEADER_SIZE - 4], salt) != header_crc:
        return None
    stop = pos + FRAME_HEADER_SIZE + length
    if length == 0 or stop > len(data):
        return None
    if _checksum(salt, length, seq, prev, memoryview(data)[pos + FRAME_HEADER_SIZE : stop]) != checksum:
        return None
    return stop, seq, prev, checksum


def _frame_follows(data: bytes, pos: int, salt: int, seq: int) -> bool:
    """Whether a frame of this log that comes later than the next one (sequence number
    above ``seq + 1``) starts anywhere after ``pos``: then the damage at ``pos`` is
    corruption of acknowledged data, not the unfinished last append. A copy of an earlier
    frame, or of the frame being appended, inside the torn frame's payload does not count.

    Every offset is a possible frame start, so candidates are first narrowed with NumPy:
    a frame's payload is never empty (msgpack has no zero-byte value) and must fit in
    the file. Garbage and zeros almost never pass, so a damaged log of many megabytes is
    searched in about the time it takes to read it, not one Python step per byte."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    last = len(data) - FRAME_HEADER_SIZE  # the last offset where a header fits
    for first in range(pos + 1, last + 1, _SEARCH_WINDOW):
        stop = min(first + _SEARCH_WINDOW, last + 1)
        count = stop - first
        lengths = _u32_at(buffer, first, count)
        room = len(data) - FRAME_HEADER_SIZE - np.arange(first, stop, dtype=np.int64)
        plausible = (lengths >= 1) & (lengths <= room)
        # a later frame is numbered above seq + 1, and at most one number per frame that fits after it
        low, high = _u32_at(buffer, first + 4, count), _u32_at(buffer, first + 8, count)
        numbers = low.astype(np.uint64) | high.astype(np.uint64) << np.uint64(32)
        plausible &= (numbers > np.uint64(seq + 1)) & (numbers <= np.uint64(seq + 1 + len(data) // FRAME_HEADER_SIZE))
        for offset in np.flatnonzero(plausible):
            found = _frame_at(data, first + int(offset), salt)
            if found is not None and found[1] > seq + 1:
                return True
    return False


def _u32_at(buffer: np.ndarray, first: int, count: int) -> np.ndarray:
    """The little-endian u32 starting at each of ``count`` offsets from ``first``."""
    window = buffer[first : first + count + 3].astype(np.uint32)
    if len(window) < count + 3:  # near the end: offsets past it read zeros
        window = np.concatenate([window, np.zeros(count + 3 - len(window), dtype=np.uint32)])
    return window[:count] | window[1 : count + 1] << 8 | window[2 : count + 2] << 16 | window[3 : count + 3] << 24


def checksum_at(path: Path, offset: int) -> int | None:
    """The checksum field of the frame header at ``offset``, or None when the log is shorter."""
    fd = open_for_reading(path)
    try:
        with io_errors("cannot read", path):
            head = os.pread(fd, FRAME_HEADER_SIZE, offset)
    finally:
        os.close(fd)
    if len(head) < FRAME_HEADER_SIZE:
        return None
    return int(_FRAME.unpack(head)[3])


class LogWriter:
    """Appends frames to one existing log file. Callers hold the writer lock."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        self.path = path
        self.sync = sync
        with io_errors("cannot open", path):
            self._fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            if not stat.S_ISREG(os.fstat(self._fd).st_mode):
                os.close(self._fd)
                raise StoreCorruptError("is not a regular file", str(path))

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def truncate(self, size: int) -> None:
        with io_errors("cannot truncate", self.path):
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)

    def append(self, frame: bytes, at: int) -> None:
        """Write ``frame`` at offset ``at`` (the end of the valid log) and make it durable.

        On any error the partial frame is cut off again, so the log holds exactly the
        acknowledged frames, and a StoreIOError is raised. Should the OS refuse even the
        cut, the frame's header is overwritten instead, which makes it a torn tail.
        """
        try:
            with io_errors("cannot append to", self.path):
                view = memoryview(frame)
                offset = at
                while view:
                    written = os.pwrite(self._fd, view, offset)
                    if written <= 0:
                        raise OSError(errno.EIO, "write made no progress")
                    view, offset = view[written:], offset + written
                if self.sync:
                    os.fdatasync(self._fd)
        except BaseException:
            self._cut(at)
            raise

    def _cut(self, at: int) -> None:
        try:
            os.ftruncate(self._fd, at)
        except OSError:
            with contextlib.suppress(OSError):
                os.pwrite(self._fd, bytes(FRAME_HEADER_SIZE), at)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
