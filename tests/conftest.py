"""Shared fixtures: one tiny model per test session, and the read-only shared data folder when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.trajectory import Episode, Turn

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the repository; tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA} (only the source data sets live there)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `tiny` preset model + tokenizer built from the package's own corpus (no download)."""
    from agentkit.models import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_model"), preset="tiny", seed=0)


@pytest.fixture(scope="session")
def textworld_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One TextWorld game cache for the whole session: games are cached by parameters and seed."""
    return tmp_path_factory.mktemp("textworld-cache")


@pytest.fixture(scope="session")
def textworld_games(textworld_cache: Path):
    """Four generated `custom` TextWorld games: the env kwargs and one rollout task per game."""
    from agentkit.envs import make
    from agentkit.rollout.engine import Task

    kwargs = {"game_set": "custom", "split": "train", "n_games": 4, "cache_dir": str(textworld_cache)}
    env = make("textworld", **kwargs)
    tasks = [Task(task_id, seed) for seed, task_id in enumerate(env.task_ids())]
    env.close()
    return kwargs, tasks


def _demo_episode(item: str) -> Episode:
    return Episode(
        task_id=item,
        env="textworld",
        turns=[
            Turn("system", "You play a text game. Reply with one command."),
            Turn("user", f"You are in a kitchen. There is a {item} here."),
            Turn("assistant", f"Action: take {item}", action=f"take {item}", loss=True),
            Turn("user", f"You take the {item}."),
            Turn("assistant", "Action: go north", action="go north", loss=True),
        ],
        success=True,
        score=1.0,
        steps=2,
    )


@pytest.fixture(scope="session")
def demo_episode():
    """`demo_episode(item)`: a two-step demonstration that takes `item` and leaves."""
    return _demo_episode


def _save_random_lora(model_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter with random non-zero weights (so it changes the output), written to `out`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def save_random_lora():
    """`save_random_lora(model_dir, out, seed)`: write a random LoRA adapter for the model."""
    return _save_random_lora


@pytest.fixture(scope="session")
def lora_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One random LoRA adapter (r=8 on q_proj, v_proj) of the tiny model for the session."""
    return _save_random_lora(tiny_model_dir, tmp_path_factory.mktemp("lora") / "agent", seed=1)


@pytest.fixture(scope="session")
def real_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue's `smollm2-135m` converted from its installed wheel into a fresh cache, offline (the
    hub is switched off in the process that builds it); skips where the wheel or `gguf` is missing."""
    import importlib.util
    import os
    import subprocess
    import sys

    from agentkit.models import CATALOGUE, ModelError

    try:
        CATALOGUE["smollm2-135m"].gguf_path()
    except ModelError as exc:
        pytest.skip(str(exc))
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("transformers reads GGUF files with the gguf package: pip install gguf==0.19.0")
    cache = tmp_path_factory.mktemp("catalogue-cache")
    code = f"from agentkit.models import resolve_model; print(resolve_model('smollm2-135m', {str(cache)!r}))"
    offline = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    built = subprocess.run([sys.executable, "-c", code], env=offline, capture_output=True, text=True, check=True)
    return Path(built.stdout.strip().splitlines()[-1])
