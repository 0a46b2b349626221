"""The child of the structure-fuzzing campaign: opens rewritten stores one by one, so that
a crash, a hang or a runaway allocation inside a decoder or FAISS is seen by the parent
instead of taking the test run down.

Reads one JSON case per line on stdin: ``{"mutated": DIR, "reader": DIR, "next": DIR}``.
``mutated`` is opened read-only, then read-write (and written, checkpointed and
reopened); ``reader`` (the store before the rewrite) is opened read-only, the files of
``next`` are put in place under it, and the open reader is refreshed. Answers one JSON
line per case: what each of the three gave (``opened`` with a digest of the contents,
``refused`` with the typed error, or ``failed`` with the stage, the exception and where
it was raised), the case's seconds, and the process's peak resident memory so far.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from reliability_helpers import peak_memory_mb

from skillstore import Skill, SkillStore, SkillStoreError

# Errors a damaged or crafted store may legitimately raise on open or refresh; the parent
# decides which of them fits the rewrite it made.
REFUSALS = ("StoreCorruptError", "FormatVersionError", "StoreReplacedError")
ADDRESS_SPACE_CAP = 3 << 30  # the worker maps about 0.6 GiB before any case
LIMITS = ("SkillStoreError", "CounterOverflowError")  # how a write at one of the store's limits is refused


class Failed(Exception):
    """A step that must succeed did not."""

    def __init__(self, stage: str, error: str, message: str, where: str, trace: str = "") -> None:
        super().__init__(f"{stage}: {error}: {message}")
        self.record = {"outcome": "failed", "stage": stage, "error": error, "message": message[:600],
                       "where": where, "traceback": trace[-4000:]}


def raised_at(exc: BaseException) -> str:
    """The innermost frame of skillstore (or of the library it called) that the exception passed."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "/skillstore/" in f.filename] or frames
    if not inside:
        return "?"
    last = inside[-1]
    return f"{Path(last.filename).name}:{last.name}"


