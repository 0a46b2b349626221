"""Each error case: one clear line on stderr, the right exit code, no traceback, no change.

Exit code 1: the operation failed (no store, a corrupt store, an unknown id, a
vector of the wrong length, a bad import file). Exit code 2: the command line is
malformed (click's usage errors: unparsable values, missing or clashing options).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import DIM, contents, ok, run
from click.testing import Result

from skillstore.validation import MAX_COUNTER, MAX_DEPTH


def assert_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    if code == 1:
        lines = result.stderr.splitlines()
        assert len(lines) == 1, lines  # exactly one line
        assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


READ_COMMANDS = [
    ["info"],
    ["list"],
    ["show", "abc"],
    ["search", "--vector", "[1,0,0,0]"],
    ["stats"],
    ["export"],
    ["verify"],
    ["plot", "-o", "out.png"],
]
WRITE_COMMANDS = [["delete", "abc"], ["record", "abc", "--success"], ["checkpoint"], ["verify", "--repair"]]


@pytest.mark.parametrize("command", READ_COMMANDS + WRITE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_missing_store(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "nowhere"
    result = run(command[0], missing, *command[1:])
    assert_error(result, 1, "no skill store at")
    assert not missing.exists()  # nothing is created by a command that does not create


def corrupt_manifest(store_path: Path) -> None:
    manifest = store_path / "MANIFEST"
    data = bytearray(manifest.read_bytes())
    data[-1] ^= 0xFF
    manifest.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "command", [c for c in READ_COMMANDS + WRITE_COMMANDS[:-1] if c[0] != "verify"], ids=lambda c: " ".join(c[:2])
)
def test_corrupt_manifest(store_path: Path, command: list[str]) -> None:
    corrupt_manifest(store_path)
    assert_error(run(command[0], store_path, *command[1:]), 1, "MANIFEST")


def test_verify_reports_a_store_it_cannot_open_in_the_format_asked_and_suggests_repair(store_path: Path) -> None:
    corrupt_manifest(store_path)
    result = run("verify", store_path, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False and "cannot be opened" in report["problems"][0] and "MANIFEST" in report["problems"][0]
    assert "--repair" in report["hint"]
    table = run("verify", store_path)
    assert table.exit_code == 1 and table.stderr == ""
    assert table.stdout.splitlines()[-2:] == [
        "FAILED",
        f"run 'skillstore verify {store_path} --repair' to rebuild it from its intact parts",
    ]
    assert "problem: the store cannot be opened" in table.stdout
    assert run("verify", store_path, "--repair").exit_code == 0  # the hint works
    healthy = json.loads(run("verify", store_path, "--json").stdout)
    assert healthy["ok"] is True and healthy["hint"] is None


def test_verify_repair_rebuilds_a_store_whose_manifest_is_corrupt(store_path: Path) -> None:
    before = contents(store_path)
    corrupt_manifest(store_path)
    result = run("verify", store_path, "--repair")
    assert result.exit_code == 0, result.output
    assert "lost: MANIFEST" in result.output
    assert contents(store_path) == before


def test_corrupt_snapshot_fails_loading_commands_but_not_info(store_path: Path) -> None:
    assert run("checkpoint", store_path).exit_code == 0  # a snapshot holding the skills
    skills_file = next(store_path.glob("snap-*/records.bin"))
    data = bytearray(skills_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    skills_file.write_bytes(bytes(data))
    assert_error(run("list", store_path), 1, "checksum")
    assert_error(run("verify", store_path, "--repair"), 1, "checksum")
    assert run("info", store_path).exit_code == 0  # a header peek does not read the snapshot


def test_not_a_store_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    assert_error(run("init", tmp_path, "--dim", 4), 1, "not empty")
    assert_error(run("list", tmp_path), 1, "no skill store")


@pytest.mark.parametrize(
    "command",
    [["show", "nope"], ["delete", "nope"], ["record", "nope", "--failure"], ["search", "--like", "nope"]],
    ids=lambda c: c[0],
)
def test_unknown_id(store_path: Path, command: list[str]) -> None:
    before = contents(store_path)
    assert_error(run(command[0], store_path, *command[1:]), 1, "no skill with id or name 'nope'")
    assert contents(store_path) == before


def test_delete_deletes_nothing_when_one_id_is_unknown(store_path: Path, ids: dict[str, str]) -> None:
    before = contents(store_path)
    assert_error(run("delete", store_path, ids["explore"], "nope"), 1, "nope")
    assert contents(store_path) == before


def test_ambiguous_name(tmp_path: Path) -> None:
    from cli_helpers import LIBRARY, build_library

    twin = {**LIBRARY[2], "embedding": [0.0, 0.2, 1.0, 0.0]}
    build_library(tmp_path / "twins", [LIBRARY[2], twin])
    assert_error(run("show", tmp_path / "twins", "explore"), 1, "2 skills are named 'explore'")


@pytest.mark.parametrize(
    "vector",
    ["[1, 0", "1,0,0,0", "[]", '["a", 1, 2, 3]', "[true, 0, 0, 1]", '{"x": 1}', "null"],
)
def test_malformed_vector_is_a_usage_error(store_path: Path, vector: str) -> None:
    assert_error(run("search", store_path, "--vector", vector), 2, "JSON list of numbers")


@pytest.mark.parametrize(
    ("vector", "fragment"),
    [("[1, 0, 0]", "dimension 3"), ("[0, 0, 0, 0]", "all zeros"), ("[NaN, 0, 0, 1]", "NaN")],
)
def test_vector_the_store_rejects(store_path: Path, vector: str, fragment: str) -> None:
    assert_error(run("search", store_path, "--vector", vector), 1, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["list", "--applicable", "agent_pos=[2,2"], "missing ']'"),
        (["list", "--applicable", "has_key"], "expected key=value"),
        (["list", "--where", "=3"], "expected FIELD OP VALUE"),
        (["list", "--where", "room in 3"], "in needs a list"),
        (["list", "--where", "{bad json"], "not a JSON object"),
        (["search", "--vector", "[1,0,0,0]", "--where", "[1]"], "expected FIELD OP VALUE"),
        (["delete", "x", "--where", "room=1"], "not both"),
        (["search", "--vector", "[1,0,0,0]", "--state", "pos=(1,]"], "empty item"),
        (["search"], "exactly one of --vector and --like"),
        (["search", "--vector", "[1,0,0,0]", "--like", "x"], "exactly one of --vector and --like"),
        (["search", "--vector", "[1,0,0,0]", "-k", "0"], "-k"),
        (["search", "--vector", "[1,0,0,0]", "--rank", "best"], "--rank"),
        (["list", "--json", "--csv"], "cannot be used together"),
        (["list", "--sort", "size"], "--sort"),
        (["list", "--limit", "-1"], "--limit"),
        (["record", "x"], "--success or --failure"),
        (["record", "x", "--success", "--reward", "lots"], "--reward"),
        (["delete"], "give the skills to delete (ids or exact names), or --where"),
        (["show"], "Missing argument"),
        (["export", "--format", "xml"], "--format"),
        (["import", "no-such-file.jsonl"], "does not exist"),
        (["plot", "-o", "out.gif"], "use .png, .svg or .pdf"),
        (["plot"], "Missing option"),
        (["list", "--frobnicate"], "No such option"),
    ],
)
def test_usage_errors_exit_2(store_path: Path, args: list[str], fragment: str) -> None:
    before = contents(store_path)
    assert_error(run(args[0], store_path, *args[1:]), 2, fragment)
    assert contents(store_path) == before


def test_unknown_command_and_missing_dim(tmp_path: Path) -> None:
    assert_error(run("frobnicate"), 2, "No such command")
    assert_error(run("init", tmp_path / "s"), 2, "--dim")
    assert_error(run("init", tmp_path / "s", "--dim", "0"), 2, "--dim")


def test_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_error(run("list", tmp_path / "file"), 2, "is a file")


def test_import_bad_file_changes_nothing(store_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"skillstore_export": 1, "dim": 4, "count": 1, "embeddings": true}\n{"id": 5}\n')
    before = contents(store_path)
    assert_error(run("import", store_path, bad), 1, "record 1", "id must be a string")
    assert contents(store_path) == before


def test_import_bad_file_creates_no_store(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,skillstore,export\n")
    assert_error(run("import", tmp_path / "new", bad), 1, "missing columns")
    assert not (tmp_path / "new").exists()


def test_import_wrong_dimension(store_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert run("init", other, "--dim", DIM + 1).exit_code == 0
    export = tmp_path / "skills.msgpack"
    assert run("export", store_path, "-o", export).exit_code == 0
    assert_error(run("import", other, export), 1, "dimension 4", "has 5")


def test_export_to_an_unwritable_place(store_path: Path, tmp_path: Path) -> None:
    assert_error(run("export", store_path, "-o", tmp_path / "no" / "dir" / "x.jsonl"), 1, "No such file")
    assert not list((tmp_path).glob("**/*.tmp-*"))


# -- bounds: values too deep, too long or too large are one-line errors ---------------------------------


def nested_text(depth: int, open_: str = "[", close: str = "]", leaf: str = "1") -> str:
    return open_ * depth + leaf + close * depth


@pytest.mark.parametrize(
    "args",
    [
        ["search", "--vector", nested_text(5000)],
        ["search", "--vector", "[1, 0, 0, 0]", "--state", "k=" + nested_text(5000)],
        ["search", "--vector", "[1, 0, 0, 0]", "--where", "k=" + nested_text(5000, "(", ")")],
        ["list", "--applicable", "k=" + nested_text(5000)],
        ["list", "--where", "k=" + nested_text(MAX_DEPTH + 1)],
        ["search", "--vector", "[1, 0, 0, 0]", "--state", "k=" + "9" * 5001],
        ["list", "--where", "k=[1, " + "9" * 5001 + "]"],
        ["search", "--vector", "[" + "9" * 5001 + ", 0, 0, 0]"],
    ],
    ids=["vector-deep", "state-deep", "where-deep", "applicable-deep", "where-max-depth", "state-5001-digits",
         "where-5001-digits", "vector-5001-digits"],
)
def test_values_too_deep_or_too_long_are_usage_errors(store_path: Path, args: list[str]) -> None:
    before = contents(store_path)
    result = run(args[0], store_path, *args[1:])
    assert_error(result, 2)
    assert len(result.stderr.strip().splitlines()[-1]) < 400  # the value is not echoed whole
    assert contents(store_path) == before


def test_a_state_nested_as_deep_as_a_precondition_can_be_is_searched(store_path: Path) -> None:
    ok("search", store_path, "--vector", "[1, 0, 0, 0]", "--state", "k=" + nested_text(MAX_DEPTH - 1))
    assert_error(run("search", store_path, "--vector", "[1, 0, 0, 0]", "--state", "k=" + nested_text(MAX_DEPTH)), 1,
                 "levels deep")


@pytest.mark.parametrize("reward", ["1e16", "-1e16", "1e400", "inf", "nan"])
def test_rewards_beyond_the_bound_are_refused(store_path: Path, ids: dict[str, str], reward: str) -> None:
    before = contents(store_path)
    assert_error(run("record", store_path, ids["explore"], "--success", "--reward", reward), 1, "reward")
    assert contents(store_path) == before


HEADER = '{"skillstore_export": 1, "dim": 4, "count": 1, "embeddings": true}\n'
RECORD = '{"id": "new", "name": "n", "actions": [], "embedding": [1.0, 0.0, 0.0, 0.0]'
BIG = "1" + "0" * 400  # 401 digits: an int, too large for a float


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        (f'"created_at": {BIG}', "created_at"),
        (f'"updated_at": -{BIG}', "updated_at"),
        ('"created_at": -1e300', "created_at"),
        ('"created_at": -1', "created_at"),
        ('"updated_at": 253402300800', "updated_at"),
        (f'"stats": {{"attempts": {BIG}, "successes": {BIG}}}', "stats.attempts"),
        (f'"stats": {{"attempts": 1, "successes": 1, "total_reward": {BIG}}}', "total_reward"),
        ('"stats": {"attempts": 1, "successes": 1, "total_reward": 1e301}', "total_reward"),
        ('"stats": {"attempts": 9007199254740992, "successes": 9007199254740992}', "stats.attempts"),
        ('"stats": {"attempts": 1, "successes": 1, "last_used_at": 1e300}', "last_used_at"),
        ('"provenance": [{"at": -5, "name": "x", "score": 1.0}]', "provenance"),
        ('"description": "\\ud800"', "not valid Unicode"),
        ('"metadata": {"k": "\\udfff"}', "metadata"),
        ('"actions": ["\\ud800"]', "actions"),
    ],
)
def test_import_of_numbers_and_text_no_store_can_hold_is_refused(
    store_path: Path, tmp_path: Path, fields: str, fragment: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(HEADER + RECORD + ", " + fields + "}\n")
    before = contents(store_path)
    assert_error(run("import", store_path, bad), 1, "record 1", fragment)
    assert contents(store_path) == before
    ok("list", store_path)
    ok("show", store_path, "explore")


@pytest.mark.parametrize(
    "record",
    [
        f'{{"id": "new", "name": "n", "actions": [], "embedding": [{BIG}, 0, 0, 0]}}',
        '{"id": "\\ud800", "name": "n", "actions": [], "embedding": [1.0, 0, 0, 0]}',
        '{"id": "a\\u0000b", "name": "n", "actions": [], "embedding": [1.0, 0, 0, 0]}',
        '{"id": "n", "name": "\\ud800", "actions": [], "embedding": [1.0, 0, 0, 0]}',
        '{"id": "n", "name": "n", "actions": {"$float": []}, "embedding": [1.0, 0, 0, 0]}',
        '{"id": "n", "name": "n", "actions": {"$map": [[{"$tuple": [[1]]}, 2]]}, "embedding": [1.0, 0, 0, 0]}',
    ],
    ids=["embedding-401-digits", "id-surrogate", "id-nul", "name-surrogate", "float-tag-list", "map-key-list"],
)
def test_import_of_records_no_store_can_hold_is_refused(store_path: Path, tmp_path: Path, record: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(HEADER + record + "\n")
    before = contents(store_path)
    assert_error(run("import", store_path, bad), 1, "record 1")
    assert contents(store_path) == before


def test_import_merge_past_the_counter_bound_is_refused(store_path: Path, tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    full.write_text(HEADER + RECORD + f', "stats": {{"attempts": {MAX_COUNTER}, "successes": {MAX_COUNTER}}}}}\n')
    ok("import", store_path, full)
    before = contents(store_path)
    one_more = tmp_path / "one-more.jsonl"
    one_more.write_text(HEADER + RECORD + ', "stats": {"attempts": 1, "failures": 1}}\n')
    assert_error(run("import", store_path, one_more, "--on-conflict", "merge"), 1, str(MAX_COUNTER))
    assert contents(store_path) == before
    ok("import", store_path, one_more, "--on-conflict", "skip")
    assert contents(store_path) == before


def test_dates_no_calendar_can_show_are_shown_as_numbers() -> None:
    from skillstore.cli.output import iso_time

    assert iso_time(0.0) == "1970-01-01 00:00:00"
    assert iso_time(253402300799.0) == "9999-12-31 23:59:59"
    for timestamp in (-1e300, 1e300, float("nan"), float("inf")):
        assert iso_time(timestamp) == repr(timestamp)
