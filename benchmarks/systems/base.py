"""The interface every compared system implements, and helpers for their files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from benchmarks.data import Dataset

K_HNSW = {"M": 32, "efConstruction": 200, "efSearch": 128}  # shared by every HNSW system here


class System:
    """A store under test.

    ``build`` stores a dataset under ``workdir``; ``close`` lets go of it; ``open``
    opens what ``build`` stored, in this process or a fresh one (the open-time and
    memory probe calls it with nothing but the work directory); ``query`` returns
    dataset row numbers, best first. Every skill carries its zone (the precondition
    the filters select on) and a ``group`` metadata value.
    """

    name = "system"
    exact = True
    max_n: int | None = None  # larger libraries are skipped (too slow to be worth measuring)
    # the probe's process tree holds the whole system (False for a server process of its own)
    in_process = True
    # the system opens read-only and read-write differently (the probe measures both)
    has_read_only_open = False

    def imports(self) -> None:
        """Import the system's libraries (the probe's baseline memory includes them)."""

    def build(self, data: Dataset, workdir: Path) -> None:
        raise NotImplementedError

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        raise NotImplementedError

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        raise NotImplementedError

    def disk_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        pass

    def dispose(self, workdir: Path) -> None:
        """Remove what ``build`` made outside ``workdir`` (the harness then deletes ``workdir``)."""


def group_of(row: int) -> int:
    """The metadata value every system stores with skill ``row``."""
    return row % 100


def disk_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def clean(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)


def save_arrays(workdir: Path, **arrays: np.ndarray) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(workdir / f"{name}.npy", array, allow_pickle=False)


def load_array(workdir: Path, name: str) -> np.ndarray:
    return np.load(workdir / f"{name}.npy", allow_pickle=False)  # type: ignore[no-any-return]