def step(stage: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except Exception as exc:
        raise Failed(stage, type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None


def digest(store: SkillStore) -> str:
    """A hash of everything the store holds, timestamps and provenance included."""
    parts = []
    for skill in sorted(store, key=lambda s: str(s.id)):
        parts.append(repr((skill.id, skill.name, skill.actions, skill.preconditions, skill.description,
                           skill.metadata, skill.stats.to_dict(), skill.created_at, skill.updated_at,
                           skill.provenance, np.asarray(skill.embedding, dtype=np.float32).tobytes().hex())))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def exercise(store: SkillStore, *, check_files: bool, when: str = "") -> str:
    """Use every read path of an open store; returns its digest. ``check_files``: verify must find
    nothing wrong (the files on disk are the ones the store loaded). ``when`` prefixes the stages."""
    count = step(f"{when}len", lambda: len(store))
    skills = step(f"{when}iterate", lambda: list(store))
    if len(skills) != count:
        raise Failed(f"{when}iterate", "Inconsistent", f"len() is {count}, iteration gave {len(skills)}", "store")
    for skill in skills[:8]:
        step(f"{when}get", lambda skill=skill: store.get(str(skill.id)))
    query = np.linspace(-1.0, 1.0, store.dim) + 0.25
    step(f"{when}search", lambda: store.search(query, k=3))
    step(f"{when}search", lambda: store.search(query, k=count + 2, state={"room": 1}))
    step(f"{when}search", lambda: store.search(None, k=count + 2, rank="success"))
    step(f"{when}search", lambda: store.search(query, k=2, rank="blend", where={"i": 1}))
    step(f"{when}search_many", lambda: store.search_many(np.stack([query, -query]), k=2))
    step(f"{when}stats", store.stats)
    report = step(f"{when}verify", store.verify)
    if check_files and not report.ok:
        raise Failed(f"{when}verify", "Inconsistent", f"opened, but verify reports {report.problems[:3]}",
                     "integrity")
    return step(f"{when}digest", lambda: digest(store))


def opening(path: str, read_only: bool) -> SkillStore | dict[str, Any]:
    """The open store, or the record of a refusal."""
    try:
        return SkillStore.open(path, read_only=read_only)  # type: ignore[return-value]
    except SkillStoreError as exc:
        if type(exc).__name__ in REFUSALS:
            return {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:400]}
        raise Failed("open", type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None
    except Exception as exc:
        raise Failed("open", type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None


def read_only(path: str) -> dict[str, Any]:
    store = opening(path, True)
    if isinstance(store, dict):
        return store
    with store:
        return {"outcome": "opened", "digest": exercise(store, check_files=True), "skills": len(store)}


def write(stage: str, action: Callable[[], Any], refused: list[str]) -> None:
    """A write, which may be refused only at one of the store's limits (a counter or the number
    of writes or generations it can count), with a typed error."""
    try:
        action()
    except SkillStoreError as exc:
        if type(exc).__name__ not in LIMITS:
            raise Failed(stage, type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None
        refused.append(f"{stage}: {type(exc).__name__}: {str(exc)[:200]}")
    except Exception as exc:
        raise Failed(stage, type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None


def read_write(path: str) -> dict[str, Any]:
    """Open, use, write, checkpoint, reopen: the reopened store must hold what the writer held."""
    store = opening(path, False)
    if isinstance(store, dict):
        return store
    refused: list[str] = []
    with store:
        opened = exercise(store, check_files=True)
        skills = len(store)
        live = [str(skill.id) for skill in store]
        if live:
            write("record_outcome", lambda: store.record_outcome(live[0], True, 1.0), refused)
        vector = np.arange(1, store.dim + 1, dtype=np.float64)
        probe = Skill("fuzz-added", ["probe"], vector, preconditions={"room": 1}, metadata={"i": 1})
        write("add", lambda: store.add(probe), refused)
        write("checkpoint", store.checkpoint, refused)
        before = exercise(store, check_files=True)
    reopened = opening(path, True)
    if isinstance(reopened, dict):
        raise Failed("reopen", reopened["error"], "a store that opened and was written is refused on reopen: "
                     + reopened["message"], "checkpoint")
    with reopened:
        after = exercise(reopened, check_files=True)
    if after != before:
        raise Failed("reopen", "Inconsistent", "the reopened store differs from what the writer held", "checkpoint")
    return {"outcome": "opened", "digest": opened, "skills": skills, "refused_writes": refused}


def install(source: Path, target: Path) -> None:
    """Put every file of ``source`` that ``target`` lacks or holds differently in place, each by an
    atomic rename, as a writer on another process would; nothing is removed."""
    for path in sorted(source.rglob("*"), key=lambda p: (len(p.parts), str(p))):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(exist_ok=True)
            continue
        data = path.read_bytes()
        if destination.exists() and destination.read_bytes() == data:
            continue
        temporary = destination.with_name(destination.name + ".fuzz-install")
        temporary.write_bytes(data)
        os.replace(temporary, destination)


def refreshed(reader_path: str, next_path: str) -> dict[str, Any]:
    """A reader open on the store before the rewrite sees the rewrite through ``refresh``. After a
    refused refresh it must stay usable, and refreshing again must not change what it answers."""
    reader = step("reader open", lambda: SkillStore.open(reader_path, read_only=True))
    with reader:
        step("reader use", lambda: len(reader))
        install(Path(next_path), Path(reader_path))
        try:
            reader.refresh()
        except SkillStoreError as exc:
            if type(exc).__name__ not in REFUSALS:
                raise Failed("refresh", type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None
            refusal = {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:400]}
        except Exception as exc:
            raise Failed("refresh", type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None
        else:
            return {"outcome": "opened", "digest": exercise(reader, check_files=False), "skills": len(reader)}
        first = exercise(reader, check_files=False, when="after a refused refresh: ")
        try:
            reader.refresh()
        except SkillStoreError as exc:
            if type(exc).__name__ not in REFUSALS:
                raise Failed("refresh again", type(exc).__name__, str(exc), raised_at(exc),
                             traceback.format_exc()) from None
        except Exception as exc:
            raise Failed("refresh again", type(exc).__name__, str(exc), raised_at(exc),
                         traceback.format_exc()) from None
        else:
            raise Failed("refresh again", "Inconsistent", "a refresh that was refused succeeds the second time",
                         "store")
        if exercise(reader, check_files=False, when="after a second refused refresh: ") != first:
            raise Failed("refresh again", "Inconsistent", "a refused refresh changed what the reader answers "
                         "the second time", "store")
        return refusal


def guarded(action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return action()
    except Failed as failure:
        return failure.record


def examine(case: dict[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    result = {
        "ro": guarded(lambda: read_only(case["mutated"])),
        "rw": guarded(lambda: read_write(case["mutated"])),
        "refresh": guarded(lambda: refreshed(case["reader"], case["next"])),
    }
    result["seconds"] = round(time.monotonic() - started, 3)
    result["max_rss_mb"] = round(peak_memory_mb(), 1)
    return result


def main() -> None:
    warnings.simplefilter("error")  # as under pytest: a warning is a failure of the case
    # A runaway allocation fails here instead of taking the machine; the parent checks the peak
    # resident size against its own, lower limit.
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))
    print("ready", flush=True)
    for line in sys.stdin:
        print(json.dumps(examine(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
