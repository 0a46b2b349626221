"""Embedders: what turns a skill's text into its embedding, and how a library remembers which.

An :class:`Embedder` has a ``name``, ``params`` (a flat map of strings, integers, floats
and booleans) and a ``dim``; together they are its identity, kept by a library created
with it (in the MANIFEST, or in PostgreSQL's library record), so that vectors of two models
never mix: opening the library with another embedder raises ``EmbedderMismatchError``.

A skill's text (:func:`skill_text`) is what text search reads too: its name, its
description and its actions when they are text (an action list's string items, or the
actions themselves if a string), joined by newlines.

Built in:

- ``lexical`` (:class:`LexicalEmbedder`): no model, no download, the same vector in every
  process. Feature hashing of the text's words (``\\w+`` after case folding, as text search
  tokenizes, less the few English words in ``STOP_WORDS``), of adjacent word pairs, and of
  each word's character n-grams (n from ``min_n`` to ``max_n``, the word wrapped in ``<``
  and ``>``). Each feature is hashed with BLAKE2b (8 bytes): the hash modulo ``dim`` picks
  a coordinate, its top bit a sign. Words weigh 1, word pairs 0.5, and each of a word's g
  n-grams 1/sqrt(g), so that a word's pieces weigh as much as the word; the sum is
  L2-normalised. Texts sharing words or word
  pieces ("unlock", "unlocked") get close vectors; it knows no synonyms.
- ``sentence-transformers`` (:class:`~skillstore.sentence.SentenceTransformerEmbedder`):
  any sentence-transformers model, behind the ``skillstore[text]`` extra.

:func:`embedder_from_spec` builds one from a command-line spec (``lexical``,
``lexical:dim=128``, ``sentence-transformers:model=all-MiniLM-L6-v2``) and
:func:`embedder_from_identity` from the identity a library recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from skillstore.errors import EmbedderMismatchError, InvalidEmbeddingError, InvalidInputError
from skillstore.model import Skill
from skillstore.text import MAX_QUERY_CHARS, tokens
from skillstore.validation import check_iterable, shown

MAX_NAME_CHARS = 200
MAX_PARAMS = 16
MAX_DIM = 65536
_SLOT_CACHE = 1 << 18  # features whose hash the lexical embedder remembers
# Words too common to tell skills apart; the lexical embedder leaves them out.
STOP_WORDS = frozenset(
    ("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "of", "on", "or",
     "that", "the", "then", "this", "to", "was", "with")
)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into embeddings; ``name``, ``params`` and ``dim`` are its identity."""

    @property
    def name(self) -> str: ...

    @property
    def params(self) -> Mapping[str, str | int | float | bool]: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Any:
        """An array of shape ``(len(texts), dim)``, one embedding per text."""
        ...


def identity(embedder: Any) -> dict[str, Any]:
    """The identity of ``embedder`` as a library records it: ``{"name", "params", "dim"}``.

    Raises InvalidInputError for an object that is not an embedder or whose identity does
    not fit a record (a name of 1 to 200 characters, at most 16 scalar parameters)."""
    if not isinstance(embedder, Embedder):
        raise InvalidInputError(f"embedder must have name, params, dim and embed(texts), got {shown(embedder)}")
    return check_identity({"name": embedder.name, "params": dict(embedder.params), "dim": embedder.dim})


