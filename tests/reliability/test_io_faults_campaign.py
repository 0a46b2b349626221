"""I/O-fault campaign: every OS call a write makes (open, write, pwrite, fsync, fdatasync,
ftruncate, rename, replace, mkdir) is made to fail in turn with ENOSPC and with EIO.

Each fault must surface as a ``StoreIOError`` carrying the errno, leave the store at its
last committed state in memory and on disk, and the store must keep working once the
fault clears. A second pass keeps failing every call from the chosen one on (a disk that
stays full) until the fault clears. FAISS writes its index file itself, so a real kernel
fault (``RLIMIT_FSIZE``) is also injected in a child process.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reliability_helpers import PYTHON, ROOT, Figures, contents, subprocess_env

from skillstore import Skill, SkillStore, SkillStoreError, StoreIOError

FAULTY_CALLS = ("open", "mkdir", "write", "pwrite", "fsync", "fdatasync", "ftruncate", "rename", "replace")
ERRNOS = (errno.ENOSPC, errno.EIO)
DIM = 6


class FaultyOS:
    """Wraps the ``os`` functions the storage layer writes with; counts their calls while
    ``armed`` and makes the chosen one (or every one from it on) raise ``OSError``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = False
        self.calls: list[str] = []
        self.fail_at: int | None = None
        self.persistent = False
        self.code = errno.EIO
        self.fired = 0
        for name in FAULTY_CALLS:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                index = len(self.calls)
                self.calls.append(name)
                if self.fail_at is not None and (index == self.fail_at or (self.persistent and index > self.fail_at)):
                    self.fired += 1
                    raise OSError(self.code, os.strerror(self.code))
            return real(*args, **kwargs)

        return call

    @contextlib.contextmanager
    def arm(self, fail_at: int | None = None, code: int = errno.EIO, persistent: bool = False) -> Iterator[None]:
        self.calls, self.fail_at, self.code, self.persistent, self.fired = [], fail_at, code, persistent, 0
        self.armed = True
        try:
            yield
        finally:
            self.armed = False


def skill(number: int, size: int = 3) -> Skill:
    rng = np.random.default_rng(number)
    return Skill(f"s{number}", ["a"] * size, rng.normal(size=DIM), preconditions={"room": number % 3},
                 metadata={"n": number})


def first_id(store: SkillStore) -> str:
    return str(next(iter(store)).id)


OPERATIONS: dict[str, Callable[[SkillStore], Any]] = {
    "add": lambda store: store.add(skill(100)),
    "add_many": lambda store: store.add_many([skill(101), skill(102), skill(103)]),
    "update": lambda store: store.update(first_id(store), name="renamed", embedding=np.arange(DIM) + 1.0),
    "delete": lambda store: store.delete(first_id(store)),
    "record_outcome": lambda store: store.record_outcome(first_id(store), True, 0.5),
    "checkpoint": lambda store: store.checkpoint(),
    "configure_index": lambda store: store.configure_index("hnsw", M=8),
}


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """A store with a snapshot and a log: six skills checkpointed, then a few more writes."""
    path = tmp_path / "template"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many([skill(i) for i in range(6)])
        store.checkpoint()
        store.record_outcome(first_id(store), False)
        store.add(skill(7))
    return path


