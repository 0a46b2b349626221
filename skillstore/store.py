"""SkillStore: the persistent skill store and its public API.

One directory holds a store (see ``storage``). In memory a store is a catalog of
records plus a FAISS index of their unit vectors, rebuilt on open from the
current snapshot and the frames of the write-ahead log.

Every write follows one path, :meth:`SkillStore._commit`: take the writer lock,
catch up with frames other processes appended, build a frame from validated
input, append it (fsynced), then apply it in memory. Applying a frame is
deterministic, so replaying the log on open rebuilds exactly what the writers
saw. Readers take no lock; :meth:`refresh` brings them up to date.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skillstore import ranking
from skillstore.backends import is_url, open_url
from skillstore.catalog import Catalog
from skillstore.columnar import Base
from skillstore.embedders import (
    Embedder,
    check_embedder_choice,
    checkable_update,
    describe,
    identity,
    query_vector,
    resolve_embedder,
    update_with_embedding,
    with_embeddings,
)
from skillstore.errors import (
    DimensionMismatchError,
    EmbedderMismatchError,
    FormatVersionError,
    InvalidInputError,
    ReadOnlyStoreError,
    SkillNotFoundError,
    SkillStoreError,
    StoreCorruptError,
    StoreNotFoundError,
    StoreReplacedError,
)
from skillstore.frames import FrameError, check_frame
from skillstore.generation import (
    INDEX_FILE,
    SKILLS_FILE,
    Loaded,
    empty_generation_files,
    holds_no_skills,
    read_snapshot,
    write_generation,
)
from skillstore.index import VectorIndex, active_kind, index_params
from skillstore.model import Match, Skill, SkillStats, SkillVersion
from skillstore.preconditions import freeze
from skillstore.query import check_limit, check_order_by
from skillstore.query import parse as parse_filter
from skillstore.records import (
    apply_merge,
    apply_outcome,
    apply_rollback,
    apply_update,
    canonical_preconditions,
    check_merge_fits,
    check_outcome_fits,
    check_reason,
    check_status,
    check_statuses,
    check_version_number,
    load_record,
    merge_entry,
    new_id,
    new_record,
    prepare_restores,
    prepare_skills,
    reembedded,
    rollback_target,
    summarise_counts,
    to_skill,
    version_of,
    versions_of,
)
from skillstore.reports import VerifyReport
from skillstore.storage import log
from skillstore.storage.files import TEMP_SUFFIX, fsync_dir, io_errors, is_real_dir, is_regular, write_file
from skillstore.storage.lock import Pin, WriterLock
from skillstore.storage.manifest import (
    COLUMNS_FILE,
    FORMAT_VERSION,
    GRAPH_FILE,
    MAX_GENERATION,
    MAX_SEQ,
    RECORDS_FILE,
    STORE_ID_BYTES,
    VECTORS_FILE,
    Manifest,
    read_manifest,
    write_manifest,
)
from skillstore.storage.manifest import NAME as MANIFEST_NAME
from skillstore.storage.snapshot import GENERATION_NAME, next_generation, remove_stale, write_snapshot
from skillstore.text import check_text_query, fused
from skillstore.upgrade import manifest_format, upgrade_format_1
from skillstore.validation import (
    check_batch_size,
    check_dim,
    check_fields,
    check_flag,
    check_ids,
    check_k,
    check_lock_timeout,
    check_outcome,
    check_path,
    check_state,
    check_threshold,
    normalise_embedding,
    normalise_queries,
    per_query_states,
    shown,
)

if TYPE_CHECKING:
    from skillstore.backends.postgres import PostgresBackend

__all__ = ["INDEX_FILE", "SKILLS_FILE", "SkillStore", "VerifyReport"]

DURABILITY_MODES = ("fsync", "flush")
# A reader pins the generation it loads; it reads the MANIFEST again only when a
# checkpoint removed that generation in the microseconds between the two.
_OPEN_RETRIES = 1000


class SkillStore:
    """A persistent, crash-safe, multi-process skill store. Create one with :meth:`open`."""

    def __init__(
        self,
        path: Path,
        *,
        dedup_threshold: float | None,
        read_only: bool,
        durability: str,
        lock_timeout: float,
    ) -> None:
        self.path = path
        self.dedup_threshold = dedup_threshold
        self.read_only = read_only
        self.durability = durability
        self.embedder: Embedder | None = None
        self._mutex = threading.RLock()
        self._closed = True  # until every resource below is acquired
        self._lock = None if read_only else WriterLock(path, lock_timeout)
        self._writer: log.LogWriter | None = None
        self._pin: Pin | None = None
        self._closed = False
        self._manifest: Manifest
        self._catalog: Catalog
        self._index: VectorIndex
        self._rebuilt_graph: str | None = None
        self._log_header: log.LogHeader
        self._cursor = log.Cursor(log.HEADER_SIZE, 0, 0)
        self._log_frames = 0
        self._torn_bytes = 0

    # -- opening and closing ------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        dim: int | None = None,
        create: bool = True,
        dedup_threshold: float | None = None,
        read_only: bool = False,
        index: str | None = None,
        durability: str = "fsync",
        lock_timeout: float = 30.0,
        embedder: Embedder | Mapping[str, Any] | str | None = None,
    ) -> SkillStore | PostgresBackend:
        """Open the store at ``path``, creating it (``dim`` or ``embedder`` required) when missing
        and ``create``.

        A ``postgresql://`` URL opens a library in PostgreSQL instead (see
        :mod:`skillstore.backends`); ``index``, ``durability`` and ``lock_timeout`` apply to
        directories only.

        ``index`` is ``"flat"`` (exact; the default for a new store), ``"hnsw"`` or
        ``"auto"`` (flat until a checkpoint finds ``AUTO_HNSW_MIN_SKILLS`` skills). The
        kind is kept in the MANIFEST; naming another kind for an existing store converts
        it (see :meth:`configure_index`).

        ``durability="fsync"`` (the default) makes every acknowledged write survive a
        power cut; ``"flush"`` hands writes to the OS without fsync: they survive the
        process being killed, not the machine going down, and are much faster.
        ``dedup_threshold`` turns on merging of near-duplicate skills on add.

        ``embedder`` (see ``skillstore.embedders``) embeds skills added without an embedding
        and the text of text searches. A new store records its identity (and takes its
        dim); an existing store must have recorded the same one (EmbedderMismatchError
        otherwise). ``"recorded"`` builds the embedder the store recorded, if any. An identity
        given as a map (``{"name", "params", "dim"}``, as ``embedder_identity`` gives it) is
        recorded or checked alike, with nothing to embed with (an import uses it).
        """
        path = check_path(path)
        wanted = check_embedder_choice(embedder)
        lock_timeout = check_lock_timeout(lock_timeout)
        create, read_only = check_flag(create, "create"), check_flag(read_only, "read_only")
        if is_url(path):
            return open_url(str(path), dim=dim, create=create, dedup_threshold=dedup_threshold, read_only=read_only,
                            embedder=embedder)
        if dim is not None:
            dim = check_dim(dim)
        if isinstance(wanted, dict) and dim is not None and dim != wanted["dim"]:
            raise DimensionMismatchError(f"dim {dim} was given with an embedder of dim {wanted['dim']}")
        threshold = check_threshold(dedup_threshold)
        if index is not None:
            index_params(index)
        if durability not in DURABILITY_MODES:
            raise InvalidInputError(f"durability must be one of {DURABILITY_MODES}, got {shown(durability)}")
        directory = Path(path)
        if not (directory / MANIFEST_NAME).exists():
            if directory.exists() and not directory.is_dir():  # say so, not "pass dim" or EEXIST
                error = StoreNotFoundError if read_only or not create else InvalidInputError
                raise error(f"no skill store at {directory}: it is a file, not a directory")
            if read_only or not create:
                raise StoreNotFoundError(f"no skill store at {directory}")
            recorded = wanted if isinstance(wanted, dict) else None
            if dim is None and recorded is None:
                raise InvalidInputError(f"no skill store at {directory}: pass dim (or an embedder) to create one")
            _create(directory, dim or recorded["dim"], index or "flat", recorded)  # type: ignore[index]
        store = cls(
            directory,
            dedup_threshold=threshold,
            read_only=read_only,
            durability=durability,
            lock_timeout=lock_timeout,
        )
        try:
            try:
                store._load()
            except FormatVersionError:
                if read_only or manifest_format(directory) != 1:
                    raise
                upgrade_format_1(store)  # a store of the first release: upgraded on its first read-write open
                store._load()
            if dim is not None and dim != store.dim:
                raise DimensionMismatchError(f"the store at {directory} has dim {store.dim}, not {dim}")
            store.embedder = resolve_embedder(embedder, wanted, store.embedder_identity, str(directory))
            if index is not None and index != store.index_kind:
                if read_only:
                    raise InvalidInputError(
                        f"the store at {directory} has a {store.index_kind} index; a read-only open cannot"
                        f" convert it to {index}"
                    )
                store.configure_index(kind=index)
            if not read_only:
                if store._manifest.format != FORMAT_VERSION:
                    store.checkpoint()  # a store of the previous format: rewritten as the current one
                store._remove_unpinned_generations()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Release the store's files and locks. Every acknowledged write is already on disk."""
        with self._mutex:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if self._pin is not None:
                self._pin.release()
                self._pin = None
            if self._lock is not None:
                self._lock.close()
            # The snapshot's memory maps hold its files open: dropped, a generation that a later
            # checkpoint removes gives its space back even while this object lives on.
            vars(self).pop("_catalog", None)
            vars(self).pop("_index", None)
            self._closed = True

    def __del__(self) -> None:
        # A store left open holds descriptors and a pin on its generation: warn, as files do.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2)
            with contextlib.suppress(Exception):
                self.close()

    def __enter__(self) -> SkillStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed or not hasattr(self, "_catalog") else f"{len(self._catalog)} skills"
        return f"SkillStore({str(self.path)!r}, {state})"

    @property
    def dim(self) -> int:
        return self._manifest.dim

    @property
    def generation(self) -> int:
        return self._manifest.generation

    @property
    def embedder_identity(self) -> dict[str, Any] | None:
        """The identity (name, params, dim) of the embedder the store recorded, or None."""
        return self._manifest.embedder

    @property
    def index_kind(self) -> str:
        """The configured kind: "flat", "hnsw" or "auto"."""
        return str(self._manifest.index["kind"])

    # -- loading and catching up ----------------------------------------------------

    def _load(self) -> None:
        """Rebuild the in-memory state from the current MANIFEST, snapshot and log.

        The generation is pinned before its files are read, so a checkpoint cannot remove
        them while we do; the MANIFEST is read again only if a checkpoint removed the
        generation between reading the MANIFEST and pinning it."""
        for _ in range(_OPEN_RETRIES):
            manifest = self._read_manifest()
            pin = Pin.take(self.path / manifest.snapshot_dir, manifest.generation)
            if pin is None:
                self._missing_generation(manifest)
                continue
            try:
                self._load_generation(manifest, pin)
            except StoreCorruptError:
                pin.release()
                # a checkpoint removed the generation between our reading the MANIFEST and pinning
                # it (what it could not remove, a foreign file, keeps the directory): read it again
                if self._read_manifest().generation != manifest.generation:
                    continue
                raise
            except BaseException:
                pin.release()
                raise
            return
        raise SkillStoreError(f"{self.path}: the store kept changing generation while opening")

    def _read_manifest(self) -> Manifest:
        """The current MANIFEST, which must describe the same store as the one we loaded."""
        try:
            manifest = read_manifest(self.path)
        except FileNotFoundError:
            if not os.path.isdir(self.path):
                raise StoreReplacedError(f"{self.path}: the store's directory was moved or deleted") from None
            raise StoreCorruptError("MANIFEST is missing", str(self.path / MANIFEST_NAME)) from None
        if hasattr(self, "_manifest") and manifest.store_id != self._manifest.store_id:
            raise StoreReplacedError(f"{self.path}: the store's directory now holds another store")
        return manifest

    def _missing_generation(self, manifest: Manifest) -> None:
        """A pinned generation vanished: fine if a checkpoint replaced it, damage if not."""
        if self._read_manifest().generation == manifest.generation:
            snapshot = str(self.path / manifest.snapshot_dir)
            raise StoreCorruptError("the snapshot the MANIFEST names is missing", snapshot)

    def _load_generation(self, manifest: Manifest, pin: Pin, *, own: bool = False) -> None:
        """Load ``manifest``'s generation and replay its log; ``own``: one this handle just wrote."""
        if not own and hasattr(self, "_manifest") and manifest.embedder != self._manifest.embedder:
            # Another process re-embedded the store. Whatever this handle embeds with, its own
            # embedder or the caller's model, made the vectors of before: refuse rather than mix.
            raise EmbedderMismatchError(
                f"{self.path} was re-embedded by another process (now {describe(manifest.embedder)}, was"
                f" {describe(self._manifest.embedder)}) since this handle opened it; open it again"
            )
        loaded = read_snapshot(self.path, manifest, pin.fd)
        expected = log.LogHeader(manifest.store_id, manifest.generation, manifest.seq, 0)
        log_path = self.path / manifest.log_name
        try:
            scan = log.scan(log_path, expected)
        except FileNotFoundError:
            raise StoreCorruptError("the log the MANIFEST names is missing", str(log_path)) from None
        previous = self._pin
        self._adopt(manifest, loaded, pin)
        self._log_header = scan.header
        self._cursor = log.start(scan.header)
        self._log_frames = 0
        if previous is not None:
            previous.release()
        self._apply_scan(scan, log_path)

    def _adopt_snapshot(self, manifest: Manifest) -> None:
        """Pin ``manifest``'s generation and load its snapshot as the whole state, with no log
        replayed (repair and the format upgrade replay logs their own way)."""
        pin = Pin.take(self.path / manifest.snapshot_dir, manifest.generation)
        if pin is None:
            raise StoreCorruptError("the snapshot cannot be pinned: missing, or being removed",
                                    str(self.path / manifest.snapshot_dir))
        try:
            loaded = read_snapshot(self.path, manifest, pin.fd)
        except BaseException:
            pin.release()
            raise
        if self._pin is not None:
            self._pin.release()
        self._adopt(manifest, loaded, pin)
        self._log_frames = 0

    def _adopt(self, manifest: Manifest, loaded: Loaded, pin: Pin) -> None:
        self._manifest, self._catalog, self._index, self._pin = manifest, loaded.catalog, loaded.index, pin
        self._rebuilt_graph = loaded.rebuilt_graph

    def _apply_scan(self, scan: log.LogScan, log_path: Path) -> None:
        for (offset, frame), cursor in zip(scan.frames, scan.cursors, strict=True):
            try:
                if cursor.seq > MAX_SEQ:
                    raise FrameError(f"is numbered {cursor.seq}, past the {MAX_SEQ} writes a store can count")
                self._apply(check_frame(frame, self.dim))
            except (FrameError, SkillStoreError) as exc:
                # the frames before it stay applied, and the cursor after them: never applied twice
                message = f"log frame at offset {offset} cannot be applied: {exc}"
                raise StoreCorruptError(message, str(log_path)) from None
            self._cursor = cursor
            self._log_frames += 1
        self._cursor = scan.cursor
        self._torn_bytes = scan.torn_bytes

    def _remove_unpinned_generations(self) -> None:
        """Remove old generations that readers kept pinned until they closed. Under the
        lock, against the MANIFEST of that moment: a checkpoint may have made another current."""
        assert self._lock is not None
        with self._mutex, self._lock.held():
            current = self._read_manifest()
            remove_stale(self.path, current.generation, current.store_id)

    def _catch_up(self) -> None:
        """Apply what other processes committed since we last looked."""
        manifest = self._read_manifest()
        if manifest.generation != self._manifest.generation:
            self._load()
            return
        log_path = self.path / manifest.log_name
        try:
            if self._diverged(log_path):
                self._load()
                return
            scan = log.scan(log_path, self._log_header, self._cursor)
        except FileNotFoundError:
            self._load()  # a checkpoint removed our generation (possible only if we never pinned it)
            return
        except StoreCorruptError:
            if self._diverged(log_path):
                self._load()
                return
            raise
        self._apply_scan(scan, log_path)

    def _diverged(self, log_path: Path) -> bool:
        """Whether the last frame we applied is no longer in the log: a writer's append that
        we read while it was in flight failed, was cut, and another frame took its place.
        Everything we built on it must be rebuilt."""
        if self._cursor.last_frame < 0:
            return False
        return log.checksum_at(log_path, self._cursor.last_frame) != self._cursor.chain

    def refresh(self) -> None:
        """See every write committed by other processes (readers call this; writers needn't)."""
        with self._mutex:
            self._check_open()
            self._catch_up()

    # -- the write path ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SkillStoreError(f"{self.path}: the store is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise ReadOnlyStoreError(f"{self.path} was opened read-only")

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the thread and process locks, caught up, with torn bytes cut off the log.

        Taking the lock checks that the store's path still names the directory we
        locked; a store moved, replaced or deleted under us raises StoreReplacedError."""
        self._check_writable()
        assert self._lock is not None
        with self._mutex, self._lock.held():
            self._catch_up()
            if self._torn_bytes:
                # A writer died mid-append. Nobody else can be appending now (we hold the
                # lock), so the tail is garbage: cut it, or our frame would follow it unreadably.
                self._log_writer().truncate(self._cursor.end)
                self._torn_bytes = 0
            yield

    def _commit(self, build: Callable[[], tuple[dict[str, Any], Any]]) -> Any:
        """Build a frame against the latest state, make it durable, then apply it."""
        with self._writing():
            frame, result = build()
            try:
                data, cursor = log.encode_frame(frame, self._log_header, self._cursor)
            except ValueError as exc:
                raise InvalidInputError(f"{exc}; split the batch") from None
            check_batch_size(len(data))
            if cursor.seq > MAX_SEQ:
                raise SkillStoreError(f"{self.path}: the store has counted {MAX_SEQ} writes, the most it can")
            self._log_writer().append(data, self._cursor.end)
            self._cursor = cursor
            self._apply(frame)
            self._log_frames += 1
            return result

    def _log_writer(self) -> log.LogWriter:
        path = self.path / self._manifest.log_name
        if self._writer is None or self._writer.path != path:
            if self._writer is not None:
                self._writer.close()
            self._writer = log.LogWriter(path, sync=self.durability == "fsync")
        return self._writer

    def _apply(self, frame: dict[str, Any]) -> None:
        """Apply one log frame to the in-memory state. Must not fail for a frame we built."""
        op = frame["op"]
        catalog = self._catalog
        if op == "add":
            # checked whole before anything changes: a replayed frame is held to the rules a write is
            merges: dict[str, int] = {}
            added: dict[str, dict[str, Any]] = {}  # a skill of this batch may take later duplicates
            for item in frame["items"]:
                if "merge" in item:
                    merges[item["merge"]] = merges.get(item["merge"], 0) + 1
                elif item["record"]["id"] in catalog:
                    raise FrameError(f"adds id {item['record']['id']!r}, which the store already holds")
                else:
                    added[item["record"]["id"]] = item["record"]
            for skill_id, count in merges.items():
                check_merge_fits(added[skill_id] if skill_id in added else catalog.record(skill_id), count)
            vectors = []
            for item in frame["items"]:
                if "merge" in item:
                    apply_merge(catalog.record(item["merge"]), item["entry"])
                else:
                    catalog.append(load_record(item["record"]))
                    vectors.append(np.frombuffer(item["vector"], dtype=np.float32))
            if vectors:
                self._index.add(np.stack(vectors))
        elif op == "update":
            fields = dict(frame["fields"])
            if "preconditions" in fields:  # decoded frames carry lists; keep tuples
                fields["preconditions"] = canonical_preconditions(fields["preconditions"])
            current = self._index.vector(catalog.row(frame["id"])).astype("<f4").tobytes()

            def update(record: dict[str, Any]) -> bool:
                return apply_update(record, fields, frame["at"], vector=frame["vector"], current_vector=current,
                                    reason=frame["reason"], status=frame["status"])

            if frame["vector"] is None:
                catalog.modify(frame["id"], update)
            else:
                self._move(frame["id"], update, frame["vector"])
        elif op == "rollback":
            row = catalog.row(frame["id"])
            current = self._index.vector(row).astype("<f4").tobytes()
            target = rollback_target(catalog.record_at(row), frame["version"])  # refused before any change
            if target["content"]["embedding"] == current:
                catalog.modify(frame["id"], lambda r: apply_rollback(r, frame["version"], frame["at"],
                                                                     frame["reason"], current))
            else:
                self._move(frame["id"], lambda r: apply_rollback(r, frame["version"], frame["at"], frame["reason"],
                                                                 current), target["content"]["embedding"])
        elif op == "restore":
            for item in frame["items"]:
                if item["record"]["id"] in catalog:  # a replaced skill goes last, as in every backend
                    catalog.remove(item["record"]["id"])
                catalog.append(load_record(item["record"]))
            if frame["items"]:
                self._index.add(np.stack([np.frombuffer(i["vector"], dtype=np.float32) for i in frame["items"]]))
        elif op == "delete":
            for skill_id in frame["ids"]:
                catalog.row(skill_id)  # every id first: a refused frame changes nothing
            for skill_id in frame["ids"]:
                catalog.remove(skill_id)
        elif op == "outcome":
            record = catalog.record(frame["id"])
            check_outcome_fits(record, frame["reward"])
            apply_outcome(record, frame["success"], frame["reward"], frame["at"])
            catalog.counts_changed(frame["id"])
        else:
            raise ValueError(f"unknown log operation {op!r}")

    def _move(self, skill_id: str, change: Callable[[dict[str, Any]], Any], vector: bytes) -> None:
        """Change a skill whose embedding becomes ``vector``: a new embedding means a new row (the
        old one becomes a tombstone), not a new place in creation order."""
        place = self._catalog.place_of(skill_id)
        record = self._catalog.remove(skill_id)
        change(record)
        self._catalog.append(load_record(record), place)
        self._index.add(np.frombuffer(vector, dtype=np.float32)[None, :])

    # -- writes --------------------------------------------------------------------

    def add(self, skill: Skill) -> str:
        """Store ``skill`` and return its new id (or, with dedup, the id it was merged into)."""
        return self.add_many([skill])[0]

    def add_many(self, skills: Iterable[Skill]) -> list[str]:
        """Store several skills in one atomic, durable commit; returns their ids in order. A skill
        whose ``embedding`` is None is given the store's embedder's embedding of its text."""
        prepared = prepare_skills(with_embeddings(skills, self.embedder, str(self.path)), self.dim)
        if not prepared:
            self._check_writable()
            return []

        def build() -> tuple[dict[str, Any], list[str]]:
            self._check_vectors_fit([vector for _, vector in prepared])
            at = time.time()
            items: list[dict[str, Any]] = []
            ids: list[str] = []
            batch: list[tuple[Any, np.ndarray, str]] = []  # new skills of this batch, for dedup
            merges: dict[str, int] = {}  # merges into each skill so far in this batch
            for fields, vector in prepared:
                duplicate = self._find_duplicate(fields["preconditions"], vector, batch)
                if duplicate is not None:
                    skill_id, score = duplicate
                    merges[skill_id] = merges.get(skill_id, 0) + 1
                    if skill_id in self._catalog:  # not one of this batch's own new skills
                        check_merge_fits(self._catalog.record(skill_id), merges[skill_id])
                    items.append({"merge": skill_id, "entry": merge_entry(fields["name"], score, at)})
                else:
                    skill_id = new_id()
                    while skill_id in self._catalog:
                        skill_id = new_id()
                    items.append({"record": new_record(fields, skill_id, at), "vector": vector.tobytes()})
                    batch.append((freeze(fields["preconditions"]), vector, skill_id))
                ids.append(skill_id)
            return {"op": "add", "items": items}, ids

        return self._commit(build)  # type: ignore[no-any-return]

    def _check_vectors_fit(self, vectors: list[np.ndarray]) -> None:
        """Refuse vectors checked against the dim before the writer lock was taken if the store
        has another dim now: the log must never hold a vector of the wrong size (the store would
        no longer open). Catching up refuses a re-embedded store before this (EmbedderMismatchError);
        this is the last guard of the log's invariant."""
        if vectors and len(vectors[0]) != self.dim:
            raise DimensionMismatchError(
                f"{self.path} has dim {self.dim} since another process re-embedded it, not {len(vectors[0])}"
            )

    def _find_duplicate(
        self,
        preconditions: dict[str, Any],
        vector: np.ndarray,
        batch: list[tuple[Any, np.ndarray, str]],
    ) -> tuple[str, float] | None:
        """The most similar skill with equal preconditions, if at least as close as the threshold."""
        if self.dedup_threshold is None:
            return None
        rows = self._catalog.rows_with_preconditions(preconditions)
        candidates = [self._catalog.id_at(int(r)) for r in rows]
        scores = list(self._index.cosines(vector, rows)) if len(rows) else []
        signature = freeze(preconditions)
        for batch_signature, batch_vector, batch_id in batch:
            if batch_signature == signature:
                candidates.append(batch_id)
                scores.append(float(np.dot(batch_vector, vector)))
        best: tuple[float, str] | None = None
        for score, skill_id in zip(scores, candidates, strict=True):
            if score >= self.dedup_threshold and (best is None or (-score, skill_id) < (-best[0], best[1])):
                best = (float(score), skill_id)
        return None if best is None else (best[1], best[0])

    def update(self, skill_id: str, *, reason: str | None = None, status: str | None = None, **fields: Any) -> Skill:
        """Change some of a skill's fields (name, actions, embedding, preconditions,
        description, metadata) and/or its ``status``; returns the updated skill.

        A change of content makes a new version (``reason`` says why; see ``history``); a
        change of status is recorded as an event of the current version. With an embedder, a
        change of the skill's text given no embedding (or ``embedding=None``) re-embeds it."""
        # checked now, so bad input is refused before the lock; with an embedder, again once the
        # current text is known (embedding=None then asks for the text's embedding)
        checked = check_fields(checkable_update(self.embedder, fields, str(self.path)), self.dim)
        reason = check_reason(reason)
        status = None if status is None else check_status(status)

        def build() -> tuple[dict[str, Any], None]:
            row = self._catalog.row(skill_id)  # raises SkillNotFoundError before anything is written
            final = dict(checked)
            if self.embedder is not None:
                current = self._catalog.record_at(row)
                final = check_fields(update_with_embedding(self.embedder, fields, current), self.dim)
            vector = final.pop("embedding", None)
            self._check_vectors_fit([] if vector is None else [vector])
            frame = {
                "op": "update",
                "id": skill_id,
                "fields": final,
                "vector": None if vector is None else vector.tobytes(),
                "at": time.time(),
                "reason": reason,
                "status": status,
            }
            return frame, None

        with self._mutex:  # what this call committed, even if another thread deletes it next
            self._commit(build)
            return self.get(skill_id)

    def rollback(self, skill_id: str, version: int, *, reason: str | None = None) -> Skill:
        """Make a new version of the skill whose content equals version ``version``'s (history is
        never rewritten); returns the skill. VersionNotFoundError when the skill keeps no such
        version; InvalidInputError when it is the current one."""
        number, reason = check_version_number(version), check_reason(reason)

        def build() -> tuple[dict[str, Any], None]:
            rollback_target(self._catalog.record_at(self._catalog.row(skill_id)), number)
            return {"op": "rollback", "id": skill_id, "version": number, "at": time.time(), "reason": reason}, None

        with self._mutex:
            self._commit(build)
            return self.get(skill_id)

    def history(self, skill_id: str) -> list[SkillVersion]:
        """Every version the skill keeps (the last ``VERSION_LIMIT``), oldest first, each with its
        number, time, reason, changed fields, lineage, full content and outcome counts."""
        with self._mutex:
            self._check_open()
            row = self._catalog.row(skill_id)
            return versions_of(self._catalog.record_at(row), self._index.vector(row))

    def delete(self, skill_id: str) -> None:
        """Remove a skill; raises SkillNotFoundError when there is none with that id."""
        self.delete_many([skill_id])

    def delete_many(self, skill_ids: Iterable[str] = (), *, where: Mapping[str, Any] | None = None) -> list[str]:
        """Remove several skills in one atomic commit; returns their ids. ``skill_ids``: if any
        is unknown, none is removed. ``where``: every skill the filter matches (at the moment
        of the commit), instead of ids."""
        ids = list(dict.fromkeys(check_ids(skill_ids)))
        node = None if where is None else parse_filter(where)
        if node is not None and ids:
            raise InvalidInputError("delete_many takes ids or a where filter, not both")

        def build() -> tuple[dict[str, Any], list[str]]:
            chosen = ids
            if node is not None:
                rows = self._catalog.candidate_rows(None, node)
                rows = self._catalog.ordered_rows() if rows is None else rows
                chosen = [self._catalog.id_at(row) for row in rows.tolist()]
            for skill_id in chosen:
                self._catalog.row(skill_id)
            return {"op": "delete", "ids": chosen}, chosen

        if node is not None or ids:
            return self._commit(build)  # type: ignore[no-any-return]
        self._check_writable()
        return []

    def restore_many(self, skills: Iterable[Skill], *, replace: bool = False) -> list[str]:
        """Put complete skills back as exported (id, stats, timestamps and provenance kept),
        in one atomic commit; no dedup. An id the store already holds raises
        InvalidInputError, unless ``replace`` swaps the stored skill for the given one."""
        at = time.time()
        prepared = prepare_restores(skills, self.dim, at)
        ids = [record["id"] for record, _ in prepared]
        if len(set(ids)) != len(ids):
            raise InvalidInputError("restore_many was given the same id twice")

        def build() -> tuple[dict[str, Any], list[str]]:
            clashes = [skill_id for skill_id in ids if skill_id in self._catalog]
            if clashes and not replace:
                raise InvalidInputError(f"the store already holds {clashes[:3]}; pass replace=True to swap them")
            self._check_vectors_fit([vector for _, vector in prepared])
            items = [{"record": record, "vector": vector.tobytes()} for record, vector in prepared]
            return {"op": "restore", "items": items}, ids

        return self._commit(build)  # type: ignore[no-any-return]

    def record_outcome(self, skill_id: str, success: bool, reward: float | None = None) -> SkillStats:
        """Count one attempt of a skill and whether it reached its goal; returns the new stats.

        The counters are updated under the writer lock after catching up with other
        processes, so concurrent outcomes from several processes are never lost.
        """
        ok, value = check_outcome(success, reward)

        def build() -> tuple[dict[str, Any], None]:
            check_outcome_fits(self._catalog.record(skill_id), value)
            return {"op": "outcome", "id": skill_id, "success": ok, "reward": value, "at": time.time()}, None

        with self._mutex:
            self._commit(build)
            return SkillStats.from_dict(self._catalog.stats_at(self._catalog.row(skill_id)))

    def checkpoint(self) -> None:
        """Fold the log into a new snapshot generation and drop tombstoned rows.

        The new snapshot and an empty log are written and fsynced first; replacing the
        MANIFEST commits the switch; only then is the previous generation removed.
        An HNSW graph is rebuilt when rows were deleted or moved; ``auto`` switches to
        HNSW here once the library is large enough.
        """
        with self._writing():
            self._checkpoint(self._manifest.index)

    def reembed(self, embedder: Embedder, *, progress: Callable[[int, int], None] | None = None) -> None:
        """Embed every skill with ``embedder`` and make it the store's, in one atomic step.

        Every skill's text, deprecated skills' too, and the content of every version a skill
        keeps is embedded again (so that a rollback brings back a vector of the same model);
        the store's dim becomes the embedder's. The result is written as a new generation:
        until its MANIFEST commits, readers see the store as it was, and a failure leaves it
        so. ``progress(done, total)`` is called as texts are embedded. A handle that other
        processes opened before raises EmbedderMismatchError from then on, with an embedder or
        without one (its caller's vectors come from the model of before).
        Writers wait while it runs (it holds the writer lock)."""
        wanted = identity(embedder)
        with self._writing():
            rows = self._catalog.ordered_rows().tolist()
            records = [copy.deepcopy(self._catalog.record_at(row)) for row in rows]
            vectors = reembedded(records, embedder, progress)
            params = self._manifest.index
            index = VectorIndex.empty(wanted["dim"], params, str(params["active"]))
            if len(records):
                index.add(vectors)
            try:
                self._checkpoint(params, replacement=(Catalog.from_records(records, wanted["dim"]), index, wanted))
            finally:
                if self._manifest.embedder == wanted:  # committed, even if what follows the commit failed
                    self.embedder = embedder

    def configure_index(self, kind: str | None = None, **tunables: int) -> None:
        """Change the index kind and/or HNSW tunables (``M``, ``efConstruction``,
        ``efSearch``), kept in the MANIFEST. Takes effect through a checkpoint; the
        graph is rebuilt only when its kind, ``M`` or ``efConstruction`` change."""
        if kind is not None:
            index_params(kind)
        with self._writing():  # against the latest configuration, which another writer may have changed
            current = self._manifest.index
            new_kind = kind or current["kind"]
            inherited = {k: v for k, v in current.items() if k not in ("kind", "active")} if new_kind != "flat" else {}
            self._checkpoint(index_params(new_kind, {**inherited, **tunables}))

    def _checkpoint(
        self, params: dict[str, Any], replacement: tuple[Catalog, VectorIndex, dict[str, Any]] | None = None
    ) -> None:
        """Write the current state as a new generation, read it back, then commit it.

        The new snapshot and an empty log are written through the checked writer and
        fsynced, then loaded as an open would load them (checksums, records, index,
        row counts): only a generation that loads is committed by replacing the
        MANIFEST. Until then the previous generation stays in force, whole.

        ``replacement``: the skills, vectors and embedder identity to write instead of the
        current ones (a re-embedding)."""
        catalog, index, embedder = replacement or (self._catalog, self._index, self._manifest.embedder)
        kind = active_kind(params, len(catalog))
        params = {**{k: v for k, v in params.items() if k != "active"}, "active": kind}
        generation = next_generation(self.path, self._manifest.generation)
        if generation > MAX_GENERATION:
            raise SkillStoreError(f"{self.path}: the store has used every generation number; export and import it")
        manifest = Manifest(
            dim=index.dim,
            generation=generation,
            store_id=self._manifest.store_id,
            index=params,
            metric=self._manifest.metric,
            skills=len(catalog),
            seq=self._cursor.seq,
            created_at=self._manifest.created_at,
            checkpointed_at=time.time(),
            embedder=embedder,
        )
        in_force, store_id = self._manifest.generation, self._manifest.store_id
        committed = switched = False
        try:
            manifest.files, written = write_generation(self.path, generation, catalog, index, params, embedder)
            write_file(self.path / manifest.log_name, log.new_log(manifest.store_id, generation, manifest.seq))
            fsync_dir(self.path)
            pin = Pin.take(self.path / manifest.snapshot_dir, generation)
            if pin is None:
                raise StoreCorruptError("the new snapshot vanished before it was committed", str(self.path))
            previous, switched = self._pin, True
            try:
                self._load_generation(manifest, pin, own=True)  # the read-back: exactly what a later open loads
                if len(self._catalog) != written or len(self._index) != written:
                    raise StoreCorruptError(
                        f"generation {generation} reads back {len(self._catalog)} skills, {written} were written",
                        str(self.path / manifest.snapshot_dir),
                    )
                write_manifest(self.path, manifest, sync_directory=False)
                committed = True  # the rename is the commit, whatever happens next
            finally:
                if not committed:  # unpin the new generation so it can be removed; memory is reloaded below
                    self._pin = previous
                    pin.release()
        finally:
            if not committed:
                remove_stale(self.path, in_force, store_id, only=generation)
                if switched:
                    self._reload_after_failed_checkpoint()
        if self._writer is not None:  # open on the replaced log, whose space must come back when it is removed
            self._writer.close()
            self._writer = None
        # Until the directory is synced the rename may not survive a power cut, and the old
        # MANIFEST would name the old generation again: it is removed only after the sync.
        fsync_dir(self.path)
        remove_stale(self.path, generation, manifest.store_id)

    def _reload_after_failed_checkpoint(self) -> None:
        """Memory back to the generation the MANIFEST names, after a checkpoint that loaded its
        new generation failed to commit it. Should that fail too (the disk still failing), the
        checkpoint's own error is the one raised: memory then holds the same skills, under a
        generation the MANIFEST does not name, so the next call reloads before anything else."""
        with contextlib.suppress(SkillStoreError):
            self._load()

    # -- reads ---------------------------------------------------------------------

    def _skill_at(self, row: int) -> Skill:
        return to_skill(self._catalog.record_at(row), self._index.vector(row))

    def get(self, skill_id: str, version: int | None = None) -> Skill:
        """The skill with this id; raises SkillNotFoundError when there is none. With ``version``,
        the content of that version (id, status, stats and times are the skill's own)."""
        with self._mutex:
            self._check_open()
            row = self._catalog.row(skill_id)
            if version is None:
                return self._skill_at(row)
            return version_of(self._catalog.record_at(row), self._index.vector(row), check_version_number(version))

    def __len__(self) -> int:
        with self._mutex:
            self._check_open()
            return len(self._catalog)

    def __contains__(self, skill_id: object) -> bool:
        with self._mutex:
            self._check_open()
            return isinstance(skill_id, str) and skill_id in self._catalog

    def __iter__(self) -> Iterator[Skill]:
        """Every skill but the deprecated ones, in creation order (see ``skills``)."""
        return self.skills()

    def skills(self, *, status: str | Sequence[str] | None = None) -> Iterator[Skill]:
        """The skills with one of the statuses ``status`` names (None: active and candidate;
        deprecated skills are left out), in creation order (the order they were first added;
        updating a skill never moves it), as of when iteration starts."""
        statuses = check_statuses(status)
        with self._mutex:
            self._check_open()
            catalog = self._catalog
            rows = catalog.ordered_rows()
            rows = rows[catalog.has_status(rows, statuses)].tolist()
            ids = [catalog.id_at(row) for row in rows]
        for row, skill_id in zip(rows, ids, strict=True):
            with self._mutex:
                self._check_open()
                if self._catalog is catalog and catalog.is_live(row):
                    skill = self._skill_at(row)  # the row itself: damage to its id lookup is reported, not skipped
                else:  # the store was reloaded meanwhile: the skill, if it still exists
                    try:
                        skill = self.get(skill_id)
                    except SkillNotFoundError:
                        continue
            yield skill

    def find(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[Skill]:
        """The skills the filter ``where`` matches (and that apply to ``state``), without a
        query vector: in creation order, or by ``order_by`` (a field of
        ``skillstore.query.SKILL_FIELDS``, ``"-"`` first for descending; ties keep creation
        order; a skill never used comes last by ``last_used_at``); at most ``limit`` of them.
        ``status`` keeps skills of the statuses named (None: active and candidate)."""
        node, state = parse_filter(where), check_state(state)
        field, descending = check_order_by(order_by)
        limit, statuses = check_limit(limit), check_statuses(status, node)
        with self._mutex:
            self._check_open()
            rows = self._catalog.candidate_rows(state, node, statuses)
            rows = self._catalog.ordered_rows() if rows is None else self._catalog.in_creation_order(rows)
            if field is not None:
                rows = _sorted_rows(rows, self._catalog.field_values(field)[rows], descending)
            return [self._skill_at(row) for row in rows[:limit].tolist()]

    def search(
        self,
        embedding: Any,
        k: int = 5,
        *,
        state: Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        rank: str = "similarity",
        min_score: float | None = None,
        status: str | Sequence[str] | None = None,
        text: str | None = None,
    ) -> list[Match]:
        """The ``k`` best skills for ``embedding`` among those applicable to ``state``.

        ``where`` is a filter expression (``skillstore.query``). ``rank`` is
        ``"similarity"``, ``"success"``, ``"blend"`` or ``"wilson"`` (see ``skillstore.ranking``);
        with ``embedding=None`` skills are ranked by success rate (``"wilson"``: by its lower
        bound). ``min_score`` drops results scoring below it. ``status`` keeps skills of the
        statuses named (None: active and candidate, deprecated skills are left out). ``text``
        searches names, descriptions and textual actions by BM25, fused with the embedding's
        ranking when there is one (see ``skillstore.text``); given no embedding, a store with an
        embedder embeds ``text`` for that side.
        """
        query = None if embedding is None else normalise_embedding(embedding, self.dim)
        k, state = check_k(k), check_state(state)
        checked_where, rank = parse_filter(where), ranking.check_rank(rank)
        min_score, statuses = ranking.check_min_score(min_score), check_statuses(status, checked_where)
        terms = None if text is None else check_text_query(text, rank)
        if terms is not None and query is None and self.embedder is not None:
            query = query_vector(self.embedder, text)  # type: ignore[arg-type]
        with self._mutex:
            self._check_open()
            rows = self._catalog.candidate_rows(state, checked_where, statuses)
            if terms is not None:
                return self._text_search(query, terms, k, rows, min_score)
            return self._search_rows(query, k, rows, rank, min_score)

    def _text_search(
        self, query: np.ndarray | None, terms: list[str], k: int, rows: np.ndarray | None, min_score: float | None
    ) -> list[Match]:
        scores = self._catalog.text_scores(terms)
        candidates = self._catalog.live_rows() if rows is None else rows
        if query is None:
            candidates = candidates[scores[candidates] > 0]
            primary = scores[candidates]
        else:
            primary = fused(self._index.cosines(query, candidates), scores[candidates],
                            lambda positions: self._catalog.id_keys(candidates[positions]))
        zeros = np.zeros(len(candidates))
        best = ranking.order(primary, zeros, lambda i: self._catalog.id_at(int(candidates[i])), k, min_score)
        changed, base, index = self._catalog.changed_records(), self._catalog.base, self._index
        matches = []
        for row, score in zip(candidates[best].tolist(), primary[best].tolist(), strict=True):
            record = changed.get(row)
            if record is not None:
                record = {**record, "stats": dict(record["stats"])}
            matches.append(Match(score=score, source=_RowSource(base, index, row, record)))
        return matches

    def search_many(
        self,
        embeddings: Any,
        k: int = 5,
        *,
        state: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        where: Mapping[str, Any] | None = None,
        rank: str = "similarity",
        min_score: float | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[list[Match]]:
        """``search`` for each row of ``embeddings``; ``state`` is one state for all
        queries or a sequence with one per query. Shared filters use one batched FAISS call."""
        queries = normalise_queries(embeddings, self.dim)
        states = per_query_states(state, len(queries))
        k, checked_where, rank = check_k(k), parse_filter(where), ranking.check_rank(rank)
        min_score, statuses = ranking.check_min_score(min_score), check_statuses(status, checked_where)
        with self._mutex:
            self._check_open()
            shared = state is None or isinstance(state, Mapping)
            if shared and rank == "similarity" and len(queries) and len(self._catalog):
                rows = self._catalog.candidate_rows(states[0], checked_where, statuses)
                if rows is not None and not len(rows):
                    return [[] for _ in queries]
                scores, labels = self._top_hits(queries, k, rows)
                return [self._rank_hits(s, lab, k, rank, min_score) for s, lab in zip(scores, labels, strict=True)]
            return [
                self._search_rows(q, k, self._catalog.candidate_rows(s, checked_where, statuses), rank, min_score)
                for q, s in zip(queries, states, strict=True)
            ]

    def _search_rows(
        self, query: np.ndarray | None, k: int, rows: np.ndarray | None, rank: str, min_score: float | None
    ) -> list[Match]:
        if not len(self._catalog) or (rows is not None and not len(rows)):
            return []
        if query is not None and rank == "similarity":
            scores, labels = self._top_hits(query[None, :], k, rows)
            return self._rank_hits(scores[0], labels[0], k, rank, min_score)
        candidates = rows if rows is not None else np.arange(self._catalog.rows)
        cosines = None if query is None else self._index.cosines(query, candidates)
        return self._rank(candidates, cosines, k, rank, min_score)

    def _top_hits(
        self, queries: np.ndarray, k: int, rows: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The index's top hits per query: never more than there are candidates, and widened
        until every candidate tied with the k-th is in, so ranking breaks those ties by id."""
        available = self._catalog.rows if rows is None else len(rows)
        fetch = min(k + 1, available)
        while True:
            scores, labels = self._index.search(queries, fetch, rows)
            if fetch <= k or fetch >= available or not (scores[:, fetch - 1] == scores[:, k - 1]).any():
                return scores, labels
            fetch = min(2 * fetch, available)

    def _rank_hits(
        self, scores: np.ndarray, labels: np.ndarray, k: int, rank: str, min_score: float | None
    ) -> list[Match]:
        found = labels >= 0
        return self._rank(labels[found], scores[found], k, rank, min_score)

    def _rank(
        self, rows: np.ndarray, cosines: np.ndarray | None, k: int, rank: str, min_score: float | None
    ) -> list[Match]:
        if rank == "similarity" and cosines is not None:  # no counts needed
            primary, secondary = ranking.similarity_scores(cosines)
        else:
            successes, attempts = self._catalog.counts(rows)
            primary, secondary = ranking.scores(rank, cosines, successes, attempts)
        best = ranking.order(primary, secondary, lambda i: self._catalog.id_at(int(rows[i])), k, min_score)
        changed, base, index = self._catalog.changed_records(), self._catalog.base, self._index
        matches = []
        for row, score in zip(rows[best].tolist(), primary[best].tolist(), strict=True):
            record = changed.get(row)
            if record is not None:  # copied: the result shows the skill as it is now
                record = {**record, "stats": dict(record["stats"])}
            matches.append(Match(score=score, source=_RowSource(base, index, row, record)))
        return matches

    def stats(self) -> dict[str, Any]:
        """Library figures (total_skills, total_uses, avg_success_rate, …) and storage facts."""
        with self._mutex:
            self._check_open()
            summary = summarise_counts(**self._catalog.summary_counts())
            return {
                **summary,
                "dim": self.dim,
                "embedder": self._manifest.embedder,
                "backend": "skillstore",
                "index": self._manifest.index["kind"],
                "index_active": self._index.kind,
                "index_params": {k: v for k, v in self._manifest.index.items() if k not in ("kind", "active")},
                "generation": self._manifest.generation,
                "log_frames": self._log_frames,
                "log_bytes": self._cursor.end,
                "tombstones": self._catalog.tombstones,
                "statuses": self._catalog.status_counts(),
                "precondition_signatures": self._catalog.signature_count(),
                "durability": self.durability,
                "bytes_on_disk": _disk_usage(self.path),
            }

    def verify(self) -> VerifyReport:
        """Check the files on disk and the state in memory; returns a report, never raises
        for damage it finds."""
        from skillstore.integrity import verify_store

        with self._mutex:
            self._check_open()
            return verify_store(self.path, self._catalog, self._index, self._manifest, self._rebuilt_graph)


def _sorted_rows(rows: np.ndarray, values: np.ndarray, descending: bool) -> np.ndarray:
    """``rows`` (in creation order) by ``values``: stable, a missing (NaN) value last either way."""
    if values.dtype == object:  # names
        by_name = sorted(range(len(rows)), key=values.__getitem__, reverse=descending)
        named: np.ndarray = rows[np.asarray(by_name, dtype=np.int64)]
        return named
    missing = np.isnan(values)
    present = np.flatnonzero(~missing)
    by_value = present[np.argsort(-values[present] if descending else values[present], kind="stable")]
    ordered: np.ndarray = rows[np.concatenate([by_value, np.flatnonzero(missing)])]
    return ordered


class _RowSource:
    """A search result's row: its skill is built from the snapshot's row (immutable) or from
    the copy of its changed record taken when the search ran."""

    __slots__ = ("base", "index", "record", "row")

    def __init__(self, base: Base, index: VectorIndex, row: int, record: dict[str, Any] | None) -> None:
        self.base, self.index, self.row, self.record = base, index, row, record

    def skill_id(self) -> str:
        return str(self.record["id"]) if self.record is not None else self.base.id_at(self.row)

    def skill(self) -> Skill:
        record = self.record if self.record is not None else self.base.read_record(self.row)
        return to_skill(record, self.index.vector(self.row))


def _create(directory: Path, dim: int, index_kind: str, embedder: dict[str, Any] | None) -> None:
    """Create an empty store (generation 1) unless another process just did."""
    with io_errors("cannot create", directory):
        directory.mkdir(parents=True, exist_ok=True)
    lock = WriterLock(directory, timeout=30.0)
    try:
        with lock.held():
            if os.path.lexists(directory / MANIFEST_NAME):
                return
            names = os.listdir(directory)
            generations = sorted(name for name in names if GENERATION_NAME.match(name) and not TEMP_SUFFIX.search(name))
            if generations and not _empty_first_generation(directory, generations):
                # a store that lost its MANIFEST: never overwrite it with an empty one
                raise StoreCorruptError(
                    f"holds a store's generations ({', '.join(generations[:4])}) but no MANIFEST;"
                    " `skillstore verify PATH --repair` rebuilds it",
                    str(directory),
                )
            foreign = [name for name in names if not _interrupted_creation(name)]
            if foreign:
                raise SkillStoreError(f"{directory} is not empty and holds no skill store: {sorted(foreign)[:5]}")
            now = time.time()
            params = {**index_params(index_kind), "active": active_kind(index_params(index_kind), 0)}
            store_id = os.urandom(STORE_ID_BYTES)
            manifest = Manifest(dim=dim, generation=1, store_id=store_id, index=params, created_at=now,
                                embedder=embedder)
            remove_stale(directory, 0, None)  # temporaries of an interrupted creation (nothing else is here)
            manifest.files = write_snapshot(directory, 1, empty_generation_files(dim, params, embedder))
            write_file(directory / manifest.log_name, log.new_log(store_id, 1, 0))
            fsync_dir(directory)
            write_manifest(directory, manifest)
    finally:
        lock.close()


def _empty_first_generation(directory: Path, names: list[str]) -> bool:
    """Whether ``names`` are what an interrupted creation leaves: generation 1 with an empty
    snapshot and a log of no frames. Anything else holds (or held) someone's skills."""
    if not set(names) <= {"snap-00000001", "log-00000001"}:
        return False
    log_path = directory / "log-00000001"
    if os.path.lexists(log_path) and not (is_regular(log_path) and log_path.stat().st_size == log.HEADER_SIZE):
        return False
    snapshot = directory / "snap-00000001"
    if os.path.lexists(snapshot):
        entries = os.listdir(snapshot) if is_real_dir(snapshot) else None
        if entries is None or not set(entries) <= {COLUMNS_FILE, RECORDS_FILE, VECTORS_FILE, GRAPH_FILE}:
            return False
        for name in set(entries) & {COLUMNS_FILE, RECORDS_FILE, VECTORS_FILE}:
            path = snapshot / name
            if not is_regular(path) or (name != COLUMNS_FILE and path.stat().st_size):
                return False
            if name == COLUMNS_FILE and not holds_no_skills(path.read_bytes()):
                return False
    return True


def _interrupted_creation(name: str) -> bool:
    """Names an interrupted creation leaves behind; anything else means the directory is not ours."""
    temporary_manifest = name.startswith(MANIFEST_NAME + ".tmp-") and bool(TEMP_SUFFIX.search(name))
    return bool(GENERATION_NAME.match(name)) or temporary_manifest


def _disk_usage(directory: Path) -> int:
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total
