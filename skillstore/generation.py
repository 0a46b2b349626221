"""Reading and writing one generation's snapshot: the store's records and vector index.

Reading trusts nothing: sizes and checksums are checked against the MANIFEST, the
record count before any record is decoded, every record with the public API's
rules, and the index's structure before FAISS allocates anything. Whatever is
wrong becomes a :class:`StoreCorruptError` naming the file.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skillstore.catalog import Catalog
from skillstore.codec import pack, unpack_list
from skillstore.errors import InvalidInputError, StoreCorruptError
from skillstore.index import VectorIndex, check_index_record
from skillstore.records import check_stored_record
from skillstore.storage.faiss_file import IndexFileError, check_index_file
from skillstore.storage.manifest import SNAPSHOT_FILES, FileEntry, Manifest
from skillstore.storage.snapshot import read_verified, write_snapshot

SKILLS_FILE, INDEX_FILE = SNAPSHOT_FILES  # the records (msgpack) and the vector index (FAISS)


def index_params_of(manifest: Manifest, path: Path) -> dict[str, Any]:
    try:
        return check_index_record(manifest.index)
    except InvalidInputError as exc:
        raise StoreCorruptError(f"MANIFEST index parameters: {exc}", str(path)) from None


def read_snapshot(store_dir: Path, manifest: Manifest, pin_fd: int) -> tuple[Catalog, VectorIndex]:
    """The catalog and index of ``manifest``'s generation, from its pinned snapshot directory."""
    params = index_params_of(manifest, store_dir / "MANIFEST")
    snapshot = store_dir / manifest.snapshot_dir
    data = read_verified(pin_fd, snapshot, manifest, SKILLS_FILE)
    with gc_paused():
        records = decode_records(data, manifest.skills, manifest.dim, snapshot / SKILLS_FILE)
        try:
            catalog = Catalog.from_records(records)
        except ValueError as exc:
            raise StoreCorruptError(str(exc), str(snapshot / SKILLS_FILE)) from None
    del data
    index_bytes = read_verified(pin_fd, snapshot, manifest, INDEX_FILE)
    index = load_index(index_bytes, manifest.dim, len(records), params, snapshot / INDEX_FILE)
    return catalog, index


def decode_records(data: bytes, count: int, dim: int, path: Path) -> list[dict[str, Any]]:
    """``count`` records, each checked as the public API would; refused at the first bad one."""
    records: list[dict[str, Any]] = []
    items = unpack_list(data, count)
    position = 0
    while True:
        try:
            raw = next(items)
        except StopIteration:
            return records
        except ValueError as exc:  # malformed msgpack, a wrong count, bytes after the list
            raise StoreCorruptError(f"skills cannot be decoded: {exc}", str(path)) from None
        try:
            records.append(check_stored_record(raw, dim))
        except InvalidInputError as exc:
            raise StoreCorruptError(f"skill {position}: {exc}", str(path)) from None
        position += 1


def load_index(data: bytes, dim: int, rows: int, params: dict[str, Any], path: Path) -> VectorIndex:
    try:
        check_index_file(data, dim=dim, rows=rows, kind=params["active"], m=params.get("M"))
    except IndexFileError as exc:
        raise StoreCorruptError(f"index: {exc}", str(path)) from None
    try:
        return VectorIndex.from_bytes(data, dim, params)
    except StoreCorruptError as exc:
        raise StoreCorruptError(str(exc), str(path)) from None


def write_generation(
    store_dir: Path, generation: int, records: list[dict[str, Any]], index: VectorIndex
) -> dict[str, FileEntry]:
    """Write a generation's snapshot files; returns their MANIFEST entries."""
    serialized = index.serialize()
    return write_snapshot(store_dir, generation, {SKILLS_FILE: pack(records), INDEX_FILE: memoryview(serialized.data)})


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building a large catalog makes millions of small containers, none of them garbage;
    the cyclic collector would rescan them over and over (it doubled the time to open)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

