"""Writes store files the way a forger with full knowledge of the format would: right
checksums, right salt, right chain, and whatever content the test wants. What the
store then does depends on its validation alone, never on a checksum catching it."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import msgpack

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
