"""The MANIFEST: which generation is current, and the facts needed to trust it.

Layout: ``b"SKMF"``, a little-endian u32 CRC-32 of the payload, then the msgpack
payload. Replacing the MANIFEST (atomically) is the commit point of a checkpoint.
Every field is validated on read: a MANIFEST with a valid checksum can still have
been crafted, or written by a faulty program.
"""

from __future__ import annotations

import math
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillstore.codec import pack, unpack
from skillstore.embedders import check_identity
from skillstore.errors import FormatVersionError, InvalidInputError, StoreCorruptError
from skillstore.storage.files import crc32, read_file, replace_file

FORMAT_VERSION = 3
# Format 4 is format 3 whose MANIFEST records an embedder: a store without one stays readable
# by the release before, and one with one is refused there with FormatVersionError, not
# taken for damage. In memory both are format 3, with ``embedder`` set or None.
EMBEDDER_FORMAT = 4
READABLE_FORMATS = (2, 3, EMBEDDER_FORMAT)  # format 2 is read as it is and rewritten as format 3 by a read-write open
MAGIC = b"SKMF"
NAME = "MANIFEST"
_HEADER = struct.Struct("<4sI")
_MAX_MANIFEST_BYTES = 1 << 20
MAX_GENERATION = 99_999_999  # generation numbers are written with 8 digits
MAX_SKILLS = 1 << 40
MAX_SEQ = 1 << 62
STORE_ID_BYTES = 16
# The files of a snapshot. Format 3: the columns, the variable-size records and the vectors,
# plus the HNSW graph exactly when an HNSW index is active. Format 2: records and FAISS index.
COLUMNS_FILE, RECORDS_FILE, VECTORS_FILE, GRAPH_FILE = "columns.bin", "records.bin", "vectors.f32", "index.faiss"
FORMAT_2_FILES = ("skills.msgpack", "index.faiss")
SNAPSHOT_FILES = (COLUMNS_FILE, RECORDS_FILE, VECTORS_FILE, GRAPH_FILE, *FORMAT_2_FILES[:1])  # every name, any format
_KEYS = {
    "format", "store_id", "dim", "metric", "index", "generation", "seq", "files", "skills",
    "created_at", "checkpointed_at",
}


@dataclass
class FileEntry:
    size: int
    crc32: int


@dataclass
class Manifest:
    dim: int
    generation: int
    store_id: bytes
    index: dict[str, Any] = field(default_factory=lambda: {"kind": "flat", "active": "flat"})
    metric: str = "inner_product"
    files: dict[str, FileEntry] = field(default_factory=dict)
    skills: int = 0
    seq: int = 0  # writes folded into this generation's snapshot, over the store's life
    created_at: float = 0.0
    checkpointed_at: float = 0.0
    format: int = FORMAT_VERSION
    embedder: dict[str, Any] | None = None  # the identity of the embedder that embeds the skills

    @property
    def file_format(self) -> int:
        """The format number the MANIFEST file carries."""
        return EMBEDDER_FORMAT if self.embedder is not None else self.format

    @property
    def snapshot_dir(self) -> str:
        return snapshot_dir(self.generation)

    @property
    def log_name(self) -> str:
        return log_name(self.generation)

    def to_dict(self) -> dict[str, Any]:
        embedder = {} if self.embedder is None else {"embedder": self.embedder}
        return embedder | {
            "format": self.file_format,
            "store_id": self.store_id,
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index,
            "generation": self.generation,
            "seq": self.seq,
            "files": {name: [e.size, e.crc32] for name, e in self.files.items()},
            "skills": self.skills,
            "created_at": self.created_at,
            "checkpointed_at": self.checkpointed_at,
        }


def snapshot_dir(generation: int) -> str:
    return f"snap-{generation:08d}"


def log_name(generation: int) -> str:
    return f"log-{generation:08d}"


def write_manifest(directory: Path, manifest: Manifest, *, sync_directory: bool = True) -> None:
    """Commit ``manifest``: never one that reading it back would refuse. With
    ``sync_directory=False`` the caller fsyncs the directory (the rename, the commit, has
    happened once this returns)."""
    try:
        _from_dict(manifest.to_dict())
    except _Invalid as exc:
        raise StoreCorruptError(f"refusing to write a MANIFEST that {exc}", str(directory / NAME)) from None
    payload = pack(manifest.to_dict())
    replace_file(directory / NAME, _HEADER.pack(MAGIC, crc32(payload)) + payload, sync_directory=sync_directory)


def read_manifest(directory: Path) -> Manifest:
    """The MANIFEST of the store at ``directory``; FileNotFoundError when there is none."""
    return _read(directory, FORMAT_VERSION)


def read_format_1_manifest(directory: Path) -> Manifest:
    """A MANIFEST of format 1 (the first release), as format 2 (whose snapshot files are the
    same) would describe the same generation: a fresh store id, and no writes counted before it."""
    return _read(directory, 1)


