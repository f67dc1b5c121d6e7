"""The BC recipe end to end as a user runs it: a real process, killed mid-training and resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from agentkit.trajectory import read_episodes

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "bc.py"
CONFIG = ROOT / "recipes" / "configs" / "bc_textworld.yaml"
TC_RECIPE = ROOT / "recipes" / "thought_cloning.py"
TC_CONFIG = ROOT / "recipes" / "configs" / "thought_cloning_textworld.yaml"


@pytest.fixture(scope="module")
def common(tmp_path_factory, textworld_cache):
    cache = tmp_path_factory.mktemp("bc-cache")
    return [
        f"cache_dir={cache}",
        f"env.kwargs.cache_dir={textworld_cache}",
        "env.train_kwargs.n_games=4",
        "env.eval_kwargs.n_games=2",
        "env.kwargs.max_steps=8",
        "demo_base.steps=4",
        "demo_base.batch_size=4",
        "demo_base.max_length=256",
        "train.batch_size=4",
        "train.logging_steps=1",
        "eval.num_envs=2",
        "eval.max_tokens=8",
    ]


def run_recipe(
    overrides: list[str], timeout: float = 600, recipe: Path = RECIPE, config: Path = CONFIG
) -> subprocess.CompletedProcess:
    command = [sys.executable, str(recipe), "--config", str(config), *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_bc_run_writes_a_complete_run_folder(common, tmp_path):
    out = tmp_path / "run"
    result = run_recipe([*common, f"output_dir={out}", "train.max_steps=3", "eval.baselines=[random]"])
    assert result.returncode == 0, result.stderr[-3000:]
    for name in (
        "config.yaml",
        "demos.jsonl",
        "metrics.json",
        "report.md",
        "loss.png",
        "success.png",
        "adapter/adapter_model.safetensors",
        "eval_random.jsonl",
        "eval_bc.jsonl",
    ):
        assert (out / name).is_file(), name
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["train"]["max_steps"] == 3 and saved["env"]["train_kwargs"]["n_games"] == 4
    assert "| bc | 2 |" in (out / "report.md").read_text()
    evaluation = json.loads((out / "metrics.json").read_text())["eval"]
    assert 0 <= evaluation["bc"]["expert_agreement"] <= 1 and 0 < evaluation["random"]["expert_agreement"] < 1
    assert list(out.glob("checkpoints/runs/*/events.out.tfevents.*")), "no TensorBoard event file"


@pytest.mark.slow
def test_bad_override_is_one_clear_line(common):
    result = run_recipe([*common, "train.learning_rat=0.1"], timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("bc: error: unknown config key 'train.learning_rat'")


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_adapter(common, tmp_path):
    steps = ["train.max_steps=6", "train.save_steps=2", "skip_eval=true", "train.learning_rate=0.01"]
    reference = tmp_path / "unbroken"
    result = run_recipe([*common, *steps, f"output_dir={reference}"])
    assert result.returncode == 0, result.stderr[-3000:]

    broken = tmp_path / "broken"
    command = [sys.executable, str(RECIPE), "--config", str(CONFIG), *common, *steps, f"output_dir={broken}"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    first_checkpoint = broken / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    deadline = time.time() + 600
    while not first_checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert first_checkpoint.exists(), "the run ended before its first checkpoint"
    assert not (broken / "adapter").exists(), "the run finished before it could be interrupted"
    at_checkpoint = load_file(first_checkpoint.parent / "adapter_model.safetensors")

    result = run_recipe([*common, *steps, f"output_dir={broken}"])
    assert result.returncode == 0, result.stderr[-3000:]
    expected = load_file(reference / "adapter" / "adapter_model.safetensors")
    resumed = load_file(broken / "adapter" / "adapter_model.safetensors")
    assert expected.keys() == resumed.keys()
    moved = max((expected[k] - at_checkpoint[k]).abs().max().item() for k in expected)
    assert moved > 1e-4, "training after the checkpoint changed nothing: the comparison would prove nothing"
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], atol=1e-5, rtol=1e-4)
    # The resumed run reports the whole run's loss, not the average of the few steps it ran itself.
    unbroken_train = json.loads((reference / "metrics.json").read_text())["train"]
    resumed_train = json.loads((broken / "metrics.json").read_text())["train"]
    assert unbroken_train["resumed_from_step"] == 0 and resumed_train["resumed_from_step"] >= 2
    assert 0 < resumed_train["train_loss"] < 20
    assert [step for step, _ in resumed_train["loss_history"]] == [step for step, _ in unbroken_train["loss_history"]]


@pytest.mark.slow
def test_bc_trains_on_textcraft_unchanged(tmp_path):
    """The same recipe file on another env family: only the config differs. Here the agents are evaluated
    over the admissible commands: every command the adapter sends is one the env listed."""
    out = tmp_path / "textcraft"
    config = ROOT / "recipes" / "configs" / "bc_textcraft.yaml"
    command = [
        sys.executable,
        str(RECIPE),
        "--config",
        str(config),
        f"output_dir={out}",
        f"cache_dir={tmp_path / 'cache'}",
        "env.train_limit=8",
        "env.eval_limit=3",
        "env.kwargs.max_steps=6",
        "train.max_steps=3",
        "train.batch_size=4",
        "eval.baselines=[random]",
        "eval.max_tokens=8",
        "eval.action_space=admissible",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["demos_used"] == 8 and metrics["train"]["global_steps"] == 3
    assert set(metrics["eval"]) == {"random", "bc"} and metrics["eval"]["bc"]["episodes"] == 3
    episodes, _ = read_episodes(out / "eval_bc.jsonl")
    for episode in episodes:
        turns = episode.turns
        sent = [(turn.action, turns[i - 1].info["admissible_actions"]) for i, turn in enumerate(turns)
                if turn.role == "assistant"]  # fmt: skip
        assert sent and all(action in listed for action, listed in sent)


@pytest.mark.slow
def test_full_finetune_writes_and_evaluates_a_model(common, tmp_path):
    out = tmp_path / "full"
    result = run_recipe([*common, f"output_dir={out}", "train.max_steps=2", "lora.full_finetune=true",
                         "eval.baselines=[]"])  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model" / "model.safetensors").is_file() and not (out / "adapter").exists()
    assert json.loads((out / "metrics.json").read_text())["eval"]["bc"]["episodes"] == 2


@pytest.mark.slow
def test_thought_cloning_trains_on_weighted_thoughts_and_evaluates_the_hard_split(common, tmp_path):
    out = tmp_path / "tc"
    overrides = [*common, f"output_dir={out}", "train.max_steps=2", "eval.baselines=[random]",
                 "env.extra_evals={hard: {split: test_hard, n_games: 1}}", "eval.max_tokens=40"]  # fmt: skip
    result = run_recipe(overrides, recipe=TC_RECIPE, config=TC_CONFIG)
    assert result.returncode == 0, result.stderr[-3000:]
    demos, _ = read_episodes(out / "demos.jsonl")
    # The config's thoughts quote the objective (the first observation) at the step the expert is on.
    quotes = [(turn.thought, episode.turns[1].text) for episode in demos for turn in episode.turns if turn.loss]
    assert quotes and all(quote in objective and quote.endswith((".", "!")) for quote, objective in quotes)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "Thought cloning" and metrics["eval"]["tc"]["episodes"] == 2
    assert metrics["eval_extra"]["hard"]["tc"]["episodes"] == 1
    assert (out / "eval_hard_tc.jsonl").is_file() and "## Held-out: hard" in (out / "report.md").read_text()
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["thought_weight"] == 2.0 and saved["prompt"]["thoughts"] is True
    assert saved["prompt"]["past_thoughts"] is False  # the prompt shows past commands alone, as BC's does


@pytest.mark.slow
def test_thought_cloning_without_thoughts_is_a_clear_error(common):
    result = run_recipe([*common, "prompt.thoughts=false"], timeout=120, recipe=TC_RECIPE, config=TC_CONFIG)
    assert result.returncode == 2
    assert "prompt.thoughts=false" in result.stderr.strip().splitlines()[-1]


def test_demo_noise_is_a_probability_below_one():
    from agentkit.config import ConfigError, parse_recipe_args
    from agentkit.methods.bc.config import BCConfig

    config = parse_recipe_args(BCConfig, ["--config", str(CONFIG), "demo_noise=0.3", "demos_per_task=3"])
    assert (config.demo_noise, config.demos_per_task) == (0.3, 3)
    with pytest.raises(ConfigError, match=r"demo_noise=1.0 must be in \[0, 1\)"):
        parse_recipe_args(BCConfig, ["--config", str(CONFIG), "demo_noise=1.0"])


def test_thought_cloning_checks_behavior_clonings_fields_at_config_load():
    result = run_recipe(["demo_noise=1.5"], timeout=120, recipe=TC_RECIPE, config=TC_CONFIG)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "thought_cloning: error: ThoughtCloningConfig: demo_noise=1.5 must be in [0, 1)"
    ]


@pytest.mark.slow
def test_a_failed_evaluation_keeps_the_trained_adapter_and_is_one_line(common, tmp_path):
    """The held-out set cannot be built: training's result and report stay, the error is one line."""
    out = tmp_path / "run"
    broken_eval = "env.eval_kwargs.game_set=no-such-set"
    result = run_recipe([*common, f"output_dir={out}", "train.max_steps=1", "eval.baselines=[]", broken_eval])
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bc: error: evaluation failed after training (") and last.endswith(f"kept in {out}")
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval"] == {} and metrics["train"]["global_steps"] == 1