def check_identity(raw: Any) -> dict[str, Any]:
    """A recorded identity, checked; raises InvalidInputError naming what is wrong."""
    if not isinstance(raw, Mapping) or set(raw) != {"name", "params", "dim"}:
        raise InvalidInputError(f"an embedder's identity is a map of name, params and dim, got {shown(raw)}")
    name, params, dim = raw["name"], raw["params"], raw["dim"]
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS or not _recordable(name):
        raise InvalidInputError(f"an embedder's name must be a string of 1 to {MAX_NAME_CHARS} characters"
                                " (UTF-8, no NUL)")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        raise InvalidInputError(f"embedder {name!r}: dim must be an integer in [1, {MAX_DIM}], got {shown(dim)}")
    if not isinstance(params, Mapping) or len(params) > MAX_PARAMS:
        raise InvalidInputError(f"embedder {name!r}: params must be a map of at most {MAX_PARAMS} entries")
    for key, value in params.items():
        scalar = (
            isinstance(value, bool) or (isinstance(value, int) and -(2**63) <= value < 2**63)
            or (isinstance(value, float) and math.isfinite(value))
            or (isinstance(value, str) and len(value) <= 1000 and _recordable(value))
        )
        if not isinstance(key, str) or not _recordable(key) or not scalar:
            raise InvalidInputError(
                f"embedder {name!r}: parameter {shown(key)} = {shown(value)} is not a scalar a record keeps (a"
                " 64-bit integer, a finite float, a boolean, a string of at most 1000 characters; UTF-8, no NUL)"
            )
    return {"name": name, "params": dict(sorted(params.items())), "dim": dim}


