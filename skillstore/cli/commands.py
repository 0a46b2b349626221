"""The ``skillstore`` command line: a thin face over the public API.

Every command takes the store's PATH first: a store directory, or a
``postgresql://`` URL naming a library in PostgreSQL (both open through
``SkillStore.open``). Read-only commands open the store read-only (no lock,
never a write). Library errors become one line on stderr
and exit code 1, in one place (:class:`StoreGroup`); a malformed command line
(an unknown option, a value that cannot be parsed) exits with 2.

Values typed as ``key=value`` follow the rules in :mod:`skillstore.cli.values`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from skillstore import (
    BLEND_WEIGHT,
    RANK_MODES,
    STATUSES,
    WILSON_Z,
    Embedder,
    EmbedderMismatchError,
    InvalidInputError,
    Match,
    RepairReport,
    Skill,
    SkillStore,
    SkillStoreError,
    StoreCorruptError,
    StoreNotFoundError,
    VerifyReport,
    __version__,
    embedder_from_identity,
    embedder_from_spec,
    is_url,
    peek,
    repair_store,
)
from skillstore.cli.info import embedder_line, emit_server_info, emit_store_info
from skillstore.cli.output import (
    SUMMARY_COLUMNS,
    emit_mapping,
    emit_records,
    format_conditions,
    iso_time,
    skill_row,
    skill_summary,
    to_json,
)
from skillstore.cli.transfer import (
    CONFLICT_MODES,
    FORMATS,
    check_skills,
    export_skills,
    format_for,
    import_skills,
    parse_skills,
    skill_to_record,
)
from skillstore.cli.values import ValueSyntaxError, parse_assignments, parse_where

if TYPE_CHECKING:  # the PostgreSQL driver loads only when a URL is opened
    from skillstore import PostgresBackend

    Library = SkillStore | PostgresBackend  # what SkillStore.open gives for a Location

F = TypeVar("F", bound=Callable[..., Any])
Location = Path | str  # a store directory, or a postgresql:// URL exactly as typed

SORT_KEYS: dict[str, Callable[[Skill], Any]] = {
    "name": lambda s: (s.name.casefold(), s.name, s.id),
    "success": lambda s: (-s.stats.success_rate, -s.stats.attempts, s.name, s.id),
    "uses": lambda s: (-s.stats.attempts, s.name, s.id),
}
SORT_CHOICES = ("created", *SORT_KEYS)  # created: the library's own order, the order skills were added
INDEX_KINDS = ("flat", "hnsw", "auto")  # the kinds SkillStore.open accepts
PROGRESS_THRESHOLD = 1000  # skills; smaller transfers finish before a bar is worth drawing
PROGRESS_BYTES = 1 << 20  # the size of an import file worth a reading bar


# -- errors, in one place ----------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class StoreGroup(click.Group):
    """The command group; turns library and file errors into one-line click errors (exit 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SkillStoreError as exc:
            raise click.ClickException(_one_line(exc)) from None
        except OSError as exc:  # a file named on the command line: the export target, the import source
            if exc.errno == errno.EPIPE:
                raise  # the reader went away (| head): click exits quietly
            raise click.ClickException(_one_line(exc)) from None


# -- shared arguments and options ----------------------------------------------------------


def _location(ctx: click.Context, param: click.Parameter, value: str) -> Location:
    # a URL stays the string as typed: Path would collapse the "//" of postgresql://
    return value if is_url(value) else Path(value)


def path_argument(function: F) -> F:
    """PATH, the store's directory or URL, first in every command."""
    return click.argument("path", type=click.Path(file_okay=False), callback=_location)(function)


def output_options(function: F) -> F:
    """``--json`` / ``--csv`` for commands that show things; a table otherwise.
    The command receives ``output``: one of ``table``, ``json``, ``csv``."""

    @click.option("--csv", "as_csv", is_flag=True, help="Write CSV (one row per item).")
    @click.option("--json", "as_json", is_flag=True, help="Write JSON.")
    @functools.wraps(function)
    def wrapper(*args: Any, as_json: bool, as_csv: bool, **kwargs: Any) -> Any:
        if as_json and as_csv:
            raise click.UsageError("--json and --csv cannot be used together")
        kwargs["output"] = "json" if as_json else "csv" if as_csv else "table"
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _parse_assignments(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Any]:
    try:
        return parse_assignments(value)
    except ValueSyntaxError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _parse_where(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Any] | None:
    try:
        return parse_where(value)
    except ValueSyntaxError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def where_option(help: str) -> Callable[[F], F]:
    """A repeatable ``--where`` condition (see skillstore.cli.values.parse_condition); all must hold."""
    return click.option("--where", multiple=True, metavar="CONDITION", callback=_parse_where, help=help)


WHERE_HELP = (
    "A filter condition, repeatable (all must hold): FIELD OP VALUE with OP one of = != > >= < <= in, "
    "'not in', or 'FIELD exists'; FIELD a metadata key or skill.NAME (skill.attempts, skill.success_rate, "
    "skill.name...). Or a JSON filter expression. Examples: 'room in [3,4]', 'skill.attempts >= 3'."
)


def assignments_option(*names: str, help: str) -> Callable[[F], F]:
    """A repeatable ``key=value`` option, parsed into a dict (see skillstore.cli.values)."""
    return click.option(*names, multiple=True, metavar="KEY=VALUE", callback=_parse_assignments, help=help)


def _open(location: Location, *, write: bool = False, embedded: bool = False) -> Library:
    """An existing store or library: read-only unless the command writes; ``embedded``: with
    the embedder it recorded, if this installation can build it (a note on stderr if not)."""
    embedder = _recorded_embedder(location) if embedded else None
    if write:
        return SkillStore.open(location, create=False, embedder=embedder)
    return SkillStore.open(location, read_only=True, embedder=embedder)


def _recorded_embedder(location: Location) -> Embedder | None:
    facts = _existing_facts(location)  # no library: the open that follows says so
    recorded = None if facts is None else facts[1]
    if recorded is None:
        return None
    try:
        return embedder_from_identity(recorded)
    except SkillStoreError as exc:  # not built in, or its extra (and model) not installed here
        click.echo(f"note: {_one_line(exc)}; searching by words alone", err=True)
        return None


def _existing_facts(location: Location) -> tuple[int, dict[str, Any] | None] | None:
    """The dimension and recorded embedder of the store at ``location``, or None when there is
    none yet."""
    try:
        if isinstance(location, Path):
            facts = peek(location)  # the MANIFEST alone: no need to load the store
            return facts.dim, facts.embedder
        with _open(location) as library:
            return library.dim, library.embedder_identity
    except StoreNotFoundError:
        return None


def _where(store: Library) -> str:
    """How messages name a store: its directory, or its URL with the password masked."""
    return str(store.path) if isinstance(store, SkillStore) else f"{store.url} (library {store.library})"


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def _progress(count: int, label: str, *, show: bool | None = None) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for large transfers (``show``; by default, for at least
    PROGRESS_THRESHOLD skills), when stderr is a terminal."""
    if not (count >= PROGRESS_THRESHOLD if show is None else show) or not _stderr_is_terminal():
        yield None
        return
    with click.progressbar(length=count, label=label, file=sys.stderr) as bar:
        yield bar.update


def _by_position(stream: Any, advance: Callable[[int], None] | None) -> Callable[[int], None] | None:
    """A per-record callback that moves a bar measured in bytes to the stream's position."""
    if advance is None:
        return None
    done = 0

    def update(_records: int) -> None:
        nonlocal done
        position = stream.tell()
        advance(position - done)
        done = position

    return update


def status_option(function: F) -> F:
    """``--status``, repeatable: the statuses a command keeps (``all`` for every one)."""
    return click.option(
        "--status", "status", multiple=True, type=click.Choice([*STATUSES, "all"]),
        help="Keep skills of this status (repeatable; 'all' for every status). By default active and "
        "candidate skills are kept and deprecated ones left out.",
    )(function)


def _statuses(chosen: tuple[str, ...]) -> list[str] | None:
    """The ``status`` argument of the library call for ``--status`` values (None: the default)."""
    if not chosen:
        return None
    return list(STATUSES) if "all" in chosen else list(dict.fromkeys(chosen))


def _get_by_id_or_name(store: Library, key: str) -> Skill:
    return store.get(_resolve(store, [key])[0])


def _resolve(store: Library, keys: list[str]) -> list[str]:
    """The ids that ``keys`` name: each an id, or the exact name of exactly one skill.
    The library is scanned (once) only when some key is not an id."""
    unknown = [key for key in keys if key not in store]
    if not unknown:
        return keys
    named: dict[str, list[str]] = {key: [] for key in unknown}
    for skill in store.skills(status=STATUSES):
        if skill.name in named:
            named[skill.name].append(str(skill.id))
    for key, ids in named.items():
        if len(ids) > 1:
            raise InvalidInputError(f"{len(ids)} skills are named {key!r} ({', '.join(ids[:5])}); give an id")
        if not ids:
            raise click.ClickException(f"no skill with id or name {key!r}")
    return [key if key in store else named[key][0] for key in keys]


# -- the commands -------------------------------------------------------------------------

EPILOG = "Run 'skillstore COMMAND --help' for a command's options and an example."


@click.group(cls=StoreGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="skillstore")
def main() -> None:
    """Inspect, search, move and maintain skillstore skill libraries.

    \b
    PATH is a store directory, or a PostgreSQL library given by its URL:
    postgresql://USER@HOST/DB?library=NAME (the default library is "skills").

    \b
    Values in KEY=VALUE options are typed by these rules:
      true/false -> bool, null -> None, 3 -> int, 0.5 or 1e3 -> float,
      [2,2] or (2,2) -> tuple (items typed alike), "3" or 'true' -> str
      (quotes removed), anything else -> str as typed.

    \b
    Example:
        skillstore init ./skills --dim 64
        skillstore list ./skills --sort success --limit 10
        skillstore info "postgresql://agent@db.example/skills?library=gridworld"
    """


EMBEDDER_HELP = (
    "An embedder, NAME or NAME:KEY=VALUE,...: lexical (built in; lexical:dim=256,min_n=3,max_n=4) or "
    "sentence-transformers:model=MODEL (needs skillstore[text])."
)


def _embedder_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return embedder_from_spec(value)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@main.command()
@path_argument
@click.option("--dim", type=click.IntRange(min=1), default=None, help="Length of the skills' embeddings "
              "(required unless --embedder gives it).")
@click.option("--embedder", metavar="SPEC", callback=_embedder_option, help=EMBEDDER_HELP + " The library "
              "records it: skills added without an embedding and text searches are embedded by it.")
@click.option(
    "--index",
    type=click.Choice(INDEX_KINDS),
    default=None,
    help="flat (exact), hnsw (approximate, for large libraries) or auto (hnsw once large) "
    "[default: flat]. Directories only: a PostgreSQL library keeps an HNSW index of its own.",
)
def init(path: Location, dim: int | None, embedder: Any, index: str | None) -> None:
    """Create an empty store at PATH (a directory, or a library in PostgreSQL).

    \b
    Example:
        skillstore init ./skills --dim 64
        skillstore init ./notes --embedder lexical
        skillstore init "postgresql://agent@db.example/skills?library=gridworld" --dim 64
    """
    if dim is None and embedder is None:
        raise click.UsageError("give --dim, or --embedder (whose dimension the library takes)")
    if isinstance(path, str):
        if index is not None:
            raise click.UsageError("--index applies to store directories; a PostgreSQL library has its own index")
        with contextlib.suppress(StoreNotFoundError), _open(path) as existing:
            raise click.ClickException(f"{_where(existing)} already holds a skill library")
        with SkillStore.open(path, dim=dim, embedder=embedder) as library:
            click.echo(f"Created an empty skill library at {_where(library)} (dim {library.dim}"
                       f"{_embedded_by(library)})")
        return
    with contextlib.suppress(StoreNotFoundError):
        peek(path)
        raise click.ClickException(f"{path} already holds a skill store")
    with SkillStore.open(path, dim=dim, index=index or "flat", embedder=embedder) as store:
        click.echo(f"Created an empty skill store at {path} (dim {store.dim}, {index or 'flat'} index"
                   f"{_embedded_by(store)})")


def _embedded_by(library: Library) -> str:
    identity = library.embedder_identity
    return "" if identity is None else f", embedder {embedder_line(identity)}"


@main.command()
@path_argument
@output_options
def info(path: Location, output: str) -> None:
    """Show a store's format, dimension, size and generation without loading it.

    Reads the MANIFEST and the log only; run 'verify' to check the data itself.
    For a PostgreSQL library: its URL (password masked), dimension, index, skill
    count, size on the server and the server's version.

    \b
    Example:
        skillstore info ./skills --json
        skillstore info "postgresql://agent@db.example/skills?library=gridworld"
    """
    if isinstance(path, str):
        with _open(path) as library:
            emit_server_info(library.stats(), output)
        return
    emit_store_info(peek(path), output)


@main.command(name="list")
@path_argument
@click.option(
    "--sort",
    type=click.Choice(sorted(SORT_CHOICES)),
    default="created",
    show_default=True,
    help="Order: created (the order skills were added, oldest first), name (A-Z), success (best rate "
    "first), uses (most first).",
)
@click.option("--reverse", is_flag=True, help="Reverse the order.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Show at most N skills.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N skills.")
@where_option(WHERE_HELP)
@assignments_option(
    "--state", "--applicable", "state", help="Keep skills applicable in a state with KEY=VALUE (repeatable)."
)
@status_option
@output_options
def list_skills(
    path: Location,
    sort: str,
    reverse: bool,
    limit: int | None,
    offset: int,
    where: dict[str, Any] | None,
    state: dict[str, Any],
    status: tuple[str, ...],
    output: str,
) -> None:
    """List the skills in PATH, in the order they were added unless --sort says otherwise.
    Deprecated skills are left out unless --status asks for them.

    --state (or --applicable) keeps skills whose preconditions all hold in the given
    state (a skill without preconditions applies everywhere).

    \b
    Example:
        skillstore list ./skills --sort success --limit 10
        skillstore list ./skills --state has_key=true --state agent_pos=[2,2] --json
        skillstore list ./skills --where 'room in [3,4]' --where 'skill.attempts >= 3'
        skillstore list ./skills --status deprecated
    """
    with _open(path) as store:
        total = len(store)
        # the library's own filters and its own order (creation order); only a page is read when that is all
        # shown (not for --limit 0, whose message counts the matches; an empty page past them holds them all)
        page_end = offset + limit if limit and sort == "created" and not reverse else None
        skills = store.find(where or None, state=state or None, limit=page_end, status=_statuses(status))
    if sort != "created":
        skills.sort(key=SORT_KEYS[sort])
    if reverse:
        skills.reverse()
    page = skills[offset : None if limit is None else offset + limit]
    if not page and output == "table" and skills:
        click.echo(f"no skills shown: {len(skills)} match, --offset {offset} --limit {limit}", err=True)
        return
    if not page and output == "table" and (where or state) and total:
        click.echo(f"no skills match (the library holds {total})", err=True)
        return
    emit_records(
        [skill_summary(s) for s in page], output, table_rows=[skill_row(s) for s in page], columns=SUMMARY_COLUMNS
    )


@main.command()
@path_argument
@click.argument("id_or_name")
@click.option("--embedding", is_flag=True, help="Show the embedding too.")
@click.option("--json", "as_json", is_flag=True, help="Write JSON.")
def show(path: Location, id_or_name: str, embedding: bool, as_json: bool) -> None:
    """Show every field of one skill, found by id or by its exact name.

    \b
    Example:
        skillstore show ./skills 3f2a9c0d1b2e4f60
        skillstore show ./skills "open door" --embedding --json
    """
    with _open(path) as store:
        skill = _get_by_id_or_name(store, id_or_name)
    record = skill_to_record(skill, embeddings=False, binary=True)  # raw values; to_json tags them once
    record["stats"]["success_rate"] = skill.stats.success_rate
    if embedding:
        record["embedding"] = skill.embedding.astype(float).tolist()
    if as_json:
        click.echo(to_json(record))
        return
    stats = skill.stats
    fields: dict[str, Any] = {
        "id": skill.id,
        "name": skill.name,
        "version": skill.version,
        "status": skill.status,
        "description": skill.description,
        "actions": skill.actions,
        "preconditions": format_conditions(skill.preconditions),
        "metadata": format_conditions(skill.metadata),
        "attempts": stats.attempts,
        "successes": stats.successes,
        "failures": stats.failures,
        "success rate": f"{stats.success_rate:.3f}",
        "observations": stats.observations,
        "total reward": stats.total_reward,
        "last used": iso_time(stats.last_used_at),
        "created": iso_time(skill.created_at),
        "updated": iso_time(skill.updated_at),
        "provenance": skill.provenance or "",
    }
    if embedding:
        fields["embedding"] = record["embedding"]
    emit_mapping(fields, "table")


def _parse_vector(ctx: click.Context, param: click.Parameter, value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        vector = json.loads(value)
    except (ValueError, RecursionError):  # not JSON, an integer of too many digits, or nesting too deep
        vector = None
    if (
        not isinstance(vector, list)
        or not vector
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector)
    ):
        shown = repr(value) if len(value) <= 80 else repr(value[:77]) + "..."
        raise click.BadParameter(f"expected a JSON list of numbers such as [0.1, 0.2], got {shown}")
    return vector


@main.command()
@path_argument
@click.option("--vector", callback=_parse_vector, metavar="JSON", help="The query embedding, a JSON list.")
@click.option(
    "--like", metavar="ID|NAME", help="Use this skill's embedding as the query (the skill is left out)."
)
@click.option(
    "--text", metavar="WORDS", help="Search names, descriptions and textual actions by BM25 (alone, or fused "
    "with --vector/--like by reciprocal rank)."
)
@assignments_option(
    "--state", "--applicable", "state", help="Only skills applicable in a state with KEY=VALUE (repeatable)."
)
@where_option(WHERE_HELP)
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="How many results.")
@click.option(
    "--rank",
    type=click.Choice(RANK_MODES),
    default="similarity",
    show_default=True,
    help=f"similarity: the cosine of the query and the skill; success: the skill's success rate, ties to "
    f"the higher cosine; blend: {1 - BLEND_WEIGHT:g} x cosine + {BLEND_WEIGHT:g} x (successes + 1) / "
    f"(attempts + 2), so an untried skill counts as half successful; wilson: {1 - BLEND_WEIGHT:g} x cosine + "
    f"{BLEND_WEIGHT:g} x the lower bound of the Wilson interval of the success rate (z = {WILSON_Z:g}), so "
    "3 successes of 3 rank below 95 of 100.",
)
@click.option("--min-score", type=float, default=None, help="Drop results scoring below this.")
@status_option
@output_options
def search(
    path: Location,
    vector: list[float] | None,
    like: str | None,
    text: str | None,
    state: dict[str, Any],
    where: dict[str, Any] | None,
    k: int,
    rank: str,
    min_score: float | None,
    status: tuple[str, ...],
    output: str,
) -> None:
    """Find the skills that best fit a query embedding, best first (deprecated skills only
    when --status asks for them).

    Give the query with --vector (a JSON list of dim numbers) or --like ID, or as words
    with --text (both, to fuse the two rankings). A library with an embedder embeds the
    words of --text for the vector side.

    \b
    Example:
        skillstore search ./skills --vector "[0.1, 0.9, 0.0, 0.3]" --state has_key=true -k 3
        skillstore search ./skills --like 3f2a9c0d1b2e4f60 --rank blend --json
        skillstore search ./skills --text "open door" --where 'room in [3,4]'
    """
    if vector is not None and like is not None:
        raise click.UsageError("give exactly one of --vector and --like")
    if vector is None and like is None and text is None:
        raise click.UsageError("give --text, or exactly one of --vector and --like")
    with _open(path, embedded=text is not None and vector is None and like is None) as store:
        like_id = None if like is None else _resolve(store, [like])[0]
        query = vector if like_id is None else store.get(like_id).embedding
        extra = 0 if like_id is None else 1  # the skill itself would come first
        found = store.search(
            query, k + extra, state=state or None, where=where, rank=rank, min_score=min_score,
            status=_statuses(status), text=text,
        )
        matches: list[Match] = [m for m in found if m.skill.id != like_id][:k]
        if not matches and state and output == "table":
            missing = _missing_keys(store, state)
            if missing:
                click.echo(f"no skill applies: the state lacks {', '.join(map(repr, missing))}, "
                           "which the skills' preconditions name", err=True)
                return
    records = [
        {"rank": i, "score": m.score, **skill_summary(m.skill)} for i, m in enumerate(matches, start=1)
    ]
    rows = [
        {"rank": i, "score": f"{m.score:.4f}", **skill_row(m.skill)} for i, m in enumerate(matches, start=1)
    ]
    emit_records(records, output, table_rows=rows, columns=("rank", "score", *SUMMARY_COLUMNS))


