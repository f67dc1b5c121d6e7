"""The plancraft adapter over the real `plancraft` package (the `minecraft` extra): contract, expert, actions."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("plancraft", reason="plancraft is not installed (pip install 'agentkit[minecraft]')")

from agentkit.envs import EnvError, TextEnv, check_env, make  # noqa: E402
from agentkit.envs.minecraft.plancraft import PlancraftEnv, load_examples  # noqa: E402

IMPOSSIBLE_ID = "VAL0016"


@pytest.fixture(scope="module")
def env() -> TextEnv:
    return make("plancraft", split="val")


def test_check_env_on_val(env):
    report = check_env(env, seeds=(0, 5, 7))
    assert report.mean_expert_return == 1.0


def test_check_env_on_an_impossible_example(env):
    assert next(e for e in load_examples("val") if e.id == IMPOSSIBLE_ID).impossible
    report = check_env(env, seeds=(0,), options={"task_id": IMPOSSIBLE_ID})
    assert report.mean_expert_steps == 1


def test_examples_are_not_mutated_by_episodes(env):
    example = next(e for e in load_examples("val") if e.id == "VAL0005")
    before = copy.deepcopy(example.slotted_inventory)
    for _ in range(2):
        _, info = env.reset(options={"task_id": "VAL0005"})
        terminated = truncated = False
        while not (terminated or truncated):
            _, _, terminated, truncated, info = env.step(env.expert_action())
        assert info["won"]
    assert example.slotted_inventory == before


def test_expert_replans_after_the_agent_leaves_its_plan(env):
    obs, _ = env.reset(options={"task_id": "VAL0000"})
    assert "cyan_stained_glass [I17] quantity 6" in obs
    env.step("move: from [I17] to [C3] with quantity 2")  # not the planner's first move
    terminated = False
    for _ in range(env.max_steps - 1):
        _, reward, terminated, _, info = env.step(env.expert_action())
        if terminated:
            break
    assert terminated and info["won"] and reward == 1.0


def test_malformed_actions_get_the_package_message_and_change_nothing(env):
    obs, _ = env.reset(options={"task_id": "VAL0000"})
    state = obs.split("\n\n")[-1]
    text, reward, terminated, truncated, info = env.step("craft the pane please")
    assert text.startswith("Only select actions from the following: move, smelt, impossible.")
    assert text.endswith(state) and (reward, terminated, truncated, info["won"]) == (0.0, False, False, False)
    text, *_ = env.step("move: from [I17] to [A1]")
    assert text.startswith("Format Error")


def test_a_wrong_impossible_ends_the_episode_without_reward(env):
    env.reset(options={"task_id": "VAL0000"})
    text, reward, terminated, _, info = env.step("impossible: no idea")
    assert (reward, terminated, info["won"]) == (0.0, True, False) and text.startswith("Wrong")
    with pytest.raises(EnvError, match="episode is over"):
        env.step("impossible: again")


def test_truncation_at_max_steps():
    short = make("plancraft", split="val.small", max_steps=2)
    short.reset(seed=0)
    assert short.step("move: from [I1] to [I2] with quantity 1")[3] is False
    assert short.step("move: from [I1] to [I2] with quantity 1")[2:4] == (False, True)


def test_bad_arguments_and_registry():
    with pytest.raises(EnvError, match="split must be one of"):
        PlancraftEnv(split="dev")
    with pytest.raises(EnvError, match="max_steps must be a positive int, got 0"):
        PlancraftEnv(max_steps=0)
    with pytest.raises(EnvError, match="task_id 'nope'"):
        PlancraftEnv(split="val.small").reset(options={"task_id": "nope"})
    assert isinstance(make("plancraft", split="val.small").unwrapped, PlancraftEnv)
