"""Run in a fresh process: open a store read-only, answer one query, report time and memory.

``python -m benchmarks.probe PATH DIM`` prints JSON: ``open_s`` (open to first
answer) and ``rss_bytes`` (resident memory added by the open store).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from skillstore import SkillStore


def _resident_bytes() -> int:
    """Resident memory now (the peak would still be the imports' if they used more)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def main() -> None:
    path, dim = sys.argv[1], int(sys.argv[2])
    query = np.ones(dim, dtype=np.float32)
    before = _resident_bytes()
    started = time.perf_counter()
    with SkillStore.open(path, read_only=True) as store:
        store.search(query, k=10)
        elapsed = time.perf_counter() - started
        print(json.dumps({"open_s": elapsed, "rss_bytes": _resident_bytes() - before}))


if __name__ == "__main__":
    main()