@main.command()
@path_argument
@click.argument("skill_id", metavar="ID|NAME")
@output_options
def history(path: Location, skill_id: str, output: str) -> None:
    """Show the versions a skill keeps, oldest first: when and why each was made, the fields
    it changed, the version it came from (or rolled back to), its outcomes and status changes.

    \b
    Example:
        skillstore history ./skills 3f2a9c0d1b2e4f60
        skillstore history ./skills acquire_key --json
    """
    with _open(path) as store:
        versions = store.history(_resolve(store, [skill_id])[0])
    records = [
        {"version": v.version, "created_at": v.created_at, "reason": v.reason, "changed": list(v.changed),
         "parent": v.parent, "rollback_of": v.rollback_of, **v.stats.to_dict(), "success_rate": v.stats.success_rate,
         "events": [{"at": e.at, "status": e.status, "reason": e.reason} for e in v.events],
         "name": v.name, "actions": v.actions}
        for v in versions
    ]
    rows = [
        {"version": f"{v.version}{' (current)' if v is versions[-1] else ''}", "created": iso_time(v.created_at),
         "from": "" if v.parent is None else f"rollback to {v.rollback_of}" if v.rollback_of else str(v.parent),
         "changed": ", ".join(v.changed), "reason": v.reason or "", "uses": v.stats.attempts,
         "success": f"{v.stats.success_rate:.2f}",
         "status changes": "; ".join(e.status + (f" ({e.reason})" if e.reason else "") for e in v.events)}
        for v in versions
    ]
    emit_records(records, output, table_rows=rows, columns=tuple(records[0]) if records else None)


