"""PostgresBackend: a skill library in PostgreSQL with pgvector, shared by any number of hosts.

It has the semantics of ``SkillStore`` and ``MemoryBackend``: the same validators
(so the same errors), the same records, the same ranking code. What the server adds:

- every call is one transaction, so processes on many machines can share a library;
- ``record_outcome`` is a single ``UPDATE … SET attempts = attempts + 1 … RETURNING``:
  concurrent outcomes are never lost;
- ``add`` with ``dedup_threshold`` takes a transaction-scoped advisory lock on the
  precondition signature before it looks for a near-duplicate, so two hosts adding
  the same skill at once leave one skill observed twice;
- applicability and ``where`` are computed in SQL over canonical items (``canonical``);
- ``restore_many`` (what an import uses) writes complete skills with their ids in one
  transaction, serialised with other restores of the library by an advisory lock.

Search runs in SQL over the filtered rows, ordered by the rank mode's score, and
fetches a few candidates more than ``k``; the exact scores and the final order are
then computed with ``skillstore.ranking`` exactly as the other backends do. Filtered
queries, and any query on a library of at most ``exact_limit`` skills, scan exactly;
only unfiltered similarity queries on larger libraries use the HNSW index, which is
approximate (pgvector's HNSW, like FAISS's, loses recall under selective filters).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from skillstore import ranking
from skillstore.backends import canonical, is_url, pgschema
from skillstore.backends.pgfilter import filter_sql
from skillstore.codec import pack, unpack
from skillstore.embedders import (
    Embedder,
    check_embedder_choice,
    checkable_update,
    query_vector,
    resolve_embedder,
    update_with_embedding,
    with_embeddings,
)
from skillstore.errors import (
    BackendConnectionError,
    DimensionMismatchError,
    FormatVersionError,
    InvalidInputError,
    ReadOnlyStoreError,
    SkillNotFoundError,
    SkillStoreError,
    StoreNotFoundError,
)
from skillstore.model import Match, Skill, SkillStats, SkillVersion
from skillstore.query import Node, check_limit, check_order_by
from skillstore.query import parse as parse_filter
from skillstore.records import (
    PROVENANCE_LIMIT,
    STATUSES,
    apply_rollback,
    apply_update,
    canonical_preconditions,
    check_merge_fits,
    check_outcome_fits,
    check_reason,
    check_status,
    check_statuses,
    check_version_number,
    initial_entry,
    is_storable_id,
    merge_entry,
    new_id,
    prepare_restores,
    prepare_skills,
    summarise,
    to_skill,
    version_of,
    versions_of,
)
from skillstore.reports import VerifyReport
from skillstore.text import check_text_query, id_keys
from skillstore.text import fused as ranking_fused
from skillstore.validation import (
    MAX_COUNTER,
    MAX_TOTAL_REWARD,
    check_dim,
    check_fields,
    check_flag,
    check_ids,
    check_k,
    check_outcome,
    check_path,
    check_state,
    check_threshold,
    normalise_embedding,
    normalise_queries,
    per_query_states,
    shown,
)

T = TypeVar("T")

EXACT_LIMIT = 20_000  # up to this many skills, even unfiltered similarity queries scan exactly
RERANK_SLACK = 8  # candidates fetched beyond k, so float noise between SQL and NumPy cannot change the top k
MAX_FETCH = 1 << 62  # a larger k fetches every row anyway; SQL's LIMIT is a bigint
SIZE_RECHECK_SECONDS = 10.0  # how stale the library size that picks exact or HNSW search may be
DEDUP_MARGIN = 1e-4  # SQL preselects near-duplicates this far below the threshold; NumPy decides
_RETRIES = 5  # a transaction chosen as a deadlock victim is run again
_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
_COLUMNS = sql.SQL(
    "id, fields, embedding, attempts, successes, failures, observations, total_reward,"
    " last_used_at, created_at, updated_at, provenance, version, status"
)
# what a change of versions reads: the skill and its history with the current version's counts
_FULL_COLUMNS = sql.SQL(
    "id, fields, embedding, attempts, successes, failures, observations, total_reward,"
    " last_used_at, created_at, updated_at, provenance, version, status,"
    " history, version_attempts, version_successes, version_failures, version_reward"
)
_RATE = "(CASE WHEN attempts > 0 THEN successes::float8 / attempts ELSE 0 END)"
# ranking.wilson_lower_bounds in SQL (it only picks the candidates; NumPy computes the scores)
_Z = ranking.WILSON_Z
_WILSON = (
    f"(CASE WHEN attempts > 0 THEN greatest(0, ({_RATE} + {_Z * _Z}::float8 / (2 * attempts)"
    f" - {_Z} * sqrt(greatest(0, {_RATE} * (1 - {_RATE})) / attempts + {_Z * _Z}::float8 / (4 * attempts::float8"
    f" * attempts))) / (1 + {_Z * _Z}::float8 / attempts)) ELSE 0 END)"
)


class PostgresBackend:
    """A skill library in a PostgreSQL table, with the semantics of ``SkillStore``.

    ``url`` is a libpq URL, optionally naming the library: ``postgresql://host/db?library=name``
    (or pass ``library``; the default is ``"skills"``). ``dim`` is required to create a
    library and checked against an existing one. Open it through ``SkillStore.open(url, …)``
    or directly. One instance holds one connection; share it between threads freely
    (calls are serialised) and give each process its own.
    """

    def __init__(
        self,
        url: str,
        dim: int | None = None,
        *,
        dedup_threshold: float | None = None,
        library: str | None = None,
        create: bool = True,
        read_only: bool = False,
        exact_limit: int = EXACT_LIMIT,
        embedder: Embedder | Mapping[str, Any] | str | None = None,
    ) -> None:
        if not isinstance(url, str) or not is_url(url):
            raise InvalidInputError(f"a PostgreSQL library is named by a postgresql:// URL, got {shown(url)}")
        check_path(url)  # no NUL, nothing that cannot be encoded
        if dim is not None:
            dim = check_dim(dim)
        wanted = check_embedder_choice(embedder)
        if isinstance(wanted, dict) and dim is not None and dim != wanted["dim"]:
            raise DimensionMismatchError(f"dim {dim} was given with an embedder of dim {wanted['dim']}")
        self.embedder: Embedder | None = None
        self.embedder_identity: dict[str, Any] | None = None
        create, read_only = check_flag(create, "create"), check_flag(read_only, "read_only")
        self.dedup_threshold = check_threshold(dedup_threshold)
        self._conninfo, url_library = pgschema.split_url(url)
        self.library = pgschema.check_library(library or url_library or pgschema.DEFAULT_LIBRARY)
        self.url = pgschema.masked(url)
        self.read_only = read_only
        if isinstance(exact_limit, bool) or not isinstance(exact_limit, int) or exact_limit < 0:
            raise InvalidInputError(f"exact_limit must be a non-negative integer, got {shown(exact_limit)}")
        self.exact_limit = exact_limit
        self._table = sql.Identifier(self.library)
        self._mutex = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        self._size_estimate, self._size_checked_at = 0.0, -float("inf")
        self._where = f"{self.url} (library {self.library!r})"
        try:
            conn = self._connect(register=False)
            # a read-only handle never creates, as SkillStore.open(path, read_only=True) does not
            creates = create and not read_only
            recorded = wanted if isinstance(wanted, dict) else None
            self._dim = self._guard(lambda: pgschema.open_library(conn, self.library, dim, creates, self.url, recorded))
            self.embedder_identity = self._guard(lambda: pgschema.read_embedder(conn, self.library))
            self.embedder = resolve_embedder(embedder, wanted, self.embedder_identity, self._where)
            self._guard(lambda: register_vector(conn))
            self._hnsw = self._guard(lambda: pgschema.has_hnsw(conn, self.library))
            if not read_only:
                self._guard(lambda: pgschema.upgrade(conn, self.library))
            elif self._guard(lambda: pgschema.read_format(conn, self.library)) < pgschema.FORMAT_VERSION:
                raise FormatVersionError(
                    f"{self._where} was made by an earlier release (no versions yet); open it read-write once"
                    " to upgrade it"
                )
        except BaseException:
            self.close()
            raise

    # -- connection ------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    def __enter__(self) -> PostgresBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresBackend({self.url!r}, library={self.library!r}, dim={self._dim})"

    def close(self) -> None:
        """Close the connection. Every acknowledged write is already committed."""
        with self._mutex:
            self._closed = True
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
                self._conn = None

    def _connect(self, register: bool = True) -> psycopg.Connection[Any]:
        options: dict[str, Any] = {"autocommit": True, "application_name": "skillstore"}
        if "connect_timeout" not in self._conninfo:
            options["connect_timeout"] = 10
        try:
            conn = psycopg.connect(self._conninfo, **options)
        except psycopg.OperationalError as exc:
            raise BackendConnectionError(f"cannot connect to {self.url}: {_first_line(exc)}") from None
        if self.read_only:
            conn.execute("SET default_transaction_read_only = on")
        if register:
            self._guard(lambda: register_vector(conn))
        self._conn = conn
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise SkillStoreError(f"{self._where}: the library is closed")
        if self._conn is None or self._conn.closed:
            return self._connect()  # the previous connection dropped: reconnect
        return self._conn

    def _guard(self, work: Callable[[], T]) -> T:
        """Run ``work``, turning driver errors into skillstore errors."""
        try:
            return work()
        except psycopg.errors.UndefinedTable:
            raise StoreNotFoundError(f"{self._where} no longer exists") from None
        except psycopg.errors.ReadOnlySqlTransaction:
            raise ReadOnlyStoreError(f"{self._where} was opened read-only") from None
        except psycopg.OperationalError as exc:
            if isinstance(exc, _RETRYABLE):
                raise
            if self._conn is not None and self._conn.closed:
                raise BackendConnectionError(
                    f"lost the connection to {self.url}; a write in flight may or may not have "
                    f"committed: {_first_line(exc)}"
                ) from None
            raise SkillStoreError(f"{self._where}: {_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise SkillStoreError(f"{self._where}: {_first_line(exc)}") from None

    def _run(
        self, work: Callable[[psycopg.Connection[Any]], T], *, write: bool = False, atomic: bool = True
    ) -> T:
        """Run ``work`` in one transaction, again if the server chose it as a deadlock victim.

        ``atomic=False`` is for work of a single statement, which the server runs atomically
        anyway: it saves the BEGIN and COMMIT round trips.
        """
        with self._mutex:
            if write and self.read_only:
                raise ReadOnlyStoreError(f"{self._where} was opened read-only")
            conn = self._connection()
            for attempt in range(_RETRIES):
                try:
                    if not atomic:
                        return self._guard(lambda: work(conn))
                    return self._guard(lambda: _in_transaction(conn, work))
                except _RETRYABLE as exc:
                    if attempt == _RETRIES - 1:
                        raise SkillStoreError(f"{self._where}: {_first_line(exc)}") from None
            raise AssertionError("unreachable")

    # -- writes ----------------------------------------------------------------------

    def add(self, skill: Skill) -> str:
        """Store ``skill`` and return its new id (or, with dedup, the id it was merged into)."""
        return self.add_many([skill])[0]

    def add_many(self, skills: Iterable[Skill]) -> list[str]:
        """Store several skills in one transaction; returns their ids in order."""
        prepared = prepare_skills(with_embeddings(skills, self.embedder, self._where), self._dim)
        signatures = [canonical.signature(fields["preconditions"]) for fields, _ in prepared]

        def work(conn: psycopg.Connection[Any]) -> list[str]:
            at = time.time()
            if self.dedup_threshold is not None:
                # Locks in one global order: two batches can never wait on each other in a cycle.
                keys = sorted({canonical.lock_key(self.library, s) for s in signatures})
                for key in keys:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            ids = []
            for (fields, vector), signature in zip(prepared, signatures, strict=True):
                duplicate = self._find_duplicate(conn, signature, vector)
                if duplicate is None:
                    ids.append(self._insert(conn, fields, vector, signature, at))
                else:
                    skill_id, score, record = duplicate
                    check_merge_fits(record)  # counts this batch's earlier merges: they are in the row
                    self._merge(conn, skill_id, record["provenance"], merge_entry(fields["name"], score, at))
                    ids.append(skill_id)
            return ids

        return self._run(work, write=True)

    def _find_duplicate(
        self, conn: psycopg.Connection[Any], signature: str, vector: np.ndarray
    ) -> tuple[str, float, dict[str, Any]] | None:
        """The most similar skill with equal preconditions at least as close as the threshold.

        SQL preselects (and row-locks) candidates a little below the threshold; the
        cosine that decides is NumPy's float32 dot product, as in the other backends.
        Gives the id, the score and what a merge needs of the record (id, observations, provenance).
        """
        if self.dedup_threshold is None:
            return None
        rows = conn.execute(
            sql.SQL(
                "SELECT id, embedding, provenance, observations FROM {} WHERE precondition_signature = %s"
                " AND (embedding <#> %s) <= %s FOR UPDATE"
            ).format(self._table),
            (signature, vector, -(self.dedup_threshold - DEDUP_MARGIN)),
        ).fetchall()
        best: tuple[float, str, bytes, int] | None = None
        for skill_id, embedding, provenance, observations in rows:
            score = float(np.dot(_vector(embedding), vector))
            if score >= self.dedup_threshold and (best is None or (-score, skill_id) < (-best[0], best[1])):
                best = (score, skill_id, provenance, observations)
        if best is None:
            return None
        score, skill_id, provenance, observations = best
        record = {"id": skill_id, "stats": {"observations": observations}, "provenance": unpack(provenance)}
        return skill_id, score, record

    def _insert(
        self, conn: psycopg.Connection[Any], fields: dict[str, Any], vector: np.ndarray, signature: str, at: float
    ) -> str:
        values = _content(fields)
        while True:
            skill_id = new_id()
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (id, name, description, fields, preconditions, metadata,"
                    " precondition_items, metadata_items, precondition_signature, embedding,"
                    " created_at, updated_at, provenance, status, history)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING RETURNING id"
                ).format(self._table),
                (skill_id, *values, signature, vector, at, at, pack([]), fields.get("status", "active"),
                 pack([initial_entry(1, at)])),
            ).fetchone()
            if row is not None:
                return skill_id

    def _merge(
        self, conn: psycopg.Connection[Any], skill_id: str, provenance: list[dict[str, Any]], entry: dict[str, Any]
    ) -> None:
        """Count one more observation (``records.apply_merge``); the row is locked by the caller."""
        conn.execute(
            sql.SQL(
                "UPDATE {} SET observations = observations + 1, provenance = %s, updated_at = %s WHERE id = %s"
            ).format(self._table),
            (pack([*provenance, entry][-PROVENANCE_LIMIT:]), entry["at"], skill_id),
        )

    def update(self, skill_id: str, *, reason: str | None = None, status: str | None = None, **fields: Any) -> Skill:
        """Change some of a skill's fields (name, actions, embedding, preconditions,
        description, metadata) and/or its ``status``; returns the updated skill. A change of
        content makes a new version (see ``SkillStore.update``)."""
        checked = check_fields(checkable_update(self.embedder, fields, self._where), self._dim)
        reason = check_reason(reason)
        status = None if status is None else check_status(status)

        def change(record: dict[str, Any], current: bytes) -> bytes | None:
            final = dict(checked)
            if self.embedder is not None:  # the text's embedding, once the current text is known
                final = check_fields(update_with_embedding(self.embedder, fields, record), self._dim)
            vector = final.pop("embedding", None)
            new = None if vector is None else vector.tobytes()
            apply_update(record, final, time.time(), vector=new, current_vector=current, reason=reason,
                         status=status)
            return new

        self._check_id(skill_id)
        return self._change(skill_id, change)

    def rollback(self, skill_id: str, version: int, *, reason: str | None = None) -> Skill:
        """Make a new version whose content equals version ``version``'s (see ``SkillStore.rollback``)."""
        number, reason = check_version_number(version), check_reason(reason)

        def change(record: dict[str, Any], current: bytes) -> bytes | None:
            return apply_rollback(record, number, time.time(), reason, current)

        self._check_id(skill_id)
        return self._change(skill_id, change)

    def _change(self, skill_id: str, change: Callable[[dict[str, Any], bytes], bytes | None]) -> Skill:
        """Read the skill's whole record under a row lock, apply ``change`` (a function of
        ``records``, as the other backends apply it) and write the row back, in one transaction."""

        def work(conn: psycopg.Connection[Any]) -> Skill:
            row = conn.execute(
                sql.SQL("SELECT {} FROM {} WHERE id = %s FOR UPDATE").format(_FULL_COLUMNS, self._table), (skill_id,)
            ).fetchone()
            if row is None:
                raise SkillNotFoundError(skill_id)
            record, vector = _full_record(row)
            new_vector = change(record, vector.astype("<f4").tobytes())
            embedding = None if new_vector is None else np.frombuffer(new_vector, dtype="<f4").astype(np.float32)
            updated = conn.execute(
                sql.SQL(
                    "UPDATE {} SET name = %s, description = %s, fields = %s, preconditions = %s, metadata = %s,"
                    " precondition_items = %s, metadata_items = %s, precondition_signature = %s,"
                    " embedding = COALESCE(%s, embedding), updated_at = %s, version = %s, status = %s,"
                    " history = %s, version_attempts = %s, version_successes = %s, version_failures = %s,"
                    " version_reward = %s WHERE id = %s RETURNING {}"
                ).format(self._table, _COLUMNS),
                (*_content(record), canonical.signature(record["preconditions"]), embedding, record["updated_at"],
                 *_version_values(record), skill_id),
            ).fetchone()
            return _to_skill(updated)

        return self._run(work, write=True)

    def history(self, skill_id: str) -> list[SkillVersion]:
        """Every version the skill keeps, oldest first (see ``SkillStore.history``)."""
        return versions_of(*self._full(skill_id))

    def _full(self, skill_id: str) -> tuple[dict[str, Any], np.ndarray]:
        self._check_id(skill_id)
        statement = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(_FULL_COLUMNS, self._table)
        rows = self._fetch(statement, (skill_id,))
        if not rows:
            raise SkillNotFoundError(skill_id)
        return _full_record(rows[0])

    def delete(self, skill_id: str) -> None:
        """Remove a skill; raises SkillNotFoundError when there is none with that id."""

        def work(conn: psycopg.Connection[Any]) -> None:
            row = conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = %s RETURNING id").format(self._table), (skill_id,)
            ).fetchone()
            if row is None:
                raise SkillNotFoundError(skill_id)

        check_ids([skill_id])  # a non-string id is malformed input, as in delete_many
        self._check_id(skill_id)
        self._run(work, write=True, atomic=False)

    def delete_many(self, skill_ids: Iterable[str] = (), *, where: Mapping[str, Any] | None = None) -> list[str]:
        """Remove several skills in one transaction; returns their ids. ``skill_ids``: if any
        is unknown, none is removed. ``where``: every skill the filter matches, instead of ids."""
        ids = list(dict.fromkeys(check_ids(skill_ids)))
        node = None if where is None else parse_filter(where)
        if node is not None and ids:
            raise InvalidInputError("delete_many takes ids or a where filter, not both")

        def work(conn: psycopg.Connection[Any]) -> list[str]:
            if node is not None:
                condition, params = filter_sql(node)
                statement = sql.SQL("DELETE FROM {} WHERE {} RETURNING id").format(
                    self._table, condition if condition is not None else sql.SQL("true"))
                deleted = {row[0] for row in conn.execute(statement, params)}
                return [skill_id for skill_id in self._ordered_ids(conn) if skill_id in deleted] or sorted(deleted)
            statement = sql.SQL("DELETE FROM {} WHERE id = ANY(%s) RETURNING id").format(self._table)
            storable = [skill_id for skill_id in ids if is_storable_id(skill_id)]
            deleted = {row[0] for row in conn.execute(statement, (storable,))}
            missing = [skill_id for skill_id in ids if skill_id not in deleted]
            if missing:
                raise SkillNotFoundError(missing[0])  # rolls the transaction back: nothing is deleted
            return ids

        if ids or node is not None:
            return self._run(work, write=True)
        return []

    def _ordered_ids(self, conn: psycopg.Connection[Any]) -> list[str]:
        return [row[0] for row in conn.execute(sql.SQL("SELECT id FROM {} ORDER BY seq").format(self._table))]

    def find(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[Skill]:
        """The skills the filter matches (and that apply to ``state``), as ``SkillStore.find``."""
        node, checked_state = parse_filter(where), check_state(state)
        field, descending = check_order_by(order_by)
        limit, statuses = check_limit(limit), check_statuses(status, node)
        filters, params = _filters(checked_state, node, statuses)
        where_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(filters)
        order: sql.Composable = sql.SQL("seq")
        if field is not None:
            expression = (sql.SQL(f'{field} COLLATE "C"') if field in ("name", "status")
                          else sql.SQL(_ORDER_SQL.get(field, field)))
            direction = sql.SQL("DESC" if descending else "ASC")
            order = sql.SQL("{} {} NULLS LAST, seq").format(expression, direction)
        statement = sql.SQL("SELECT {} FROM {}{} ORDER BY {}{}").format(
            _COLUMNS, self._table, where_sql, order, sql.SQL("") if limit is None else sql.SQL(" LIMIT %s"))
        rows = self._fetch(statement, (*params, *([] if limit is None else [limit])))
        return [_to_skill(row) for row in rows]

    def restore_many(self, skills: Iterable[Skill], *, replace: bool = False) -> list[str]:
        """Put complete skills back as exported (id, stats, timestamps and provenance kept),
        in one transaction; no dedup. An id the library already holds raises
        InvalidInputError, unless ``replace`` swaps the stored skill for the given one."""
        prepared = prepare_restores(skills, self._dim, time.time())
        ids = [record["id"] for record, _ in prepared]
        rows = [_restore_row(record, vector) for record, vector in prepared]

        def work(conn: psycopg.Connection[Any]) -> list[str]:
            # Restores choose their ids, so two of them could race on one id between the check
            # and the insert: one lock per library (not per id, which a large import would
            # exhaust the server's lock table with) makes them take turns.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (canonical.lock_key("skillstore-restore", self.library),))
            statement = sql.SQL("SELECT id FROM {} WHERE id = ANY(%s) FOR UPDATE").format(self._table)
            held = {row[0] for row in conn.execute(statement, (ids,))}
            clashes = [skill_id for skill_id in ids if skill_id in held]
            if clashes and not replace:
                raise InvalidInputError(f"the store already holds {clashes[:3]}; pass replace=True to swap them")
            if clashes:
                # delete and insert rather than update: a replaced skill moves to the end, as in SkillStore
                conn.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._table), (clashes,))
            with conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {} (id, name, description, fields, preconditions, metadata,"
                        " precondition_items, metadata_items, precondition_signature, embedding,"
                        " attempts, successes, failures, observations, total_reward, last_used_at,"
                        " created_at, updated_at, provenance, version, status, history, version_attempts,"
                        " version_successes, version_failures, version_reward)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                        " %s, %s, %s, %s, %s, %s, %s)"
                    ).format(self._table),
                    rows,
                )
            return ids

        if not rows:
            return []
        return self._run(work, write=True)

    def record_outcome(self, skill_id: str, success: bool, reward: float | None = None) -> SkillStats:
        """Count one attempt and whether it succeeded, atomically on the server; returns the new stats.

        The UPDATE changes the row only while the new counts stay within the bounds
        (``records.check_outcome_fits``); when it changes nothing, a second look tells an
        unknown id from a full counter."""
        ok, value = check_outcome(success, reward)
        added = 0.0 if value is None else value
        update = sql.SQL(
            "UPDATE {} SET attempts = attempts + 1, successes = successes + %s,"
            " failures = failures + %s, total_reward = total_reward + %s, last_used_at = %s,"
            " version_attempts = version_attempts + 1, version_successes = version_successes + %s,"
            " version_failures = version_failures + %s, version_reward = version_reward + %s"
            " WHERE id = %s AND attempts < %s AND abs(total_reward + %s) <= %s AND abs(version_reward + %s) <= %s"
            " RETURNING attempts, successes, failures, observations, total_reward, last_used_at"
        ).format(self._table)
        held = sql.SQL("SELECT id, attempts, total_reward, version_reward FROM {} WHERE id = %s").format(self._table)

        def work(conn: psycopg.Connection[Any]) -> SkillStats:
            for _ in range(_RETRIES):
                row = conn.execute(
                    update,
                    (int(ok), int(not ok), added, time.time(), int(ok), int(not ok), added, skill_id, MAX_COUNTER,
                     added, MAX_TOTAL_REWARD, added, MAX_TOTAL_REWARD),
                ).fetchone()
                if row is not None:
                    return SkillStats(*row)
                found = conn.execute(held, (skill_id,)).fetchone()
                if found is None:
                    raise SkillNotFoundError(skill_id)
                check_outcome_fits({"id": found[0], "stats": {"attempts": found[1], "total_reward": found[2]},
                                    "history": [{"stats": {"total_reward": found[3]}}]}, value)
                # it fits now: the skill was replaced between the two statements; count again
            raise SkillStoreError(f"{self._where}: skill {skill_id!r} kept changing while its outcome was counted")

        self._check_id(skill_id)
        return self._run(work, write=True, atomic=False)

    @staticmethod
    def _check_id(skill_id: object) -> None:
        """No skill has an id that is not a string, or holds a NUL or a lone surrogate (PostgreSQL
        text cannot carry those): such an id is not found, as in the other backends."""
        if not is_storable_id(skill_id):
            raise SkillNotFoundError(skill_id)  # type: ignore[arg-type]

    # -- reads -----------------------------------------------------------------------

    def _fetch(self, statement: sql.Composed, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one read-only statement (a single statement needs no explicit transaction)."""
        return self._run(lambda conn: conn.execute(statement, params).fetchall(), atomic=False)

    def get(self, skill_id: str, version: int | None = None) -> Skill:
        """The skill with this id; raises SkillNotFoundError when there is none. With ``version``,
        the content of that version (see ``SkillStore.get``)."""
        if version is not None:
            number = check_version_number(version)
            return version_of(*self._full(skill_id), number)
        self._check_id(skill_id)
        rows = self._fetch(sql.SQL("SELECT {} FROM {} WHERE id = %s").format(_COLUMNS, self._table), (skill_id,))
        if not rows:
            raise SkillNotFoundError(skill_id)
        return _to_skill(rows[0])

    def __len__(self) -> int:
        return int(self._fetch(sql.SQL("SELECT count(*) FROM {}").format(self._table))[0][0])

    def __contains__(self, skill_id: object) -> bool:
        if not is_storable_id(skill_id):
            return False
        statement = sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(self._table)
        return bool(self._fetch(statement, (skill_id,)))

    def __iter__(self) -> Iterator[Skill]:
        """Every skill but the deprecated ones (see ``skills``)."""
        return self.skills()

    def skills(self, *, status: str | Sequence[str] | None = None) -> Iterator[Skill]:
        """The skills with one of the statuses ``status`` names (None: active and candidate),
        oldest first; skills deleted while iterating are skipped."""
        statuses = sorted(check_statuses(status))
        ids = [row[0] for row in self._fetch(
            sql.SQL("SELECT id FROM {} WHERE status = ANY(%s) ORDER BY seq").format(self._table), (statuses,))]
        batch = 256  # rows fetched per round trip: memory stays bounded for any library size
        statement = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s) ORDER BY seq").format(_COLUMNS, self._table)
        for start in range(0, len(ids), batch):
            yield from (_to_skill(row) for row in self._fetch(statement, (ids[start : start + batch],)))

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
        """The ``k`` best skills for ``embedding`` among those applicable to ``state``
        (see ``SkillStore.search``; the semantics are the same, except for ``text``: see
        ``_text_search``)."""
        query = None if embedding is None else normalise_embedding(embedding, self._dim)
        k, state = check_k(k), check_state(state)
        checked_where, rank = parse_filter(where), ranking.check_rank(rank)
        min_score, statuses = ranking.check_min_score(min_score), check_statuses(status, checked_where)
        if text is not None:
            terms = check_text_query(text, rank)
            if query is None and self.embedder is not None:
                query = query_vector(self.embedder, text)
            return self._run(
                lambda conn: self._text_search(conn, query, terms, k, state, checked_where, min_score, statuses),
                atomic=False,
            )
        return self._run(
            lambda conn: self._search(conn, query, k, state, checked_where, rank, min_score, statuses), atomic=False
        )

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
        """``search`` for each row of ``embeddings``, all read in one transaction."""
        queries = normalise_queries(embeddings, self._dim)
        states = per_query_states(state, len(queries))
        k, checked_where, rank = check_k(k), parse_filter(where), ranking.check_rank(rank)
        min_score, statuses = ranking.check_min_score(min_score), check_statuses(status, checked_where)
        return self._run(
            lambda conn: [
                self._search(conn, q, k, s, checked_where, rank, min_score, statuses)
                for q, s in zip(queries, states, strict=True)
            ]
        )

    def _search(
        self,
        conn: psycopg.Connection[Any],
        query: np.ndarray | None,
        k: int,
        state: Mapping[str, Any] | None,
        where: Node,
        rank: str,
        min_score: float | None,
        statuses: frozenset[str],
    ) -> list[Match]:
        filters, params = _filters(state, where)
        status_filter = sql.SQL("status = ANY(%s)")
        limit = min(k, MAX_FETCH) + RERANK_SLACK
        order_params: list[Any] = [] if query is None else [query]
        if query is not None and rank in ("blend", "wilson"):
            order_params = [ranking.BLEND_WEIGHT, query, ranking.BLEND_WEIGHT]
        if query is not None and rank == "similarity" and not filters and self._large(conn):
            # The one approximate path: the planner answers from the HNSW index; the status
            # filter (deprecated skills are few) is applied to the rows the index scan yields.
            statement = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY embedding <#> %s LIMIT %s").format(
                _COLUMNS, self._table, status_filter
            )
            with conn.transaction():
                conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(64, 2 * limit))),))
                rows = conn.execute(statement, (sorted(statuses), query, limit)).fetchall()
        else:
            # Exact. OFFSET 0 keeps the filtered subquery from being merged into the outer one,
            # so the planner cannot serve the ORDER BY from the HNSW index (an approximate scan
            # that loses recall under filters): every filtered row is scored.
            filters.append(status_filter)
            params.append(sorted(statuses))
            where_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(filters)
            statement = sql.SQL(
                "SELECT {} FROM (SELECT * FROM {}{} OFFSET 0) AS candidates ORDER BY {} LIMIT %s"
            ).format(_COLUMNS, self._table, where_sql, _exact_order(query, rank))
            rows = conn.execute(statement, (*params, *order_params, limit)).fetchall()
        if not rows:
            return []
        ids = [row[0] for row in rows]
        vectors = [_vector(row[2]) for row in rows]
        cosines = None if query is None else np.stack(vectors) @ query
        successes = np.array([row[4] for row in rows])
        attempts = np.array([row[3] for row in rows])
        primary, secondary = ranking.scores(rank, cosines, successes, attempts)
        best = ranking.order(primary, secondary, ranking.ids_lookup(ids), k, min_score)
        return [Match(_to_skill(rows[i]), float(primary[i])) for i in best]

    def _text_search(
        self,
        conn: psycopg.Connection[Any],
        query: np.ndarray | None,
        terms: list[str],
        k: int,
        state: Mapping[str, Any] | None,
        where: Node,
        min_score: float | None,
        statuses: frozenset[str],
    ) -> list[Match]:
        """Text search with PostgreSQL's own full-text machinery: the 'simple' configuration
        over name and description, ranked by ``ts_rank``, fused with the cosine ranking as
        the embedded store fuses BM25 (``skillstore.text.fused``). Its scores are not BM25's
        and its parser is PostgreSQL's (lower-casing, not case folding; actions are not
        searched), so only clear-cut cases rank alike on every backend."""
        filters, params = _filters(state, where, statuses)
        tsquery = " | ".join(f"'{term}'" for term in terms)
        document = sql.SQL("to_tsvector('simple', name || ' ' || description)")
        if query is None:
            filters.append(sql.SQL("{} @@ to_tsquery('simple', %s)").format(document))
            params.append(tsquery)
        where_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(filters) if filters else sql.SQL("")
        statement = sql.SQL("SELECT {}, ts_rank({}, to_tsquery('simple', %s)) FROM {}{}").format(
            _COLUMNS, document, self._table, where_sql)
        rows = conn.execute(statement, (tsquery, *params)).fetchall()
        if not rows:
            return []
        ids = [row[0] for row in rows]
        text_scores = np.array([float(row[-1]) for row in rows])
        if query is None:
            primary = text_scores
        else:
            primary = ranking_fused(np.stack([_vector(row[2]) for row in rows]) @ query, text_scores, id_keys(ids))
        best = ranking.order(primary, np.zeros(len(ids)), ranking.ids_lookup(ids), k, min_score)
        return [Match(_to_skill(rows[i][:-1]), float(primary[i])) for i in best]

    def _large(self, conn: psycopg.Connection[Any]) -> bool:
        """True when the library is big enough for the approximate HNSW path.

        Reads the planner's row estimate, at most every ``SIZE_RECHECK_SECONDS``.
        """
        if not self._hnsw:
            return False
        now = time.monotonic()
        if now - self._size_checked_at > SIZE_RECHECK_SECONDS:
            row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (self.library,)).fetchone()
            self._size_estimate = 0.0 if row is None else float(row[0])
            self._size_checked_at = now
        return self._size_estimate > self.exact_limit

    # -- library-wide ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Library figures (as ``SkillStore.stats``) and facts about the table."""

        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            counts = conn.execute(
                sql.SQL("SELECT attempts, successes, observations FROM {}").format(self._table)
            ).fetchall()
            records = [{"stats": {"attempts": a, "successes": s, "observations": o}} for a, s, o in counts]
            facts = conn.execute(
                sql.SQL(
                    "SELECT count(DISTINCT precondition_signature), pg_total_relation_size(%s::regclass),"
                    " current_setting('server_version') FROM {}"
                ).format(self._table),
                (self.library,),
            ).fetchone()
            assert facts is not None
            statuses = dict(conn.execute(
                sql.SQL("SELECT status, count(*) FROM {} GROUP BY status").format(self._table)).fetchall())
            return {
                **summarise(records),
                "dim": self._dim,
                "embedder": self.embedder_identity,
                "backend": "postgresql",
                "url": self.url,
                "library": self.library,
                "index": "hnsw" if self._hnsw else "exact",
                "exact_limit": self.exact_limit,
                "precondition_signatures": int(facts[0]),
                "statuses": {status: int(statuses.get(status, 0)) for status in STATUSES},
                "bytes_on_disk": int(facts[1]),
                "server_version": facts[2],
            }

        return self._run(work)

    def checkpoint(self) -> None:
        """Refresh the planner's statistics (``ANALYZE``); commits are already durable on the server."""

        def work(conn: psycopg.Connection[Any]) -> None:
            conn.execute(sql.SQL("ANALYZE {}").format(self._table))

        self._run(work, write=True)

    def refresh(self) -> None:
        """Nothing to do: every call reads the latest committed state. Present so code can treat
        every backend alike."""
        self._run(lambda conn: None, atomic=False)

    def verify(self) -> VerifyReport:
        """Check the library's registration, table and invariants; returns a report."""

        def work(conn: psycopg.Connection[Any]) -> VerifyReport:
            report = VerifyReport()
            dim = pgschema.read_dim(conn, self.library)
            if dim != self._dim:
                report.problems.append(f"registered dim is {dim}, opened with {self._dim}")
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), count(*) FILTER (WHERE abs(vector_norm(embedding) - 1) > 1e-3),"
                    " count(*) FILTER (WHERE successes + failures <> attempts OR observations < 1)"
                    " FROM {}"
                ).format(self._table)
            ).fetchone()
            assert row is not None
            skills, unnormalised, bad_counts = (int(v) for v in row)
            if unnormalised:
                report.problems.append(f"{unnormalised} embeddings are not unit vectors")
            if bad_counts:
                report.problems.append(f"{bad_counts} skills have inconsistent counters")
            if not pgschema.has_hnsw(conn, self.library) and self._dim <= pgschema.HNSW_MAX_DIM:
                report.warnings.append("the HNSW index is missing: large unfiltered searches scan exactly")
            report.facts.update({"skills": skills, "dim": self._dim, "library": self.library, "url": self.url})
            return report

        return self._run(work)

    def drop(self) -> None:
        """Delete the whole library (table and registration) and close this handle."""
        self._run(lambda conn: pgschema.drop_library(conn, self.library), write=True)
        self.close()


