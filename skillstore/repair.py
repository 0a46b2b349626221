"""``repair_store``: rebuild a damaged store from what is still intact.

A store is repaired in a new generation, written the way a checkpoint writes one:

1. the newest intact snapshot: the one the MANIFEST names when its files pass their
   checksums; otherwise (a damaged MANIFEST or snapshot) the newest other ``snap-*``
   directory whose skills decode and whose index loads with a matching row count
   (such a directory is left behind by a checkpoint that had not finished cleaning up);
2. the intact prefix of that generation's log: frames up to the first damaged,
   undecodable or inapplicable one; everything after it is reported lost;
3. a new snapshot, an empty log and a new MANIFEST; older generations are removed.

Nothing is written when no snapshot is intact: ``repair_store`` then raises
``StoreCorruptError`` and leaves the files as they are. The damaged files are removed
once the new generation is committed; copy the directory first to keep them.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillstore.catalog import Catalog
from skillstore.codec import unpack
from skillstore.errors import SkillStoreError, StoreCorruptError, StoreNotFoundError
from skillstore.index import VectorIndex, index_params
from skillstore.records import load_record
from skillstore.storage import log
from skillstore.storage.files import read_file
from skillstore.storage.manifest import NAME as MANIFEST_NAME
from skillstore.storage.manifest import Manifest, read_manifest
from skillstore.storage.snapshot import read_verified, verified_path
from skillstore.store import INDEX_FILE, SKILLS_FILE, SkillStore

_SNAPSHOT_DIR = re.compile(r"^snap-(\d{8})$")
_MAX_UNVERIFIED_BYTES = 1 << 34  # a snapshot file read without a MANIFEST entry to bound it


@dataclass
class RepairReport:
    """What :func:`repair_store` did. ``lost`` lists what could not be restored."""

    generation: int  # the generation written by the repair
    restored_from: int  # the generation whose snapshot it started from
    skills: int
    log_frames: int  # frames replayed from that generation's log
    lost: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when nothing was lost (the repair only dropped a torn tail or leftovers)."""
        return not self.lost


@dataclass
class _Loaded:
    manifest: Manifest
    catalog: Catalog
    index: VectorIndex


