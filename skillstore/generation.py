"""Reading and writing one generation's snapshot: its skills (a catalog) and their vectors.

A generation of format 3 is mapped, not decoded (see ``columnar``): its files are checked
as wholes against the MANIFEST (size, CRC-32; the vectors block by block on a mismatch,
so that damage names the rows it hit), its columns with vectorised checks. The HNSW
graph is derived data: a graph file that is damaged, or does not hold exactly the
snapshot's vectors, is rebuilt from them, never trusted and never a reason to lose a skill.

A generation of format 2 (the previous release) is decoded whole and checked record by
record; a read-write open rewrites it as format 3.
"""

from __future__ import annotations

import gc
import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skillstore.catalog import Catalog
from skillstore.codec import unpack_list
from skillstore.columnar import Base, damaged_blocks, encode_base
from skillstore.embedders import describe
from skillstore.errors import InvalidInputError, StoreCorruptError
from skillstore.index import VectorIndex, build_graph, check_index_record, check_unit_rows, graph_bytes, load_graph
from skillstore.records import check_stored_record
from skillstore.storage.columns import ColumnFileError, decode_columns
from skillstore.storage.faiss_file import IndexFileError, check_index_file
from skillstore.storage.files import crc32
from skillstore.storage.manifest import (
    COLUMNS_FILE,
    FORMAT_2_FILES,
    GRAPH_FILE,
    RECORDS_FILE,
    VECTORS_FILE,
    FileEntry,
    Manifest,
)
from skillstore.storage.snapshot import map_unverified, map_verified, read_verified, write_snapshot

SKILLS_FILE, INDEX_FILE = FORMAT_2_FILES  # format 2: the records (msgpack) and the vector index (FAISS)


@dataclass
class Loaded:
    """A generation as loaded: its catalog and vectors, and what had to be rebuilt."""

    catalog: Catalog
    index: VectorIndex
    rebuilt_graph: str | None = None  # why the HNSW graph was rebuilt from the vectors, if it was


def index_params_of(manifest: Manifest, path: Path) -> dict[str, Any]:
    try:
        return check_index_record(manifest.index)
    except InvalidInputError as exc:
        raise StoreCorruptError(f"MANIFEST index parameters: {exc}", str(path)) from None


def read_snapshot(store_dir: Path, manifest: Manifest, pin_fd: int) -> Loaded:
    """The catalog and index of ``manifest``'s generation, from its pinned snapshot directory."""
    params = index_params_of(manifest, store_dir / "MANIFEST")
    snapshot = store_dir / manifest.snapshot_dir
    if manifest.format == 2:
        return _read_format_2(snapshot, manifest, pin_fd, params)
    columns = map_verified(pin_fd, snapshot, manifest, COLUMNS_FILE)
    records = map_verified(pin_fd, snapshot, manifest, RECORDS_FILE)
    vectors = _map_vectors(pin_fd, snapshot, manifest)
    base = Base.load(manifest.dim, columns, records, vectors, str(snapshot))
    if base.n != manifest.skills:
        raise StoreCorruptError(f"holds {base.n} skills, the MANIFEST says {manifest.skills}", str(snapshot))
    if base.embedder != manifest.embedder:
        raise StoreCorruptError(
            f"its vectors were made by {describe(base.embedder)}, the MANIFEST says {describe(manifest.embedder)}",
            str(snapshot / COLUMNS_FILE),
        )
    crc_blocks = base.counter("vector_crcs")
    if manifest.files[VECTORS_FILE].crc32 != _crc(vectors):
        damaged = damaged_blocks(vectors, crc_blocks)
        rows = ", ".join(f"{first}-{last}" for first, last in damaged[:8]) or "none (the block checksums match)"
        raise StoreCorruptError(f"vectors checksum mismatch; damaged rows: {rows}", str(snapshot / VECTORS_FILE))
    not_unit = check_unit_rows(vectors)
    if len(not_unit):
        raise StoreCorruptError(
            f"rows {not_unit[:8].tolist()} are not finite unit vectors", str(snapshot / VECTORS_FILE)
        )
    for mapped in (columns, records):  # checked: let the kernel drop the pages until a row is read
        if isinstance(mapped, mmap.mmap):
            mapped.madvise(mmap.MADV_DONTNEED)
    graph, rebuilt = None, None
    if params["active"] == "hnsw":
        graph, rebuilt = _graph(pin_fd, snapshot, manifest, params, vectors)
    return Loaded(Catalog(base), VectorIndex(manifest.dim, params, vectors, graph), rebuilt)


def _crc(vectors: np.ndarray) -> int:
    return crc32(vectors.data.cast("B")) if vectors.size else 0


