"""The MANIFEST: which generation is current, and the facts needed to trust it.

Layout: ``b"SKMF"``, a little-endian u32 CRC-32 of the payload, then the msgpack
payload. Replacing the MANIFEST (atomically) is the commit point of a checkpoint.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillstore.codec import pack, unpack
from skillstore.errors import FormatVersionError, StoreCorruptError
from skillstore.storage.files import crc32, read_file, replace_file

FORMAT_VERSION = 1
MAGIC = b"SKMF"
NAME = "MANIFEST"
_HEADER = struct.Struct("<4sI")
_MAX_MANIFEST_BYTES = 1 << 20


@dataclass
class FileEntry:
    size: int
    crc32: int


@dataclass
class Manifest:
    dim: int
    generation: int
    index: dict[str, Any] = field(default_factory=lambda: {"kind": "flat"})
    metric: str = "inner_product"
    files: dict[str, FileEntry] = field(default_factory=dict)
    skills: int = 0
    created_at: float = 0.0
    checkpointed_at: float = 0.0
    format: int = FORMAT_VERSION

    @property
    def snapshot_dir(self) -> str:
        return f"snap-{self.generation:08d}"

    @property
    def log_name(self) -> str:
        return f"log-{self.generation:08d}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index,
            "generation": self.generation,
            "files": {name: [e.size, e.crc32] for name, e in self.files.items()},
            "skills": self.skills,
            "created_at": self.created_at,
            "checkpointed_at": self.checkpointed_at,
        }


def write_manifest(directory: Path, manifest: Manifest) -> None:
    payload = pack(manifest.to_dict())
    replace_file(directory / NAME, _HEADER.pack(MAGIC, crc32(payload)) + payload)


def read_manifest(directory: Path) -> Manifest:
    path = directory / NAME
    data = read_file(path, _MAX_MANIFEST_BYTES)
    if len(data) < _HEADER.size:
        raise StoreCorruptError("MANIFEST is truncated", str(path))
    magic, checksum = _HEADER.unpack_from(data)
    payload = data[_HEADER.size :]
    if magic != MAGIC:
        raise StoreCorruptError("not a skillstore MANIFEST (bad magic)", str(path))
    if crc32(payload) != checksum:
        raise StoreCorruptError("MANIFEST checksum mismatch", str(path))
    try:
        raw = unpack(payload)
        version = raw["format"]
        if version != FORMAT_VERSION:
            raise FormatVersionError(
                f"{path}: format version {version!r}; this release reads version {FORMAT_VERSION}"
            )
        return Manifest(
            format=version,
            dim=int(raw["dim"]),
            metric=str(raw["metric"]),
            index=dict(raw["index"]),
            generation=int(raw["generation"]),
            files={str(n): FileEntry(int(s), int(c)) for n, (s, c) in raw["files"].items()},
            skills=int(raw["skills"]),
            created_at=float(raw["created_at"]),
            checkpointed_at=float(raw["checkpointed_at"]),
        )
    except FormatVersionError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreCorruptError(f"MANIFEST cannot be decoded: {exc}", str(path)) from None
