"""Libraries kept by a database server rather than in a directory, opened from a URL.

``SkillStore.open`` hands a ``postgresql://`` (or ``postgres://``) URL to
:func:`open_url`. The PostgreSQL backend and its driver are imported only then, so
``import skillstore`` needs neither psycopg nor pgvector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skillstore.errors import SkillStoreError

if TYPE_CHECKING:
    from skillstore.backends.postgres import PostgresBackend

URL_SCHEMES = ("postgresql", "postgres")
_DRIVER_MODULES = ("psycopg", "psycopg_binary", "psycopg_c", "pgvector")


def is_url(location: object) -> bool:
    """True for a string naming a server-backed library (``postgresql://…``), not a path."""
    if not isinstance(location, str) or "://" not in location:
        return False
    return location.split("://", 1)[0].lower() in URL_SCHEMES


def open_url(
    url: str,
    *,
    dim: int | None = None,
    create: bool = True,
    dedup_threshold: float | None = None,
    read_only: bool = False,
    embedder: Any = None,
) -> PostgresBackend:
    """Open (or create) the library a URL names; see :class:`~skillstore.backends.postgres.PostgresBackend`."""
    try:
        from skillstore.backends.postgres import PostgresBackend
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in _DRIVER_MODULES:
            raise SkillStoreError(
                f"PostgreSQL libraries need psycopg and pgvector: pip install 'skillstore[postgres]' ({exc})"
            ) from None
        raise
    return PostgresBackend(url, dim, dedup_threshold=dedup_threshold, create=create, read_only=read_only,
                           embedder=embedder)
