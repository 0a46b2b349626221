"""Helpers for the agent tests (a uniquely named module: every test directory has a conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from skillstore import SkillBackend

ROOT = Path(__file__).resolve().parents[2]

BackendFactory = Callable[..., SkillBackend]


def run_python(*args: str, hash_seed: str | None = None,
               cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in a fresh process that can import this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = hash_seed
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120, check=False)
