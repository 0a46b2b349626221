"""``repair_store``: rebuild a damaged store from what is still intact.

Every generation on disk is a candidate chain: its snapshot plus the intact
prefix of its log (frames up to the first damaged, undecodable or inapplicable
one). A chain holds ``base + frames`` writes, where ``base`` is the number of
writes its snapshot folded in (kept in the MANIFEST and in the log's header), so
chains of different generations compare directly. Repair keeps the chain with the
most acknowledged writes (the newer generation on a tie), writes it out as a new
generation the way a checkpoint does, and lists every write it could not keep:
damaged log tails, and writes of other chains beyond the one it kept.

A snapshot the MANIFEST names is checked against the MANIFEST's checksums; one it
does not name (left by a checkpoint that never committed, or when the MANIFEST is
damaged) must still pass every structural check an open makes.

Nothing is written when no snapshot is intact: ``repair_store`` then raises
``StoreCorruptError`` and leaves the files as they are. The damaged files are removed
once the new generation is committed; copy the directory first to keep them.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from skillstore.columnar import embedder_of
from skillstore.errors import SkillStoreError, StoreCorruptError, StoreNotFoundError
from skillstore.frames import FrameError, check_frame
from skillstore.generation import INDEX_FILE, SKILLS_FILE
from skillstore.index import index_params
from skillstore.storage import log
from skillstore.storage.columns import ColumnFileError, decode_columns
from skillstore.storage.faiss_file import IndexFileError, hnsw_m
from skillstore.storage.files import file_crc32, is_real_dir, is_regular, open_for_reading, read_file
from skillstore.storage.manifest import (
    COLUMNS_FILE,
    FORMAT_2_FILES,
    FORMAT_VERSION,
    GRAPH_FILE,
    RECORDS_FILE,
    VECTORS_FILE,
    FileEntry,
    Manifest,
    log_name,
    read_manifest,
    snapshot_dir,
)
from skillstore.storage.manifest import NAME as MANIFEST_NAME
from skillstore.storage.snapshot import GENERATION_NAME
from skillstore.store import SkillStore


@dataclass
class RepairReport:
    """What :func:`repair_store` did. ``lost`` lists what could not be restored."""

    generation: int  # the generation written by the repair
    restored_from: int  # the generation whose snapshot it started from
    skills: int
    log_frames: int  # frames replayed from that generation's log
    lost: list[str] = field(default_factory=list)
    writes: int = 0  # acknowledged writes the restored chain holds, over the store's life

    @property
    def complete(self) -> bool:
        """True when nothing was lost (the repair only dropped a torn tail or leftovers)."""
        return not self.lost


@dataclass
class _Chain:
    generation: int
    writes: int  # base + applied frames
    frames: int
    notes: list[str]  # what this chain could not keep of its own log


def repair_store(path: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> RepairReport:
    """Rebuild the store at ``path`` from the chain of snapshot and log that holds the most
    acknowledged writes, as a new generation; returns what was restored and what was lost."""
    directory = Path(path)
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise StoreNotFoundError(f"{directory} is not a directory")
    generations = _snapshot_generations(directory)
    if not os.path.lexists(directory / MANIFEST_NAME) and not generations:
        raise StoreNotFoundError(f"no skill store at {directory}")
    store = SkillStore(directory, dedup_threshold=None, read_only=False, durability="fsync", lock_timeout=lock_timeout)
    try:
        assert store._lock is not None
        with store._mutex, store._lock.held():
            return _repair(store, directory, generations)
    finally:
        store.close()


def _repair(store: SkillStore, directory: Path, generations: list[int]) -> RepairReport:
    problems: list[str] = []
    manifest: Manifest | None = None
    try:
        manifest = read_manifest(directory)
    except FileNotFoundError:
        problems.append("MANIFEST: missing")
    except SkillStoreError as exc:
        problems.append(f"MANIFEST: {exc}")

    best: _Chain | None = None
    kept: Any = None  # the best chain's loaded state
    chains: list[_Chain] = []
    for generation in generations:
        try:
            chain = _load_chain(store, directory, generation, manifest)
        except (SkillStoreError, OSError) as exc:
            problems.append(f"snapshot of generation {generation}: {exc}")
            continue
        chains.append(chain)
        loaded = (store._manifest, store._catalog, store._index, store._pin, store._cursor, store._log_frames)
        store._pin = None
        if best is None or chain.writes > best.writes:
            if kept is not None:
                kept[3].release()
            best, kept = chain, loaded
        elif loaded[3] is not None:
            loaded[3].release()
    if best is None:
        raise StoreCorruptError("no intact snapshot to restore from: " + "; ".join(problems), str(directory))
    store._manifest, store._catalog, store._index, store._pin, store._cursor, store._log_frames = kept

    lost = [*problems, *best.notes]
    for chain in chains:  # what the chains not kept could not replay is lost as well, if it was more
        if chain is not best and chain.notes:
            lost += [f"generation {chain.generation} (not kept, {chain.writes} writes): {note}" for note in chain.notes]
    store._torn_bytes = 0
    store._checkpoint(store._manifest.index)
    return RepairReport(store.generation, best.generation, len(store._catalog), best.frames, lost, best.writes)


def _load_chain(store: SkillStore, directory: Path, generation: int, current: Manifest | None) -> _Chain:
    """Load generation ``generation``'s snapshot and the intact prefix of its log into ``store``."""
    log_path = directory / log_name(generation)
    header: log.LogHeader | None = None
    notes: list[str] = []
    try:
        fd, header = log.read_log(log_path)
        os.close(fd)
    except FileNotFoundError:
        notes.append(f"{log_path.name}: missing (writes since generation {generation}'s checkpoint)")
    except SkillStoreError as exc:
        notes.append(f"{log_path.name}: {exc}; its writes are lost")
    if current is not None and current.generation == generation:
        # The MANIFEST vouches for its snapshot's files (sizes, checksums), but the identity of the
        # embedder is the snapshot's own to tell: a MANIFEST that names another is what is damaged.
        manifest = replace(current, embedder=_snapshot_embedder(directory, current))
    else:
        manifest = _describe(directory, generation, current, header)
    store._adopt_snapshot(manifest)
    try:
        return _replay_chain(store, log_path, manifest, header, notes)
    except BaseException:
        if store._pin is not None:
            store._pin.release()
            store._pin = None
        raise


