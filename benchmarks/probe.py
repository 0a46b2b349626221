"""Run in a fresh process: open a store read-only, answer one query, report time and memory.

``python -m benchmarks.probe PATH DIM`` prints JSON: ``open_s`` (open to first
answer) and ``rss_bytes`` (peak resident memory added by the store).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from skillstore import SkillStore


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    path, dim = sys.argv[1], int(sys.argv[2])
    query = np.ones(dim, dtype=np.float32)
    before = _peak_rss()
    started = time.perf_counter()
    with SkillStore.open(path, read_only=True) as store:
        store.search(query, k=10)
        elapsed = time.perf_counter() - started
        print(json.dumps({"open_s": elapsed, "rss_bytes": _peak_rss() - before}))


if __name__ == "__main__":
    main()