@main.command()
@path_argument
@click.argument("skill_id", metavar="ID|NAME")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--reason", default=None, help="Why (kept in the history).")
def rollback(path: Location, skill_id: str, version: int, reason: str | None) -> None:
    """Make a new version of a skill whose content equals VERSION's (the history keeps every
    version in between).

    \b
    Example:
        skillstore rollback ./skills 3f2a9c0d1b2e4f60 2 --reason "version 3 keeps failing"
    """
    with _open(path, write=True) as store:
        skill_id = _resolve(store, [skill_id])[0]
        skill = store.rollback(skill_id, version, reason=reason)
    click.echo(f"{skill_id}: version {skill.version}, a copy of version {version}")


@main.command()
@path_argument
@click.argument("skill_id", metavar="ID|NAME")
@click.option("--reason", default=None, help="Why (kept in the history).")
def deprecate(path: Location, skill_id: str, reason: str | None) -> None:
    """Mark a skill deprecated: search, list and iteration leave it out unless --status asks for
    it; it keeps its versions and can be made active again.

    \b
    Example:
        skillstore deprecate ./skills acquire_key --reason "fails on the new layouts"
    """
    with _open(path, write=True) as store:
        skill_id = _resolve(store, [skill_id])[0]
        store.update(skill_id, status="deprecated", reason=reason)
    click.echo(f"{skill_id}: deprecated")


