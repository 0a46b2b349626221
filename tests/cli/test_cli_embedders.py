"""The command line and embedders: ``init --embedder``, ``info``, ``search --text`` with the
library's embedder, and ``reembed`` (atomic, with a progress bar on a terminal)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import ok, run
from click.testing import CliRunner

from skillstore import LexicalEmbedder, Skill, SkillStore, peek
from skillstore.cli import main
from skillstore.embedders import identity, skill_text

SKILLS = [
    ("unlock door", "use the key on the locked door", ["toggle"]),
    ("fetch key", "pick up the key from the floor", ["pickup"]),
    ("reach goal", "go to the green goal square", ["forward"]),
]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "lib"
    ok("init", path, "--embedder", "lexical")
    with SkillStore.open(path, embedder="recorded") as store:
        store.add_many([Skill(name, actions, None, description=text) for name, text, actions in SKILLS])
    return path


def test_init_records_the_embedder_and_info_shows_it(library: Path) -> None:
    assert peek(library).embedder == identity(LexicalEmbedder())
    assert peek(library).dim == LexicalEmbedder().dim
    assert "lexical (dim 256, max_n 4, min_n 3, version 1)" in ok("info", library).output


def test_init_needs_a_dimension_from_somewhere(tmp_path: Path) -> None:
    result = run("init", tmp_path / "x")
    assert result.exit_code == 2 and "--dim" in result.output
    result = run("init", tmp_path / "x", "--embedder", "lexical", "--dim", "8")
    assert result.exit_code == 1 and "dim 8" in result.output
    result = run("init", tmp_path / "x", "--embedder", "lexical:dim=zero")
    assert result.exit_code == 2 and "dim" in result.output
    assert not (tmp_path / "x" / "MANIFEST").exists()


def test_search_text_uses_the_librarys_embedder(library: Path) -> None:
    # "unlocking" and "doors" are in no skill: BM25 alone finds nothing, the embedding does
    found = ok("search", library, "--text", "unlocking doors", "-k", "1", "--json").output
    assert '"unlock door"' in found


def test_reembed_replaces_every_vector(library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skillstore.cli.commands as cli

    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: True)
    generation = peek(library).generation
    result = CliRunner().invoke(main, ["reembed", str(library), "--embedder", "lexical:dim=64,max_n=5"])
    assert result.exit_code == 0, result.output
    assert "Embedding" in result.stderr and "Re-embedded 3 skills" in result.stdout
    new = LexicalEmbedder(dim=64, max_n=5)
    assert peek(library).embedder == identity(new) and peek(library).generation == generation + 1
    with SkillStore.open(library, read_only=True) as store:
        for skill in store:
            vector = new.embed([skill_text(skill.name, skill.description, skill.actions)])[0]
            np.testing.assert_allclose(skill.embedding, vector / np.linalg.norm(vector), atol=1e-6)


def test_reembed_refuses_what_it_cannot_do(library: Path, tmp_path: Path) -> None:
    before = peek(library)
    assert run("reembed", library, "--embedder", "nope").exit_code == 2
    assert run("reembed", library).exit_code == 2  # --embedder is required
    result = run("reembed", "postgresql://nobody@localhost/none", "--embedder", "lexical")
    assert result.exit_code == 1 and "store directories" in result.output
    result = run("reembed", tmp_path / "missing", "--embedder", "lexical")
    assert result.exit_code == 1 and "no skill store" in result.output
    assert peek(library) == before


class Custom(LexicalEmbedder):
    """An embedder of the user's own, which no installation of skillstore can build from its name."""

    name = "my-model"


def test_search_text_falls_back_to_words_when_the_embedder_cannot_be_built(tmp_path: Path) -> None:
    path = tmp_path / "custom"
    with SkillStore.open(path, embedder=Custom(dim=32)) as store:
        store.add_many([Skill(name, actions, None, description=text) for name, text, actions in SKILLS])
    result = CliRunner().invoke(main, ["search", str(path), "--text", "locked door", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "my-model" in result.stderr and "searching by words alone" in result.stderr
    assert "unlock door" in result.stdout  # BM25 alone


def test_an_export_carries_the_embedder_to_a_new_library(library: Path, tmp_path: Path) -> None:
    export = tmp_path / "skills.jsonl"
    ok("export", library, "-o", export)
    header = json.loads(export.read_text().splitlines()[0])
    assert header["embedder"] == identity(LexicalEmbedder())
    ok("import", tmp_path / "copy", export)
    assert peek(tmp_path / "copy").embedder == identity(LexicalEmbedder())
    found = ok("search", tmp_path / "copy", "--text", "unlocking doors", "-k", "1", "--json").output
    assert '"unlock door"' in found  # the copy embeds queries with the recorded embedder too
    ok("import", tmp_path / "copy", export)  # the same embedder: fine (every skill already there)


def test_an_import_refuses_vectors_of_another_embedder(library: Path, tmp_path: Path) -> None:
    export = tmp_path / "skills.msgpack"
    ok("export", library, "-o", export)
    other = tmp_path / "other"
    ok("init", other, "--embedder", "lexical:dim=256,min_n=2")
    result = run("import", other, export)
    assert result.exit_code == 1 and "made by lexical" in result.output
    assert len(SkillStore.open(other, read_only=True)) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("embedder", "complaint"),
    [({"name": "x", "params": {}, "dim": 7}, "dim 7"), ({"name": ""}, "embedder"), ("lexical", "embedder")],
)
def test_a_crafted_embedder_in_a_header_is_refused(tmp_path: Path, embedder: object, complaint: str) -> None:
    export = tmp_path / "bad.jsonl"
    export.write_text(json.dumps({"skillstore_export": 1, "dim": 3, "count": 0, "embeddings": True,
                                  "embedder": embedder}) + "\n")
    result = run("import", tmp_path / "new", export)
    assert result.exit_code == 1 and complaint in result.output
    assert not (tmp_path / "new").exists()


def test_files_without_an_embedder_still_import(library: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    with SkillStore.open(plain, dim=LexicalEmbedder().dim) as store:
        store.add(Skill("given", ["a"], np.eye(LexicalEmbedder().dim)[0]))
    export = tmp_path / "plain.jsonl"
    ok("export", plain, "-o", export)
    assert "embedder" not in json.loads(export.read_text().splitlines()[0])
    ok("import", library, export)  # a library with an embedder takes callers' vectors, as its API does
    assert peek(library).embedder == identity(LexicalEmbedder())
