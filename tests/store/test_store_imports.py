"""``import skillstore`` stays light, and the package exports what DESIGN.md promises."""

from __future__ import annotations

import subprocess

from store_helpers import PYTHON, ROOT, subprocess_env

import skillstore

HEAVY = ("click", "matplotlib", "gymnasium", "agent")


def test_import_skillstore_loads_neither_click_nor_matplotlib() -> None:
    code = (
        "import sys, skillstore\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, env=subprocess_env(), cwd=ROOT, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_public_names() -> None:
    for name in (
        "Skill",
        "SkillStats",
        "Match",
        "SkillStore",
        "MemoryBackend",
        "SkillBackend",
        "SkillStoreError",
        "SkillNotFoundError",
        "DimensionMismatchError",
        "InvalidEmbeddingError",
        "StoreCorruptError",
        "StoreLockedError",
        "ReadOnlyStoreError",
        "FormatVersionError",
    ):
        assert name in skillstore.__all__ and hasattr(skillstore, name)
    assert all(hasattr(skillstore, name) for name in skillstore.__all__)