def _missing_keys(store: Library, state: dict[str, Any]) -> list[str]:
    """Precondition keys that the skills name and ``state`` does not give, most used first."""
    counts: dict[str, int] = {}
    for skill in store:
        for key in skill.preconditions or {}:
            if key not in state:
                counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda key: (-counts[key], key))


@main.command()
@path_argument
@output_options
def stats(path: Location, output: str) -> None:
    """Show library figures: skills, uses, success rates, and storage facts.

    avg_success_rate is the mean rate of the skills tried at least once;
    overall_success_rate weighs every attempt equally.

    \b
    Example:
        skillstore stats ./skills --json
    """
    with _open(path) as store:
        figures = store.stats()
    if output == "table" and "avg_success_rate" in figures:
        tried = figures["total_skills"] - figures.get("skills_never_used", 0)
        figures["avg_success_rate"] = (
            f"{figures['avg_success_rate']:.4g} (mean over the {tried} skills tried)" if tried else "no skill tried yet"
        )
    emit_mapping(figures, output)


@main.command()
@path_argument
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="The image to write (.png, .svg or .pdf).",
)
def plot(path: Location, out: Path) -> None:
    """Draw a store's success rates, uses per skill, growth over time and skills per
    precondition signature into one image.

    \b
    Example:
        skillstore plot ./skills -o library.png
    """
    image_format = out.suffix.lower().lstrip(".") or "png"
    if image_format not in ("png", "svg", "pdf"):
        raise click.BadParameter(
            f"cannot write .{image_format} images; use .png, .svg or .pdf", param_hint="'-o'"
        )
    with _open(path) as store:
        skills = list(store)
        title = (store.path.name or str(store.path)) if isinstance(store, SkillStore) else store.library
    from skillstore.cli.plots import plot_library  # matplotlib loads only here

    plot_library(skills, out, title=title, image_format=image_format)
    click.echo(f"Wrote {out}", err=True)


