"""PostgreSQL URLs for the tests that run against a real server (see tests/conftest.py)."""

from __future__ import annotations


def library_url(url: str, library: str) -> str:
    """``url`` naming one library of its database."""
    return f"{url}{'&' if '?' in url else '?'}library={library}"