def _read(directory: Path, version: int) -> Manifest:
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
    except (ValueError, TypeError) as exc:
        raise StoreCorruptError(f"MANIFEST cannot be decoded: {exc}", str(path)) from None
    if version == 1:
        if not isinstance(raw, dict) or raw.get("format") != 1:
            raise FormatVersionError(f"{path}: format version {raw.get('format') if isinstance(raw, dict) else None!r}")
        if set(raw) != _KEYS - {"store_id", "seq"}:
            raise StoreCorruptError(f"MANIFEST of format 1 has fields {sorted(map(str, raw))}", str(path))
        raw = {**raw, "format": 2, "store_id": secrets.token_bytes(STORE_ID_BYTES), "seq": 0}
    try:
        return _from_dict(raw)
    except FormatVersionError as exc:
        raise FormatVersionError(f"{path}: {exc}") from None
    except _Invalid as exc:
        raise StoreCorruptError(f"MANIFEST {exc}", str(path)) from None


class _Invalid(Exception):
    pass


def _from_dict(raw: Any) -> Manifest:
    if not isinstance(raw, dict):
        raise _Invalid("is not a map")
    version = raw.get("format")
    if version not in READABLE_FORMATS:
        hint = " (written by an earlier release: open it read-write once to upgrade it)" if version == 1 else ""
        readable = " and ".join(map(str, READABLE_FORMATS))
        raise FormatVersionError(f"format version {version!r}{hint}; this release reads versions {readable}")
    keys = _KEYS | {"embedder"} if version == EMBEDDER_FORMAT else _KEYS
    if set(raw) != keys:
        raise _Invalid(f"has fields {sorted(map(str, raw))}, expected {sorted(keys)}")
    embedder = None
    if version == EMBEDDER_FORMAT:
        try:
            embedder = check_identity(raw["embedder"])
        except InvalidInputError as exc:
            raise _Invalid(f"embedder: {exc}") from None
        if embedder["dim"] != raw["dim"]:
            raise _Invalid(f"names an embedder of dim {embedder['dim']} for a store of dim {raw['dim']!r}")
        version = FORMAT_VERSION
    store_id = raw["store_id"]
    if not isinstance(store_id, bytes) or len(store_id) != STORE_ID_BYTES:
        raise _Invalid(f"store_id must be {STORE_ID_BYTES} bytes")
    if raw["metric"] != "inner_product":
        raise _Invalid(f"metric {raw['metric']!r} is not supported")
    index = _index(raw["index"])
    return Manifest(
        format=version,
        store_id=store_id,
        dim=_integer(raw, "dim", 1, 65536),
        metric="inner_product",
        index=index,
        generation=_integer(raw, "generation", 1, MAX_GENERATION),
        seq=_integer(raw, "seq", 0, MAX_SEQ),
        files=_files(raw["files"], expected_files(version, index.get("active"))),
        skills=_integer(raw, "skills", 0, MAX_SKILLS),
        created_at=_time(raw, "created_at"),
        checkpointed_at=_time(raw, "checkpointed_at"),
        embedder=embedder,
    )


def _integer(raw: dict[Any, Any], key: str, low: int, high: int) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Invalid(f"{key} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _time(raw: dict[Any, Any], key: str) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _Invalid(f"{key} must be a non-negative finite number, got {value!r}")
    return float(value)


def expected_files(version: int, active_index: Any) -> tuple[str, ...]:
    """The snapshot files of a generation of format ``version`` with this active index."""
    if version == 2:
        return FORMAT_2_FILES
    graph = (GRAPH_FILE,) if active_index == "hnsw" else ()
    return (COLUMNS_FILE, RECORDS_FILE, VECTORS_FILE, *graph)


def _files(raw: Any, expected: tuple[str, ...]) -> dict[str, FileEntry]:
    if not isinstance(raw, dict) or set(raw) != set(expected):  # a set: names may be of any type
        raise _Invalid(f"must list the snapshot files {list(expected)}")
    files = {}
    for name, entry in raw.items():
        if not isinstance(entry, list) or len(entry) != 2:
            raise _Invalid(f"entry of {name!r} must be [size, crc32]")
        size, checksum = entry
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 1 << 48:
            raise _Invalid(f"size of {name!r} is {size!r}")
        if isinstance(checksum, bool) or not isinstance(checksum, int) or not 0 <= checksum < 1 << 32:
            raise _Invalid(f"checksum of {name!r} is {checksum!r}")
        files[name] = FileEntry(size, checksum)
    return files


def _index(raw: Any) -> dict[str, Any]:
    """The index description's shape; what its parameters mean is checked by the index module."""
    if not isinstance(raw, dict) or len(raw) > 16:
        raise _Invalid("index must be a map of at most 16 entries")
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, str | int) or isinstance(value, bool):
            raise _Invalid(f"index parameter {key!r}: {value!r}")
    return dict(raw)
