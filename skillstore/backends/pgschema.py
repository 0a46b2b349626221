"""Where a PostgreSQL library lives: URLs, table layout, creation and removal.

One database holds any number of libraries. ``skillstore_libraries`` registers each
one (name, dim, and the identity of its embedder as JSON, if it has one); each library
is a table of its own, named after the library::

    postgresql://user:secret@host:5432/db?library=gridworld   (default library: "skills")

Columns that the store reads back (``fields``, ``provenance``) hold msgpack, so that
actions, metadata and preconditions come back exactly as the embedded store gives
them (bytes, floats and bools intact). The JSONB columns are for people and
hand-written SQL; filters use the canonical ``*_items`` arrays (see ``canonical``).

Versions (format 2 of a library): ``version`` and ``status`` are columns; ``history`` holds
the version history as msgpack (``records.check_history``), NULL for a skill of a format-1
library, which has one version; the outcomes of the current version are counted in the
``version_*`` columns, so that ``record_outcome`` stays one atomic UPDATE. A format-1 library
is upgraded in place when it is first opened for writing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from skillstore.backends.canonical import lock_key
from skillstore.embedders import check_identity
from skillstore.errors import DimensionMismatchError, InvalidInputError, SkillStoreError, StoreNotFoundError

DEFAULT_LIBRARY = "skills"
REGISTRY = "skillstore_libraries"
FORMAT_VERSION = 2  # 2: versions and statuses
HNSW_MAX_DIM = 2000  # pgvector cannot build an HNSW index over more dimensions
VECTOR_MAX_DIM = 16000  # nor store a longer vector
_LIBRARY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def split_url(url: str) -> tuple[str, str | None]:
    """(connection URL for libpq, library name or None) from a skillstore URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    libraries = [value for key, value in query if key == "library"]
    rest = [(key, value) for key, value in query if key != "library"]
    conninfo = _join("postgresql", parts.netloc, parts.path, urlencode(rest, quote_via=quote))
    return conninfo, libraries[-1] if libraries else None


def _join(scheme: str, netloc: str, path: str, query: str) -> str:
    # not urlunsplit: it drops the empty host of "postgresql:///db" (the local socket)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def masked(url: str) -> str:
    """``url`` with its password replaced, for messages and ``stats()``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return _join(parts.scheme, f"{user}:***@{hostport}", parts.path, parts.query)


def check_library(name: str) -> str:
    if not isinstance(name, str) or not _LIBRARY_NAME.match(name) or name == REGISTRY:
        raise InvalidInputError(
            f"a library name is 1-40 lowercase letters, digits or '_' starting with a letter, got {name!r}"
        )
    return name


def read_dim(conn: psycopg.Connection[Any], library: str) -> int | None:
    """The registered dimension of ``library``, or None when there is no such library."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (REGISTRY,)).fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(
        sql.SQL("SELECT dim FROM {} WHERE name = %s").format(sql.Identifier(REGISTRY)), (library,)
    ).fetchone()
    return None if row is None else int(row[0])


def open_library(
    conn: psycopg.Connection[Any], library: str, dim: int | None, create: bool, where: str,
    embedder: dict[str, Any] | None = None,
) -> int:
    """Make sure ``library`` exists (creating it when allowed, recording ``embedder``, an
    embedder's identity) and return its dimension."""
    stored = read_dim(conn, library)
    if stored is None:
        if not create:
            raise StoreNotFoundError(f"no skill library {library!r} at {where}")
        dim = dim if dim is not None else None if embedder is None else embedder["dim"]
        if dim is None:
            raise InvalidInputError(f"no skill library {library!r} at {where}: pass dim (or an embedder) to create one")
        stored = _create(conn, library, dim, embedder)
    if dim is not None and dim != stored:
        raise DimensionMismatchError(f"the library {library!r} at {where} has dim {stored}, not {dim}")
    return stored


