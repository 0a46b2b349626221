"""The reliability campaigns: each has a fast version in ``make test`` and a long one
marked ``slow`` (and ``reliability``) that ``make reliability`` runs."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: a long reliability campaign (run by `make reliability`)")
