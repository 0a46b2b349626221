"""Writes store files the way a forger with full knowledge of the format would: right
checksums, right salt, right chain, and whatever content the test wants. What the
store then does depends on its validation alone, never on a checksum catching it."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from skillstore.storage import log
from skillstore.storage.files import crc32


def log_state(path: Path) -> tuple[log.LogHeader, log.Cursor]:
    """The header of the log at ``path`` and the cursor after its last intact frame."""
    scan = log.scan_prefix(path)
    return scan.header, scan.cursor


def append_frame(path: Path, record: Any, *, raw_payload: bytes | None = None) -> None:
    """Append a frame that chains correctly after the log's last intact frame."""
    header, cursor = log_state(path)
    data = path.read_bytes()[: cursor.end]
    if raw_payload is None:
        frame, _ = log.encode_frame(record, header, cursor)
    else:
        frame = frame_bytes(header, cursor, raw_payload)
    path.write_bytes(data + frame)


def frame_bytes(header: log.LogHeader, cursor: log.Cursor, payload: bytes, *, length: int | None = None) -> bytes:
    """A frame with any payload bytes (even undecodable ones), valid checksums and chain;
    ``length`` overrides the length field (the checksums are computed over the lie)."""
    size = len(payload) if length is None else length
    seq = cursor.seq + 1
    checksum = crc32(payload, crc32(struct.pack("<IQI", size, seq, cursor.chain), header.salt))
    head = struct.pack("<IQII", size, seq, cursor.chain, checksum)
    return head + struct.pack("<I", crc32(head, header.salt)) + payload


def rewrite_manifest_payload(store: Path, payload: dict[str, Any]) -> None:
    encoded = msgpack.packb(payload, use_bin_type=True)
    (store / "MANIFEST").write_bytes(b"SKMF" + struct.pack("<I", crc32(encoded)) + encoded)


def read_manifest_payload(store: Path) -> dict[str, Any]:
    return msgpack.unpackb((store / "MANIFEST").read_bytes()[8:], raw=False, strict_map_key=False)  # type: ignore[no-any-return]


def replace_snapshot_file(store: Path, name: str, data: bytes) -> None:
    """Replace a file of the current snapshot and fix the MANIFEST's size and checksum for it."""
    manifest = read_manifest_payload(store)
    snapshot = store / f"snap-{manifest['generation']:08d}"
    (snapshot / name).write_bytes(data)
    manifest["files"][name] = [len(data), crc32(data)]
    rewrite_manifest_payload(store, manifest)


# -- the column file of a format-3 snapshot (layout of ``skillstore.storage.columns``) ---------------

COLUMNS_HEADER = struct.Struct("<4sIQ")
COLUMN_ALIGN = 64


class Column:
    """One array of a column file: its table entry's fields and its bytes."""

    def __init__(self, name: str, dtype: str, shape: list[int], data: bytes) -> None:
        self.name, self.dtype, self.shape, self.data = name, dtype, shape, data

    def array(self) -> Any:
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape)

    def set(self, array: Any) -> None:
        """Hold ``array`` (same dtype), with the shape and size following it."""
        self.data, self.shape = array.astype(self.dtype).tobytes(), list(array.shape)


def parse_columns(data: bytes) -> list[Column]:
    """The columns of a column file the store wrote, in file order."""
    _, _, table_size = COLUMNS_HEADER.unpack_from(data)
    table = msgpack.unpackb(data[COLUMNS_HEADER.size : COLUMNS_HEADER.size + table_size], raw=False)
    return [Column(name, dtype, list(shape), data[offset : offset + nbytes])
            for name, dtype, shape, offset, nbytes in table]


def build_columns(columns: list[Column], *, magic: bytes = b"SKCL", version: int = 1, table_edit: Any = None) -> bytes:
    """A column file holding ``columns`` laid out as the store lays them out. ``table_edit`` may
    change the table entries (a list of ``[name, dtype, shape, offset, nbytes]``, with the true
    offsets) before they are packed; the arrays are placed after the table as finally packed."""
    def aligned(offset: int) -> int:
        return -(-offset // COLUMN_ALIGN) * COLUMN_ALIGN

    def table_for(start: int) -> tuple[bytes, list[int]]:
        offsets, at = [], start
        for column in columns:
            at = aligned(at)
            offsets.append(at)
            at += len(column.data)
        entries = [[c.name, c.dtype, list(c.shape), at, len(c.data)] for c, at in zip(columns, offsets, strict=True)]
        if table_edit is not None:
            entries = table_edit(entries)
        return msgpack.packb(entries, use_bin_type=True), offsets

    start = COLUMNS_HEADER.size
    for _ in range(8):  # the table's size depends on the offsets it holds: settle them
        table, offsets = table_for(start)
        settled = aligned(COLUMNS_HEADER.size + len(table))
        if settled == start:
            break
        start = settled
    parts = [COLUMNS_HEADER.pack(magic, version, len(table)), table]
    position = COLUMNS_HEADER.size + len(table)
    for column, at in zip(columns, offsets, strict=True):
        parts.append(bytes(max(0, at - position)))
        parts.append(column.data)
        position = max(position, at) + len(column.data)
    return b"".join(parts)


def columns_by_name(columns: list[Column]) -> dict[str, Column]:
    return {column.name: column for column in columns}


def replace_snapshot_files(store: Path, files: dict[str, bytes]) -> None:
    """Replace several files of the current snapshot at once, the MANIFEST fixed for each."""
    for name, data in files.items():
        replace_snapshot_file(store, name, data)
