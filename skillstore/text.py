"""Text search: a documented tokenizer and BM25 scoring, shared by every backend that computes it.

Tokenizer: the text is case-folded (``str.casefold``: Unicode-aware, ``"Straße"`` matches
``"STRASSE"``) and split into runs of Unicode word characters (``\\w+``: letters, digits and
underscores of any script). A skill's document is its name, its description and its actions
when they are text: an action list's string items, or the actions themselves if a string
(code, say).

BM25 (Robertson and Sparck Jones, with Lucene's non-negative idf); its statistics are those
of the whole library, not of the skills that filters and ``state`` leave::

    score(q, d) = sum over distinct query terms t present in d of
                  idf(t) * tf(t, d) * (K1 + 1) / (tf(t, d) + K1 * (1 - B + B * len(d) / avglen))
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

with ``K1 = 1.2``, ``B = 0.75``, ``N`` the number of skills, ``df(t)`` how many hold ``t``
and ``avglen`` their mean document length in tokens. A skill matching no query term is not
a result. With a query embedding as well, the two rankings are fused by reciprocal rank:
``1 / (RRF_K + rank by cosine) + 1 / (RRF_K + rank by BM25)`` over the candidates,
ranks from 1, ``RRF_K = 60``; a skill matching no term takes part through its cosine only.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from skillstore.errors import InvalidInputError
from skillstore.validation import shown

MAX_QUERY_CHARS = 10_000  # a longer query is cut: its words past this add nothing a search can use
K1 = 1.2
B = 0.75
RRF_K = 60
_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def document(record: Mapping[str, Any]) -> Counter[str]:
    """The term counts of a skill's document: name, description and textual actions."""
    parts = [record["name"], record["description"]]
    actions = record["actions"]
    if isinstance(actions, str):
        parts.append(actions)
    elif isinstance(actions, list | tuple):
        parts.extend(a for a in actions if isinstance(a, str))
    return Counter(term for part in parts for term in tokens(part))


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, in order of first appearance."""
    return list(dict.fromkeys(tokens(text)))


def check_text_query(text: Any, rank: str) -> list[str]:
    """The terms of a ``text`` query; raises InvalidInputError for a text that is not a string,
    holds no word, or comes with a rank mode (text search ranks by BM25 and fusion)."""
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a string, got {shown(text)}")
    if rank != "similarity":
        raise InvalidInputError(f"a text search ranks by BM25 (fused with similarity); rank={rank!r} does not apply")
    terms = query_terms(text[:MAX_QUERY_CHARS])
    if not terms:
        raise InvalidInputError(f"text holds no word to search for: {shown(text)}")
    return terms


def idf(documents: int, holding: int) -> float:
    return math.log(1.0 + (documents - holding + 0.5) / (holding + 0.5))


def term_scores(tf: np.ndarray, lengths: np.ndarray, documents: int, holding: int, average: float) -> np.ndarray:
    """One term's BM25 contribution for documents with term frequencies ``tf`` and ``lengths``."""
    tf = tf.astype(np.float64)
    norm = K1 * (1.0 - B + B * lengths.astype(np.float64) / average) if average > 0 else K1
    contribution: np.ndarray = idf(documents, holding) * tf * (K1 + 1.0) / (tf + norm)
    return contribution


def reference_scores(query: str, documents: Mapping[str, Counter[str]]) -> dict[str, float]:
    """BM25 of every document holding a query term, one document at a time (the model)."""
    terms = query_terms(query)
    count = len(documents)
    average = sum(sum(d.values()) for d in documents.values()) / count if count else 0.0
    scores: dict[str, float] = {}
    for term in terms:
        holding = sum(1 for d in documents.values() if term in d)
        for key, counts in documents.items():
            if term in counts:
                length = np.array([sum(counts.values())])
                value = float(term_scores(np.array([counts[term]]), length, count, holding, average)[0])
                scores[key] = scores.get(key, 0.0) + value
    return scores


IdKeys = Callable[[np.ndarray], np.ndarray]


def fused(cosines: np.ndarray, text_scores: np.ndarray, id_keys: IdKeys) -> np.ndarray:
    """Reciprocal-rank fusion of a cosine ranking and a BM25 ranking (0 = no term matched);
    ranks break ties by id, so the fusion is the same on every backend. ``id_keys(positions)``
    gives those candidates' ids as an array that sorts as the ids do (str or UTF-8 bytes);
    it is asked only for candidates tied on a score whose rank counts."""
    fusion = np.zeros(len(cosines), dtype=np.float64)
    for scores, only_matching in ((cosines, False), (text_scores, True)):
        part = 1.0 / (RRF_K + _ranks(scores, id_keys, only_matching))
        if only_matching:
            part[scores <= 0] = 0.0
        fusion += part
    return fusion


def _ranks(scores: np.ndarray, id_keys: IdKeys, only_positive: bool) -> np.ndarray:
    """Each score's rank from 1, highest first, equal scores in the order of their ids; with
    ``only_positive``, the order among scores of 0 or less is left as it falls (they rank
    after every positive one, and their rank is not used)."""
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    if not len(ordered):  # no candidate (an empty library, a filter that keeps none)
        return np.empty(0, dtype=np.float64)
    same = ordered[1:] == ordered[:-1]
    tied = np.r_[same, False] | np.r_[False, same]  # the slots of groups of equal scores
    if only_positive:
        tied &= ordered > 0
    if tied.any():
        # the groups' slots, in order, take their members sorted by score, then by id
        members = order[tied]
        order[tied] = members[np.lexsort((id_keys(members), -scores[members]))]
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def id_keys(ids: list[str]) -> IdKeys:
    """``fused``'s id keys for candidates whose ids are a list."""
    return lambda positions: np.array([ids[i] for i in positions.tolist()], dtype=str)
