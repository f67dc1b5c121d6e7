import pytest

from agentkit.eval.agent import summarize, wilson_interval
from agentkit.trajectory import Episode, Turn


def episode(actions, success, invalid=0):
    turns = [Turn("system", "s"), Turn("user", "o")]
    for action in actions:
        turns += [Turn("assistant", f"Action: {action}", action=action, loss=True), Turn("user", "o")]
    return Episode("t", "env", turns, success=success, steps=len(actions), meta={"invalid_actions": invalid})


def test_wilson_interval_matches_hand_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_summary_counts_repeats_and_invalid_actions():
    episodes = [episode(["go north", "go north", "go north", "take key"], True), episode(["look", None], False, 1)]
    result = summarize("bc", episodes)
    assert result.success_rate == 0.5 and result.episodes == 2
    assert result.repeated_action_rate == pytest.approx(2 / 6)
    assert result.invalid_action_rate == pytest.approx(1 / 6)
    assert result.mean_steps == 3.0


def decisions_of(replies_and_menus):
    """One expert episode whose decisions carry these (expert command, admissible commands)."""
    from agentkit.eval.agent import expert_decisions
    from agentkit.prompts import PromptFormat

    first = Turn("user", "You are in a room.", info={"admissible_actions": replies_and_menus[0][1]})
    turns = [Turn("system", "s"), first]
    for index, (action, _) in enumerate(replies_and_menus):
        following = replies_and_menus[index + 1][1] if index + 1 < len(replies_and_menus) else []
        turns += [Turn("assistant", f"Action: {action}", action=action, loss=True),
                  Turn("user", f"After {action}.", info={"admissible_actions": following})]  # fmt: skip
    return expert_decisions([Episode("t", "env", turns, success=True, steps=len(replies_and_menus))], PromptFormat())


def test_random_policy_agreement_is_its_chance_of_picking_the_experts_command():
    from agentkit.eval.agent import expert_agreement
    from agentkit.policies import RandomPolicy
    from agentkit.rollout.engine import PolicyAgent

    decisions = decisions_of([("go north", ["go north", "look"]), ("take key", ["take key", "go south", "look", "x"])])
    assert [action for _, action, _ in decisions] == ["go north", "take key"]
    assert decisions[1][0][-1]["content"].startswith("After go north.")  # the prompt is the expert's own state
    assert expert_agreement(PolicyAgent(RandomPolicy(0)), decisions) == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert expert_agreement(PolicyAgent(RandomPolicy(0)), []) is None


def test_model_agreement_counts_the_replies_that_name_the_experts_command(tmp_path):
    from agentkit.eval.agent import expert_agreement
    from agentkit.rollout.engine import ModelAgent
    from agentkit.rollout.hf_backend import HFBackend
    from agentkit.rollout.sampling import SamplingParams
    from agentkit.training.warmup import warm_start

    # A tiny model taught to answer "Action: go north" to anything, so what it says is known.
    chats = [[{"role": "user", "content": f"room {i}"}, {"role": "assistant", "content": "Action: go north"}]
             for i in range(32)]  # fmt: skip
    model = warm_start("always-north", chats=chats, steps=40, learning_rate=3e-3, cache_dir=tmp_path, progress=False)
    agent = ModelAgent(HFBackend(str(model)), SamplingParams(max_tokens=8))
    decisions = decisions_of([(action, [action, "look"]) for action in ["go north", "look", "go north", "take key"]])
    assert expert_agreement(agent, decisions) == pytest.approx(0.5)