def fresh_copy(template: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(template, target)
    return target


def run_fault(faults: FaultyOS, path: Path, name: str, fail_at: int, code: int, persistent: bool) -> str:
    """One fault; returns "error" when it surfaced as StoreIOError, "tolerated" when the
    store absorbed it (a failed clean-up) and the call succeeded."""
    store = SkillStore.open(path)
    try:
        before = contents(store)
        outcome = "tolerated"
        with faults.arm(fail_at, code, persistent):
            try:
                OPERATIONS[name](store)
            except StoreIOError as exc:
                assert exc.errno == code, exc
                assert str(exc), "the error says what failed"
                outcome = "error"
        assert faults.fired, "the fault was injected"
        if outcome == "error":
            assert contents(store) == before, "a failed write changed the store in memory"
            if not persistent:
                with SkillStore.open(path, read_only=True) as reader:
                    assert contents(reader) == before, "a failed write reached the disk"
        # the fault has cleared: the same handle keeps working, and memory agrees with the disk
        store.add(skill(200))
        store.checkpoint()
        store.record_outcome(first_id(store), True)
        after = contents(store)
        assert store.verify().ok
    finally:
        store.close()
    with SkillStore.open(path) as reopened:
        assert reopened.verify().ok
        assert contents(reopened) == after
    return outcome


def io_fault_campaign(template: Path, work: Path, faults: FaultyOS, exhaustive: bool) -> Figures:
    """Fail each OS call of each operation; ``exhaustive`` tries both errnos in both modes
    at every call, otherwise one combination per call, taken in turn."""
    figures = Figures("I/O faults")
    combinations = [(code, persistent) for code in ERRNOS for persistent in (False, True)]
    for name in OPERATIONS:
        with SkillStore.open(fresh_copy(template, work)) as store, faults.arm():
            OPERATIONS[name](store)
            trace = list(faults.calls)
        assert trace, f"{name} made no OS call to fail"
        for fail_at, call in enumerate(trace):
            chosen = combinations if exhaustive else [combinations[fail_at % len(combinations)]]
            for code, persistent in chosen:
                outcome = run_fault(faults, fresh_copy(template, work), name, fail_at, code, persistent)
                figures.count("cases")
                figures.count(f"{outcome} ({call})")
    return figures


def check_every_fault_surfaced(figures: Figures) -> None:
    # a failing write call always surfaces; only clean-up after the commit may be absorbed
    for call in ("write", "pwrite", "fsync", "fdatasync", "rename", "replace"):
        assert figures.counts.get(f"error ({call})", 0) > 0, call
        assert figures.counts.get(f"tolerated ({call})", 0) == 0, call


def test_each_os_call_of_each_write_fails_cleanly_and_the_store_recovers(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = io_fault_campaign(template, tmp_path / "work", FaultyOS(monkeypatch), exhaustive=False)
    check_every_fault_surfaced(figures)


@pytest.mark.slow
@pytest.mark.reliability
def test_every_os_call_of_every_write_fails_cleanly_with_each_errno_once_or_for_good(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = io_fault_campaign(template, tmp_path / "work", FaultyOS(monkeypatch), exhaustive=True)
    check_every_fault_surfaced(figures)
    figures.publish()


def test_creating_a_store_on_a_failing_disk_raises_then_succeeds_once_it_clears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = FaultyOS(monkeypatch)
    with faults.arm():
        SkillStore.open(tmp_path / "traced", dim=DIM).close()
    for fail_at in range(len(faults.calls)):
        path = tmp_path / f"new{fail_at}"
        with faults.arm(fail_at, errno.ENOSPC), pytest.raises(StoreIOError):
            SkillStore.open(path, dim=DIM)
        with SkillStore.open(path, dim=DIM) as store:
            store.add(skill(1))
            assert store.verify().ok
        with SkillStore.open(path) as store:
            assert len(store) == 1


FSIZE_CHILD = r"""
import json, resource, signal, sys
import numpy as np
from skillstore import Skill, SkillStore, StoreIOError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
path, dim = sys.argv[1], 256
def contents(store):
    return sorted((s.id, s.name, s.stats.attempts, s.embedding.tobytes().hex()) for s in store)
rng = np.random.default_rng(0)
found = {}
with SkillStore.open(path, dim=dim) as store:
    store.add_many([Skill(f"s{i}", [i], rng.normal(size=dim)) for i in range(200)])
    before = contents(store)
    limit = 100_000  # above the skills file, below the 200 KB index file
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    for name, call in [("checkpoint", store.checkpoint),
                       ("log append", lambda: store.add(Skill("big", ["x" * 400_000], rng.normal(size=dim))))]:
        try:
            call()
            found[name] = "no error"
        except StoreIOError as exc:
            found[name] = "StoreIOError"
        except BaseException as exc:
            found[name] = f"{type(exc).__name__}: {exc}"
        found[name + " unchanged"] = contents(store) == before
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    store.checkpoint()
    store.add(Skill("after", ["x"], rng.normal(size=dim)))
    found["verify"] = store.verify().ok
    expected = contents(store)
with SkillStore.open(path) as store:
    found["reopened"] = contents(store) == expected and len(store) == 201
print(json.dumps(found))
"""


def test_a_real_file_size_limit_fails_the_faiss_index_write_and_the_log_append_cleanly(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, "-c", FSIZE_CHILD, str(tmp_path / "store")],
        capture_output=True, text=True, env=subprocess_env(), cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "checkpoint": "StoreIOError", "checkpoint unchanged": True,
        "log append": "StoreIOError", "log append unchanged": True,
        "verify": True, "reopened": True,
    }


def test_a_store_io_error_is_a_skill_store_error_and_an_os_error() -> None:
    assert issubclass(StoreIOError, SkillStoreError) and issubclass(StoreIOError, OSError)