def _in_transaction(conn: psycopg.Connection[Any], work: Callable[[psycopg.Connection[Any]], T]) -> T:
    with conn.transaction():
        return work(conn)


def _filters(
    state: Mapping[str, Any] | None, where: Node, statuses: frozenset[str] | None = None
) -> tuple[list[sql.Composable], list[Any]]:
    """WHERE conditions and their parameters: the statuses kept (when given), applicability to
    ``state`` over canonical items, and the filter expression."""
    filters: list[sql.Composable] = []
    params: list[Any] = []
    if statuses is not None:
        filters.append(sql.SQL("status = ANY(%s)"))
        params.append(sorted(statuses))
    if state is not None:
        filters.append(sql.SQL("precondition_items <@ %s::text[]"))
        params.append(canonical.items(state))
    condition, condition_params = filter_sql(where)
    if condition is not None:
        filters.append(condition)
        params.extend(condition_params)
    return filters, params


_ORDER_SQL = {"success_rate": "(CASE WHEN attempts > 0 THEN successes::float8 / attempts ELSE 0 END)"}


def _exact_order(query: np.ndarray | None, rank: str) -> sql.Composable:
    """ORDER BY for the rank mode, best first, ties broken by id as ``ranking.order`` does."""
    by_id = sql.SQL('id COLLATE "C"')
    if query is None:
        return sql.SQL(f"{_WILSON if rank == 'wilson' else _RATE} DESC, ") + by_id
    if rank == "success":
        return sql.SQL(f"{_RATE} DESC, embedding <#> %s, ") + by_id
    if rank == "blend":
        return sql.SQL(
            "((1 - %s) * -(embedding <#> %s) + %s * (successes + 1)::float8 / (attempts + 2)) DESC, "
        ) + by_id
    if rank == "wilson":
        return sql.SQL(f"((1 - %s) * -(embedding <#> %s) + %s * {_WILSON}) DESC, ") + by_id
    return sql.SQL("embedding <#> %s, ") + by_id