def _replay_chain(
    store: SkillStore, log_path: Path, manifest: Manifest, header: log.LogHeader | None, notes: list[str]
) -> _Chain:
    generation = manifest.generation
    if header is None or header.store_id != manifest.store_id or header.base_seq != manifest.seq:
        if header is not None:
            notes.append(f"{log_path.name}: belongs to another store or generation; its writes are lost")
        store._cursor = log.Cursor(log.HEADER_SIZE, manifest.seq, 0)
        return _Chain(generation, manifest.seq, 0, notes)
    scan = log.scan_prefix(log_path)
    store._log_header = scan.header
    applied = 0
    for offset, frame in scan.frames:
        try:
            store._apply(check_frame(frame, manifest.dim))
        except (FrameError, SkillStoreError) as exc:
            notes.append(
                f"{log_path.name}: frame at offset {offset} cannot be applied ({exc}); it and the rest are dropped"
            )
            break
        applied += 1
    else:
        if scan.damage is not None:
            notes.append(f"{log_path.name}: {scan.damage}; the {scan.torn_bytes} bytes from there on are dropped")
    store._cursor = log.Cursor(log.HEADER_SIZE, manifest.seq + applied, 0)
    store._log_frames = applied
    return _Chain(generation, manifest.seq + applied, applied, notes)


