"""A full disk, for real: a small tmpfs that a store fills with random writes and
checkpoints until the filesystem refuses with ENOSPC, again and again.

Every call either is acknowledged or raises StoreIOError and changes nothing, and
leaves nothing behind that takes space; a reference model follows the acknowledged
calls only. After each fill, space comes back and the store, reopened by a fresh
handle, must hold exactly what was acknowledged and accept writes and a checkpoint
again. "Space comes back" means room for checkpoints: a checkpoint writes a whole
new generation beside the one in force, so the disk must hold two generations. A
ballast file is deleted, and when that leaves less room than two generations of the
grown store take (a generation's size measured by checkpointing a copy of the store
on an ordinary disk, so it holds whatever the snapshot format), the disk is grown by
the difference until the next round.
The fast version runs in ``make test``; ``make reliability`` runs the long one.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reliability_helpers import Figures

from skillstore import Skill, SkillStore, StoreIOError

DIM = 16
DISK_BYTES = 1536 * 1024  # every round fills a disk of this size
SEED_ENV = "DISK_FULL_SEED"  # the long campaign's seed, to rerun one that failed


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "disk"
    point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount rights): {result.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def resize(disk: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True, capture_output=True)
    assert os.statvfs(disk).f_blocks * os.statvfs(disk).f_frsize == size


def blocks_of(directory: Path, block: int) -> int:
    """The bytes the files under ``directory`` would take on a disk of ``block``-byte blocks."""
    sizes = (path.stat().st_size for path in directory.rglob("*") if path.is_file())
    return sum(-(-size // block) * block for size in sizes)


def allocated(directory: Path) -> int:
    """The bytes the files and directories under ``directory`` have allocated."""
    return sum(path.lstat().st_blocks * 512 for path in directory.rglob("*"))


def checkpointed_size(store_path: Path, scratch: Path, block: int) -> int:
    """The bytes the store at ``store_path`` takes once checkpointed (its new snapshot, an empty
    log and the MANIFEST) on a disk of ``block``-byte blocks: measured on a copy."""
    copy = scratch / "checkpointed"
    shutil.copytree(store_path, copy)
    try:
        with SkillStore.open(copy) as store:
            store.checkpoint()
        return blocks_of(copy, block)  # the copy now holds just the new generation and its MANIFEST
    finally:
        shutil.rmtree(copy)


def summary(store: Any) -> dict[str, tuple[Any, ...]]:
    return {s.id: (s.name, s.stats.attempts, s.stats.successes, s.metadata) for s in store}


class Campaign:
    def __init__(self, disk: Path, scratch: Path, seed: int, figures: Figures) -> None:
        self.disk, self.path, self.scratch = disk, disk / "store", scratch
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
        resize(self.disk, DISK_BYTES)  # a disk grown by the last round is shrunk back
        ballast = self.disk / "ballast"
        ballast.write_bytes(b"\0" * (free_bytes(self.disk) * 2 // 3))  # returned after the fill
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
            self.assert_holds_only_its_generation(store.generation)
        with SkillStore.open(self.path, read_only=True) as reader:  # nothing acknowledged is missing
            assert summary(reader) == self.model and reader.verify().ok
        ballast.unlink()
        self.give_room_for_checkpoints()
        with SkillStore.open(self.path) as store:
            assert summary(store) == self.model
            store.checkpoint()
            self.random_call(store)
            assert summary(store) == self.model and store.verify().ok
        self.figures.count("rounds")

    def assert_holds_only_its_generation(self, generation: int) -> None:
        """After the refused calls the disk holds the store's generation in force and nothing
        else: no temporary or half-written generation, no removed file still taking space."""
        names = sorted(os.listdir(self.path))
        assert names == ["MANIFEST", f"log-{generation:08d}", f"snap-{generation:08d}"], names
        st = os.statvfs(self.disk)
        used, listed = (st.f_blocks - st.f_bfree) * st.f_frsize, allocated(self.disk)
        assert used == listed, f"{used - listed} bytes of the disk are taken by removed files still held open"

    def give_room_for_checkpoints(self) -> None:
        """Grow the disk, which now holds only the store, if it cannot hold two generations
        (each the larger of the store now and the store checkpointed) and a second MANIFEST:
        the round checkpoints, and its next call may be another checkpoint."""
        st = os.statvfs(self.disk)
        now, checkpointed = allocated(self.path), checkpointed_size(self.path, self.scratch, st.f_frsize)
        needed = max(now, checkpointed) + checkpointed + st.f_frsize
        if needed > st.f_blocks * st.f_frsize:
            resize(self.disk, needed)
            self.figures.count("disk grown for the checkpoints")


def run_campaign(disk: Path, rounds: int, seed: int, *, most_calls_after_full: int) -> Figures:
    figures = Figures("disk full (tmpfs)")
    scratch = disk.parent / "scratch"  # on an ordinary disk, not the tmpfs
    scratch.mkdir(exist_ok=True)
    campaign = Campaign(disk, scratch, seed, figures)
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
    seed = int(os.environ.get(SEED_ENV) or int.from_bytes(os.urandom(4), "little"))
    print(f"disk-full campaign seed {seed} (rerun with {SEED_ENV}={seed})")  # shown by pytest when it fails
    figures = run_campaign(tmpfs, rounds=40, seed=seed, most_calls_after_full=60)
    refused = {k: v for k, v in figures.counts.items() if "refused" in k}
    assert figures.counts["rounds"] == 40
    for kind in ("add", "outcome", "checkpoint"):
        assert f"{kind} refused (disk full)" in refused, refused
    figures.publish()