# shared by export and import
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="File format; by default taken from FILE's suffix, else jsonl.",
)


@main.command(name="export")
@path_argument
@click.option(
    "-o",
    "--output",
    "out",
    default="-",
    show_default=True,
    metavar="FILE|-",
    help="Where to write; - for standard output.",
)
@format_option
@click.option(
    "--embeddings/--no-embeddings",
    default=True,
    show_default=True,
    help="Include embeddings (needed to import the file again).",
)
@where_option(WHERE_HELP + " Only the matching skills are exported.")
def export_command(
    path: Location, out: str, fmt: str | None, embeddings: bool, where: dict[str, Any] | None
) -> None:
    """Write every skill of PATH (or those --where matches), with ids, stats and timestamps, to a file.

    \b
    Example:
        skillstore export ./skills -o skills.jsonl
        skillstore export ./skills --format csv --no-embeddings > skills.csv
        skillstore export ./skills --where 'skill.success_rate >= 0.9' -o best.jsonl
    """
    fmt = fmt or format_for(out) or "jsonl"
    with _open(path) as store:
        skills = None if where is None else store.find(where, status=STATUSES)  # deprecated ones too
        with _progress(len(store) if skills is None else len(skills), "Exporting") as progress:
            if out == "-":
                with click.open_file("-", "wb") as stdout:
                    count = export_skills(store, stdout, fmt, embeddings=embeddings, progress=progress, skills=skills)
            else:
                count = _export_to_file(store, Path(out), fmt, embeddings, progress, skills)
    click.echo(f"Exported {count} skills to {'standard output' if out == '-' else out}", err=True)


