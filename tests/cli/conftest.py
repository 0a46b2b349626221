"""Fixtures for the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import build_library


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A populated store (see cli_helpers.LIBRARY) and its ids by name."""
    path = tmp_path / "library"
    return path, build_library(path)


@pytest.fixture
def store_path(library: tuple[Path, dict[str, str]]) -> Path:
    return library[0]


@pytest.fixture
def ids(library: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return library[1]
