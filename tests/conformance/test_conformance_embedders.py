"""Embedders on every backend: skills added without an embedding get their text's, text
searches embed the query, a change of text re-embeds, a library keeps its embedder's
identity and refuses another; re-embedding (embedded store and MemoryBackend) replaces
every vector, old versions' too, all or nothing.

The oracle is the embedder itself, called directly on the documented text of a skill
(``skill_text``), and a library built from scratch with the second embedder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conformance_helpers import Backends

from skillstore import (
    EmbedderMismatchError,
    InvalidEmbeddingError,
    InvalidInputError,
    MemoryBackend,
    Skill,
    SkillBackend,
    SkillStore,
    peek,
)
from skillstore.embedders import LexicalEmbedder, identity, skill_text

FIRST = LexicalEmbedder()
SECOND = LexicalEmbedder(dim=96, min_n=2, max_n=5)
LIBRARY = [
    ("open door", "walk to the door and open it", ["toggle"]),
    ("fetch key", "pick up the key from the floor", ["forward", "pickup"]),
    ("unlock door", "use the key on the locked door", ["toggle"]),
    ("explore", "wander until something turns up", "random walk"),
    ("reach goal", "go to the green goal square", ["forward", "forward"]),
]


def unit(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector, dtype=np.float64) / np.linalg.norm(vector)


def expected(embedder: LexicalEmbedder, name: str, description: str, actions: Any) -> np.ndarray:
    return unit(embedder.embed([skill_text(name, description, actions)])[0])


def build(backend: SkillBackend, library: Sequence[tuple[str, str, Any]] = LIBRARY) -> list[str]:
    return backend.add_many([Skill(name, actions, None, description=text) for name, text, actions in library])


def ranked(matches: list[Any]) -> list[tuple[str, float]]:
    return [(m.skill.name, round(m.score, 9)) for m in matches]


def test_skills_without_an_embedding_get_their_texts(make_backend: Backends) -> None:
    backend = make_backend(FIRST.dim, embedder=FIRST)
    ids = build(backend)
    for skill_id, (name, text, actions) in zip(ids, LIBRARY, strict=True):
        np.testing.assert_allclose(backend.get(skill_id).embedding, expected(FIRST, name, text, actions), atol=1e-6)
    given = np.eye(FIRST.dim)[3]  # an embedding the caller gives is kept, embedder or not
    np.testing.assert_array_equal(backend.get(backend.add(Skill("mine", ["a"], given))).embedding, given)


def test_a_text_search_embeds_its_query(make_backend: Backends) -> None:
    backend = make_backend(FIRST.dim, embedder=FIRST)
    build(backend)
    query = "unlock the locked door"
    hybrid = backend.search(None, 3, text=query)
    assert ranked(hybrid) == ranked(backend.search(FIRST.embed([query])[0], 3, text=query))
    assert hybrid[0].skill.name == "unlock door"
    # no skill holds "unlocking" or "doors": BM25 alone finds nothing; the embedding's word
    # pieces still find the door skills
    assert make_backend(FIRST.dim).search(None, 3, text="unlocking doors") == []
    found = [m.skill.name for m in backend.search(None, 2, text="unlocking doors")]
    assert set(found) == {"unlock door", "open door"}


def test_without_an_embedder_a_skill_needs_an_embedding(make_backend: Backends) -> None:
    backend = make_backend(FIRST.dim)
    backend.add(Skill("kept", ["a"], np.ones(FIRST.dim)))
    with pytest.raises(InvalidEmbeddingError, match="no embedder"):
        backend.add_many([Skill("fine", ["a"], np.ones(FIRST.dim)), Skill("text only", ["a"], None)])
    assert [s.name for s in backend] == ["kept"]
    with pytest.raises(InvalidEmbeddingError, match="embedding=None asks for the embedding of the skill's text"):
        backend.update(next(iter(backend)).id, embedding=None)


def test_a_change_of_text_re_embeds_and_versions_keep_theirs(make_backend: Backends) -> None:
    backend = make_backend(FIRST.dim, embedder=FIRST)
    skill_id = build(backend)[0]
    before = backend.get(skill_id).embedding
    backend.update(skill_id, metadata={"room": 2}, reason="tagged")  # not the text: same embedding
    np.testing.assert_array_equal(backend.get(skill_id).embedding, before)
    backend.update(skill_id, description="unlock and open the door", reason="reworded")
    now = backend.get(skill_id)
    np.testing.assert_allclose(now.embedding, expected(FIRST, "open door", "unlock and open the door", ["toggle"]),
                               atol=1e-6)
    assert now.version == 3
    np.testing.assert_array_equal(backend.get(skill_id, version=2).embedding, before)
    backend.update(skill_id, embedding=None, reason="same text")  # asks for the text's: no change
    assert backend.get(skill_id).version == 3
    backend.rollback(skill_id, 1, reason="back")
    np.testing.assert_array_equal(backend.get(skill_id).embedding, before)


def test_a_library_keeps_its_embedders_identity(make_backend: Backends) -> None:
    backend = make_backend(FIRST.dim, embedder=FIRST)
    build(backend)
    assert backend.embedder_identity == identity(FIRST)  # type: ignore[attr-defined]
    if make_backend.kind == "memory":
        return
    same = make_backend.reopen(backend, embedder="recorded")
    assert same is not None and same.embedder is not None  # type: ignore[attr-defined]
    assert identity(same.embedder) == identity(FIRST)  # type: ignore[attr-defined]
    plain = make_backend.reopen(same)
    assert plain is not None and plain.embedder is None  # type: ignore[attr-defined]
    assert plain.embedder_identity == identity(FIRST)  # type: ignore[attr-defined]
    assert plain.search(None, 2, text="open the door")  # BM25 alone, vectors untouched
    with pytest.raises(InvalidEmbeddingError, match="no embedder"):
        plain.add(Skill("text only", ["a"], None))
    with pytest.raises(EmbedderMismatchError, match="embedded by lexical"):
        make_backend.reopen(plain, embedder=SECOND)


def test_a_library_made_without_an_embedder_refuses_one(make_backend: Backends) -> None:
    backend = make_backend(FIRST.dim)
    if make_backend.kind == "memory":
        return
    with pytest.raises(EmbedderMismatchError, match="not created with an embedder"):
        make_backend.reopen(backend, embedder=FIRST)


def test_create_takes_the_embedders_dim(tmp_path: Path) -> None:
    with SkillStore.open(tmp_path / "a", embedder=SECOND) as store:
        assert store.dim == SECOND.dim
    assert MemoryBackend(embedder=SECOND).dim == SECOND.dim
    info = peek(tmp_path / "a")
    assert info.embedder == identity(SECOND) and info.format_version == 4
    with SkillStore.open(tmp_path / "b", dim=8) as store:
        pass
    assert peek(tmp_path / "b").format_version == 3 and peek(tmp_path / "b").embedder is None


# -- re-embedding: the embedded store and MemoryBackend ------------------------------------------


@pytest.fixture(params=["memory", "skillstore"])
def reembeddable(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    def make(embedder: LexicalEmbedder, name: str = "lib") -> Any:
        if request.param == "memory":
            return MemoryBackend(embedder=embedder)
        return SkillStore.open(tmp_path / name, embedder=embedder)

    return make


def test_reembed_gives_what_a_library_built_with_the_new_embedder_gives(reembeddable: Any) -> None:
    library = reembeddable(FIRST)
    ids = build(library)
    library.update(ids[2], description="turn the key in the locked door", reason="reworded")
    library.record_outcome(ids[2], True)
    library.update(ids[3], status="deprecated")
    # the oracle: the same skills (ids included, so ties break alike) with the second
    # embedder's vectors of their texts, computed here
    reference = reembeddable(SECOND, "reference")
    reference.restore_many([
        Skill(s.name, s.actions, expected(SECOND, s.name, s.description, s.actions), description=s.description,
              id=s.id, status=s.status)
        for s in library.skills(status=["active", "deprecated"])
    ])
    queries = ["unlock the door", "find the key", "green square", "wander around"]
    before = {id_: (s.stats, s.version, s.status) for id_, s in ((i, library.get(i)) for i in ids)}
    calls: list[tuple[int, int]] = []

    library.reembed(SECOND, progress=lambda done, total: calls.append((done, total)))

    assert library.dim == SECOND.dim and library.embedder_identity == identity(SECOND)
    assert calls and calls[-1][0] == calls[-1][1]
    for skill_id in ids:
        skill = library.get(skill_id)
        assert (skill.stats, skill.version, skill.status) == before[skill_id]
        np.testing.assert_allclose(skill.embedding, expected(SECOND, skill.name, skill.description, skill.actions),
                                   atol=1e-6)
    old = library.get(ids[2], version=1)  # a kept version is re-embedded from its own text
    np.testing.assert_allclose(old.embedding, expected(SECOND, old.name, old.description, old.actions), atol=1e-6)
    for query in queries:
        statuses = ["active", "deprecated"]
        assert ranked(library.search(None, 4, text=query, status=statuses)) == ranked(
            reference.search(None, 4, text=query, status=statuses)
        ), query
    library.rollback(ids[2], 1)
    np.testing.assert_array_equal(library.get(ids[2]).embedding, old.embedding)
    library.close()
    reference.close()


class FailsOnSecondBatch(LexicalEmbedder):
    """Embeds one batch, then fails: a re-embedding must leave the library as it was."""

    def __init__(self) -> None:
        super().__init__(dim=32)
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("the model server went away")
        return super().embed(texts)


def test_a_failed_reembed_changes_nothing(reembeddable: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    library = reembeddable(FIRST)
    build(library, [(f"skill {i}", f"step {i} of the task", ["act"]) for i in range(300)])  # two batches
    before = [(s.id, s.embedding.tobytes()) for s in library]
    with pytest.raises(RuntimeError, match="went away"):
        library.reembed(FailsOnSecondBatch())
    assert [(s.id, s.embedding.tobytes()) for s in library] == before
    assert library.dim == FIRST.dim and library.embedder_identity == identity(FIRST)
    library.close()


def test_a_reembed_by_another_handle_stops_this_ones_embedder(tmp_path: Path) -> None:
    with SkillStore.open(tmp_path / "lib", embedder=FIRST) as writer:
        build(writer)
        reader = SkillStore.open(tmp_path / "lib", read_only=True, embedder=FIRST)
        writer.reembed(SECOND)
        with pytest.raises(EmbedderMismatchError, match="re-embedded by another process"):
            reader.refresh()
        with pytest.raises(EmbedderMismatchError):
            reader.refresh()  # every time, until reopened: its embedder never meets the new vectors
        reader.close()
    with SkillStore.open(tmp_path / "lib", read_only=True, embedder="recorded") as again:
        assert again.dim == SECOND.dim and again.search(None, 1, text="door")


class Named:
    """An embedder whose identity is whatever it is given."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name, self.params, self.dim = name, params, 4

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), self.dim))


