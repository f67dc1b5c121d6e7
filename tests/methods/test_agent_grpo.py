"""Agent GRPO: GiGPO's step groups and advantages on hand-made episodes, the clipped loss, training on exactly
the generated tokens (importance ratio 1 at the first update), config errors, and a tiny recipe run that
hot-swaps its adapter and resumes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agentkit.config import ConfigError, load_config
from agentkit.methods.agent_grpo.advantages import (
    EpisodeSteps,
    anchor_state,
    discounted_returns,
    episode_steps,
    gigpo_advantages,
    grpo_advantages,
    step_groups,
    task_advantages,
)
from agentkit.methods.agent_grpo.config import AgentGRPOConfig
from agentkit.methods.agent_grpo.loss import clipped_surrogate
from agentkit.methods.agent_grpo.rewards import success_reward
from agentkit.trajectory import Episode, Turn

ROOT = Path(__file__).resolve().parents[2]
ROOM = "-= Kitchen =- You see a box."


def _episode(steps: list[tuple[str, str, float]], success: bool, admissible: list[str] | None = None) -> Episode:
    """An episode of (observation, action, step reward) steps, its last observation after the last action."""
    info = {"admissible_actions": admissible} if admissible else {}
    turns = [Turn("system", "Play.")]
    for observation, action, reward in steps:
        turns.append(Turn("user", observation, info=dict(info)))
        turns.append(Turn("assistant", f"Action: {action}", action=action, reward=reward, loss=True))
    turns.append(Turn("user", "The end."))
    return Episode("game-1", "textworld", turns, success=success, steps=len(steps))


def test_gigpo_step_groups_hold_identical_states_only():
    # Three episodes of one task. Only byte-identical observations with the same admissible commands meet:
    # a trailing space, another room text or another command list makes another state.
    episodes = [
        _episode([(ROOM, "open box", 0), ("You open the box.", "take key", 0)], True, ["open box", "go east"]),
        _episode([(ROOM, "go east", 0), ("-= Hall =-", "go west", 0), (ROOM, "open box", 0)], False,
                 ["open box", "go east"]),  # fmt: skip
        _episode([(ROOM + " ", "open box", 0), ("You open the box.", "take key", 0)], True, ["open box", "go east"]),
    ]
    other_commands = _episode([(ROOM, "open box", 0)], False, ["go east", "open box", "take box"])
    states = [episode_steps(e, 0.0, False).states for e in [*episodes, other_commands]]
    assert step_groups(states) == [
        [(0, 0), (1, 0), (1, 2)],  # the kitchen, also revisited by episode 1
        [(0, 1), (2, 1)],  # after opening the box
        [(1, 1)],  # the hall
        [(2, 0)],  # the kitchen text with a trailing space
        [(3, 0)],  # the kitchen with other admissible commands
    ]
    # The admissible commands are part of the state, their order is not.
    shuffled = Turn("user", ROOM, info={"admissible_actions": ["go east", "open box"]})
    assert anchor_state(shuffled) == anchor_state(episodes[0].turns[1])


def test_gigpo_adds_omega_times_the_step_advantage_within_each_state_group():
    # Episode 0 wins from the kitchen in one step; episode 1 leaves and comes back, then wins; episode 2 loses.
    group = [
        EpisodeSteps(1.0, ["kitchen"], [1.0]),
        EpisodeSteps(1.0, ["kitchen", "hall", "kitchen"], [0.0, 0.0, 1.0]),
        EpisodeSteps(0.0, ["kitchen", "cellar"], [0.0, 0.0]),
    ]
    gamma, omega = 0.5, 2.0
    episode = [1 / 3, 1 / 3, -2 / 3]  # returns 1, 1, 0 minus their mean, unscaled
    kitchen = {(0, 0): 1.0, (1, 0): 0.25, (1, 2): 1.0, (2, 0): 0.0}  # discounted returns from the kitchen
    mean = sum(kitchen.values()) / 4
    got = gigpo_advantages(group, omega, gamma, scale=False)
    assert got[0] == pytest.approx([episode[0] + omega * (kitchen[0, 0] - mean)])
    assert got[1] == pytest.approx(
        [episode[1] + omega * (kitchen[1, 0] - mean), episode[1], episode[1] + omega * (kitchen[1, 2] - mean)]
    )  # the hall was visited once: no step credit there
    assert got[2] == pytest.approx([episode[2] + omega * (kitchen[2, 0] - mean), episode[2]])
    assert gigpo_advantages(group, 0.0, gamma, scale=False) == grpo_advantages(group, scale=False)


def test_grpo_gives_each_step_its_episodes_scaled_advantage_and_a_uniform_group_nothing():
    group = [EpisodeSteps(1.0, ["a", "b"], [0, 1]), EpisodeSteps(0.0, ["a"], [0])]
    first, second = grpo_advantages(group)
    assert first == pytest.approx([0.7071, 0.7071], abs=1e-3) and second == pytest.approx([-0.7071], abs=1e-3)
    assert grpo_advantages([EpisodeSteps(1.0, ["a"], [1.0])] * 3) == [[0.0]] * 3


def test_outcome_arrives_at_the_last_step_and_step_rewards_are_optional():
    episode = _episode([("a", "x", 1.0), ("b", "y", 0.0), ("c", "z", 2.0)], True)
    assert episode_steps(episode, 1.0, False) == EpisodeSteps(1.0, ["a", "b", "c"], [0.0, 0.0, 1.0])
    assert episode_steps(episode, 1.0, True) == EpisodeSteps(4.0, ["a", "b", "c"], [1.0, 0.0, 3.0])
    assert discounted_returns([1.0, 0.0, 3.0], 0.5) == [1.75, 1.5, 3.0]
    advantages = task_advantages([episode, _episode([("a", "x", 0.0)], False)], success_reward, "gigpo")
    assert [len(a) for a in advantages] == [3, 1]


def test_clipped_surrogate_stops_the_gradient_past_the_clip_in_the_advantages_direction():
    sampled = torch.zeros(1, 3)
    logprobs = torch.tensor([[0.0, 0.5, -0.5]], requires_grad=True)  # ratios 1, 1.65, 0.61
    loss = clipped_surrogate(logprobs, sampled, torch.tensor([1.0]), 0.2)
    loss.sum().backward()
    assert loss[0, 0].item() == pytest.approx(-1.0) and loss[0, 1].item() == pytest.approx(-1.2)
    assert logprobs.grad[0, 1] == 0 and logprobs.grad[0, 0] != 0 and logprobs.grad[0, 2] != 0


@pytest.mark.parametrize(
    "override, message",
    [
        ("sampling.episodes_per_task=1", "episodes_per_task=1 must be >= 2"),
        ("optim.clip_epsilon=0", "clip_epsilon=0.0 must be > 0"),
        ("advantage.gamma=1.5", "gamma=1.5 must be in [0, 1]"),
        ("advantage.estimator=ppo", "advantage.estimator='ppo' must be one of 'grpo', 'gigpo'"),
        ("reward.outcome=wins", "outcome='wins' must be success, score or module:function"),
        ("model=warm_start", "model='warm_start': agent GRPO has no warm start"),
        ("lora.full_finetune=true", "trains a LoRA adapter"),
    ],
)
def test_config_errors_name_the_field_and_value(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(AgentGRPOConfig, None, [override])


def test_a_start_adapter_that_is_not_a_lora_folder_is_refused(tmp_path):
    config = load_config(AgentGRPOConfig, None, [f"start_adapter={tmp_path}"])
    with pytest.raises(ConfigError, match=f"start_adapter='{tmp_path}' is not a LoRA adapter folder"):
        config.check_start_adapter()


def test_the_tokens_trained_are_the_tokens_generated_and_the_first_ratio_is_one(
    tiny_model_dir, lora_adapter, textworld_games, tmp_path
):
    from accelerate import Accelerator

    from agentkit.envs import make
    from agentkit.methods.agent_grpo.decisions import decision_batch, episode_decisions
    from agentkit.methods.agent_grpo.training import build_policy, sample_episodes, update
    from agentkit.models import load_tokenizer
    from agentkit.rollout.backend import prompt_token_ids
    from agentkit.rollout.hf_backend import HFBackend

    torch.set_num_threads(1)
    kwargs, tasks = textworld_games
    config = load_config(
        AgentGRPOConfig,
        None,
        [f"model={tiny_model_dir}", f"start_adapter={lora_adapter}",
         f"env.kwargs={json.dumps({**kwargs, 'max_steps': 3})}", "sampling.num_envs=4", "sampling.max_tokens=8",
         "sampling.backend=hf",
         "optim.minibatches=1", "optim.micro_batch=2", "optim.learning_rate=0.01", "eval.max_tokens=8"],
    )  # fmt: skip
    tokenizer = load_tokenizer(tiny_model_dir)
    with HFBackend(str(tiny_model_dir), adapter=str(lora_adapter), threads=1) as backend:
        in_process = lambda: make("textworld", **config.env.kwargs)  # noqa: E731
        groups = [tasks[0]] * 2 + [tasks[1]] * 2
        episodes, _ = sample_episodes(config, in_process, backend, groups, tmp_path / "it.jsonl", 0)
    advantages = [[float(i)] * e.steps for i, e in enumerate(episodes)]
    decisions = episode_decisions(tokenizer, episodes, advantages, config.prompt)
    replies = [(p, t) for e in episodes for p, t, _ in config.prompt.decisions(e.turns)]
    assert len(decisions) == len(replies) == sum(e.steps for e in episodes) > 4
    batch, sampled, _ = decision_batch(decisions, tokenizer.pad_token_id)
    for row, (prompt, turn) in enumerate(replies):
        on = batch.completion_mask[row].bool()
        assert batch.input_ids[row][on].tolist() == turn.token_ids  # never re-tokenized from the text
        assert sampled[row][on].tolist() == pytest.approx(turn.logprobs)
        start = len(prompt_token_ids(tokenizer, prompt))
        assert batch.input_ids[row, :start].tolist() == prompt_token_ids(tokenizer, prompt)
    accelerator = Accelerator(cpu=True)
    model = build_policy(config, str(tiny_model_dir))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.01)
    first = update(config, accelerator, model, optimizer, decisions, tokenizer.pad_token_id, 0)
    assert first["ratio_deviation"] < 1e-3  # the policy is the sampler until its first step
    second = update(config, accelerator, model, optimizer, decisions, tokenizer.pad_token_id, 1)
    assert second["ratio_deviation"] > 1e-2  # against the old samples, the stepped policy has moved
    assert first["tokens_trained"] == sum(len(d.token_ids) for d in decisions)


@pytest.mark.slow
def test_recipe_hot_swaps_its_adapter_writes_its_folder_and_resumes(tiny_model_dir, lora_adapter, textworld_games,
                                                                    tmp_path):  # fmt: skip
    kwargs, _ = textworld_games
    out = tmp_path / "run"
    command = [
        sys.executable, str(ROOT / "recipes" / "agent_grpo.py"), f"model={tiny_model_dir}", f"output_dir={out}",
        f"start_adapter={lora_adapter}", f"env.kwargs={json.dumps({**kwargs, 'max_steps': 3})}",
        f"env.train_kwargs={json.dumps({'split': 'train', 'n_games': 4})}",
        "env.eval_kwargs={split: train, n_games: 2}", "sampling.backend=hf", "sampling.tasks_per_iteration=2",
        "sampling.episodes_per_task=2", "sampling.max_tokens=8", "sampling.threads=1", "advantage.estimator=gigpo",
        "optim.iterations=2", "optim.learning_rate=0.01",
        "eval.backend=hf", "eval.max_tokens=8", "eval.threads=1", "eval.num_envs=2", "report_to=[]",
    ]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    files = ("config.yaml", "metrics.json", "report.md", "training.png", "success.png",
             "adapter/adapter_model.safetensors", "episodes/iteration-2.jsonl", "eval_agent_grpo.jsonl")  # fmt: skip
    for name in files:
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert [row["iteration"] for row in metrics["train"]] == [1, 2]
    assert metrics["train"][0]["adapter"] != metrics["train"][1]["adapter"]  # the second played the updated one
    played = {json.loads(line)["meta"]["adapter"]["digest"][:12] for line in open(out / "episodes/iteration-2.jsonl")}
    assert played == {metrics["train"][1]["adapter"]}
    assert set(metrics["eval"]) == {"start", "agent_grpo"}
    resumed = subprocess.run([*command, "optim.iterations=3", "skip_eval=true"], capture_output=True, text=True,
                             cwd=ROOT, timeout=900)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert [row["iteration"] for row in json.loads((out / "metrics.json").read_text())["train"]] == [1, 2, 3]
