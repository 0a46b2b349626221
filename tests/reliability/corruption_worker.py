"""The child of the corruption campaign: opens damaged stores one by one, so that a crash
or a hang inside a loader is seen by the parent instead of taking the test run down.

Reads a store directory per line on stdin and answers one JSON line per store: what
opening it gave, what ``skillstore verify`` and ``skillstore verify --repair`` said,
and the contents (as a digest) of the store it recovered or repaired.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from skillstore import SkillStore, StoreCorruptError
from skillstore.cli import main as cli


def digest(store: SkillStore) -> str:
    """A hash of everything the store holds (timestamps included)."""
    parts = []
    for skill in sorted(store, key=lambda s: str(s.id)):
        parts.append(repr((skill.id, skill.name, skill.actions, skill.preconditions, skill.metadata,
                           skill.stats.to_dict(), skill.created_at, skill.updated_at,
                           skill.embedding.tobytes().hex())))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def opened(path: str) -> dict[str, Any]:
    try:
        with SkillStore.open(path, read_only=True) as store:
            report = store.verify()
            return {"outcome": "recovered", "verify_ok": report.ok, "digest": digest(store)}
    except StoreCorruptError as exc:
        return {"outcome": "corrupt", "path": exc.path, "message": str(exc)}
    except Exception as exc:  # anything else is a finding: report it, don't crash
        return {"outcome": "untyped", "error": f"{type(exc).__name__}: {exc}"}


def examine(path: str) -> dict[str, Any]:
    result: dict[str, Any] = {"open": opened(path)}
    runner = CliRunner()
    checked = runner.invoke(cli, ["verify", path])
    result["verify"] = {"code": checked.exit_code, "output": checked.output,
                        "exception": None if checked.exception is None or isinstance(checked.exception, SystemExit)
                        else repr(checked.exception)}
    repaired = runner.invoke(cli, ["verify", path, "--repair"])
    result["repair"] = {"code": repaired.exit_code, "output": repaired.output,
                        "exception": None if repaired.exception is None or isinstance(repaired.exception, SystemExit)
                        else repr(repaired.exception)}
    result["after_repair"] = opened(path)
    return result


def main() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        print(json.dumps(examine(str(Path(line.strip())))), flush=True)


if __name__ == "__main__":
    main()
