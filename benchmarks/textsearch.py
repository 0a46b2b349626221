"""Brute-force references for text and hybrid search, written from the documented formulas.

The reference tokenizes as skillstore documents it (case-folded runs of word characters),
takes a skill's document to be its name and description (the benchmark's actions are not
text), and scores every document with BM25 (k1 = 1.2, b = 0.75, Lucene's non-negative
idf, statistics of the whole library). The hybrid reference fuses the full cosine ranking
and the full BM25 ranking of the matching documents by reciprocal rank, 1/(60 + rank)
from each, ranks from 1 with ties broken by skill id.

Recall is tie-aware: many documents share a BM25 score (same counts, same length), so a
result counts as correct when its reference score reaches the k-th best reference score.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

K1 = 1.2
B = 0.75
RRF_K = 60
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


@dataclass
class BM25Reference:
    """Postings of every term over the library's documents, and their lengths."""

    postings: dict[str, tuple[np.ndarray, np.ndarray]]  # term -> (rows, term counts)
    lengths: np.ndarray  # (n,) tokens per document

    @classmethod
    def build(cls, documents: list[str]) -> BM25Reference:
        rows: dict[str, list[int]] = {}
        counts: dict[str, list[int]] = {}
        lengths = np.zeros(len(documents), dtype=np.float64)
        for row, text in enumerate(documents):
            terms = Counter(words(text))
            lengths[row] = sum(terms.values())
            for term, count in terms.items():
                rows.setdefault(term, []).append(row)
                counts.setdefault(term, []).append(count)
        postings = {t: (np.array(rows[t]), np.array(counts[t], dtype=np.float64)) for t in rows}
        return cls(postings, lengths)

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every document (0 for a document holding no query term)."""
        n = len(self.lengths)
        average = float(self.lengths.mean()) if n else 0.0
        total = np.zeros(n, dtype=np.float64)
        for term in dict.fromkeys(words(query)):
            if term not in self.postings:
                continue
            rows, tf = self.postings[term]
            idf = np.log(1.0 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
            total[rows] += idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * self.lengths[rows] / average))
        return total


def _ranks(scores: np.ndarray, id_order: np.ndarray) -> np.ndarray:
    """1-based rank of every row by descending score, ties by ascending id."""
    order = id_order[np.argsort(-scores[id_order], kind="stable")]
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def fused_scores(cosines: np.ndarray, text_scores: np.ndarray, id_order: np.ndarray) -> np.ndarray:
    """Reciprocal-rank fusion over every row; a row with no query term adds nothing from BM25."""
    fusion = 1.0 / (RRF_K + _ranks(cosines, id_order))
    from_text = 1.0 / (RRF_K + _ranks(text_scores, id_order))
    fusion += np.where(text_scores > 0, from_text, 0.0)
    return fusion


def top_k(scores: np.ndarray, k: int, id_order: np.ndarray) -> np.ndarray:
    """The k best rows with a positive score, ties by id."""
    order = id_order[np.argsort(-scores[id_order], kind="stable")]
    return order[scores[order] > 0][:k]


def tie_aware_recall(found: list[int], scores: np.ndarray, k: int) -> float:
    """Share of the k places filled by rows whose reference score reaches the k-th best one."""
    positive = np.sort(scores[scores > 0])[::-1]
    expected = min(k, len(positive))
    if expected == 0:
        return 1.0
    threshold = positive[expected - 1] * (1.0 - 1e-9)
    correct = sum(1 for row in set(found) if scores[row] > 0 and scores[row] >= threshold)
    return min(correct, expected) / expected
