"""The sentence-transformers embedder's checks that need neither the extra nor a model:
its arguments, and the error that names the extra when sentence-transformers is missing.
These run in `make test`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillstore.embedders import embedder_from_spec
from skillstore.errors import InvalidInputError
from skillstore.sentence import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("model", [5, None, "", "   ", "m" * 1001, b"all-MiniLM-L6-v2"])
def test_a_model_that_is_no_name_or_path_is_refused_before_anything_loads(model: object) -> None:
    with pytest.raises(InvalidInputError, match="model must be a model name or a directory path"):
        SentenceTransformerEmbedder(model)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.5, "32"])
def test_a_batch_size_that_is_no_positive_integer_is_refused(batch_size: object) -> None:
    with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
        SentenceTransformerEmbedder("all-MiniLM-L6-v2", batch_size=batch_size)  # type: ignore[arg-type]


def test_a_spec_whose_model_reads_as_a_number_is_refused() -> None:
    # the spec parser reads digits as an integer: no model is called 5
    with pytest.raises(InvalidInputError, match="model must be"):
        embedder_from_spec("sentence-transformers:model=5")
    with pytest.raises(InvalidInputError, match="sentence-transformers"):
        embedder_from_spec("sentence-transformers:modle=all-MiniLM-L6-v2")


def run_without_sentence_transformers(code: str) -> subprocess.CompletedProcess[str]:
    # None in sys.modules makes `import sentence_transformers` raise ImportError, installed or not
    prelude = "import sys\nsys.modules['sentence_transformers'] = None\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, env=env,
                          timeout=120)


def test_without_the_extra_the_error_is_typed_and_names_the_install_command() -> None:
    code = (
        "from skillstore.errors import SkillStoreError\n"
        "from skillstore.embedders import embedder_from_spec, embedder_from_identity\n"
        "from skillstore.sentence import SentenceTransformerEmbedder\n"
        "for make in (lambda: SentenceTransformerEmbedder('all-MiniLM-L6-v2'),\n"
        "             lambda: embedder_from_spec('sentence-transformers:model=all-MiniLM-L6-v2'),\n"
        "             lambda: embedder_from_identity({'name': 'sentence-transformers',\n"
        "                                             'params': {'model': 'all-MiniLM-L6-v2'}, 'dim': 384})):\n"
        "    try:\n"
        "        make()\n"
        "    except SkillStoreError as exc:\n"
        "        print(type(exc).__name__, '|', exc)\n"
    )
    result = run_without_sentence_transformers(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith("SkillStoreError | the sentence-transformers embedder needs")
        assert "pip install 'skillstore[text]'" in line


def test_importing_the_module_loads_neither_torch_nor_sentence_transformers() -> None:
    code = (
        "import sys\n"
        "import skillstore, skillstore.sentence, skillstore.embedders\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
