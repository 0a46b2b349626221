"""Export a store's skills to a file, and import them into a store.

Three formats, all holding every field of every skill (id, name, description,
actions, preconditions, metadata, embedding, stats, timestamps, provenance, version,
status and version history), deprecated skills included:

- ``jsonl``: a header line ``{"skillstore_export": 1, "dim": .., "count": .., "embeddings": ..,
  "embedder": ..}`` (the identity of the library's embedder, when it has one), then one JSON
  object per skill. Values JSON cannot hold (bytes, tuples, maps
  with non-string keys, NaN) are tagged as described in :mod:`skillstore.cli.tagged_json`;
  embeddings are lists of exact float values.
- ``msgpack``: the same header and records as a stream of msgpack values;
  embeddings are little-endian float32 bytes.
- ``csv``: one row per skill under a header row; ``id``, ``name`` and
  ``description`` are plain text, every other cell is (tagged) JSON.

Importing is split into validate, then execute: :func:`read_skills` reads and
checks the whole file (bounded sizes, types, stats that add up, the store's own
field checks) before :func:`import_skills` writes anything, and the skills are
restored in one commit (``restore_many``) with their ids, stats, timestamps,
provenance, versions (each with its content and outcome counts) and statuses, so a
hostile or damaged file raises a typed
:class:`~skillstore.errors.SkillStoreError` and leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

import msgpack
import numpy as np

from skillstore import (
    MAX_ID_LENGTH,
    STATUSES,
    DimensionMismatchError,
    FormatVersionError,
    InvalidEmbeddingError,
    InvalidInputError,
    InvalidSkillError,
    Skill,
    SkillBackend,
    SkillStats,
    SkillStoreError,
    SkillVersion,
    StatusChange,
    VersionStats,
    check_embedder_identity,
    check_restorable,
    check_skill_id,
    check_timestamp,
    merge_restored,
    stats_from_map,
)
from skillstore.cli import tagged_json
from skillstore.cli.values import shown

FORMATS = ("jsonl", "msgpack", "csv")
CONFLICT_MODES = ("skip", "replace", "merge")
EXPORT_VERSION = 1
HEADER_KEY = "skillstore_export"

# Bounds that keep a hostile file from exhausting memory before it is rejected. A
# skill's fields are limited to 16 MiB of msgpack by the store; JSON, base64 and a
# 65536-float embedding inflate that, hence the larger per-record bound.
MAX_RECORD_BYTES = 64 * 1024 * 1024
MAX_CONTAINER_ITEMS = 1 << 22

CSV_COLUMNS = (
    "id",
    "name",
    "description",
    "actions",
    "preconditions",
    "metadata",
    "embedding",
    "attempts",
    "successes",
    "failures",
    "observations",
    "total_reward",
    "last_used_at",
    "created_at",
    "updated_at",
    "provenance",
    "version",
    "status",
    "history",
)
_OPTIONAL_COLUMNS = {"provenance", "embedding", "version", "status", "history"}  # older exports lack some
_VERSION_CONTENT = ("name", "actions", "embedding", "preconditions", "description", "metadata")
_STAT_FIELDS = ("attempts", "successes", "failures", "observations", "total_reward", "last_used_at")
_RECORD_FIELDS = (frozenset(CSV_COLUMNS) - set(_STAT_FIELDS)) | {"stats"}  # a JSON/msgpack record

Progress = Callable[[int], None]  # called with the number of skills just processed


# -- export ----------------------------------------------------------------------------


def export_skills(
    store: SkillBackend,
    stream: IO[bytes],
    fmt: str,
    *,
    embeddings: bool = True,
    progress: Progress | None = None,
    skills: list[Skill] | None = None,
) -> int:
    """Write every skill of ``store`` (or just ``skills``, e.g. those a filter found) to the
    binary ``stream`` in format ``fmt``; returns how many were written. ``embeddings=False``
    leaves vectors out (such a file documents a library but cannot be imported)."""
    check_format(fmt)
    # every status, each skill with its versions; the header states the count
    if skills is None:
        skills = list(store.skills(status=STATUSES))
    skills = [replace(skill, history=store.history(str(skill.id))) for skill in skills]
    header: dict[str, Any] = {
        HEADER_KEY: EXPORT_VERSION, "dim": store.dim, "count": len(skills), "embeddings": embeddings
    }
    if store.embedder_identity is not None:  # the model that made the vectors, for the import to record
        header["embedder"] = store.embedder_identity
    if fmt == "csv":
        _write_csv(stream, skills, embeddings, progress)
    else:
        write = _jsonl_writer(stream) if fmt == "jsonl" else _msgpack_writer(stream)
        write(header)
        for skill in skills:
            write(skill_to_record(skill, embeddings=embeddings, binary=fmt == "msgpack"))
            if progress:
                progress(1)
    stream.flush()
    return len(skills)


def skill_to_record(skill: Skill, *, embeddings: bool = True, binary: bool = False) -> dict[str, Any]:
    """Every field of ``skill`` as plain values. ``binary`` keeps bytes and tuples as they
    are (for msgpack) and the embedding as float32 bytes; otherwise values are tagged JSON."""
    value: Callable[[Any], Any] = (lambda v: v) if binary else tagged_json.encode
    record: dict[str, Any] = {
        "id": skill.id,
        "name": skill.name,
        "description": skill.description,
        "actions": value(skill.actions),
        "preconditions": value(skill.preconditions or {}),
        "metadata": value(skill.metadata or {}),
    }
    if embeddings:
        vector = np.asarray(skill.embedding, dtype="<f4")
        # float32 values are exact in float64, and JSON writes float64 exactly
        record["embedding"] = vector.tobytes() if binary else vector.astype(np.float64).tolist()
    record["stats"] = value(skill.stats.to_dict())
    record["created_at"] = skill.created_at
    record["updated_at"] = skill.updated_at
    record["provenance"] = value(skill.provenance)
    record["version"] = skill.version
    record["status"] = skill.status
    history = _history_record(skill, embeddings=embeddings, binary=binary)
    if history is not None:
        record["history"] = value(history) if not binary else history
    return record


def _history_record(skill: Skill, *, embeddings: bool, binary: bool) -> list[dict[str, Any]] | None:
    """The skill's versions as plain values; None when the history is the one a skill restored
    without any gets (a single version with all the skill's outcomes and no events). The current
    version's content is the skill's own and is not repeated."""
    versions = skill.history or []
    stats = skill.stats
    if not versions or (
        len(versions) == 1 and versions[0].reason is None and not versions[0].events
        and versions[0].parent is None and versions[0].rollback_of is None and versions[0].changed == ()
        and versions[0].created_at == skill.created_at
        and versions[0].stats == VersionStats(stats.attempts, stats.successes, stats.failures, stats.total_reward)
    ):
        return None
    entries = []
    for position, version in enumerate(versions):
        entry: dict[str, Any] = {
            "version": version.version, "created_at": version.created_at, "reason": version.reason,
            "changed": list(version.changed), "parent": version.parent, "rollback_of": version.rollback_of,
            "stats": version.stats.to_dict(),
            "events": [{"at": e.at, "status": e.status, "reason": e.reason} for e in version.events],
        }
        if position < len(versions) - 1:
            entry.update(name=version.name, actions=version.actions, preconditions=version.preconditions,
                         description=version.description, metadata=version.metadata)
            if embeddings:
                vector = np.asarray(version.embedding, dtype="<f4")
                entry["embedding"] = vector.tobytes() if binary else vector.astype(np.float64).tolist()
        entries.append(entry)
    return entries


def _jsonl_writer(stream: IO[bytes]) -> Callable[[dict[str, Any]], None]:
    def write(record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        stream.write(line.encode("utf-8") + b"\n")

    return write


def _msgpack_writer(stream: IO[bytes]) -> Callable[[dict[str, Any]], None]:
    packer = msgpack.Packer(use_bin_type=True)

    def write(record: dict[str, Any]) -> None:
        stream.write(packer.pack(record))

    return write


def _json_cell(value: Any) -> str:
    return json.dumps(tagged_json.encode(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _write_csv(
    stream: IO[bytes], skills: Sequence[Skill], embeddings: bool, progress: Progress | None
) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for skill in skills:
            vector = np.asarray(skill.embedding, dtype=np.float32).astype(np.float64).tolist()
            stats = skill.stats
            writer.writerow(
                [
                    skill.id,
                    skill.name,
                    skill.description,
                    _json_cell(skill.actions),
                    _json_cell(skill.preconditions or {}),
                    _json_cell(skill.metadata or {}),
                    json.dumps(vector) if embeddings else "",
                    *(_json_cell(getattr(stats, name)) for name in _STAT_FIELDS),
                    _json_cell(skill.created_at),
                    _json_cell(skill.updated_at),
                    _json_cell(skill.provenance),
                    _json_cell(skill.version),
                    _json_cell(skill.status),
                    _json_cell(_history_record(skill, embeddings=embeddings, binary=False)),
                ]
            )
            if progress:
                progress(1)
        text.flush()
    finally:
        text.detach()  # leave the caller's stream open


# -- reading an export file ----------------------------------------------------------


@dataclass
class ExportFile:
    """The validated content of an export file: its dimension, its skills, each carrying
    the id, stats and timestamps it had in the exporting store, and the identity of the
    embedder that made their vectors (None when the file does not say: CSV, or no embedder)."""

    dim: int | None
    skills: list[Skill]
    embedder: dict[str, Any] | None = None


def read_skills(
    stream: IO[bytes],
    fmt: str,
    *,
    dim: int | None = None,
    source: str = "input",
    progress: Progress | None = None,
) -> ExportFile:
    """Read and validate a whole export file; raises InvalidInputError (naming ``source``
    and the record), DimensionMismatchError or FormatVersionError, and reads nothing into
    a store. ``dim`` is the dimension the skills must have (the target store's).
    The two steps, :func:`parse_skills` then :func:`check_skills`."""
    content = parse_skills(stream, fmt, dim=dim, source=source, progress=progress)
    check_skills(content, source=source)
    return content


def parse_skills(
    stream: IO[bytes],
    fmt: str,
    *,
    dim: int | None = None,
    source: str = "input",
    progress: Progress | None = None,
) -> ExportFile:
    """Read a whole export file into skills: its structure, the header's count, one
    dimension, unique ids. ``progress`` is called as records are read."""
    check_format(fmt)
    try:
        if fmt == "csv":
            file_dim, count, embedder, records = None, None, None, _read_csv(stream)
        else:
            items = _read_jsonl(stream) if fmt == "jsonl" else _read_msgpack(stream)
            file_dim, count, embedder = _read_header(next(items, None), dim)
            records = items
        skills: list[Skill] = []
        for number, raw in enumerate(records, start=1):
            try:
                # JSON lines carry tags; msgpack needs none, and CSV cells were decoded as they were read
                skill = _record_to_skill(raw, binary=fmt != "jsonl")
            except (InvalidInputError, tagged_json.TaggedJSONError, TypeError, ValueError) as exc:
                raise InvalidInputError(f"record {number}: {exc}") from None
            skills.append(skill)
            if progress:
                progress(1)
    except RecursionError:
        raise InvalidInputError(f"{source}: values are nested too deeply") from None
    except SkillStoreError as exc:
        raise _naming(exc, source) from None
    if count is not None and count != len(skills):
        raise InvalidInputError(
            f"{source}: the header announces {count} skills, the file holds {len(skills)}"
        )
    file_dim = _check_dims(skills, file_dim, dim, source)
    _check_ids(skills, source)
    return ExportFile(file_dim, skills, embedder)


def check_skills(content: ExportFile, *, source: str = "input", progress: Progress | None = None) -> None:
    """Run the store's own checks for a restore (fields, id, stats, timestamps, provenance)
    on every skill of ``content`` before any store is touched; the error names the record.
    ``progress`` is called as skills pass."""
    if content.dim is None:
        return
    for number, skill in enumerate(content.skills, start=1):
        try:
            check_restorable(skill, content.dim)
        except SkillStoreError as exc:
            raise _naming(exc, f"{source}: record {number}") from None
        except (TypeError, ValueError, OverflowError) as exc:  # data the store's checks did not foresee
            raise InvalidInputError(f"{source}: record {number}: {exc}") from None
        if progress:
            progress(1)


def _naming(exc: SkillStoreError, where: str) -> SkillStoreError:
    """``exc`` with its message prefixed by ``where`` (the file, and the record when known)."""
    if type(exc) in (
        InvalidInputError,
        InvalidSkillError,
        InvalidEmbeddingError,
        DimensionMismatchError,
        FormatVersionError,
    ):
        return type(exc)(f"{where}: {exc}")
    return exc


def _read_header(header: Any, dim: int | None) -> tuple[int | None, int, dict[str, Any] | None]:
    if not isinstance(header, dict) or HEADER_KEY not in header:
        raise InvalidInputError("not a skillstore export: the header is missing")
    version = header[HEADER_KEY]
    if version != EXPORT_VERSION:
        raise FormatVersionError(f"export format version {shown(version)}; this release reads {EXPORT_VERSION}")
    file_dim, count, embeddings = header.get("dim"), header.get("count"), header.get("embeddings", True)
    if not isinstance(file_dim, int) or isinstance(file_dim, bool) or file_dim < 1:
        raise InvalidInputError(f"the header's dim must be a positive integer, got {shown(file_dim)}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InvalidInputError(f"the header's count must be a non-negative integer, got {shown(count)}")
    if embeddings is False and count:
        raise InvalidInputError("the file was exported without embeddings and cannot be imported")
    if dim is not None and file_dim != dim:
        raise DimensionMismatchError(
            f"the file holds embeddings of dimension {file_dim}, the store has {dim}"
        )
    embedder = header.get("embedder")
    if embedder is not None:
        try:
            embedder = check_embedder_identity(embedder)
        except InvalidInputError as exc:
            raise InvalidInputError(f"the header's embedder: {exc}") from None
        if embedder["dim"] != file_dim:
            raise InvalidInputError(
                f"the header names an embedder of dim {embedder['dim']} for embeddings of dim {file_dim}"
            )
    return file_dim, count, embedder


def _read_jsonl(stream: IO[bytes]) -> Iterator[Any]:
    number = 0
    while True:
        line = stream.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_RECORD_BYTES:
            raise InvalidInputError(f"line {number} is longer than {MAX_RECORD_BYTES} bytes")
        if not line.strip():
            continue
        try:
            yield json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"line {number} is not UTF-8: {exc.reason}") from None
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"line {number} is not JSON: {_json_problem(exc)}") from None
        except ValueError as exc:  # e.g. an integer literal with too many digits
            raise InvalidInputError(f"line {number}: {exc}") from None


def _json_problem(exc: json.JSONDecodeError) -> str:
    # some of json's messages end in "at" ("Unterminated string starting at"): the column completes them
    return f"{exc.msg} column {exc.colno}" if exc.msg.endswith(" at") else f"{exc.msg} at column {exc.colno}"


def _read_msgpack(stream: IO[bytes]) -> Iterator[Any]:
    unpacker = msgpack.Unpacker(
        stream,
        raw=False,
        strict_map_key=False,
        use_list=True,
        max_buffer_size=MAX_RECORD_BYTES,
        max_array_len=MAX_CONTAINER_ITEMS,
        max_map_len=MAX_CONTAINER_ITEMS,
        max_str_len=MAX_RECORD_BYTES,
        max_bin_len=MAX_RECORD_BYTES,
        max_ext_len=0,  # a skill never holds extension types
    )
    number = 0
    while True:
        try:
            value = next(unpacker)
        except StopIteration:
            return
        except msgpack.exceptions.StackError:
            raise InvalidInputError(f"msgpack value {number + 1} is nested too deeply") from None
        except (ValueError, TypeError, msgpack.exceptions.UnpackException) as exc:
            reason = str(exc) or type(exc).__name__
            raise InvalidInputError(f"msgpack value {number + 1} cannot be decoded: {reason}") from None
        number += 1
        yield value


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    # the csv module keeps one process-wide field limit; raise it only while reading
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _bounded_lines(stream: IO[bytes]) -> Iterator[str]:
    number = 0
    while line := stream.readline(MAX_RECORD_BYTES + 1):
        number += 1
        if len(line) > MAX_RECORD_BYTES:
            raise InvalidInputError(f"line {number} is longer than {MAX_RECORD_BYTES} bytes")
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"line {number} is not UTF-8: {exc.reason}") from None


def _read_csv(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    with _csv_field_limit(MAX_RECORD_BYTES):
        rows = csv.reader(_bounded_lines(stream), strict=True)
        try:
            head = next(rows, None)
            if head is None:
                return
            if head and head[0].startswith("\ufeff"):
                head[0] = head[0][1:]  # a byte-order mark written by a spreadsheet
            missing = set(CSV_COLUMNS) - set(head) - _OPTIONAL_COLUMNS
            if missing:
                raise InvalidInputError(f"not a skillstore CSV export: missing columns {sorted(missing)}")
            for row in rows:
                if not row:
                    continue
                if len(row) != len(head):
                    raise InvalidInputError(
                        f"CSV row {rows.line_num} has {len(row)} cells for {len(head)} columns"
                    )
                yield _csv_record(dict(zip(head, row, strict=True)))
        except csv.Error as exc:
            raise InvalidInputError(f"CSV row {rows.line_num}: {exc}") from None


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    def cell(name: str) -> Any:
        try:
            return tagged_json.decode(json.loads(row[name]))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"column {name!r} is not JSON: {exc.msg}") from None

    record: dict[str, Any] = {"id": row["id"], "name": row["name"], "description": row["description"]}
    for name in ("actions", "preconditions", "metadata", "created_at", "updated_at"):
        record[name] = cell(name)
    record["stats"] = {name: cell(name) for name in _STAT_FIELDS}
    if row.get("provenance"):
        record["provenance"] = cell("provenance")
    if row.get("embedding"):
        record["embedding"] = cell("embedding")
    for name in ("version", "status", "history"):
        if row.get(name):
            value = cell(name)
            if value is not None:
                record[name] = value
    return record


# -- validating one record -----------------------------------------------------------


def _is_number(value: Any) -> bool:
    """True for a finite int or float (an int too large for a float is not finite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range
        return False


def _record_to_skill(raw: Any, *, binary: bool) -> Skill:
    if not isinstance(raw, dict):
        raise InvalidInputError(f"a record is a map of fields, got {type(raw).__name__}")
    unknown = set(raw) - _RECORD_FIELDS
    if unknown:
        raise InvalidInputError(f"unknown fields {sorted(map(str, unknown))}")
    # JSON embeddings are plain number lists; every other JSON field may carry tags
    record = raw if binary else {k: v if k == "embedding" else tagged_json.decode(v) for k, v in raw.items()}
    skill_id = record.get("id")
    if not isinstance(skill_id, str) or not 0 < len(skill_id) <= MAX_ID_LENGTH:
        shown = f"a {type(skill_id).__name__}" if not isinstance(skill_id, str) else f"{len(skill_id)} characters"
        raise InvalidInputError(f"id must be a string of 1 to {MAX_ID_LENGTH} characters, got {shown}")
    check_skill_id(skill_id)
    if "name" not in record or "actions" not in record:
        raise InvalidInputError("name and actions are required")
    if "embedding" not in record:
        raise InvalidInputError("no embedding (the file was exported without embeddings)")
    for stamp in ("created_at", "updated_at"):
        value = record.get(stamp)
        if value is not None:
            check_timestamp(value, stamp)
    provenance = record.get("provenance", [])
    if not isinstance(provenance, list) or not all(isinstance(p, dict) for p in provenance):
        raise InvalidInputError("provenance must be a list of maps")
    preconditions = record.get("preconditions")
    if isinstance(preconditions, dict):  # as a store gives them back: sequences are tuples
        preconditions = {key: _tuples(value) for key, value in preconditions.items()}
    version, status = record.get("version", 1), record.get("status", "active")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInputError(f"version must be an integer, got a {type(version).__name__}")
    if not isinstance(status, str) or status not in STATUSES:
        raise InvalidInputError(f"status must be one of {STATUSES}, got {str(status)[:40]!r}")
    skill = Skill(
        name=record["name"],
        actions=record["actions"],
        embedding=_embedding(record["embedding"]),
        preconditions=preconditions,
        description=record.get("description", ""),
        metadata=record.get("metadata"),
        id=skill_id,
        stats=_stats(record.get("stats", {})),
        created_at=record.get("created_at"),
        updated_at=record.get("updated_at"),
        provenance=provenance,
        version=version,
        status=status,
    )
    if "history" in record:
        skill.history = _versions(record["history"], skill)
    return skill


def _versions(raw: Any, skill: Skill) -> list[SkillVersion]:
    """A record's history as SkillVersions (the store checks them as a restore does); the last
    version's content is the skill's."""
    if not isinstance(raw, list) or not raw or not all(isinstance(entry, dict) for entry in raw):
        raise InvalidInputError("history must be a non-empty list of maps")
    versions = []
    for position, entry in enumerate(raw):
        last = position == len(raw) - 1
        known = {"version", "created_at", "reason", "changed", "parent", "rollback_of", "stats", "events"}
        unknown = set(entry) - known - set(_VERSION_CONTENT)
        if unknown or (not last and not set(_VERSION_CONTENT) <= set(entry)) or not known <= set(entry):
            raise InvalidInputError(f"history entry {position + 1} does not hold the fields of a version")
        events, changed, stats = entry["events"], entry["changed"], entry["stats"]
        if (not isinstance(events, list) or not all(isinstance(e, dict) and set(e) == {"at", "status", "reason"}
                                                    for e in events)
                or not isinstance(changed, list) or not isinstance(stats, dict)
                or set(stats) != {"attempts", "successes", "failures", "total_reward"}):
            raise InvalidInputError(f"history entry {position + 1}: events, changed or stats are malformed")
        source: Any = skill if last else None
        content = {name: getattr(skill, name) for name in _VERSION_CONTENT} if last else {
            name: entry[name] for name in _VERSION_CONTENT}
        if source is None:
            content["embedding"] = _embedding(content["embedding"])
            if isinstance(content["preconditions"], dict):
                content["preconditions"] = {k: _tuples(v) for k, v in content["preconditions"].items()}
        versions.append(SkillVersion(
            version=entry["version"], created_at=entry["created_at"], reason=entry["reason"],
            changed=tuple(changed), parent=entry["parent"], rollback_of=entry["rollback_of"],
            stats=VersionStats(**stats), events=tuple(StatusChange(**e) for e in events), **content,
        ))
    return versions


def _tuples(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _embedding(value: Any) -> np.ndarray:
    if isinstance(value, bytes):
        if len(value) % 4:
            raise InvalidInputError("a binary embedding holds float32 values (a multiple of 4 bytes)")
        if not value:
            raise InvalidInputError("embedding is empty")
        return np.frombuffer(value, dtype="<f4").astype(np.float32)
    if not isinstance(value, list) or not value or not all(_is_number(v) for v in value):
        raise InvalidInputError("embedding must be a non-empty list of finite numbers")
    return np.asarray(value, dtype=np.float64).astype(np.float32)


def _stats(value: Any) -> SkillStats:
    """The stats of a record; a missing counter is 0 (observations 1), a missing reward 0.0."""
    if not isinstance(value, dict):
        raise InvalidInputError(f"stats must be a map, got {type(value).__name__}")
    unknown = set(value) - set(_STAT_FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown stats {sorted(map(str, unknown))}")
    defaults = {"attempts": 0, "successes": 0, "failures": 0, "observations": 1, "total_reward": 0.0,
                "last_used_at": None}
    return stats_from_map({**defaults, **value})


def _check_dims(skills: list[Skill], file_dim: int | None, dim: int | None, source: str) -> int | None:
    expected = dim if dim is not None else file_dim
    for number, skill in enumerate(skills, start=1):
        size = len(skill.embedding)
        if expected is None:
            expected = size
        elif size != expected:
            raise DimensionMismatchError(
                f"{source}: record {number}: embedding has dimension {size}, expected {expected}"
            )
    return expected


def _check_ids(skills: list[Skill], source: str) -> None:
    seen: set[str] = set()
    for number, skill in enumerate(skills, start=1):
        assert skill.id is not None  # set by _record_to_skill
        if skill.id in seen:
            raise InvalidInputError(f"{source}: record {number}: id {skill.id!r} appears twice")
        seen.add(skill.id)


# -- import ----------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What :func:`import_skills` did; ``ids`` maps each id in the file to the store's id."""

    added: int = 0
    replaced: int = 0
    merged: int = 0
    skipped: int = 0
    ids: dict[str, str] = field(default_factory=dict)


def import_skills(
    store: SkillBackend,
    skills: Sequence[Skill],
    *,
    on_conflict: str = "skip",
    progress: Progress | None = None,
) -> ImportResult:
    """Restore ``skills`` (as read by :func:`read_skills`) into ``store`` in one commit.

    Skills keep their ids, stats, timestamps and provenance. A skill conflicts when the
    store already holds its id; ``on_conflict`` decides: ``"skip"`` keeps the store's
    skill; ``"replace"`` swaps it for the file's; ``"merge"`` keeps the store's fields
    and adds the file's counters to its stats. The store validates every skill before
    it writes anything, so a bad skill leaves the store unchanged.
    """
    if on_conflict not in CONFLICT_MODES:
        raise InvalidInputError(f"on_conflict must be one of {CONFLICT_MODES}, got {shown(on_conflict)}")
    result = ImportResult()
    to_restore: list[Skill] = []
    for skill in skills:
        skill_id = str(skill.id)
        result.ids[skill_id] = skill_id
        if skill_id not in store:
            to_restore.append(skill)
            result.added += 1
        elif on_conflict == "replace":
            to_restore.append(skill)
            result.replaced += 1
        elif on_conflict == "merge":  # the store's skill keeps its versions
            kept = replace(store.get(skill_id), history=store.history(skill_id))
            to_restore.append(merge_restored(kept, skill))
            result.merged += 1
        else:
            result.skipped += 1
    store.restore_many(to_restore, replace=True)
    if progress:
        progress(len(skills))
    return result


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {FORMATS}, got {shown(fmt)}")
    return fmt


def format_for(filename: str) -> str | None:
    """The format a file name's suffix names (``.jsonl``/``.json``, ``.msgpack``/``.mpk``, ``.csv``)."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return {
        "jsonl": "jsonl",
        "json": "jsonl",
        "ndjson": "jsonl",
        "msgpack": "msgpack",
        "mpk": "msgpack",
        "csv": "csv",
    }.get(suffix)
