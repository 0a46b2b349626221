"""Resident memory of a process and its descendants, from /proc/<pid>/status (Linux).

VmRSS is what is resident now, VmHWM the peak since the process started. A
system that runs a server as a child process (Milvus Lite) is counted whole.
"""

from __future__ import annotations

import os
from pathlib import Path


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in bytes (0 for a process that is gone or a kernel thread)."""
    found = {"rss": 0, "hwm": 0}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found["rss" if key == "VmRSS" else "hwm"] = int(value.split()[0]) * 1024
    return found


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in brackets may hold spaces
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def process_tree_memory(pid: int | None = None) -> dict[str, int]:
    """VmRSS and VmHWM in bytes, summed over ``pid`` (default: this process) and its descendants."""
    root = os.getpid() if pid is None else pid
    total = {"rss": 0, "hwm": 0}
    for member in [root, *_descendants(root)]:
        figures = _status(member)
        total["rss"] += figures["rss"]
        total["hwm"] += figures["hwm"]
    return total
