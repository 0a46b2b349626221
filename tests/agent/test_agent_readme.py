"""The README's agent example prints what its comments say."""

from __future__ import annotations

from pathlib import Path

from agent_helpers import ROOT, run_python


def test_the_readme_agent_example_prints_what_its_comments_say(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The agent: skills that transfer"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("```", start)]
    completed = run_python("-c", code, cwd=tmp_path)  # the example's store goes in tmp_path
    assert completed.returncode == 0, completed.stderr
    promised = [line.split("# ", 1)[1].split(":")[0].strip()
                for line in code.splitlines() if line.strip().startswith("print(")]
    assert completed.stdout.splitlines() == promised