def _map_vectors(pin_fd: int, snapshot: Path, manifest: Manifest) -> np.ndarray:
    mapped = map_unverified(pin_fd, snapshot, manifest, VECTORS_FILE)
    row_bytes = manifest.dim * 4
    if len(mapped) % row_bytes:
        raise StoreCorruptError(f"is not a whole number of {manifest.dim}-float rows", str(snapshot / VECTORS_FILE))
    vectors = np.frombuffer(mapped, dtype="<f4").reshape(-1, manifest.dim)
    vectors.flags.writeable = False
    return vectors


def _graph(
    pin_fd: int, snapshot: Path, manifest: Manifest, params: dict[str, Any], vectors: np.ndarray
) -> tuple[Any, str | None]:
    """The HNSW graph file, or a graph rebuilt from the vectors when the file cannot serve."""
    try:
        data = read_verified(pin_fd, snapshot, manifest, GRAPH_FILE)
        check_index_file(data, dim=manifest.dim, rows=len(vectors), kind="hnsw", m=params["M"])
        graph = load_graph(data, vectors, params)
        reason = None if graph is not None else "it does not hold the snapshot's vectors"
    except StoreCorruptError as exc:
        graph, reason = None, exc.args[0] if exc.args else str(exc)
    except IndexFileError as exc:
        graph, reason = None, str(exc)
    if graph is None:
        graph = build_graph(manifest.dim, params, vectors)
    return graph, None if reason is None else f"{snapshot / GRAPH_FILE}: {reason}"


def _read_format_2(snapshot: Path, manifest: Manifest, pin_fd: int, params: dict[str, Any]) -> Loaded:
    data = read_verified(pin_fd, snapshot, manifest, SKILLS_FILE)
    with gc_paused():
        records = decode_records(data, manifest.skills, manifest.dim, snapshot / SKILLS_FILE)
        try:
            catalog = Catalog.from_records(records, manifest.dim)
        except ValueError as exc:
            raise StoreCorruptError(str(exc), str(snapshot / SKILLS_FILE)) from None
    del data
    index_bytes = read_verified(pin_fd, snapshot, manifest, INDEX_FILE)
    index = load_format_2_index(index_bytes, manifest.dim, len(records), params, snapshot / INDEX_FILE)
    return Loaded(catalog, index)


def decode_records(data: bytes, count: int, dim: int, path: Path) -> list[dict[str, Any]]:
    """``count`` records of a format-2 snapshot, each checked as the public API would; refused at
    the first bad one."""
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


def load_format_2_index(data: bytes, dim: int, rows: int, params: dict[str, Any], path: Path) -> VectorIndex:
    """The vectors of a format-2 FAISS file (structure checked before FAISS reads it)."""
    try:
        check_index_file(data, dim=dim, rows=rows, kind=params["active"], m=params.get("M"))
    except IndexFileError as exc:
        raise StoreCorruptError(f"index: {exc}", str(path)) from None
    try:
        return VectorIndex.from_faiss_file(data, dim, rows, params)
    except StoreCorruptError as exc:
        raise StoreCorruptError(str(exc), str(path)) from None


def write_generation(store_dir: Path, generation: int, catalog: Catalog, index: VectorIndex,
                     params: dict[str, Any], embedder: dict[str, Any] | None) -> tuple[dict[str, FileEntry], int]:
    """Write ``catalog``'s live skills, in iteration order, as generation ``generation``'s
    snapshot of format 3 (``embedder``: the identity of the embedder that made the vectors);
    returns the MANIFEST's file entries and the number of skills."""
    rows = catalog.ordered_rows()
    vectors = index.gather(rows)
    encoded = encode_base(catalog.base, rows, catalog.changed_records(), vectors, embedder)
    files: dict[str, bytes | memoryview] = {
        COLUMNS_FILE: encoded.columns,
        RECORDS_FILE: encoded.records,
        VECTORS_FILE: encoded.vectors.data.cast("B") if len(rows) else b"",
    }
    if params["active"] == "hnsw":
        files[GRAPH_FILE] = memoryview(graph_bytes(index.graph_for(rows, params, encoded.vectors)).data)
    return write_snapshot(store_dir, generation, files), len(rows)


def empty_generation_files(
    dim: int, params: dict[str, Any], embedder: dict[str, Any] | None = None
) -> dict[str, bytes | memoryview]:
    """The snapshot files of a store with no skills."""
    vectors = np.empty((0, dim), dtype=np.float32)
    encoded = encode_base(Base.empty(dim), np.empty(0, dtype=np.int64), {}, vectors, embedder)
    files: dict[str, bytes | memoryview] = {COLUMNS_FILE: encoded.columns, RECORDS_FILE: b"", VECTORS_FILE: b""}
    if params["active"] == "hnsw":
        files[GRAPH_FILE] = memoryview(graph_bytes(build_graph(dim, params, vectors)).data)
    return files


def holds_no_skills(column_file: bytes) -> bool:
    """Whether a column file is that of a snapshot with no skills (as a new store writes)."""
    try:
        columns = decode_columns(column_file)
    except ColumnFileError:
        return False
    return "attempts" in columns and not len(columns["attempts"])


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
