"""Re-embedding under real faults: a file-size limit, a full filesystem, and SIGKILL at each
step (while embedding, with the new generation written but not committed, just after the
commit). Whatever happens, the store opens whole, embedded by one model: the old one with
every vector it had, or the new one with every skill's vector of its text."""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import PYTHON, ROOT, contents, fill, subprocess_env

from skillstore import LexicalEmbedder, Skill, SkillStore, StoreIOError
from skillstore.embedders import identity, skill_text

OLD, NEW = LexicalEmbedder(dim=16), LexicalEmbedder(dim=1024)  # the new vectors are 64 times the old


def build(path: Path, count: int = 300) -> dict[str, dict[str, object]]:
    with SkillStore.open(path, embedder=OLD) as store:
        store.add_many([Skill(f"skill {i}", [f"step {i}", "toggle"], None, description=f"task {i % 17}")
                        for i in range(count)])
        store.checkpoint()
        store.record_outcome(next(iter(store)).id, True)  # one write in the log too
        return contents(store)


def assert_whole(path: Path, embedder: LexicalEmbedder, expected_ids: set[str]) -> None:
    """The store opens, every skill there, each vector the recorded embedder's of its text, and
    nothing but the generation in force on disk once a read-write open has tidied up."""
    with SkillStore.open(path, embedder="recorded") as store:
        assert store.embedder_identity == identity(embedder)
        assert {skill.id for skill in store} == expected_ids and store.verify().ok
        for skill in store:
            vector = embedder.embed([skill_text(skill.name, skill.description, skill.actions)])[0]
            np.testing.assert_allclose(skill.embedding, vector / np.linalg.norm(vector), atol=1e-6)
        generation = store.generation
    assert sorted(p.name for p in path.iterdir() if p.name != "ballast") == [
        "MANIFEST", f"log-{generation:08d}", f"snap-{generation:08d}",
    ]


REEMBED_UNDER_FSIZE = r"""
import json, resource, sys
from skillstore import LexicalEmbedder, SkillStore, StoreIOError
path, limit = sys.argv[1], int(sys.argv[2])
with SkillStore.open(path, embedder="recorded") as store:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        store.reembed(LexicalEmbedder(dim=1024))
        outcome = "committed"
    except StoreIOError as exc:
        outcome = f"StoreIOError: {exc}"
    found = [m.skill.name for m in store.search(None, 1, text="skill 7")]
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    print(json.dumps({"outcome": outcome, "found": found, "dim": store.dim}))
"""


def test_a_reembed_past_the_file_size_limit_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "store"
    before = build(path)
    # every file of the old generation fits under the limit; the new vectors (300 x 1024 x 4) do not
    result = subprocess.run([PYTHON, "-c", REEMBED_UNDER_FSIZE, str(path), "400000"], capture_output=True,
                            text=True, env=subprocess_env(), cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["outcome"].startswith("StoreIOError") and "too large" in found["outcome"].lower(), found
    assert found == {**found, "found": ["skill 7"], "dim": OLD.dim}  # the handle goes on with the old model
    with SkillStore.open(path, read_only=True) as store:
        assert contents(store) == before
    assert_whole(path, OLD, set(before))


def test_a_reembed_on_a_full_disk_fails_typed_and_succeeds_once_space_returns(
    small_tmpfs: Callable[[int], Path],
) -> None:
    disk = small_tmpfs(4096)
    path = disk / "store"
    before = build(path)
    ballast = fill(disk, leave=300_000)  # room for the old generation again, not for 1.2 MB of new vectors
    with SkillStore.open(path, embedder="recorded") as store:
        with pytest.raises(StoreIOError) as caught:
            store.reembed(NEW)
        assert caught.value.errno == errno.ENOSPC
        assert store.embedder_identity == identity(OLD) and contents(store) == before
        assert [m.skill.name for m in store.search(None, 1, text="skill 7")] == ["skill 7"]
        ballast.unlink()
        store.reembed(NEW)
    assert_whole(path, NEW, set(before))


KILLED_REEMBED = r"""
import os, signal, sys
import skillstore.store as store_module
from skillstore import LexicalEmbedder, SkillStore
path, point = sys.argv[1], sys.argv[2]

def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)

def after(function):
    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        die()
        return result
    return wrapped

if point == "written":  # the new generation's files are on disk, the MANIFEST still names the old
    store_module.write_generation = after(store_module.write_generation)
if point == "committed":  # the MANIFEST names the new generation; nothing after it has run
    store_module.write_manifest = after(store_module.write_manifest)
with SkillStore.open(path, embedder="recorded") as store:
    store.reembed(LexicalEmbedder(dim=1024), progress=die if point == "embedding" else None)
"""


@pytest.mark.parametrize(("point", "survivor"), [("embedding", OLD), ("written", OLD), ("committed", NEW)])
def test_a_reembed_killed_at_any_step_leaves_one_whole_model(
    tmp_path: Path, point: str, survivor: LexicalEmbedder
) -> None:
    path = tmp_path / "store"
    before = build(path)
    result = subprocess.run([PYTHON, "-c", KILLED_REEMBED, str(path), point], capture_output=True, text=True,
                            env=subprocess_env(), cwd=ROOT, timeout=120)
    assert result.returncode == -9, (result.returncode, result.stderr)
    if survivor is OLD:
        with SkillStore.open(path, read_only=True) as store:
            assert contents(store) == before
    assert_whole(path, survivor, set(before))
