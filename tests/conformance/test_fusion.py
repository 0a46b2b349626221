"""Reciprocal-rank fusion against its definition written out plainly: every candidate ranked
in each list by score, ties by id, ranks from 1, a list's part 1/(60 + rank), the BM25 part
only for candidates matching a term. Scores drawn from a few values, so ties are the rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from skillstore.text import RRF_K, fused


def reference(cosines: list[float], bm25: list[float], ids: list[str]) -> list[float]:
    def ranks(scores: list[float]) -> dict[int, int]:
        order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))
        return {i: rank for rank, i in enumerate(order, start=1)}

    by_cosine, by_text = ranks(cosines), ranks(bm25)
    return [1 / (RRF_K + by_cosine[i]) + (1 / (RRF_K + by_text[i]) if bm25[i] > 0 else 0.0) for i in range(len(ids))]


@given(st.data())
def test_fusion_equals_its_definition(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 60))
    ids = data.draw(st.lists(st.text("abc", min_size=1, max_size=4), min_size=n, max_size=n, unique=True))
    cosines = data.draw(st.lists(st.sampled_from([-0.5, 0.0, 0.25, 0.5, 1.0]), min_size=n, max_size=n))
    bm25 = data.draw(st.lists(st.sampled_from([0.0, 0.0, 1.5, 2.0, 3.25]), min_size=n, max_size=n))
    looked_up: set[int] = set()

    def id_keys(positions: np.ndarray) -> np.ndarray:
        looked_up.update(positions.tolist())
        return np.array([ids[i] for i in positions.tolist()], dtype=str)

    got = fused(np.array(cosines), np.array(bm25), id_keys)
    np.testing.assert_allclose(got, reference(cosines, bm25, ids), rtol=0, atol=1e-15)
    tied = {i for i in range(n) if cosines.count(cosines[i]) > 1 or (bm25[i] > 0 and bm25.count(bm25[i]) > 1)}
    assert looked_up <= tied  # an id is read only to break a tie that counts


@given(st.lists(st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), min_size=1,
                        max_size=6), min_size=1, max_size=30, unique=True))
def test_a_stores_id_keys_sort_as_its_ids(ids: list[str]) -> None:
    """The embedded store's vectorised keys (UTF-8 cut from the ids column), for snapshot rows
    and rows written since, order exactly as Python orders the ids."""
    import tempfile

    from skillstore import Skill, SkillStore

    with tempfile.TemporaryDirectory() as directory, SkillStore.open(directory, dim=2) as store:
        half = len(ids) // 2
        store.restore_many([Skill("s", [], [1, 0], id=i) for i in ids[:half]])
        store.checkpoint()  # these in the mapped columns, the rest in memory
        store.restore_many([Skill("s", [], [1, 0], id=i) for i in ids[half:]])
        catalog = store._catalog
        rows = np.array([catalog.row(i) for i in ids])
        keys = catalog.id_keys(rows)
        assert keys.tolist() == [i.encode("utf-8") for i in ids]  # every byte kept, none cut
        assert [ids[i] for i in np.argsort(keys, kind="stable")] == sorted(ids)


def test_fusion_of_no_candidates_is_empty() -> None:
    def id_keys(positions: np.ndarray) -> np.ndarray:
        raise AssertionError("no id to read among no candidates")

    assert fused(np.zeros(0), np.zeros(0), id_keys).shape == (0,)


def test_id_keys_of_snapshot_and_newer_rows_keep_every_byte(tmp_path: Path) -> None:
    """The case random seeds found: a longer id in the snapshot, a shorter one written since."""
    from skillstore import Skill, SkillStore

    with SkillStore.open(tmp_path / "s", dim=2) as store:
        store.restore_many([Skill("s", [], [1, 0], id="00")])
        store.checkpoint()
        store.restore_many([Skill("s", [], [1, 0], id="0")])
        keys = store._catalog.id_keys(np.array([store._catalog.row("00"), store._catalog.row("0")]))
        assert keys.tolist() == [b"00", b"0"]