def read_embedder(conn: psycopg.Connection[Any], library: str) -> dict[str, Any] | None:
    """The identity of the embedder ``library`` recorded, or None (also for a registry made by
    a release that recorded none, which has no such column)."""
    row = conn.execute(
        sql.SQL("SELECT to_jsonb(r) -> 'embedder' FROM {} r WHERE name = %s").format(sql.Identifier(REGISTRY)),
        (library,),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    recorded = row[0]
    if isinstance(recorded, dict) and isinstance(recorded.get("params"), dict):
        # JSON's numbers keep no type: a float parameter of integral value comes back an integer,
        # and one beyond 64 bits (1e20) can only have been a float (a larger integer is refused)
        recorded = {**recorded, "params": {
            key: float(value) if type(value) is int and not -(2**63) <= value < 2**63 else value
            for key, value in recorded["params"].items()
        }}
    try:
        return check_identity(recorded)
    except InvalidInputError as exc:
        raise SkillStoreError(f"the library {library!r} records an embedder that is not valid: {exc}") from None


def read_format(conn: psycopg.Connection[Any], library: str) -> int:
    row = conn.execute(
        sql.SQL("SELECT format FROM {} WHERE name = %s").format(sql.Identifier(REGISTRY)), (library,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def upgrade(conn: psycopg.Connection[Any], library: str) -> None:
    """Add the version columns to a format-1 library: each skill gets version 1, active, whose
    outcomes are all the skill's. Nothing to do for a library of the current format."""
    if read_format(conn, library) >= FORMAT_VERSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("skillstore", "create"),))
        if read_format(conn, library) >= FORMAT_VERSION:
            return
        table = sql.Identifier(library)
        conn.execute(sql.SQL("ALTER TABLE {} " + ", ".join(f"ADD COLUMN {c}" for c in _VERSION_COLUMNS)).format(table))
        conn.execute(sql.SQL(
            "UPDATE {} SET version_attempts = attempts, version_successes = successes,"
            " version_failures = failures, version_reward = total_reward"
        ).format(table))
        conn.execute(sql.SQL("UPDATE {} SET format = %s WHERE name = %s").format(sql.Identifier(REGISTRY)),
                     (FORMAT_VERSION, library))


def _create(conn: psycopg.Connection[Any], library: str, dim: int, embedder: dict[str, Any] | None) -> int:
    if dim > VECTOR_MAX_DIM:
        raise InvalidInputError(f"PostgreSQL vectors hold at most {VECTOR_MAX_DIM} dimensions, not {dim}")
    with conn.transaction():
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogs: serialise creators.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("skillstore", "create"),))
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege:
            raise SkillStoreError(
                "the pgvector extension is not installed in this database and this role may not "
                "install it: ask an administrator to run CREATE EXTENSION vector"
            ) from None
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, dim integer NOT NULL,"
                " format integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), embedder jsonb)"
            ).format(sql.Identifier(REGISTRY))
        )
        # a registry made by a release that recorded no embedders
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS embedder jsonb").format(sql.Identifier(REGISTRY)))
        stored = read_dim(conn, library)
        if stored is not None:
            return stored  # another process created it while we waited
        table = sql.Identifier(library)
        conn.execute(_TABLE.format(table=table, dim=sql.Literal(dim)))
        indexes = [_GIN.format(name=sql.Identifier(f"{library}_{column}"), table=table, column=sql.Identifier(column))
                   for column in ("precondition_items", "metadata_items")]
        indexes.append(_SIGNATURE_INDEX.format(name=sql.Identifier(f"{library}_signature"), table=table))
        if dim <= HNSW_MAX_DIM:
            indexes.append(_HNSW.format(name=sql.Identifier(f"{library}_embedding_hnsw"), table=table))
        for statement in indexes:
            conn.execute(statement)
        conn.execute(
            sql.SQL("INSERT INTO {} (name, dim, format, embedder) VALUES (%s, %s, %s, %s)").format(
                sql.Identifier(REGISTRY)
            ),
            (library, dim, FORMAT_VERSION, None if embedder is None else Jsonb(embedder)),
        )
    return dim


def drop_library(conn: psycopg.Connection[Any], library: str) -> None:
    """Remove a library's table and its registration (its skills are gone for good)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("skillstore", "create"),))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(library)))
        if read_dim(conn, library) is not None:
            conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(sql.Identifier(REGISTRY)), (library,))


def has_hnsw(conn: psycopg.Connection[Any], library: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{library}_embedding_hnsw",)).fetchone()
    return bool(row and row[0])


_TABLE = sql.SQL(
    """
    CREATE TABLE {table} (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        id text PRIMARY KEY,
        name text NOT NULL,
        description text NOT NULL,
        fields bytea NOT NULL,
        preconditions jsonb NOT NULL,
        metadata jsonb NOT NULL,
        precondition_items text[] NOT NULL,
        metadata_items text[] NOT NULL,
        precondition_signature text NOT NULL,
        embedding vector({dim}) NOT NULL,
        attempts bigint NOT NULL DEFAULT 0,
        successes bigint NOT NULL DEFAULT 0,
        failures bigint NOT NULL DEFAULT 0,
        observations bigint NOT NULL DEFAULT 1,
        total_reward double precision NOT NULL DEFAULT 0,
        last_used_at double precision,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        provenance bytea NOT NULL,
        {versions},
        CHECK (successes >= 0 AND failures >= 0 AND successes + failures = attempts)
    )
    """
)
_VERSION_COLUMNS = (
    "version bigint NOT NULL DEFAULT 1",
    "status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'candidate', 'deprecated'))",
    "history bytea",
    "version_attempts bigint NOT NULL DEFAULT 0",
    "version_successes bigint NOT NULL DEFAULT 0",
    "version_failures bigint NOT NULL DEFAULT 0",
    "version_reward double precision NOT NULL DEFAULT 0",
)
_TABLE = sql.SQL(_TABLE.as_string(None).replace("{versions}", ",\n        ".join(_VERSION_COLUMNS)))
_GIN = sql.SQL("CREATE INDEX {name} ON {table} USING gin ({column})")
_SIGNATURE_INDEX = sql.SQL("CREATE INDEX {name} ON {table} (precondition_signature)")
_HNSW = sql.SQL("CREATE INDEX {name} ON {table} USING hnsw (embedding vector_ip_ops)")
