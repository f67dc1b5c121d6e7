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