def _export_to_file(
    store: Library, out: Path, fmt: str, embeddings: bool, progress: Callable[[int], None] | None,
    skills: list[Skill] | None = None,
) -> int:
    # write beside the target and rename, so a failed export never leaves half a file behind
    temp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        try:
            stream = open(temp, "wb")  # noqa: SIM115 - closed below; only the open's errors are renamed
        except OSError as exc:  # the temp name is ours: the message names the file the user asked for
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
        with stream:
            count = export_skills(store, stream, fmt, embeddings=embeddings, progress=progress, skills=skills)
        try:
            os.replace(temp, out)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return count


@main.command(name="import")
@path_argument
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@format_option
@click.option(
    "--on-conflict",
    type=click.Choice(CONFLICT_MODES),
    default="skip",
    show_default=True,
    help="When PATH already holds a skill's id: keep it (skip), replace it, or add the file's "
    "counters to its stats (merge).",
)
def import_command(path: Location, file: str, fmt: str | None, on_conflict: str) -> None:
    """Add the skills of an export FILE to PATH, creating the store if needed.

    Skills keep their ids, stats and timestamps, so a library moves between a
    directory and PostgreSQL by an export from one and an import into the other.

    The whole file is checked before anything is written; a bad file changes nothing.

    \b
    Example:
        skillstore import ./skills-copy skills.jsonl
        skillstore import ./skills skills.msgpack --on-conflict merge
        skillstore import "postgresql://agent@db.example/skills?library=gridworld" skills.msgpack
    """
    fmt = fmt or format_for(file) or "jsonl"
    existing = _existing_facts(path)
    dim = None if existing is None else existing[0]
    source = "standard input" if file == "-" else file
    size = 0 if file == "-" else os.path.getsize(file)  # standard input: no bar, its size is unknown
    with (
        click.open_file(file, "rb") as stream,
        _progress(size, "Reading", show=size >= PROGRESS_BYTES) as read_bar,
    ):
        content = parse_skills(stream, fmt, dim=dim, source=source, progress=_by_position(stream, read_bar))
    if dim is None and content.dim is None:
        raise click.ClickException(f"{source} holds no skills to tell the dimension; create the store with init")
    # the store's own checks, record by record, so that a bad one is named before any store is touched
    with _progress(len(content.skills), "Checking") as check_bar:
        check_skills(content, source=source, progress=check_bar)
    if existing is not None and None not in (existing[1], content.embedder) and existing[1] != content.embedder:
        raise EmbedderMismatchError(
            f"{source} holds vectors made by {embedder_line(content.embedder)}, the library's are made by"
            f" {embedder_line(existing[1])}; re-embed one of them first (skillstore reembed)"
        )
    # a new library records the embedder that made the file's vectors
    with SkillStore.open(path, dim=content.dim, embedder=content.embedder if existing is None else None) as store:
        if len(content.skills) >= PROGRESS_THRESHOLD and _stderr_is_terminal():
            click.echo(f"Writing {len(content.skills)} skills in one commit...", err=True)
        result = import_skills(store, content.skills, on_conflict=on_conflict)
        where = _where(store)
    changed = result.added + result.replaced + result.merged
    if not content.skills:
        click.echo(f"Nothing changed in {where}: {source} holds no skills")
        return
    if not changed:
        click.echo(
            f"Nothing changed in {where}: all {result.skipped} skills of {source} are there already "
            f"({result.skipped} skipped; --on-conflict replace or merge updates them)"
        )
        return
    click.echo(
        f"Imported {changed} of the {len(content.skills)} skills into {where}: {result.added} added, "
        f"{result.replaced} replaced, {result.merged} merged, {result.skipped} skipped"
    )