def _content(fields: dict[str, Any]) -> tuple[Any, ...]:
    """Column values for a skill's content: readable copies, exact msgpack, canonical items."""
    from psycopg.types.json import Jsonb

    return (
        canonical.readable(fields["name"]),
        canonical.readable(fields["description"]),
        pack({key: fields[key] for key in ("name", "actions", "preconditions", "description", "metadata")}),
        Jsonb(canonical.readable(fields["preconditions"])),
        Jsonb(canonical.readable(fields["metadata"])),
        canonical.items(fields["preconditions"]),
        canonical.items(fields["metadata"]),
    )


def _restore_row(record: dict[str, Any], vector: np.ndarray) -> tuple[Any, ...]:
    """INSERT values for a record from ``records.prepare_restore``."""
    stats = record["stats"]
    return (
        record["id"],
        *_content(record),
        canonical.signature(record["preconditions"]),
        vector,
        stats["attempts"],
        stats["successes"],
        stats["failures"],
        stats["observations"],
        stats["total_reward"],
        stats["last_used_at"],
        record["created_at"],
        record["updated_at"],
        pack(record["provenance"]),
        *_version_values(record),
    )


def _version_values(record: dict[str, Any]) -> tuple[Any, ...]:
    """Column values for a record's versions: number, status, history, the current version's counts."""
    counts = record["history"][-1]["stats"]
    return (record["version"], record["status"], pack(record["history"]), counts["attempts"], counts["successes"],
            counts["failures"], counts["total_reward"])


