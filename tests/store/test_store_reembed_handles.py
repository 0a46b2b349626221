"""A handle opened before another one re-embedded the store: once it catches up, its writes
are refused (EmbedderMismatchError: its vectors, of whatever dim, come from the model of
before) and never reach the log, so the store still opens, whole, with the new embedder's
vectors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import skillstore.store
from skillstore import EmbedderMismatchError, LexicalEmbedder, Skill, SkillStore, SkillStoreError
from skillstore.embedders import identity

NEW = LexicalEmbedder(dim=16)
OLD_DIM = 3


def old(i: int) -> list[float]:
    return [1.0, float(i), 0.0]


WRITES: dict[str, Callable[[SkillStore, list[str]], Any]] = {
    "add": lambda store, ids: store.add(Skill("late", ["a"], old(9))),
    "add with dedup": lambda store, ids: store.add_many([Skill("late", ["a"], old(1))]),
    "update": lambda store, ids: store.update(ids[0], embedding=old(7), reason="late"),
    "restore": lambda store, ids: store.restore_many([Skill("late", ["a"], old(5), id="restored")]),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_of_the_old_dim_after_a_reembed_elsewhere_is_refused(tmp_path: Path, write: str) -> None:
    path = tmp_path / "lib"
    with SkillStore.open(path, dim=OLD_DIM) as store:
        ids = store.add_many([Skill(f"skill {i}", ["step"], old(i), description="open the door") for i in range(3)])
    stale = SkillStore.open(path, dedup_threshold=0.99 if write == "add with dedup" else None)
    with SkillStore.open(path) as other:
        other.reembed(NEW)
    with pytest.raises(EmbedderMismatchError, match="re-embedded by another process"):
        WRITES[write](stale, ids)
    stale.close()
    with SkillStore.open(path, embedder=NEW) as store:
        skills = {s.id: s for s in store.skills()}
        assert sorted(skills) == sorted(ids)
        for skill in skills.values():
            np.testing.assert_allclose(skill.embedding, NEW.embed([f"{skill.name}\nopen the door\nstep"])[0],
                                       atol=1e-6)


def test_a_reembed_that_fails_after_its_commit_still_embeds_with_the_new_embedder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MANIFEST's rename commits a re-embedding; should the directory sync after it fail,
    the handle must still embed what it adds next with the new embedder, the store's now."""
    first, second = LexicalEmbedder(dim=16), LexicalEmbedder(dim=16, min_n=2)  # same dim: no size check helps
    path = tmp_path / "lib"
    store = SkillStore.open(path, embedder=first)
    store.add(Skill("open door", ["toggle"], None))
    committed: list[bool] = []
    real_write_manifest, real_fsync_dir = skillstore.store.write_manifest, skillstore.store.fsync_dir

    def write_manifest(*args: Any, **kwargs: Any) -> None:
        real_write_manifest(*args, **kwargs)
        committed.append(True)

    def fsync_dir(directory: Path) -> None:
        if committed:
            raise SkillStoreError(f"{directory}: the disk went away")
        real_fsync_dir(directory)

    monkeypatch.setattr(skillstore.store, "write_manifest", write_manifest)
    monkeypatch.setattr(skillstore.store, "fsync_dir", fsync_dir)
    with pytest.raises(SkillStoreError, match="went away"):
        store.reembed(second)
    monkeypatch.undo()
    assert committed and store.embedder_identity == identity(second)
    skill_id = store.add(Skill("fetch key", ["pickup"], None))
    np.testing.assert_allclose(store.get(skill_id).embedding, second.embed(["fetch key\npickup"])[0], atol=1e-6)
    store.close()


def test_a_handle_without_an_embedder_stops_once_the_store_is_re_embedded(tmp_path: Path) -> None:
    """Same dim, so no size check would stop it: the caller's vectors come from the model of
    before, and must not land among the new model's. Readers stop too: their queries are of
    the old model as well."""
    first, second = LexicalEmbedder(dim=16), LexicalEmbedder(dim=16, min_n=2)
    path = tmp_path / "lib"
    with SkillStore.open(path, embedder=first) as store:
        store.add(Skill("open door", ["toggle"], None))
    plain = SkillStore.open(path)
    reader = SkillStore.open(path, read_only=True)
    with SkillStore.open(path) as other:
        other.reembed(second)
    with pytest.raises(EmbedderMismatchError, match="re-embedded by another process"):
        plain.add(Skill("fetch key", ["pickup"], first.embed(["fetch key\npickup"])[0]))
    with pytest.raises(EmbedderMismatchError, match="open it again"):
        reader.refresh()
    plain.close()
    reader.close()
    with SkillStore.open(path, embedder="recorded") as again:
        assert [s.name for s in again] == ["open door"] and again.embedder_identity == identity(second)