@main.command()
@path_argument
@click.argument("ids", nargs=-1, metavar="ID|NAME...")
@where_option(WHERE_HELP + " Deletes every matching skill instead of the ones named.")
def delete(path: Location, ids: tuple[str, ...], where: dict[str, Any] | None) -> None:
    """Delete skills by id or exact name, or every skill a --where filter matches, in one
    atomic commit. Nothing is deleted when any id is unknown.

    \b
    Example:
        skillstore delete ./skills 3f2a9c0d1b2e4f60 77c1d09e5a4b3f21
        skillstore delete ./skills acquire_key
        skillstore delete ./skills --where 'skill.attempts >= 10' --where 'skill.success_rate < 0.2'
    """
    if ids and where is not None:
        raise click.UsageError("give the skills to delete, or --where, not both")
    if not ids and where is None:
        raise click.UsageError("give the skills to delete (ids or exact names), or --where")
    with _open(path, write=True) as store:
        if where is not None:
            unique = store.delete_many(where=where)
        else:
            unique = list(dict.fromkeys(_resolve(store, list(dict.fromkeys(ids)))))
            store.delete_many(unique)  # one atomic commit
    click.echo(f"Deleted {len(unique)} skill{'s' if len(unique) != 1 else ''}")


@main.command()
@path_argument
@click.argument("skill_id", metavar="ID|NAME")
@click.option("--success/--failure", "success", default=None, help="How the attempt ended (required).")
@click.option("--reward", type=float, default=None, help="The reward the attempt earned.")
def record(path: Location, skill_id: str, success: bool | None, reward: float | None) -> None:
    """Count one attempt of a skill (by id or exact name), successful or not.

    \b
    Example:
        skillstore record ./skills 3f2a9c0d1b2e4f60 --success --reward 1.0
        skillstore record ./skills acquire_key --failure
    """
    if success is None:
        raise click.UsageError("give --success or --failure")
    with _open(path, write=True) as store:
        skill_id = _resolve(store, [skill_id])[0]
        new = store.record_outcome(skill_id, success, reward)
    click.echo(f"{skill_id}: {new.successes}/{new.attempts} successes (rate {new.success_rate:.3f})")


@main.command()
@path_argument
def migrate(path: Location) -> None:
    """Rewrite a store made by an earlier release in the current storage format.

    A read-write open converts such a store by itself; this command does only that and
    says what it found. Reading an older store needs no conversion (nor write access).

    \b
    Example:
        skillstore migrate ./skills
    """
    if isinstance(path, str):
        raise click.ClickException("a PostgreSQL library needs no migration")
    before = peek(path).format_version
    with _open(path, write=True) as store:
        after = peek(path).format_version
        if before == after:
            click.echo(f"{_where(store)} is already in format {after}: nothing to do")
        else:
            click.echo(f"Converted {_where(store)} from format {before} to format {after}: {len(store)} skills")


