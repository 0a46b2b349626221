"""A full disk, for real: a small tmpfs that a store fills with random writes and
checkpoints until the filesystem refuses with ENOSPC, again and again.

Every call either is acknowledged or raises StoreIOError and changes nothing; a
reference model follows the acknowledged calls only. After each fill, space comes
back (a ballast file is deleted) and the store, reopened by a fresh handle, must
hold exactly what was acknowledged and accept writes and a checkpoint again.
The fast version runs in ``make test``; ``make reliability`` runs the long one.
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reliability_helpers import Figures

from skillstore import Skill, SkillStore, StoreIOError

DIM = 16


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "disk"
    point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(point)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount rights): {result.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def summary(store: Any) -> dict[str, tuple[Any, ...]]:
    return {s.id: (s.name, s.stats.attempts, s.stats.successes, s.metadata) for s in store}


class Campaign:
    def __init__(self, disk: Path, seed: int, figures: Figures) -> None:
        self.disk, self.path = disk, disk / "store"
        self.rng = random.Random(seed)
        self.figures = figures
        self.model: dict[str, tuple[Any, ...]] = {}

    def random_call(self, store: SkillStore) -> None:
        """One random write; the model changes only if the store acknowledges it."""
        rng, ids = self.rng, sorted(self.model)
        kind = rng.choices(["add", "outcome", "update", "delete", "checkpoint"], [5, 4, 2, 1, 1])[0]
        if kind in ("outcome", "update", "delete") and not ids:
            kind = "add"
        try:
            if kind == "add":
                batch = [
                    Skill(f"n{rng.randrange(10**6)}", ["go"] * rng.randrange(1, 40),
                          np.array([rng.gauss(0, 1) for _ in range(DIM)]), metadata={"pad": "x" * rng.randrange(500)})
                    for _ in range(rng.randrange(1, 30))
                ]
                new = store.add_many(batch)
                self.model.update({i: (s.name, 0, 0, s.metadata) for i, s in zip(new, batch, strict=True)})
            elif kind == "outcome":
                skill_id, success = rng.choice(ids), rng.random() < 0.5
                store.record_outcome(skill_id, success)
                name, attempts, successes, metadata = self.model[skill_id]
                self.model[skill_id] = (name, attempts + 1, successes + success, metadata)
            elif kind == "update":
                skill_id, name = rng.choice(ids), f"u{rng.randrange(10**6)}"
                store.update(skill_id, name=name)
                self.model[skill_id] = (name, *self.model[skill_id][1:])
            elif kind == "delete":
                skill_id = rng.choice(ids)
                store.delete(skill_id)
                del self.model[skill_id]
            else:
                store.checkpoint()
            self.figures.count(f"{kind} acknowledged")
        except StoreIOError as exc:
            assert exc.errno in (errno.ENOSPC, errno.EFBIG), exc
            self.figures.count(f"{kind} refused (disk full)")
            raise

    def round(self, calls_after_full: int) -> None:
        """Write until the disk is full, keep writing into the full disk, then give space back."""
        ballast = self.disk / "ballast"
        ballast.write_bytes(b"\0" * (free_bytes(self.disk) * 2 // 3))  # returned later: room for a checkpoint
        refused = 0
        with SkillStore.open(self.path) as store:
            for _ in range(5000):
                try:
                    self.random_call(store)
                except StoreIOError:
                    refused += 1
                    if refused > calls_after_full:
                        break
                assert summary(store) == self.model
            assert refused, "the disk never filled up"
        with SkillStore.open(self.path, read_only=True) as reader:  # nothing acknowledged is missing
            assert summary(reader) == self.model and reader.verify().ok
        ballast.unlink()
        with SkillStore.open(self.path) as store:
            assert summary(store) == self.model
            store.checkpoint()
            self.random_call(store)
            assert summary(store) == self.model and store.verify().ok
        self.figures.count("rounds")


def run_campaign(disk: Path, rounds: int, seed: int, *, most_calls_after_full: int) -> Figures:
    figures = Figures("disk full (tmpfs)")
    campaign = Campaign(disk, seed, figures)
    SkillStore.open(campaign.path, dim=DIM).close()
    for _ in range(rounds):
        # small frames fit in a page the log already has: only many calls find the page boundary
        campaign.round(calls_after_full=campaign.rng.randrange(1, most_calls_after_full + 1))
        # the next round starts from a compacted store so that the disk can fill again
        with SkillStore.open(campaign.path) as store:
            for skill_id in sorted(campaign.model)[: len(campaign.model) // 2]:
                store.delete(skill_id)
                del campaign.model[skill_id]
            store.checkpoint()
    return figures


def test_a_full_disk_loses_no_acknowledged_write(tmpfs: Path) -> None:
    figures = run_campaign(tmpfs, rounds=3, seed=0, most_calls_after_full=5)
    assert figures.counts["rounds"] == 3
    assert sum(v for k, v in figures.counts.items() if "refused" in k) >= 3


@pytest.mark.slow
@pytest.mark.reliability
def test_a_full_disk_loses_no_acknowledged_write_campaign(tmpfs: Path) -> None:
    figures = run_campaign(tmpfs, rounds=40, seed=int.from_bytes(os.urandom(4), "little"), most_calls_after_full=60)
    refused = {k: v for k, v in figures.counts.items() if "refused" in k}
    assert figures.counts["rounds"] == 40
    for kind in ("add", "outcome", "checkpoint"):
        assert f"{kind} refused (disk full)" in refused, refused
    figures.publish()
