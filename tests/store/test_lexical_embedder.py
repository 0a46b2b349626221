"""The built-in lexical embedder: the same vector in every process, the algorithm pinned (a
change to it must come with a new ``version`` parameter, or stores embedded by the old one
would take the new one's vectors for their own), and what its documentation promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skillstore import InvalidInputError, LexicalEmbedder, embedder_from_spec
from skillstore.embedders import STOP_WORDS, embedder_from_identity, identity

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["Open the door with the KEY", "pick up the ball", "", "!!!", "Straße 42 ünïcode"]


def test_every_process_gets_the_same_vectors() -> None:
    here = LexicalEmbedder().embed(TEXTS)
    code = (
        "import json, sys; from skillstore import LexicalEmbedder; "
        "print(json.dumps(LexicalEmbedder().embed(json.loads(sys.argv[1])).tolist()))"
    )
    for seed in ("0", "12345"):  # str hashing differs between these; the embedder must not care
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", code, json.dumps(TEXTS)], env=env, capture_output=True,
                                text=True, check=True, timeout=60)
        np.testing.assert_array_equal(np.array(json.loads(result.stdout), dtype=np.float32), here)


def test_the_algorithm_is_pinned() -> None:
    """Buckets and signs of a known text (exact integers), and a value: if this fails, the
    algorithm changed; bump the ``version`` parameter."""
    vector = LexicalEmbedder(dim=64).embed(["Open the door"])[0]
    buckets = np.flatnonzero(vector)
    assert buckets.tolist() == [4, 7, 12, 14, 21, 23, 35, 38, 42, 51, 53, 55, 58, 59, 60, 62]
    assert np.sign(vector[buckets]).astype(int).tolist() == [-1, 1, 1, 1, -1, -1, -1, -1, -1, -1, 1, 1, 1, -1, 1, 1]
    assert vector[7] == pytest.approx(0.508195, abs=1e-6)
    assert LexicalEmbedder().params == {"dim": 256, "min_n": 3, "max_n": 4, "version": 1}


def test_vectors_are_unit_rows_and_textless_texts_get_a_fixed_direction() -> None:
    vectors = LexicalEmbedder().embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 256)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(vectors[2], vectors[3])  # no word at all: one fixed direction
    assert LexicalEmbedder().embed(["the a of"])[0][0] == 1.0  # stop words only: the same
    assert "the" in STOP_WORDS


def test_shared_words_and_word_pieces_bring_texts_close() -> None:
    e = LexicalEmbedder()
    [door, unlock, unlocked, ball, goal] = e.embed(
        ["open the door with the key", "unlock door using key", "unlocked the door", "pick up the ball",
         "go to the goal square"]
    )
    assert door @ unlock > door @ ball and door @ unlock > door @ goal
    assert unlock @ unlocked > unlock @ ball  # "unlock" and "unlocked" share their pieces
    assert e.embed(["OPEN THE DOOR"])[0] @ e.embed(["open the door"])[0] == pytest.approx(1.0)  # case-folded


@pytest.mark.parametrize(
    "params", [{"dim": 4}, {"dim": 65537}, {"dim": True}, {"min_n": 0}, {"max_n": 11}, {"min_n": 5, "max_n": 3}]
)
def test_bad_parameters_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match="lexical embedder"):
        LexicalEmbedder(**params)  # type: ignore[arg-type]


def test_specs_and_identities_build_the_same_embedder() -> None:
    built = embedder_from_spec("lexical:dim=128,max_n=5")
    assert identity(built) == identity(LexicalEmbedder(dim=128, max_n=5))
    assert identity(embedder_from_identity(identity(built))) == identity(built)
    for spec, complaint in [("nope", "unknown embedder"), ("lexical:dim", "key=value"),
                            ("lexical:size=3", "size"), ("lexical:dim=x", "dim")]:
        with pytest.raises(InvalidInputError, match=complaint):
            embedder_from_spec(spec)


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [("lexical:dim=--5", "dim"), ("lexical:dim=²", "dim"), ("lexical:dim=-", "dim"),
     ("lexical:dim=16,dim=32", "dim.*twice")],
)
def test_spec_values_that_only_look_like_integers_are_refused(spec: str, complaint: str) -> None:
    with pytest.raises(InvalidInputError, match=complaint):
        embedder_from_spec(spec)


def test_spec_integers_may_be_negative() -> None:
    with pytest.raises(InvalidInputError, match=r"min_n must be an integer in \[1, 10\]"):
        embedder_from_spec("lexical:min_n=-3")