@main.command()
@path_argument
@click.option("--embedder", metavar="SPEC", callback=_embedder_option, required=True, help=EMBEDDER_HELP)
def reembed(path: Location, embedder: Any) -> None:
    """Embed every skill again with another embedder, in one atomic step.

    Every skill's text (name, description, textual actions), deprecated skills and the
    versions each skill keeps included, is embedded by the new embedder; the library
    records it and takes its dimension. The result is written as a new generation: a
    failure or an interruption leaves the library as it was. Other writers wait meanwhile;
    processes that opened the library with the previous embedder must reopen it.

    \b
    Example:
        skillstore reembed ./skills --embedder lexical:dim=512
        skillstore reembed ./skills --embedder sentence-transformers:model=all-MiniLM-L6-v2
    """
    if isinstance(path, str):
        raise click.ClickException("reembed works on store directories; a PostgreSQL library cannot be re-embedded"
                                   " in place: export it, re-embed the export's store directory, import it")
    with _open(path, write=True) as store:
        assert isinstance(store, SkillStore)
        before = store.embedder_identity
        with _growing_progress("Embedding") as progress:
            store.reembed(embedder, progress=progress)
        click.echo(f"Re-embedded {len(store)} skills of {_where(store)} with {embedder_line(store.embedder_identity)}"
                   f" (was: {embedder_line(before)}); dim {store.dim}")


@contextlib.contextmanager
def _growing_progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar on stderr (when it is a terminal),
    made once the first call tells the total."""
    if not _stderr_is_terminal():
        yield None
        return
    with contextlib.ExitStack() as stack:
        bar: Any = None
        shown = 0

        def advance(done: int, total: int) -> None:
            nonlocal bar, shown
            if bar is None:
                bar = stack.enter_context(click.progressbar(length=total, label=label, file=sys.stderr))
            bar.update(done - shown)
            shown = done

        yield advance


@main.command()
@path_argument
def checkpoint(path: Location) -> None:
    """Fold the write-ahead log into a new snapshot and drop deleted rows.

    On a PostgreSQL library, where every commit is durable already, it refreshes
    the planner's statistics (ANALYZE).

    \b
    Example:
        skillstore checkpoint ./skills
    """
    with _open(path, write=True) as store:
        if not isinstance(store, SkillStore):
            store.checkpoint()
            click.echo(f"Analyzed {_where(store)}: {len(store)} skills")
            return
        before = store.generation
        store.checkpoint()
        click.echo(f"Checkpointed {path}: generation {before} -> {store.generation}, {len(store)} skills")


@main.command()
@path_argument
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild the store as a fresh generation from its newest intact snapshot and the intact "
    "prefix of its log (drops a torn tail, damaged frames and leftovers of interrupted checkpoints), "
    "report what was lost, then verify again.",
)
@output_options
def verify(path: Location, repair: bool, output: str) -> None:
    """Check a store's files and contents; exit code 1 when a problem is found.

    On a PostgreSQL library, checks its registration, table and invariants
    (--repair applies to store directories only).

    \b
    Example:
        skillstore verify ./skills
        skillstore verify ./skills --repair
    """
    repaired: int | None = None
    lost: list[str] = []
    source: RepairReport | None = None
    if repair and isinstance(path, str):
        raise click.UsageError(
            "--repair applies to store directories; a PostgreSQL library is kept consistent by its server"
        )
    if repair:
        result = repair_store(path)
        repaired, lost, source = result.generation, result.lost, result
    hint = None if isinstance(path, str) else (
        f"run 'skillstore verify {path} --repair' to rebuild it from its intact parts"
    )
    try:
        with _open(path) as store:
            report = store.verify()
    except StoreCorruptError as exc:  # damage that stops an open is what verify is asked to find
        report = VerifyReport(problems=[f"the store cannot be opened: {_one_line(exc)}"])
    if report.ok or repaired is not None:
        hint = None
    if output != "table":
        emit_mapping(
            {
                "ok": report.ok,
                "problems": report.problems,
                "warnings": report.warnings,
                "facts": report.facts,
                "repaired_generation": repaired,
                "repair_lost": lost,
                "repair_restored_from": None if source is None else source.restored_from,
                "repair_writes_kept": None if source is None else source.writes,
                "hint": hint,
            },
            output,
        )
    else:
        if repaired is not None:
            assert source is not None
            click.echo(
                f"repaired: rewrote the store as generation {repaired} from generation {source.restored_from}"
                f" and {source.log_frames} frames of its log ({source.writes} writes kept)"
            )
        for item in lost:
            click.echo(f"lost: {item}")
        for problem in report.problems:
            click.echo(f"problem: {problem}")
        for warning in report.warnings:
            click.echo(f"warning: {warning}")
        facts = ", ".join(f"{key} {value}" for key, value in report.facts.items())
        click.echo(f"{'ok' if report.ok else 'FAILED'}: {facts}" if facts else ("ok" if report.ok else "FAILED"))
        if hint:
            click.echo(hint)
    if not report.ok:
        click.get_current_context().exit(1)
