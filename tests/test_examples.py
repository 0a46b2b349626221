"""The README's runnable example must keep working."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_example_runs_and_survives_reopen(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path / "skills")],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )
    assert "applicable: acquire_key" in result.stdout
    assert "after reopen: acquire_key attempts=2 success_rate=0.50 observations=2" in result.stdout



@pytest.mark.parametrize("heading", ["### Filters", "### Text search", "### Embedders"])
def test_a_readme_example_prints_what_its_comments_say(heading: str) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(heading) :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```", start)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                            check=True)
    promised = [line.split("# ", 1)[1].strip() for line in code.splitlines() if line.startswith("print(")]
    assert result.stdout.splitlines() == promised