def _recordable(text: str) -> bool:
    """Whether a MANIFEST (msgpack, UTF-8) and PostgreSQL's JSON (no NUL) can keep ``text``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def describe(recorded: Mapping[str, Any] | None) -> str:
    """``name(param=value, ...), dim D`` for messages; "no embedder" for None."""
    if recorded is None:
        return "no embedder"
    params = ", ".join(f"{k}={v!r}" for k, v in recorded["params"].items())
    return f"{recorded['name']}({params}), dim {recorded['dim']}"


def check_matches(recorded: Mapping[str, Any] | None, given: Mapping[str, Any], where: str) -> None:
    """Raise EmbedderMismatchError unless the library at ``where`` recorded the identity ``given``."""
    if recorded is None:
        raise EmbedderMismatchError(
            f"{where} was not created with an embedder; open it without one, or give it one with"
            f" `skillstore reembed` (given: {describe(given)})"
        )
    if dict(recorded) != dict(given):
        raise EmbedderMismatchError(
            f"{where} is embedded by {describe(recorded)}, not {describe(given)}; re-embed it with"
            " `skillstore reembed` to change"
        )


def skill_text(name: str, description: str, actions: Any) -> str:
    """The text an embedder reads of a skill: name, description and textual actions."""
    parts = [name, description]
    if isinstance(actions, str):
        parts.append(actions)
    elif isinstance(actions, list | tuple):
        parts.extend(a for a in actions if isinstance(a, str))
    return "\n".join(part for part in parts if part)


def embed_texts(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """``embedder.embed(texts)`` as a checked ``(len(texts), dim)`` float32 array.

    Raises InvalidEmbeddingError when the embedder returns another shape, a value that is
    not finite, or a zero vector (which has no direction to compare)."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    try:
        vectors = np.asarray(embedder.embed(list(texts)), dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidEmbeddingError(f"embedder {embedder.name!r} returned no array of numbers: {exc}") from None
    if vectors.shape != (len(texts), embedder.dim):
        raise InvalidEmbeddingError(
            f"embedder {embedder.name!r} returned shape {vectors.shape} for {len(texts)} texts of dim {embedder.dim}"
        )
    if not np.isfinite(vectors).all():
        raise InvalidEmbeddingError(f"embedder {embedder.name!r} returned a value that is not finite")
    if not (np.abs(vectors).sum(axis=1) > 0).all():
        raise InvalidEmbeddingError(f"embedder {embedder.name!r} returned a zero vector")
    return vectors


class LexicalEmbedder:
    """The built-in embedder: hashed words, word pairs and character n-grams (see the module)."""

    name = "lexical"

    def __init__(self, dim: int = 256, min_n: int = 3, max_n: int = 4) -> None:
        for label, value, low, high in (("dim", dim, 8, MAX_DIM), ("min_n", min_n, 1, 10), ("max_n", max_n, 1, 10)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInputError(f"lexical embedder: {label} must be an integer in [{low}, {high}]")
        if min_n > max_n:
            raise InvalidInputError("lexical embedder: min_n must not exceed max_n")
        self.dim, self.min_n, self.max_n = dim, min_n, max_n
        self._slots: dict[str, int] = {}

    @property
    def params(self) -> dict[str, int]:
        # "version" names the algorithm: a change to it must not pass for the same embedder
        return {"dim": self.dim, "min_n": self.min_n, "max_n": self.max_n, "version": 1}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            features = self._features(text)
            slots = np.fromiter((self._slot(feature) for feature, _ in features), dtype=np.int64, count=len(features))
            weights = np.fromiter((weight for _, weight in features), dtype=np.float64, count=len(features))
            vector = np.bincount(slots >> 1, weights=np.where(slots & 1, -weights, weights), minlength=self.dim)
            norm = float(np.linalg.norm(vector))
            if norm == 0.0:  # no feature, or features that cancelled out: a fixed direction of its own
                out[row, 0] = 1.0
            else:
                out[row] = vector / norm
        return out

    def _slot(self, feature: str) -> int:
        """The feature's coordinate times two, plus 1 when it counts negatively. Texts share most
        of their words and n-grams, so hashes are remembered (a bounded cache)."""
        slot = self._slots.get(feature)
        if slot is None:
            digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
            slot = (digest % self.dim) << 1 | digest >> 63
            if len(self._slots) >= _SLOT_CACHE:
                self._slots.clear()
            self._slots[feature] = slot
        return slot

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = [word for word in tokens(text) if word not in STOP_WORDS]
        features = [("w " + word, 1.0) for word in words]
        features += [(f"p {a} {b}", 0.5) for a, b in zip(words, words[1:], strict=False)]
        for word in words:
            wrapped = f"<{word}>"
            grams = [wrapped[i : i + n] for n in range(self.min_n, self.max_n + 1) for i in range(len(wrapped) - n + 1)]
            features += [("g " + gram, 1.0 / math.sqrt(len(grams))) for gram in grams]
        return features


def _sentence_transformers(**params: Any) -> Embedder:
    from skillstore.sentence import SentenceTransformerEmbedder  # needs the skillstore[text] extra

    embedder: Embedder = SentenceTransformerEmbedder(**params)
    return embedder


EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "lexical": LexicalEmbedder,
    "sentence-transformers": _sentence_transformers,
}


def embedder_from_identity(recorded: Mapping[str, Any]) -> Embedder:
    """The embedder a library recorded, built again; raises EmbedderMismatchError when it is
    not one this release knows or when what it builds has another identity."""
    recorded = check_identity(recorded)
    factory = EMBEDDERS.get(recorded["name"])
    if factory is None:
        raise EmbedderMismatchError(
            f"the library is embedded by {describe(recorded)}, which is not built in; open it with that"
            " embedder in Python (SkillStore.open(..., embedder=...))"
        )
    params = dict(recorded["params"])
    if recorded["name"] == "lexical":
        params.pop("version", None)
    try:
        built = factory(**params)
    except TypeError as exc:  # a parameter this release does not know (a later release's embedder)
        raise EmbedderMismatchError(f"the library is embedded by {describe(recorded)}, which this release cannot"
                                    f" build: {exc}") from None
    if identity(built) != recorded:
        raise EmbedderMismatchError(f"the library is embedded by {describe(recorded)}, and this release builds"
                                    f" {describe(identity(built))} from it")
    return built


def embedder_from_spec(spec: str) -> Embedder:
    """An embedder from ``NAME`` or ``NAME:key=value,key=value`` (integers are read as such)."""
    name, _, rest = spec.partition(":")
    factory = EMBEDDERS.get(name.strip())
    if factory is None:
        raise InvalidInputError(f"unknown embedder {name!r}; built in: {', '.join(sorted(EMBEDDERS))}")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"embedder parameter {item!r} is not key=value")
        key, value = key.strip(), value.strip()
        if key in params:
            raise InvalidInputError(f"embedder parameter {key!r} is given twice")
        params[key] = int(value) if re.fullmatch(r"-?[0-9]+", value) else value
    try:
        return factory(**params)
    except TypeError as exc:
        raise InvalidInputError(f"embedder {name!r}: {exc}") from None


TEXT_FIELDS = ("name", "description", "actions")


