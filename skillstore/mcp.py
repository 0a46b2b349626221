"""The MCP server: a skill library as tools an agent calls (``skillstore mcp PATH``).

Two parts:

- :class:`LibraryTools`: the tools as typed methods over one open library (a store
  directory or a ``postgresql://`` library), each taking JSON-shaped arguments and
  returning a JSON-shaped dict; bad input raises the store's typed errors.
- :class:`SkillServer`: the official ``mcp`` SDK's ``MCPServer`` with those methods as
  its tools (their type hints become the tools' input schemas), turning every
  failure (a schema violation, an unknown argument, a store error) into a tool error:
  an ``isError`` result with a one-line message, never a traceback.

Summaries first, full content on request: ``search_skills`` gives a few lines per skill
(name and description cut to one line, version, status, success record, score),
``get_skill`` the rest.

Several servers and the command line may use one directory at once: a store holds the
writer lock only while it commits a write (``lock_timeout`` bounds the wait; a timeout is
the tool error "library busy"), and every reading tool first catches up with what other
processes committed (``refresh``).
"""

from __future__ import annotations

import base64
import inspect
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, StrictBool, StrictFloat, StrictInt, ValidationError

from skillstore import (
    Embedder,
    EmbedderMismatchError,
    InvalidInputError,
    Match,
    Skill,
    SkillBackend,
    SkillStore,
    SkillStoreError,
    StoreLockedError,
    StoreNotFoundError,
    __version__,
    embedder_from_identity,
    embedder_from_spec,
    is_url,
    peek,
)

MAX_K = 50  # results of one search: summaries for a model's context, not a library dump
DESCRIPTION_CHARS = 120  # a summary's description: its first line, cut to this
NAME_CHARS = 80  # a summary's name (a name may have 4096 characters): its first line, cut to this
LOCK_TIMEOUT = 5.0  # seconds a write waits for another process's commit before "library busy"
DEFAULT_EMBEDDER = "lexical"  # what a library created by the server is embedded with
READ_TOOLS = ("search_skills", "get_skill", "skill_history", "library_stats")
WRITE_TOOLS = ("add_skill", "record_outcome", "update_skill", "rollback_skill", "deprecate_skill")
SERVER_INSTRUCTIONS = (
    "A library of skills: reusable action sequences with preconditions, each with a success record. "
    "search_skills finds the skills that fit a task (and a state), as short summaries; get_skill gives one "
    "in full. After running a skill, report how it went with record_outcome. Store a new skill with "
    "add_skill; improve one with update_skill (a new version; skill_history lists them, rollback_skill "
    "returns to an earlier one); retire one with deprecate_skill."
)

Text = Annotated[str, Field(description="Words to search names, descriptions and textual actions for.")]
SkillId = Annotated[str, Field(min_length=1, description="The skill's id, as search_skills or add_skill gave it.")]
Reason = Annotated[str, Field(min_length=1, description="Why: kept in the skill's history.")]
JsonMap = dict[str, Any]


