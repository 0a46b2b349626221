"""Print the table of figures the long campaigns wrote (``make reliability``).

Usage: ``python tests/reliability/summary.py FIGURES.jsonl``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> None:
    source = Path(path)
    lines = [json.loads(line) for line in source.read_text().splitlines()] if source.exists() else []
    if not lines:
        print("no campaign figures were written")
        return
    print(f"{'campaign':<24} {'seconds':>8}  figures")
    print(f"{'-' * 24} {'-' * 8}  {'-' * 60}")
    for line in lines:
        counts = [f"{key}: {value}" for key, value in line["counts"].items()]
        print(f"{line['campaign']:<24} {line['seconds']:>8}  {counts[0] if counts else ''}")
        for count in counts[1:]:
            print(f"{'':<24} {'':>8}  {count}")


if __name__ == "__main__":
    main(sys.argv[1])
