"""A library for the filter and text benchmarks: vectors, numeric metadata and descriptions.

Every skill has a clustered unit embedding (the mixture of :mod:`benchmarks.data`), two
metadata integers drawn uniformly, ``tier`` in 0..9,999 and ``room`` in 0..1,999, and a
generated description: 6 to 15 words from a vocabulary of pseudo-words whose frequencies
follow Zipf's law (exponent 1.07), so that a common word is in a third of the descriptions
and a rare one in a few dozen. Everything follows from the seed.

Filters are small trees, ``("lt", key, value)``, ``("gte", key, value)``, ``("in", key,
values)``, ``("and", [trees])`` and ``("or", [trees])``, that each system translates into
its own filter language; :func:`mask` is the plain NumPy evaluation the ground truth uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.data import make_dataset

TIERS = 10_000
ROOMS = 2_000
VOCABULARY = 2_000
ZIPF_EXPONENT = 1.07
WORDS_PER_DESCRIPTION = (6, 15)
# label -> share of the library a filter keeps
SELECTIVITIES: dict[str, float] = {"50%": 0.5, "10%": 0.1, "1%": 0.01, "0.1%": 0.001}
FILTER_KINDS = ("range", "$in", "$or/$and")
# text query kinds -> the band of vocabulary ranks (most frequent first) their two words come from
TEXT_BANDS: dict[str, tuple[int, int]] = {"common words": (0, 10), "middle words": (50, 200), "rare words": (800, 2000)}

Tree = tuple[Any, ...]


@dataclass
class FilterLibrary:
    vectors: np.ndarray  # (n, dim) float32, unit rows
    tier: np.ndarray  # (n,) int64
    room: np.ndarray  # (n,) int64
    descriptions: list[str]
    queries: np.ndarray  # (q, dim) float32, unit rows
    text_queries: dict[str, list[str]]  # band -> one two-word query per vector query

    @property
    def n(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def name(self, row: int) -> str:
        return f"s{row}"


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """``size`` distinct pronounceable pseudo-words of two to four syllables, letters only."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: dict[str, None] = {}
    while len(words) < size:
        parts = rng.integers(0, len(syllables), size=int(rng.integers(2, 5)))
        words["".join(syllables[p] for p in parts)] = None
    return list(words)


def _descriptions(n: int, words: list[str], rng: np.random.Generator) -> list[str]:
    weights = 1.0 / np.arange(1, len(words) + 1) ** ZIPF_EXPONENT
    lengths = rng.integers(WORDS_PER_DESCRIPTION[0], WORDS_PER_DESCRIPTION[1] + 1, size=n)
    picks = rng.choice(len(words), size=int(lengths.sum()), p=weights / weights.sum())
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [" ".join(words[w] for w in picks[bounds[i] : bounds[i + 1]]) for i in range(n)]


def _text_queries(words: list[str], count: int, rng: np.random.Generator) -> dict[str, list[str]]:
    queries = {}
    for band, (low, high) in TEXT_BANDS.items():
        pairs = [rng.choice(np.arange(low, high), size=2, replace=False) for _ in range(count)]
        queries[band] = [f"{words[a]} {words[b]}" for a, b in pairs]
    return queries


def make_filter_library(n: int, dim: int, queries: int, seed: int = 0) -> FilterLibrary:
    base = make_dataset(n, dim, queries, seed)
    rng = np.random.default_rng([seed, 12])
    words = vocabulary(VOCABULARY, rng)
    return FilterLibrary(
        vectors=base.vectors,
        tier=rng.integers(0, TIERS, size=n),
        room=rng.integers(0, ROOMS, size=n),
        descriptions=_descriptions(n, words, rng),
        queries=base.queries,
        text_queries=_text_queries(words, queries, rng),
    )


def _rooms(share: float, seed: int = 0) -> list[int]:
    """A spread-out set of rooms holding ``share`` of the library (at least one room)."""
    order = np.random.default_rng([seed, 34]).permutation(ROOMS)
    return sorted(int(r) for r in order[: max(1, round(ROOMS * share))])


def filter_tree(kind: str, share: float) -> Tree:
    """The filter of ``kind`` that keeps about ``share`` of the library."""
    if kind == "range":
        return ("lt", "tier", max(1, round(TIERS * share)))
    if kind == "$in":
        return ("in", "room", _rooms(share))
    if kind == "$or/$and":
        # half the share from a low tier, half from rooms among the upper half of the tiers
        return (
            "or",
            [
                ("lt", "tier", max(1, round(TIERS * share / 2))),
                ("and", [("in", "room", _rooms(share)), ("gte", "tier", TIERS // 2)]),
            ],
        )
    raise ValueError(f"unknown filter kind {kind!r}; known: {', '.join(FILTER_KINDS)}")


def mask(tree: Tree, library: FilterLibrary) -> np.ndarray:
    """The rows a filter keeps, as a boolean array (the ground truth's evaluation)."""
    op = tree[0]
    if op in ("and", "or"):
        parts = [mask(t, library) for t in tree[1]]
        combine = np.logical_and if op == "and" else np.logical_or
        result = parts[0]
        for part in parts[1:]:
            result = combine(result, part)
        return result
    column = getattr(library, tree[1])
    if op == "lt":
        return column < tree[2]  # type: ignore[no-any-return]
    if op == "gte":
        return column >= tree[2]  # type: ignore[no-any-return]
    if op == "in":
        return np.isin(column, tree[2])
    raise ValueError(f"unknown filter operator {op!r}")


def exact_filtered_top_k(library: FilterLibrary, keep: np.ndarray, k: int) -> list[np.ndarray]:
    """Exact cosine top-k among the rows ``keep`` allows, per vector query."""
    rows = np.flatnonzero(keep)
    sims = library.queries @ library.vectors[rows].T
    top = np.argsort(-sims, axis=1, kind="stable")[:, : min(k, len(rows))]
    return [rows[t] for t in top]