class LibraryTools:
    """The server's tools over one open library. Every method checks its arguments (the store
    raises its typed errors for what it refuses) and returns a JSON-shaped dict.

    ``read_only`` libraries expose only :data:`READ_TOOLS`. Calls are serialised: the SDK
    runs tools in worker threads, and one library connection serves them all.
    """

    def __init__(
        self,
        library: SkillBackend,
        *,
        read_only: bool = False,
        where: str | None = None,
        reopen: Callable[[], SkillBackend] | None = None,
    ) -> None:
        self.library = library
        self.read_only = read_only
        self.where = where if where is not None else _describe(library)
        self._reopen = reopen  # opens the library again, with the embedder it records by then
        self._mutex = threading.Lock()

    @classmethod
    def open(
        cls,
        location: str | Path,
        *,
        read_only: bool = False,
        embedder: str | None = None,
        dedup_threshold: float | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> LibraryTools:
        """Open the library at ``location`` with the embedder it recorded. A missing library is
        created (unless ``read_only``), embedded by ``embedder`` (a spec such as ``lexical`` or
        ``lexical:dim=128``; :data:`DEFAULT_EMBEDDER` when None). Naming an embedder for an
        existing library checks it is the one the library recorded."""
        chosen = None if embedder is None else embedder_from_spec(embedder)
        options: dict[str, Any] = {"dedup_threshold": dedup_threshold, "read_only": read_only}
        if not is_url(str(location)):
            options["lock_timeout"] = lock_timeout
        try:
            library = SkillStore.open(location, create=False, embedder=chosen or _recorded(location), **options)
        except StoreNotFoundError:
            if read_only:
                raise
            chosen = chosen or embedder_from_spec(DEFAULT_EMBEDDER)
            library = SkillStore.open(location, embedder=chosen, **options)

        def reopen() -> SkillBackend:
            return SkillStore.open(location, create=False, embedder=_recorded(location), **options)

        return cls(library, read_only=read_only, reopen=reopen)

    def close(self) -> None:
        with self._mutex:
            self.library.close()

    def __enter__(self) -> LibraryTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def tool_names(self) -> tuple[str, ...]:
        return READ_TOOLS if self.read_only else READ_TOOLS + WRITE_TOOLS

    # -- reading -------------------------------------------------------------------------

    def search_skills(
        self,
        query: Text = "",
        k: Annotated[StrictInt, Field(ge=1, le=MAX_K, description=f"How many skills, 1 to {MAX_K}.")] = 5,
        state: Annotated[
            JsonMap | None,
            Field(description="The current state, key to value: only skills whose preconditions hold in it."),
        ] = None,
        where: Annotated[
            JsonMap | None,
            Field(
                description='A filter on metadata and skill fields, e.g. {"room": {"$in": [3, 4]}} or '
                '{"$skill": {"attempts": {"$gte": 3}}}; operators $eq $ne $gt $gte $lt $lte $in $nin '
                "$exists $not $and $or."
            ),
        ] = None,
    ) -> JsonMap:
        """Find the skills that best fit a task, best first, as short summaries (id, name and
        description cut to one line, version, status, successes/attempts, score). Ranked by the
        words of `query` (BM25, fused with the library's embedder when it has one); with an empty query, the skills
        that fit `state` and `where` ranked by how reliably they succeed. Deprecated skills are
        left out. Use get_skill for a skill's actions and preconditions."""
        with self._mutex:
            self._catch_up()
            if query.strip():
                matches = self.library.search(None, k, state=state, where=where, text=query)
                embedded = self.library.embedder is not None
                ranked_by = "words (BM25, fused with the embedder's similarity)" if embedded else "words (BM25)"
            else:
                matches = self.library.search(None, k, state=state, where=where, rank="wilson")
                ranked_by = "success (Wilson lower bound)"
        return {"ranked_by": ranked_by, "skills": [_summary(match) for match in matches]}

    def get_skill(
        self,
        id: SkillId,  # noqa: A002 - the argument's name in the tool's schema
        version: Annotated[
            StrictInt | None,
            Field(ge=1, description="A version number from skill_history; the current one if left out."),
        ] = None,
    ) -> JsonMap:
        """A skill in full: name, description, actions, preconditions, metadata, version, status,
        success record and times (no embedding). With `version`, that version's content."""
        with self._mutex:
            self._catch_up()
            skill = self.library.get(id, version)
            current = skill.version if version is None else self.library.get(id).version
        return _full(skill, current)

    def skill_history(self, id: SkillId) -> JsonMap:  # noqa: A002
        """Every version a skill keeps, oldest first: its number, when and why it was made, the
        fields it changed, the version it came from or rolled back to, the outcomes counted
        while it was current, and status changes."""
        with self._mutex:
            self._catch_up()
            versions = self.library.history(id)
            status = self.library.get(id).status
        return {
            "id": id,
            "status": status,
            "current_version": versions[-1].version if versions else None,
            "versions": [
                {
                    "version": v.version,
                    "created_at": _iso(v.created_at),
                    "reason": v.reason,
                    "changed": list(v.changed),
                    "parent": v.parent,
                    "rollback_of": v.rollback_of,
                    "successes": v.stats.successes,
                    "attempts": v.stats.attempts,
                    "success_rate": round(v.stats.success_rate, 4),
                    "status_events": [
                        {"at": _iso(e.at), "status": e.status, "reason": e.reason} for e in v.events
                    ],
                }
                for v in versions
            ],
        }

    def library_stats(self) -> JsonMap:
        """Figures of the whole library: skills by status, uses, success rates, the embedder and
        storage facts."""
        with self._mutex:
            self._catch_up()
            figures = dict(self.library.stats())
            figures.setdefault("embedder", self.library.embedder_identity)
        return {"library": self.where, "read_only": self.read_only, **_plain(figures)}

    # -- writing -------------------------------------------------------------------------

    def add_skill(
        self,
        name: Annotated[str, Field(min_length=1, description="A short name, e.g. 'open locked door'.")],
        actions: Annotated[
            list[Any] | str, Field(description="The steps: a list (of action names, or any JSON values) or a text.")
        ],
        description: Annotated[str, Field(description="What it does and when to use it.")] = "",
        preconditions: Annotated[
            JsonMap | None,
            Field(description="State key to the value it must have for the skill to apply; none: applies anywhere."),
        ] = None,
        metadata: Annotated[
            JsonMap | None, Field(description="Any JSON facts to filter by (see search_skills' where).")
        ] = None,
        status: Annotated[
            Literal["active", "candidate"], Field(description="'candidate' for a skill still on trial.")
        ] = "active",
    ) -> JsonMap:
        """Store a new skill, embedded by the library's embedder. When the library merges
        near-duplicates (the server's --dedup-threshold) and one with equal preconditions is close
        enough, the skill is merged into it: the answer says so and gives that skill's id."""
        skill = Skill(
            name=name, actions=actions, embedding=None, description=description,
            preconditions=preconditions, metadata=metadata, status=status,
        )
        with self._mutex:
            self._check_writable()
            self._check_can_embed()
            started = time.time()
            skill_id = self.library.add(skill)
            stored = self.library.get(skill_id)
        merged = stored.created_at is not None and stored.created_at < started
        answer: JsonMap = {"id": skill_id, "merged": merged, "version": stored.version, "status": stored.status}
        if merged:
            answer["merged_into"] = {"name": stored.name, "observations": stored.stats.observations}
        return answer

    def record_outcome(
        self,
        id: SkillId,  # noqa: A002
        success: Annotated[StrictBool, Field(description="Whether running the skill reached its goal.")],
        reward: Annotated[StrictFloat | None, Field(description="The reward the attempt earned, if any.")] = None,
    ) -> JsonMap:
        """Count one attempt of a skill: whether it succeeded, and its reward. Counted against the
        skill and its current version; search ranks by these records."""
        with self._mutex:
            self._check_writable()
            stats = self.library.record_outcome(id, success, reward)
        return {"id": id, **_record(stats.successes, stats.attempts), "total_reward": _number(stats.total_reward)}

    def _check_can_embed(self) -> None:
        """Refuse a write that must embed a skill's text when this server has no embedder."""
        if self.library.embedder is not None:
            return
        recorded = self.library.embedder_identity
        if recorded is not None:  # recorded, but not one this installation can build
            raise EmbedderMismatchError(
                f"{self.where} is embedded by {recorded['name']} {recorded['params']}, which this server cannot"
                " build (not built in, or its extra not installed): adding skills and changing their text need it"
            )
        fix = (
            f"create one with an embedder (`skillstore init URL --embedder {DEFAULT_EMBEDDER}`)"
            if isinstance(self.where, str) and is_url(self.where.split(" ")[0])
            else f"give it one with `skillstore reembed {self.where} --embedder {DEFAULT_EMBEDDER}`"
        )
        raise EmbedderMismatchError(f"{self.where} has no embedder to embed new skills; {fix}")

    def update_skill(
        self,
        id: SkillId,  # noqa: A002
        reason: Reason,
        name: Annotated[str | None, Field(min_length=1, description="A new name.")] = None,
        description: Annotated[str | None, Field(description="A new description.")] = None,
        actions: Annotated[list[Any] | str | None, Field(description="New steps.")] = None,
        preconditions: Annotated[JsonMap | None, Field(description="New preconditions (replace the old).")] = None,
        metadata: Annotated[JsonMap | None, Field(description="New metadata (replaces the old).")] = None,
    ) -> JsonMap:
        """Change a skill's content: a new version under the same id, with `reason` in its history
        (the earlier versions stay; rollback_skill returns to one). Fields left out keep their
        value; a field given its current value changes nothing. A changed text is re-embedded."""
        given = {"name": name, "description": description, "actions": actions,
                 "preconditions": preconditions, "metadata": metadata}
        fields: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
        if not fields:
            raise InvalidInputError("give at least one field to change: name, description, actions, preconditions or"
                                    " metadata")
        with self._mutex:
            self._check_writable()
            if fields.keys() & {"name", "description", "actions"}:
                self._check_can_embed()  # a changed text is embedded again
            before = self.library.get(id).version
            skill = self.library.update(id, reason=reason, **fields)
            changed = list(self.library.history(id)[-1].changed) if skill.version != before else []
        return {"id": id, "version": skill.version, "previous_version": before, "changed": changed}

    def rollback_skill(
        self,
        id: SkillId,  # noqa: A002
        version: Annotated[StrictInt, Field(ge=1, description="The version to return to (see skill_history).")],
        reason: Reason,
    ) -> JsonMap:
        """Return a skill to an earlier version's content: a new version equal to `version` (the
        history keeps every version in between)."""
        with self._mutex:
            self._check_writable()
            skill = self.library.rollback(id, version, reason=reason)
        return {"id": id, "version": skill.version, "rollback_of": version}

    def deprecate_skill(self, id: SkillId, reason: Reason) -> JsonMap:  # noqa: A002
        """Retire a skill: search leaves it out from now on; it keeps its history, and get_skill
        and skill_history still show it."""
        with self._mutex:
            self._check_writable()
            skill = self.library.update(id, status="deprecated", reason=reason)
        return {"id": id, "status": skill.status, "version": skill.version}

    # -- helpers -------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """See what other processes committed since the last call (a directory store is a
        snapshot until refreshed; PostgreSQL reads the latest state anyway). A library that
        another process re-embedded (``skillstore reembed``) is opened again with its new
        embedder."""
        refresh: Callable[[], None] | None = getattr(self.library, "refresh", None)
        if refresh is None:
            return
        try:
            refresh()
        except EmbedderMismatchError:
            if self._reopen is None:
                raise
            reopened = self._reopen()
            self.library.close()
            self.library = reopened

    def _check_writable(self) -> None:
        if self.read_only:  # the tools are not even listed; a direct call still gets a clear answer
            raise InvalidInputError(f"{self.where} is served read-only")
        self._catch_up()  # a write catches up itself; this reopens a library re-embedded meanwhile


def _describe(library: object) -> str:
    if isinstance(library, SkillStore):
        return str(library.path)
    url, name = getattr(library, "url", None), getattr(library, "library", None)
    return f"{url} (library {name})" if url else type(library).__name__


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _number(value: float) -> float:
    return round(value, 6) if math.isfinite(value) else value


def _record(successes: int, attempts: int) -> JsonMap:
    return {"successes": successes, "attempts": attempts,
            "success_rate": round(successes / attempts, 4) if attempts else 0.0}


def one_line(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    """The first line of ``text``, cut to ``limit`` characters (an ellipsis marks a cut)."""
    stripped = text.strip()
    first = stripped.splitlines()[0].strip() if stripped else ""
    cut = first != stripped or len(first) > limit
    if len(first) > limit:
        first = first[: limit - 1].rstrip()
    return first + "…" if cut else first


def _summary(match: Match) -> JsonMap:
    skill = match.skill
    return {
        "id": skill.id,
        "name": one_line(skill.name, NAME_CHARS),
        "description": one_line(skill.description),
        "version": skill.version,
        "status": skill.status,
        **_record(skill.stats.successes, skill.stats.attempts),
        "score": round(match.score, 4),
    }


def _full(skill: Skill, current_version: int) -> JsonMap:
    stats = skill.stats
    full: JsonMap = _plain({
        "id": skill.id,
        "name": skill.name,
        "description": skill.description,
        "actions": skill.actions,
        "preconditions": skill.preconditions or {},
        "metadata": skill.metadata or {},
        "version": skill.version,
        "current_version": current_version,
        "status": skill.status,
        "stats": {
            **_record(stats.successes, stats.attempts),
            "failures": stats.failures,
            "observations": stats.observations,
            "total_reward": _number(stats.total_reward),
            "last_used_at": _iso(stats.last_used_at),
        },
        "created_at": _iso(skill.created_at),
        "updated_at": _iso(skill.updated_at),
    })
    return full


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: tuples become lists, bytes base64 text, keys strings, and
    numbers JSON has no literal for (NaN, infinities) their names."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# -- the SDK server ----------------------------------------------------------------------


class SkillServer(MCPServer[Any]):
    """An ``MCPServer`` whose tool failures are one-line messages: an argument the schema refuses,
    an argument the tool does not take, or a store error, each named plainly; a crash says only
    that the tool failed (its traceback goes to the server's log, stderr)."""

    def __init__(self, tools: LibraryTools) -> None:
        super().__init__("skillstore", version=__version__, instructions=SERVER_INSTRUCTIONS, log_level="WARNING")
        self.tools = tools
        self._accepted: dict[str, frozenset[str]] = {}
        for name in tools.tool_names:
            method = getattr(tools, name)
            reading = name in READ_TOOLS
            annotations = ToolAnnotations(
                read_only_hint=reading,
                destructive_hint=None if reading else False,
                idempotent_hint=reading or name == "deprecate_skill",
            )
            self.add_tool(method, name=name, annotations=annotations)
            self._accepted[name] = frozenset(inspect.signature(method).parameters)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        unknown = sorted(set(arguments) - self._accepted.get(name, frozenset(arguments)))
        if unknown:
            takes = ", ".join(sorted(self._accepted[name])) or "no arguments"
            raise ToolError(f"{name} takes no argument {', '.join(map(repr, unknown))} (it takes: {takes})")
        try:
            result = await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, StoreLockedError):
                busy = f"library busy, another process is writing; try again ({_flat(cause)})"
                raise ToolError(f"{name}: {busy}") from None
            if isinstance(cause, SkillStoreError):
                raise ToolError(f"{name}: {_flat(cause)}") from None
            raise
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(f"{name}: {_validation_message(exc.__cause__)}") from None
            raise
        if isinstance(result, CallToolResult) and result.structured_content is not None and not result.is_error:
            # compact JSON: a model reads it, and indentation costs tokens
            text = json.dumps(result.structured_content, ensure_ascii=False, separators=(", ", ": "))
            result.content = [TextContent(type="text", text=text)]
        return result


