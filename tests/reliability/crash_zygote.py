"""Starts crash writers quickly: imports skillstore once, then forks a writer per request.

Protocol on stdin/stdout, one line each, after a first ``ready``: ``<path> <journal> <seed> <durability>`` starts
a writer and answers ``<pid>``; when that writer dies the answer ``<pid> <wait status>``
follows. The parent kills writers by pid; this process reaps them, so no pid is reused
while the parent may still signal it.
"""

from __future__ import annotations

import os
import sys

import crash_writer


def main() -> None:
    print("ready", flush=True)
    for request in sys.stdin:
        path, journal, seed, durability = request.split()
        pid = os.fork()
        if pid == 0:
            try:
                crash_writer.run(path, journal, int(seed), durability)
            finally:
                os._exit(1)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(pid, status, flush=True)


if __name__ == "__main__":
    main()
