"""The child of the structure-fuzzing campaign: opens rewritten stores one by one, so that
a crash, a hang or a runaway allocation inside a decoder or FAISS is seen by the parent
instead of taking the test run down.

Reads one JSON case per line on stdin: ``{"mutated": DIR, "reader": DIR, "next": DIR}``.
``mutated`` is opened read-only, then read-write (and written, checkpointed and
reopened); ``reader`` (the store before the rewrite) is opened read-only, the files of
``next`` are put in place under it, and the open reader is refreshed. Answers one JSON
line per case: what each of the three gave (``opened`` with a digest of the contents and
the number of damaged rows, ``refused`` with the typed error, or ``failed`` with the stage,
the exception and where it was raised), the case's seconds, and the process's peak
resident memory so far.

A store that opens may hold damaged rows: a snapshot's records are decoded (and checked)
only when read, so reading such a row raises StoreCorruptError naming it. ``exercise``
reads every skill on its own (through a search of everything: each result's ``.skill``),
so that one damaged row spoils only itself, and holds the store to this: a damaged row
stays damaged, at the same row number, through every read path (get, iteration, filtered
searches), and verify() names it; every other skill reads the same way everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from reliability_helpers import peak_memory_mb

from skillstore import Skill, SkillNotFoundError, SkillStore, SkillStoreError, StoreCorruptError, query

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


def skill_repr(skill: Skill) -> str:
    return repr((skill.id, skill.name, skill.actions, skill.preconditions, skill.description, skill.metadata,
                 skill.stats.to_dict(), skill.created_at, skill.updated_at, skill.provenance, skill.version,
                 skill.status, np.asarray(skill.embedding, dtype=np.float32).tobytes().hex()))


def digest(store: SkillStore) -> str:
    """A hash of everything the store holds, timestamps and provenance included (as ``exercise``
    gives it for a store with no damaged row)."""
    return hashlib.sha256("\n".join(sorted(skill_repr(s) for s in store)).encode()).hexdigest()


STATUSES = ["active", "candidate", "deprecated"]  # every skill, deprecated ones too
DAMAGED_ROW = re.compile(r"\brow (\d+)\b")


def damaged_row(stage: str, exc: StoreCorruptError) -> int:
    """The row a StoreCorruptError raised by reading a skill names; failing when it names none."""
    found = DAMAGED_ROW.search(str(exc))
    if found is None:
        raise Failed(stage, "StoreCorruptError", f"names no row: {exc}", raised_at(exc)) from None
    return int(found.group(1))


def read_skill(stage: str, action: Callable[[], Skill], damaged: dict[str, int], skill_id: str) -> Skill | None:
    """A skill read, or None when reading it raised StoreCorruptError naming its row (kept in
    ``damaged``); a skill found damaged once must stay damaged, at the same row."""
    try:
        skill = action()
    except SkillNotFoundError:
        if skill_id in damaged:
            raise
        raise Failed(stage, "SkillNotFoundError", f"{skill_id!r} is not found", "store") from None
    except StoreCorruptError as exc:
        row = damaged_row(stage, exc)
        if damaged.setdefault(skill_id, row) != row:
            raise Failed(stage, "Inconsistent", f"{skill_id!r} is damaged at row {row}, earlier at row "
                         f"{damaged[skill_id]}", raised_at(exc)) from None
        return None
    except Exception as exc:
        raise Failed(stage, type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None
    if skill_id in damaged:
        raise Failed(stage, "Inconsistent", f"{skill_id!r} reads now, it was damaged before", "store")
    return skill


@dataclass
class Seen:
    """What ``exercise`` found: a digest of the readable skills and of the damaged ids."""

    digest: str
    readable: list[str]
    damaged: list[str]


def exercise(store: SkillStore, *, check_files: bool, when: str = "", filters: bool = True) -> Seen:
    """Use every read path of an open store; returns its digest: its readable skills and the ids
    of the skills whose rows are damaged (reading one raises StoreCorruptError naming its row).

    ``check_files``: verify must find nothing wrong when nothing is damaged (the files on disk
    are the ones the store loaded). ``when`` prefixes the stages. ``filters``: hold the filtered
    searches to the skills read (the first look at a store does; the looks that only compare
    it with an earlier one, after writes or a refused refresh, need not)."""
    count = step(f"{when}len", lambda: len(store))
    # every skill, each read on its own: a damaged row spoils only itself
    everything = step(f"{when}search", lambda: store.search(None, k=count + 2, rank="success", status=STATUSES))
    if len(everything) != count or len({match.id for match in everything}) != count:
        raise Failed(f"{when}search", "Inconsistent", f"len() is {count}, a search of everything found "
                     f"{len(everything)} skills ({len({m.id for m in everything})} ids)", "store")
    damaged: dict[str, int] = {}
    readable: dict[str, Skill] = {}
    for match in everything:
        skill = read_skill(f"{when}read a result", lambda match=match: match.skill, damaged, match.id)
        if skill is not None:
            if skill.id != match.id:
                raise Failed(f"{when}read a result", "Inconsistent", f"{match.id!r} reads as {skill.id!r}", "store")
            readable[match.id] = skill
    looked_up = [m.id for m in everything if m.id in damaged] + [m.id for m in everything if m.id not in damaged][:8]
    for skill_id in looked_up:
        if skill_id in damaged:  # its row is damaged, perhaps its id lookup: it may also be not found
            with contextlib.suppress(SkillNotFoundError):
                read_skill(f"{when}get", lambda skill_id=skill_id: store.get(skill_id), damaged, skill_id)
            continue
        if not step(f"{when}contains", lambda skill_id=skill_id: skill_id in store):
            raise Failed(f"{when}contains", "Inconsistent", f"a search finds {skill_id!r}, `in` does not", "store")
        got = read_skill(f"{when}get", lambda skill_id=skill_id: store.get(skill_id), damaged, skill_id)
        if got is not None and skill_repr(got) != skill_repr(readable[skill_id]):
            raise Failed(f"{when}get", "Inconsistent", f"get({skill_id!r}) differs from the search result", "store")
    try:
        listed = list(store.skills(status=STATUSES))
    except StoreCorruptError as exc:
        if not damaged:
            raise Failed(f"{when}iterate", "StoreCorruptError", str(exc), raised_at(exc),
                         traceback.format_exc()) from None
        if damaged_row(f"{when}iterate", exc) not in damaged.values():
            raise Failed(f"{when}iterate", "Inconsistent", f"iteration names a row no read found damaged: {exc}",
                         raised_at(exc)) from None
    except Exception as exc:
        raise Failed(f"{when}iterate", type(exc).__name__, str(exc), raised_at(exc), traceback.format_exc()) from None
    else:
        if damaged:
            raise Failed(f"{when}iterate", "Inconsistent", f"iteration gives {len(listed)} skills and raises "
                         f"nothing, while {sorted(damaged)} are damaged", "store")
        if sorted(skill_repr(s) for s in listed) != sorted(skill_repr(s) for s in readable.values()):
            raise Failed(f"{when}iterate", "Inconsistent", "iteration differs from a search of everything", "store")
    if filters:
        filtered(store, readable, damaged, count, when)
        expressions(store, readable, damaged, count, when)
    query = np.linspace(-1.0, 1.0, store.dim) + 0.25
    step(f"{when}search", lambda: store.search(query, k=3))
    step(f"{when}search", lambda: store.search(query, k=2, rank="blend", where={"i": 1}))
    step(f"{when}search_many", lambda: store.search_many(np.stack([query, -query]), k=2))
    step(f"{when}text search", lambda: store.search(None, k=3, text="skill renamed fresh"))
    step(f"{when}text search", lambda: store.search(query, k=count + 2, text="s1 updated", status=STATUSES))
    stats = step(f"{when}stats", store.stats)
    if stats["total_skills"] != count:
        raise Failed(f"{when}stats", "Inconsistent", f"stats count {stats['total_skills']}, len() {count}", "store")
    report = step(f"{when}verify", store.verify)
    if check_files and not damaged and not report.ok:
        raise Failed(f"{when}verify", "Inconsistent", f"opened, but verify reports {report.problems[:3]}",
                     "integrity")
    unreported = [row for row in damaged.values() if not any(f"row {row}" in p for p in report.problems)]
    if unreported:
        raise Failed(f"{when}verify", "Inconsistent", f"rows {unreported} raise when read, verify reports "
                     f"{report.problems[:3]}", "integrity")
    lines = sorted(skill_repr(s) for s in readable.values()) + [f"damaged {i}" for i in sorted(damaged)]
    return Seen(hashlib.sha256("\n".join(lines).encode()).hexdigest(), list(readable), sorted(damaged))


# Filter expressions over metadata and the skill's own fields (the columns a store masks):
# what a search finds must be what the reference evaluation says of the skills read.
EXPRESSIONS: list[dict[str, Any]] = [
    {"i": {"$gte": 1}}, {"i": {"$in": [0, 2, "x"]}}, {"tags": {"$exists": True}}, {"$not": {"i": 3}},
    {"$or": [{"i": {"$lt": 2}}, {"new": True}]}, {"$skill": {"attempts": {"$gt": 0}}},
    {"$skill": {"name": {"$gte": "s3"}}}, {"$skill": {"success_rate": {"$gte": 0.5}}},
    {"$skill": {"last_used_at": {"$exists": True}}}, {"$skill": {"total_reward": {"$gt": 0}}},
    {"$skill": {"created_at": {"$lt": 1e9}, "observations": {"$gte": 2}}},
]


def expressions(store: SkillStore, readable: dict[str, Skill], damaged: dict[str, int], count: int,
                when: str) -> None:
    for expression in EXPRESSIONS:
        tree = query.parse(expression)
        found = step(f"{when}filter expression",
                     lambda expression=expression: store.search(None, k=count + 2, where=expression, rank="success",
                                                                 status=STATUSES))
        got = {match.id for match in found} - set(damaged)
        expected = {skill_id for skill_id, skill in readable.items() if query.matches(tree, {
            "metadata": skill.metadata, "stats": skill.stats.to_dict(), "created_at": skill.created_at,
            "updated_at": skill.updated_at, "name": skill.name})}
        if got != expected:
            raise Failed(f"{when}filter expression", "Inconsistent", f"{expression} finds {sorted(got)[:4]}, the "
                         f"skills read say {sorted(expected)[:4]}", "store")


def holds_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, list | tuple):
        return any(holds_nan(v) for v in value)
    if isinstance(value, dict):
        return any(holds_nan(v) for v in value.values())
    return False


def filtered(store: SkillStore, readable: dict[str, Skill], damaged: dict[str, int], count: int, when: str) -> None:
    """Filtered searches agree with what the skills hold: a skill is found by its own preconditions
    (as a state) and by each of its metadata values, and every result read fits the filter."""
    query = np.linspace(-1.0, 1.0, store.dim) + 0.25
    for skill in readable.values():
        state = dict(skill.preconditions)
        wheres = [{key: value} for key, value in skill.metadata.items()]
        # a value holding NaN equals no copy of itself: no filter can be held to finding it
        givens = [{"state": state}, *({"where": w} for w in wheres)]
        for given in [g for g in givens if not holds_nan(g)]:
            results = step(f"{when}filtered search",
                           lambda given=given: store.search(query, k=count + 2, status=STATUSES, **given))
            if skill.id not in {match.id for match in results}:
                raise Failed(f"{when}filtered search", "Inconsistent", f"{skill.id!r} is not found by "
                             f"{str(given)[:200]}", "store")
            for match in results:
                found = readable.get(match.id)
                if found is None:
                    found = read_skill(f"{when}filtered search", lambda match=match: match.skill, damaged, match.id)
                if found is None:
                    continue
                fits = all(k in state and state[k] == v for k, v in found.preconditions.items()) if "state" in given \
                    else all(k in found.metadata and found.metadata[k] == v for k, v in given["where"].items())
                if not fits:
                    raise Failed(f"{when}filtered search", "Inconsistent", f"{match.id!r} is found by "
                                 f"{str(given)[:200]}, which it does not fit", "store")


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
        return opened(exercise(store, check_files=True))


def opened(seen: Seen, **extra: Any) -> dict[str, Any]:
    return {"outcome": "opened", "digest": seen.digest, "skills": len(seen.readable) + len(seen.damaged),
            "damaged": len(seen.damaged), **extra}


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


def read_write(path: str, filters: bool) -> dict[str, Any]:
    """Open, use, write, checkpoint, reopen: the reopened store must hold what the writer held.
    ``filters``: check the filtered searches on the first look (when the read-only open, which
    loads the same files, has not)."""
    store = opening(path, False)
    if isinstance(store, dict):
        return store
    refused: list[str] = []
    with store:
        first = exercise(store, check_files=True, filters=filters)
        live = first.readable
        if live:
            write("record_outcome", lambda: store.record_outcome(live[0], True, 1.0), refused)
        vector = np.arange(1, store.dim + 1, dtype=np.float64)
        probe = Skill("fuzz-added", ["probe"], vector, preconditions={"room": 1}, metadata={"i": 1})
        write("add", lambda: store.add(probe), refused)
        write("checkpoint", store.checkpoint, refused)
        before = exercise(store, check_files=True, filters=False)
    reopened = opening(path, True)
    if isinstance(reopened, dict):
        raise Failed("reopen", reopened["error"], "a store that opened and was written is refused on reopen: "
                     + reopened["message"], "checkpoint")
    with reopened:
        after = exercise(reopened, check_files=True, filters=False)
    if after != before:
        raise Failed("reopen", "Inconsistent", "the reopened store differs from what the writer held", "checkpoint")
    return opened(first, refused_writes=refused)


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
            return opened(exercise(reader, check_files=False, filters=False))  # compared with a fresh open
        first = exercise(reader, check_files=False, when="after a refused refresh: ", filters=False)
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
        if exercise(reader, check_files=False, when="after a second refused refresh: ", filters=False) != first:
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
    ro = guarded(lambda: read_only(case["mutated"]))
    result = {
        "ro": ro,
        "rw": guarded(lambda: read_write(case["mutated"], filters=ro["outcome"] != "opened")),
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