def with_embeddings(skills: Any, embedder: Embedder | None, where: str) -> list[Any]:
    """The skills of an ``add_many``, those whose ``embedding`` is None given the embedding of
    their text (one batch for all). Without an embedder such a skill raises
    InvalidEmbeddingError; anything else is left for the store's own checks."""
    given = list(check_iterable(skills, "skills"))
    missing = [i for i, skill in enumerate(given) if isinstance(skill, Skill) and skill.embedding is None]
    if not missing:
        return given
    if embedder is None:
        raise InvalidEmbeddingError(
            f"skill {given[missing[0]].name!r} has no embedding and {where} has no embedder to make one;"
            " give an embedding, or open the library with its embedder"
        )
    texts = [_text_of(given[i].name, given[i].description, given[i].actions) for i in missing]
    vectors = embed_texts(embedder, texts)
    for i, vector in zip(missing, vectors, strict=True):
        given[i] = dataclasses.replace(given[i], embedding=vector)
    return given


def update_with_embedding(
    embedder: Embedder | None, fields: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    """The fields of an ``update``, with the embedding of the skill's new text when there is an
    embedder, no embedding is given (or None is) and the text (name, description, textual
    actions) changes; as given otherwise."""
    fields = dict(fields)
    if embedder is None or fields.get("embedding") is not None:
        return fields
    merged = {name: fields.get(name, record[name]) for name in TEXT_FIELDS}
    text = _text_of(merged["name"], merged["description"], merged["actions"])
    if "embedding" in fields or text != _text_of(record["name"], record["description"], record["actions"]):
        fields["embedding"] = embed_texts(embedder, [text])[0]
    return fields


def _text_of(name: Any, description: Any, actions: Any) -> str:
    # a name or description of the wrong kind is refused by the store's own checks, after this
    return skill_text(name if isinstance(name, str) else "", description if isinstance(description, str) else "",
                      actions)


def checkable_update(embedder: Embedder | None, fields: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An update's fields as the store's checks take them: less an ``embedding=None``, which
    asks the embedder for the text's embedding; without an embedder, that is refused
    (InvalidEmbeddingError) as what it is, not as a vector that is not one."""
    if "embedding" not in fields or fields["embedding"] is not None:
        return dict(fields)
    if embedder is None:
        raise InvalidEmbeddingError(f"embedding=None asks for the embedding of the skill's text, and {where} has no"
                                    " embedder to make one")
    return {name: value for name, value in fields.items() if name != "embedding"}


def check_embedder_choice(embedder: Any) -> dict[str, Any] | str | None:
    """What ``open(..., embedder=)`` was given: None, ``"recorded"``, or an embedder's identity
    (of an Embedder, or given as such: a map of name, params and dim)."""
    if embedder is None or embedder == "recorded":
        return embedder  # type: ignore[no-any-return]
    if isinstance(embedder, Mapping):
        return check_identity(embedder)
    if isinstance(embedder, str):
        raise InvalidInputError(
            f"embedder must be an Embedder or 'recorded', got {embedder!r} (embedder_from_spec builds one from a name)"
        )
    return identity(embedder)


def resolve_embedder(
    embedder: Any, wanted: dict[str, Any] | str | None, recorded: dict[str, Any] | None, where: str
) -> Embedder | None:
    """The embedder an opened library uses: the one given, once checked against the one the
    library recorded; for ``"recorded"``, the recorded one built again (None if none); for an
    identity given as a map, none (the identity is checked, or recorded by a new library)."""
    if embedder is None:
        return None
    if embedder == "recorded":
        return None if recorded is None else embedder_from_identity(recorded)
    assert isinstance(wanted, dict)
    check_matches(recorded, wanted, where)
    return None if isinstance(embedder, Mapping) else embedder


def query_vector(embedder: Embedder, text: str) -> np.ndarray:
    """The embedding of a text query (its first MAX_QUERY_CHARS characters, as text search reads)."""
    vector: np.ndarray = embed_texts(embedder, [text[:MAX_QUERY_CHARS]])[0]
    return vector
