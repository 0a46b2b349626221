"""Corruption campaign: truncations, zeroed ranges and bit flips in every file of a store
(MANIFEST, every snapshot file: columns, records, vectors and the HNSW graph; the log), on a flat
and on an HNSW store.

Each damaged store is examined in a child process (``corruption_worker``) with a time
limit, so a loader that crashes or hangs fails the case instead of the run. Opening must
either recover a state the store really had (with every frame before the damage) or
raise ``StoreCorruptError`` naming the damaged file; ``skillstore verify`` must report
the damage; ``verify --repair`` must restore such a state or refuse without writing.
"""

from __future__ import annotations

import json
import random
import select
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from corruption_worker import digest
from reliability_helpers import HERE, PYTHON, Figures, subprocess_env

from skillstore import Skill, SkillStore

WORKER = str(HERE / "corruption_worker.py")
CASE_TIMEOUT = 60.0  # seconds for one store: open, verify, repair, reopen
DIM = 8


@dataclass
class Base:
    """A store and every state it went through: ``digests[i]`` after the first ``i`` log frames,
    ``frame_ends[i]`` the log offset just past frame ``i + 1``."""

    path: Path
    digests: list[str]
    frame_ends: list[int]


def build_base(path: Path, kind: str) -> Base:
    rng = np.random.default_rng(7)
    with SkillStore.open(path, dim=DIM, index=kind) as store:
        if kind == "hnsw":
            store.configure_index("hnsw", M=8)
        ids = store.add_many([Skill(f"s{i}", [i, "go"], rng.normal(size=DIM), preconditions={"room": i % 3},
                                    metadata={"i": i}) for i in range(40)])
        store.checkpoint()
        digests, ends = [digest(store)], []
        for step in range(24):
            if step % 4 == 0:
                ids.append(store.add(Skill(f"n{step}", ["new"], rng.normal(size=DIM))))
            elif step % 4 == 1:
                store.update(ids[step], name=f"renamed{step}", embedding=rng.normal(size=DIM))
            elif step == 10:
                store.delete(ids.pop(0))
            else:
                store.record_outcome(ids[step % len(ids)], step % 3 == 0, float(step))
            digests.append(digest(store))
            ends.append(store.stats()["log_bytes"])
    return Base(path, digests, ends)


class Worker:
    """The examining child; restarted after it dies or hangs."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen([PYTHON, WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, env=subprocess_env())
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        return process

    def examine(self, path: Path) -> dict[str, Any]:
        if self.process is None:
            self.process = self._start()
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(f"{path}\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], CASE_TIMEOUT)
        line = process.stdout.readline() if ready else ""
        if line:
            return json.loads(line)  # type: ignore[no-any-return]
        if ready:
            failure = {"failure": f"the examining process died with exit code {process.wait(timeout=10)}"}
        else:
            process.kill()
            process.wait()
            failure = {"failure": f"opening or repairing took longer than {CASE_TIMEOUT}s"}
        self.close()
        return failure

    def close(self) -> None:
        if self.process is not None:
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
            self.process.wait(timeout=30)
            self.process = None


def store_files(path: Path) -> list[Path]:
    return [path / "MANIFEST", *sorted(path.glob("snap-*/*")), *sorted(path.glob("log-*"))]


def damage(target: Path, rng: random.Random) -> tuple[str, int]:
    """Damage ``target`` in place; returns the kind of damage and the first offset it touched."""
    data = bytearray(target.read_bytes())
    kind = rng.choice(["truncate", "zero", "flip"]) if data else "truncate"
    offset = rng.randrange(len(data)) if data else 0
    if kind == "truncate":
        del data[offset:]
    elif kind == "zero":
        length = rng.choice([1, 4, 12, 64, 4096])
        data[offset : offset + length] = bytes(len(data[offset : offset + length]))
    else:
        data[offset] ^= 1 << rng.randrange(8)
    target.write_bytes(bytes(data))
    return kind, offset


def check_state(base: Base, found: dict[str, Any], damaged: Path, offset: int, when: str) -> None:
    """A recovered or repaired store must be a state the store really had, with every frame
    that lies wholly before the damage."""
    assert found["outcome"] == "recovered", (when, found)
    assert found["verify_ok"], when
    assert found["digest"] in base.digests, f"{when}: contents that the store never held"
    if damaged.name.startswith("log-"):
        intact = sum(end <= offset for end in base.frame_ends)
        assert base.digests.index(found["digest"]) >= intact, f"{when}: frames before the damage were lost"
    elif damaged.name != "MANIFEST" or when == "open":
        assert found["digest"] == base.digests[-1], f"{when}: damage to {damaged.name} lost data silently"


def check_case(base: Base, result: dict[str, Any], damaged: Path, offset: int, figures: Figures) -> None:
    assert "failure" not in result, result.get("failure")
    opened, checked, repair = result["open"], result["verify"], result["repair"]
    assert opened["outcome"] in ("recovered", "corrupt"), opened
    if opened["outcome"] == "corrupt":
        assert Path(opened["path"]).name == damaged.name, opened
        assert checked["code"] == 1 and damaged.name in checked["output"], checked
    else:
        check_state(base, opened, damaged, offset, "open")
        assert checked["code"] == 0, checked
    assert checked["exception"] is None and repair["exception"] is None, (checked, repair)
    if repair["code"] == 0:
        check_state(base, result["after_repair"], damaged, offset, "repair")
        lost = [line for line in repair["output"].splitlines() if line.startswith("lost:")]
        figures.count("repair succeeded, nothing lost" if not lost else "repair succeeded, losses reported")
    else:
        # only a damaged snapshot (there is no older generation) cannot be repaired; nothing is written
        assert damaged.parent.name.startswith("snap-") and "no intact snapshot" in repair["output"], repair
        assert result["after_repair"]["outcome"] == "corrupt"
        figures.count("repair refused (snapshot damaged)")
    figures.count(f"open {opened['outcome']}")


def corruption_campaign(tmp_path: Path, cases: int, seed: int) -> Figures:
    figures = Figures("corruption")
    rng = random.Random(seed)
    bases = [build_base(tmp_path / f"base-{kind}", kind) for kind in ("flat", "hnsw")]
    worker = Worker()
    try:
        for number in range(cases):
            base = bases[number % len(bases)]
            case = tmp_path / "case"
            shutil.rmtree(case, ignore_errors=True)
            shutil.copytree(base.path, case)
            files = store_files(case)
            target = files[number // len(bases) % len(files)]  # every file in turn
            kind, offset = damage(target, rng)
            result = worker.examine(case)
            try:
                check_case(base, result, target, offset, figures)
            except AssertionError as exc:
                raise AssertionError(f"case {number}: {kind} of {target.name} at {offset}: {exc}") from exc
            figures.count("cases")
            figures.count(f"{target.name if not target.name.startswith('log-') else 'log'} {kind}")
    finally:
        worker.close()
    return figures


def test_damaged_files_are_recovered_or_named_and_repair_restores_what_it_can(tmp_path: Path) -> None:
    figures = corruption_campaign(tmp_path, cases=48, seed=3)
    assert figures.counts["cases"] == 48


@pytest.mark.slow
@pytest.mark.reliability
def test_six_hundred_damaged_stores_are_recovered_or_named_and_repaired(tmp_path: Path) -> None:
    figures = corruption_campaign(tmp_path, cases=600, seed=4)
    assert figures.counts["cases"] == 600
    figures.publish()
