"""Run in a fresh process: open a system's stored library, answer two queries, report time and memory.

``python -m benchmarks.probe SYSTEM WORKDIR DIM [--read-write]`` prints JSON:
``open_ms`` (the open itself), ``first_query_ms`` (the first unfiltered query
after it), ``first_filtered_query_ms`` (then the first query under the 10 %
zone filter), and resident memory of the process tree after all three, minus
the baseline measured the same way after the interpreter and the system's
libraries were imported: ``rss_bytes`` (VmRSS) and ``hwm_bytes`` (VmHWM, the peak).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.data import SELECTIVITY_ZONES
from benchmarks.memory import process_tree_memory
from benchmarks.systems import SYSTEMS

K = 10
FILTER_ZONE = SELECTIVITY_ZONES["10%"]


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    q = rng.standard_normal(dim).astype(np.float32)
    return q / np.linalg.norm(q)  # type: ignore[no-any-return]


def probe(
    system_name: str, workdir: Path, dim: int, *, read_write: bool = False, timeout: float = 900
) -> dict[str, Any]:
    """Run the probe in a fresh interpreter and return its figures."""
    command = [sys.executable, "-m", "benchmarks.probe", system_name, str(workdir), str(dim)]
    out = subprocess.run(
        command + (["--read-write"] if read_write else []), capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"probe of {system_name} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@click.command()
@click.argument("system_name", type=click.Choice(list(SYSTEMS)))
@click.argument("workdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dim", type=click.IntRange(min=1))
@click.option("--read-write", is_flag=True, help="Open for writing (skillstore opens read-only otherwise).")
def main(system_name: str, workdir: Path, dim: int, read_write: bool) -> None:
    """Open the library SYSTEM stored in WORKDIR and print the open's time and memory as JSON."""
    rng = np.random.default_rng(12345)
    first, second = _unit(rng, dim), _unit(rng, dim)
    system = SYSTEMS[system_name]()
    system.imports()
    baseline = process_tree_memory()
    started = time.perf_counter()
    system.open(workdir, read_only=not read_write)
    opened = time.perf_counter()
    system.query(first, K, None)
    answered = time.perf_counter()
    system.query(second, K, FILTER_ZONE)
    filtered = time.perf_counter()
    after = process_tree_memory()
    system.close()
    figures = {
        "open_ms": (opened - started) * 1e3,
        "first_query_ms": (answered - opened) * 1e3,
        "first_filtered_query_ms": (filtered - answered) * 1e3,
        "rss_bytes": after["rss"] - baseline["rss"],
        "hwm_bytes": after["hwm"] - baseline["hwm"],
        "baseline_rss_bytes": baseline["rss"],
    }
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