def _describe(directory: Path, generation: int, current: Manifest | None, header: log.LogHeader | None) -> Manifest:
    """A MANIFEST for a snapshot that none vouches for, from its own files and its log's header.

    The checksums are the files' own, so only the structural checks of an open apply."""
    snapshot = directory / snapshot_dir(generation)
    format_2 = is_regular(snapshot / SKILLS_FILE)
    names = list(FORMAT_2_FILES) if format_2 else [COLUMNS_FILE, RECORDS_FILE, VECTORS_FILE]
    if not format_2 and is_regular(snapshot / GRAPH_FILE):
        names.append(GRAPH_FILE)
    files = {}
    for name in names:
        path = snapshot / name
        if not is_regular(path):
            raise StoreCorruptError("missing or not a regular file", str(path))
        files[name] = FileEntry(*file_crc32(path))
    if format_2:
        skills, dim, kind, head = _describe_format_2(snapshot)
        embedder = None
    else:
        skills, dim, kind, head, embedder = _describe_columns(snapshot, files)
    if current is not None and current.dim != dim:
        raise StoreCorruptError(f"index has dimension {dim}, the MANIFEST says {current.dim}", str(snapshot))
    if not 1 <= dim <= 65536:
        raise StoreCorruptError(f"index has dimension {dim}", str(snapshot))
    if current is not None and current.index.get("kind") in ("auto", kind):
        params: dict[str, Any] = {**current.index, "active": kind}
    else:
        params = {**index_params(kind), "active": kind}
    if kind == "hnsw":  # the graph's M is in the file; the MANIFEST that named it may be gone
        try:
            params["M"] = hnsw_m(head)
        except IndexFileError as exc:
            raise StoreCorruptError(f"index: {exc}", str(snapshot / INDEX_FILE)) from None
    store_id = header.store_id if header is not None else (current.store_id if current else os.urandom(16))
    now = time.time()
    return Manifest(
        dim=dim, generation=generation, store_id=store_id, index=params, files=files, skills=skills,
        seq=header.base_seq if header is not None else 0,
        created_at=current.created_at if current is not None else now, checkpointed_at=now,
        format=2 if format_2 else FORMAT_VERSION, embedder=embedder,
    )


def _describe_format_2(snapshot: Path) -> tuple[int, int, str, bytes]:
    """(skills, dim, index kind, the index file's head) of a snapshot of format 2."""
    head = _head(snapshot / INDEX_FILE, 1024)
    if len(head) < 8 or head[:4] not in (b"IxFI", b"IHNf"):
        raise StoreCorruptError("not an index this store writes", str(snapshot / INDEX_FILE))
    (dim,) = struct.unpack_from("<i", head, 4)
    return _array_length(_head(snapshot / SKILLS_FILE, 5)), dim, "hnsw" if head[:4] == b"IHNf" else "flat", head


def _describe_columns(
    snapshot: Path, files: dict[str, FileEntry]
) -> tuple[int, int, str, bytes, dict[str, Any] | None]:
    """(skills, dim, index kind, the graph file's head, the embedder's identity) of a snapshot
    of format 3, from its columns."""
    path = snapshot / COLUMNS_FILE
    try:
        columns = decode_columns(read_file(path, files[COLUMNS_FILE].size))
    except ColumnFileError as exc:
        raise StoreCorruptError(f"columns: {exc}", str(path)) from None
    if "attempts" not in columns or "dim" not in columns or len(columns["dim"]) != 1:
        raise StoreCorruptError("columns lack the skills' counters or their dimension", str(path))
    head = _head(snapshot / GRAPH_FILE, 1024) if GRAPH_FILE in files else b""
    embedder = embedder_of(columns, str(path))
    kind = "hnsw" if GRAPH_FILE in files else "flat"
    return len(columns["attempts"]), int(columns["dim"][0]), kind, head, embedder


def _snapshot_embedder(directory: Path, manifest: Manifest) -> dict[str, Any] | None:
    """The embedder identity the snapshot of ``manifest`` records in its columns; the MANIFEST's
    own when the columns cannot tell (a damaged file, which loading it will report)."""
    if COLUMNS_FILE not in manifest.files:
        return manifest.embedder  # format 2: no columns, and no embedder
    path = directory / snapshot_dir(manifest.generation) / COLUMNS_FILE
    try:
        return embedder_of(decode_columns(read_file(path, manifest.files[COLUMNS_FILE].size)), str(path))
    except (ColumnFileError, SkillStoreError, OSError):
        return manifest.embedder


def _head(path: Path, size: int) -> bytes:
    fd = open_for_reading(path)
    try:
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _array_length(head: bytes) -> int:
    """The item count of a msgpack array from its first bytes."""
    if head[:1] and 0x90 <= head[0] <= 0x9F:
        return head[0] & 0x0F
    if head[:1] == b"\xdc" and len(head) >= 3:
        return int(struct.unpack_from(">H", head, 1)[0])
    if head[:1] == b"\xdd" and len(head) >= 5:
        return int(struct.unpack_from(">I", head, 1)[0])
    raise StoreCorruptError("skills are not a list")


def _snapshot_generations(directory: Path) -> list[int]:
    """Generations with a snapshot directory, newest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [
        int(m.group(2))
        for m in map(GENERATION_NAME.match, names)
        if m and m.group(1) == "snap" and not m.group(3) and is_real_dir(directory / m.group(0))
    ]
    return sorted(found, reverse=True)
