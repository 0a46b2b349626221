"""The README's runnable example must keep working."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_example_runs_and_survives_reopen(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path / "skills")],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )
    assert "applicable: acquire_key" in result.stdout
    assert "after reopen: acquire_key attempts=2 success_rate=0.50 observations=2" in result.stdout
