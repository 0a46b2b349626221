"""Text search on every backend: the same matches and top results on clear-cut cases, filters
applied first, the same errors; BM25 scores equal to a reference computed one skill at a time
on the embedded store and MemoryBackend (PostgreSQL ranks with its own ``ts_rank``)."""

from __future__ import annotations

import numpy as np
import pytest
from conformance_helpers import Backends

from skillstore import InvalidInputError, Skill, SkillBackend
from skillstore.text import document, reference_scores

DIM = 4
LIBRARY = [
    ("open door", "walk to the door and open it", {"room": 1}),
    ("fetch key", "pick up the key from the floor", {"room": 2}),
    ("unlock", "use the key on the locked door", {"room": 2}),
    ("explore", "wander until something turns up", {"room": 3}),
    ("reach goal", "go to the green goal square", {"room": 3}),
]


def build(backend: SkillBackend) -> list[str]:
    vectors = np.eye(DIM)[[0, 1, 2, 3, 0]] + 0.05
    ids = backend.add_many([Skill(name, ["act"], vectors[i], description=text, metadata=meta)
                            for i, (name, text, meta) in enumerate(LIBRARY[:3])])
    if hasattr(backend, "checkpoint"):
        backend.checkpoint()  # part of the lexical index persisted, part in memory
    ids += backend.add_many([Skill(name, ["act"], vectors[i + 3], description=text, metadata=meta)
                             for i, (name, text, meta) in enumerate(LIBRARY[3:])])
    return ids


def names(matches: list) -> list[str]:  # type: ignore[type-arg]
    return [m.skill.name for m in matches]


def test_matches_and_clear_cut_top_results(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    build(backend)
    assert sorted(names(backend.search(None, k=10, text="key"))) == ["fetch key", "unlock"]
    assert names(backend.search(None, k=1, text="locked door key")) == ["unlock"]  # the one holding all three
    assert names(backend.search(None, k=10, text="green")) == ["reach goal"]
    assert backend.search(None, k=10, text="dragon") == []
    assert names(backend.search(None, k=10, text="KEY", where={"room": {"$ne": 2}})) == []  # filters first
    assert names(backend.search(None, k=10, text="door", where={"room": 1})) == ["open door"]


def test_hybrid_search_puts_the_skill_both_rankings_agree_on_first(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    build(backend)
    query = np.eye(DIM)[2] + 0.05  # the embedding of "unlock"
    assert names(backend.search(query, k=1, text="locked key"))[0] == "unlock"
    found = backend.search(query, k=5, text="dragon")  # no term matches: the cosine ranking alone
    assert names(found)[0] == "unlock" and len(found) == 5


def test_hybrid_search_with_no_candidate_finds_nothing(make_backend: Backends) -> None:
    """A filter that keeps no skill, or an empty library, leaves the fusion nothing to rank."""
    backend = make_backend(DIM)
    assert backend.search(np.ones(DIM), 3, text="door") == []
    build(backend)
    assert backend.search(np.ones(DIM), 3, text="door", where={"room": 9}) == []
    assert backend.search(np.ones(DIM), 3, text="door", state={"absent": 1}, where={"room": {"$gt": 5}}) == []


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [({"text": 3}, "text must be a string"), ({"text": "  ,;"}, "no word"),
     ({"text": "key", "rank": "blend"}, "ranks by BM25")],
)
def test_errors(make_backend: Backends, arguments: dict, fragment: str) -> None:  # type: ignore[type-arg]
    backend = make_backend(DIM)
    build(backend)
    with pytest.raises(InvalidInputError, match=fragment):
        backend.search(None, k=3, **arguments)


def test_bm25_scores_equal_the_reference(make_backend: Backends) -> None:
    if make_backend.kind == "postgres":
        pytest.skip("PostgreSQL ranks with ts_rank, not BM25 (documented)")
    backend = make_backend(DIM)
    ids = build(backend)
    backend.update(ids[1], description="the key to the door, again")  # a persisted row changed
    backend.delete(ids[3])
    documents = {str(s.id): document({"name": s.name, "description": s.description, "actions": s.actions})
                 for s in backend}
    for text in ("door key", "the", "go to goal", "Locked"):
        want = reference_scores(text, documents)
        got = {m.id: m.score for m in backend.search(None, k=10, text=text)}
        assert got.keys() == want.keys()
        assert all(abs(got[i] - want[i]) < 1e-9 for i in want)
