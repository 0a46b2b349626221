"""The real thing: ``python -m skillstore`` in a child process, and what importing costs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_helpers import LIBRARY, PYTHON, subprocess_env


def skillstore(*args: object, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [PYTHON, "-m", "skillstore", *map(str, args)],
        input=input,
        capture_output=True,
        env=subprocess_env(),
        timeout=60,
        check=False,
    )


def test_round_trip_through_a_child_process(store_path: Path, tmp_path: Path) -> None:
    exported = skillstore("export", store_path, "--format", "msgpack")
    assert exported.returncode == 0, exported.stderr
    assert b"Exported 4 skills" in exported.stderr
    imported = skillstore("import", tmp_path / "copy", "-", "--format", "msgpack", input=exported.stdout)
    assert imported.returncode == 0, imported.stderr
    listed = skillstore("list", tmp_path / "copy", "--json", "--sort", "name")
    names = [row["name"] for row in json.loads(listed.stdout)]
    assert names == sorted((entry["name"] for entry in LIBRARY), key=str.casefold)
    found = skillstore("search", tmp_path / "copy", "--vector", "[1, 0.1, 0, 0]", "-k", "1", "--json")
    assert json.loads(found.stdout)[0]["name"] == "open door"


def test_errors_in_a_child_process(tmp_path: Path) -> None:
    missing = skillstore("list", tmp_path / "missing")
    assert missing.returncode == 1
    assert missing.stderr.decode().strip() == f"Error: no skill store at {tmp_path / 'missing'}"
    usage = skillstore("search", tmp_path, "--vector", "oops")
    assert usage.returncode == 2 and b"Traceback" not in usage.stderr


def test_imports_stay_light() -> None:
    code = (
        "import sys, skillstore; assert 'click' not in sys.modules, 'skillstore imports click'; "
        "import skillstore.cli; assert 'matplotlib' not in sys.modules, 'the CLI imports matplotlib'"
    )
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, env=subprocess_env(), timeout=60)
    assert result.returncode == 0, result.stderr.decode()