def _flat(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _validation_message(error: ValidationError) -> str:
    """A pydantic ValidationError as one line: each argument named with what is wrong with it
    (an argument of several accepted types gets the complaint of each, joined by "or")."""
    problems: dict[str, list[str]] = {}
    for item in error.errors():
        argument = str(item["loc"][0]) if item["loc"] else "arguments"
        message = "is required" if item["type"] == "missing" else " ".join(item["msg"].split())
        if message not in problems.setdefault(argument, []):
            problems[argument].append(message)
    return "; ".join(f"argument {argument!r}: {' or '.join(messages)}" for argument, messages in problems.items())


def serve(
    location: str | Path,
    *,
    read_only: bool = False,
    embedder: str | None = None,
    dedup_threshold: float | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> None:
    """Serve the library at ``location`` over stdio until the client closes the connection."""
    with LibraryTools.open(
        location, read_only=read_only, embedder=embedder, dedup_threshold=dedup_threshold, lock_timeout=lock_timeout
    ) as tools:
        SkillServer(tools).run("stdio")


def _recorded(location: str | Path) -> Embedder | str | None:
    """The embedder the library at ``location`` recorded, built again; None when it recorded
    none, or (with a note on stderr) when this installation cannot build it, so that the
    library is still served, searched by words; ``"recorded"`` when the library cannot be read
    here (its open then says why)."""
    try:
        if is_url(str(location)):
            with SkillStore.open(location, read_only=True) as library:
                recorded = library.embedder_identity
        else:
            recorded = peek(location).embedder
    except SkillStoreError:
        return "recorded"
    if recorded is None:
        return None
    try:
        return embedder_from_identity(recorded)
    except SkillStoreError as exc:
        print(f"skillstore mcp: {exc}; serving the library without its embedder (text search by words alone)",
              file=sys.stderr)
        return None