def repair_store(path: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> RepairReport:
    """Rebuild the store at ``path`` from its newest intact snapshot and the intact prefix
    of its log, as a new generation; returns what was restored and what was lost."""
    directory = Path(path)
    generations = _snapshot_generations(directory)
    if not (directory / MANIFEST_NAME).exists() and not generations:
        raise StoreNotFoundError(f"no skill store at {directory}")
    store = SkillStore(directory, dedup_threshold=None, read_only=False, durability="fsync", lock_timeout=lock_timeout)
    try:
        assert store._lock is not None
        with store._mutex, store._lock.held():
            return _repair(store, directory, generations)
    finally:
        store.close()


def _repair(store: SkillStore, directory: Path, generations: list[int]) -> RepairReport:
    lost: list[str] = []
    manifest: Manifest | None = None
    try:
        manifest = read_manifest(directory)
    except StoreCorruptError as exc:
        lost.append(f"MANIFEST: {exc}")
    except FileNotFoundError:
        lost.append("MANIFEST: missing")
    loaded = None
    if manifest is not None:
        try:
            loaded = _load_verified(directory, manifest)
        except (SkillStoreError, OSError) as exc:
            lost.append(f"snapshot of generation {manifest.generation}: {exc}")
    for generation in generations:
        if loaded is not None:
            break
        if manifest is not None and generation == manifest.generation:
            continue
        try:
            loaded = _load_unverified(directory, generation, manifest)
        except (SkillStoreError, OSError, RuntimeError, ValueError) as exc:
            lost.append(f"snapshot of generation {generation}: {exc}")
    if loaded is None:
        raise StoreCorruptError("no intact snapshot to restore from: " + "; ".join(lost), str(directory))

    # Apply the log's intact prefix to the scratch store, then write it out as a new generation.
    store._manifest, store._catalog, store._index = loaded.manifest, loaded.catalog, loaded.index
    frames = _replay_prefix(store, directory / loaded.manifest.log_name, lost)
    restored_from = loaded.manifest.generation
    newest = max([restored_from, *generations, manifest.generation if manifest else 0])
    store._manifest = _with_generation(loaded.manifest, newest)
    store._checkpoint(store._manifest.index)
    return RepairReport(store.generation, restored_from, len(store._catalog), frames, lost)


def _replay_prefix(store: SkillStore, log_path: Path, lost: list[str]) -> int:
    try:
        scan = log.scan_prefix(log_path)
    except FileNotFoundError:
        lost.append(f"{log_path.name}: missing (writes since that generation's checkpoint)")
        return 0
    applied = 0
    for frame in scan.frames:
        try:
            store._apply(frame)
        except (SkillStoreError, KeyError, TypeError, ValueError, AttributeError) as exc:
            lost.append(f"{log_path.name}: frame {applied} cannot be applied ({exc!r}); it and the rest are dropped")
            return applied
        applied += 1
    if scan.torn_bytes:
        lost.append(
            f"{log_path.name}: {scan.torn_bytes} bytes after frame {applied} are damaged or torn;"
            " they were dropped, with any frame after them"
        )
    return applied


def _snapshot_generations(directory: Path) -> list[int]:
    """Generations with a snapshot directory, newest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [int(m.group(1)) for m in map(_SNAPSHOT_DIR.match, names) if m]
    return sorted(found, reverse=True)


def _catalog(records: Any, where: Path) -> Catalog:
    catalog = Catalog()
    try:
        for record in records:
            catalog.append(load_record(record))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreCorruptError(f"skills cannot be decoded: {exc}", str(where)) from None
    return catalog


def _load_verified(directory: Path, manifest: Manifest) -> _Loaded:
    """The generation the MANIFEST names, every file checked against its checksum."""
    skills_path = directory / manifest.snapshot_dir / SKILLS_FILE
    try:
        records = unpack(read_verified(directory, manifest, SKILLS_FILE))
    except ValueError as exc:
        raise StoreCorruptError(f"skills cannot be decoded: {exc}", str(skills_path)) from None
    catalog = _catalog(records, skills_path)
    index = VectorIndex.read(
        verified_path(directory, manifest, INDEX_FILE), manifest.dim, manifest.index,
        manifest.index.get("active", "flat"), len(catalog), mmap=False,
    )
    return _Loaded(manifest, catalog, index)


def _load_unverified(directory: Path, generation: int, current: Manifest | None) -> _Loaded:
    """Another generation's snapshot, which no MANIFEST vouches for: it must decode, and its
    index must load with one row per skill."""
    snapshot = directory / f"snap-{generation:08d}"
    skills_path = snapshot / SKILLS_FILE
    try:
        records = unpack(read_file(skills_path, _MAX_UNVERIFIED_BYTES))
    except ValueError as exc:
        raise StoreCorruptError(f"skills cannot be decoded: {exc}", str(skills_path)) from None
    if not isinstance(records, list):
        raise StoreCorruptError("skills are not a list", str(skills_path))
    catalog = _catalog(records, skills_path)
    index_path = snapshot / INDEX_FILE
    index = VectorIndex.read_unverified(index_path, len(catalog))
    dim = index.dim
    if current is not None and current.dim != dim:
        raise StoreCorruptError(f"index has dimension {dim}, the MANIFEST says {current.dim}", str(index_path))
    params = dict(current.index) if current is not None else {**index_params(index.kind), "active": index.kind}
    params["active"] = index.kind
    now = time.time()
    manifest = Manifest(
        dim=dim, generation=generation, index=params, skills=len(catalog),
        created_at=current.created_at if current is not None else now, checkpointed_at=now,
    )
    return _Loaded(manifest, catalog, index)


def _with_generation(manifest: Manifest, generation: int) -> Manifest:
    return Manifest(
        dim=manifest.dim, generation=generation, index=manifest.index, metric=manifest.metric,
        skills=manifest.skills, created_at=manifest.created_at, checkpointed_at=manifest.checkpointed_at,
    )
