"""The registry and the env checker, exercised with small envs defined here for the purpose."""

import pytest

from agentkit.cli import main
from agentkit.envs import EnvCheckError, EnvError, TextEnv, check_env, make, registered


class CountdownEnv(TextEnv):
    """Say the numbers from the task's start down to zero; the expert knows the next number."""

    name = "countdown"
    max_steps = 10

    def __init__(self, flaw: str | None = None):
        self.flaw = flaw
        self.current = 0
        self.steps = 0
        self.resets = 0

    def reset(self, *, seed=None, options=None):
        self.resets += 1
        self.current = 3 + (seed or 0) % 3
        self.steps = 0
        text = f"Count down from {self.current}."
        if self.flaw == "nondeterministic":
            text += f" (reset {self.resets})"
        return text, {"won": False, "admissible_actions": [str(n) for n in range(6)]}

    def step(self, action):
        self.steps += 1
        if action.strip() == str(self.current - 1):
            self.current -= 1
        won = self.current == 0
        truncated = not won and self.steps >= self.max_steps
        reward = 1 if won else 0
        if self.flaw == "bad_reward":
            reward = "one"
        return f"Now at {self.current}.", reward, won, truncated, {"won": won}

    def expert_action(self):
        return "9" if self.flaw == "bad_expert" else str(self.current - 1)


def test_check_env_passes_on_a_correct_env():
    report = check_env(CountdownEnv(), seeds=(0, 1, 2))
    assert report.episodes == 3
    assert report.mean_expert_steps == pytest.approx((3 + 4 + 5) / 3)
    assert report.mean_expert_return == 1.0


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ("nondeterministic", "not deterministic"),
        ("bad_expert", "the expert did not win from seed 0"),
        ("bad_reward", "reward must be a number"),
    ],
)
def test_check_env_names_the_broken_rule(flaw, message):
    with pytest.raises(EnvCheckError, match=message) as info:
        check_env(CountdownEnv(flaw))
    assert "CountdownEnv ('countdown')" in str(info.value)


def test_unknown_env_lists_the_known_ones(capsys):
    with pytest.raises(EnvError) as info:
        make("nethack")
    message = str(info.value)
    assert "unknown env 'nethack'" in message
    for spec in registered():
        assert spec.name in message
    assert main(["envs"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == [spec.name for spec in registered()]
    assert {"textworld", "entity_deduction", "textcraft"} <= {spec.name for spec in registered()}