def _full_record(row: Any) -> tuple[dict[str, Any], np.ndarray]:
    """A whole record (history included, with the current version's counts) and its vector."""
    skill = _to_skill(row[:14])
    history, attempts, successes, failures, reward = row[14:]
    record = {
        "id": skill.id, "name": skill.name, "actions": skill.actions, "preconditions": skill.preconditions,
        "description": skill.description, "metadata": skill.metadata, "stats": skill.stats.to_dict(),
        "created_at": skill.created_at, "updated_at": skill.updated_at, "provenance": skill.provenance,
        "version": skill.version, "status": skill.status,
    }
    counts = {"attempts": attempts, "successes": successes, "failures": failures, "total_reward": reward}
    if history is None:  # a skill of a format-1 library: one version
        record["history"] = [initial_entry(skill.version, skill.created_at or 0.0, counts)]
    else:
        record["history"] = unpack(history)
        for entry in record["history"]:
            if entry["content"] is not None:
                entry["content"]["preconditions"] = canonical_preconditions(entry["content"]["preconditions"])
        record["history"][-1]["stats"] = counts
    return record, skill.embedding


def _decode_fields(data: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = unpack(data)
    fields["preconditions"] = canonical_preconditions(fields["preconditions"])
    return fields


def _to_skill(row: Any) -> Skill:
    (skill_id, fields, embedding, attempts, successes, failures, observations, total_reward,
     last_used_at, created_at, updated_at, provenance, version, status) = row
    record = {
        "id": skill_id,
        **_decode_fields(fields),
        "stats": SkillStats(attempts, successes, failures, observations, total_reward, last_used_at).to_dict(),
        "created_at": created_at,
        "updated_at": updated_at,
        "provenance": unpack(provenance),
        "version": version,
        "status": status,
    }
    return to_skill(record, _vector(embedding))


def _vector(value: Any) -> np.ndarray:
    """A pgvector value as the float32 array the other backends hold (the values are exact).

    pgvector >= 0.3 loads a ``Vector``; older releases load a NumPy array.
    """
    return np.array(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