@pytest.mark.parametrize(
    ("name", "params"),
    [("big", {"n": 2**64}), ("small", {"n": -(2**63) - 1}), ("\ud800", {}), ("keys", {"\udc80": 1}),
     ("values", {"v": "\udc80"}), ("nul\x00", {}), ("keys", {"k\x00": 1}), ("values", {"v": "a\x00"})],
)
def test_an_identity_no_record_can_hold_is_refused(make_backend: Backends, name: str, params: dict[str, Any]) -> None:
    """Integers beyond 64 bits, strings that are not UTF-8 or hold NUL (which neither a MANIFEST
    nor PostgreSQL's JSON can keep): refused as bad input on every backend, before anything
    is created."""
    with pytest.raises(InvalidInputError, match="embedder"):
        identity(Named(name, params))
    with pytest.raises(InvalidInputError, match="embedder"):
        make_backend(4, embedder=Named(name, params))


def test_an_identitys_numbers_survive_every_backends_record(make_backend: Backends) -> None:
    """PostgreSQL's JSON keeps 1e20 as the integer 100000000000000000000: an integral float
    beyond 64-bit integers must still read back as the number recorded."""
    params = {"scale": 1e20, "huge": 1e300, "tiny": 1e-300, "third": 1 / 3, "one": 1.0, "big": 2**62, "neg": -7}
    backend = make_backend(4, embedder=Named("custom", params))
    again = make_backend.reopen(backend, embedder=Named("custom", params))
    if again is not None:
        assert again.embedder_identity == identity(Named("custom", params))  # type: ignore[attr-defined]


def test_an_identity_alone_is_recorded_and_checked(make_backend: Backends) -> None:
    if make_backend.kind == "memory":
        return  # nothing persists: an identity alone has nothing to record it in
    backend = make_backend(FIRST.dim, embedder=identity(FIRST))
    assert backend.embedder_identity == identity(FIRST) and backend.embedder is None  # type: ignore[attr-defined]
    with pytest.raises(InvalidEmbeddingError, match="no embedder"):
        backend.add(Skill("text only", ["a"], None))
    same = make_backend.reopen(backend, embedder=identity(FIRST))
    assert same is not None
    with pytest.raises(EmbedderMismatchError):
        make_backend.reopen(same, embedder=identity(SECOND) | {"dim": FIRST.dim})
