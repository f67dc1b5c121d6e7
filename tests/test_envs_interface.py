"""The registry, the episode wrapper and the env checker, exercised with small envs defined here for the purpose."""

from pathlib import Path

import pytest

from agentkit.cli import main
from agentkit.envs import EnvCheckError, EnvError, EpisodeLimit, TextEnv, check_env, make, registered

TASKS = ["3", "4", "5"]


class CountdownEnv(TextEnv):
    """Say the numbers from the task's start (3, 4 or 5) down to zero; the expert knows the next number.

    `flaw` breaks one rule of the env contract on purpose.
    """

    name = "countdown"
    max_steps = 10

    def __init__(self, flaw: str | None = None):
        self.flaw = flaw
        self.current = 0
        self.resets = 0

    def task_ids(self):
        return TASKS + ["ghost"] if self.flaw == "unresettable_task" else TASKS

    def reset(self, *, seed=None, options=None):
        self.resets += 1
        task_id = (options or {}).get("task_id")
        if task_id is not None and task_id not in TASKS:
            raise EnvError(f"unknown task_id {task_id!r}")
        self.current = 3 + (seed or 0) % 3 if task_id is None else int(task_id)
        text = f"Count down from {self.current}."
        if self.flaw == "nondeterministic":
            text += f" (reset {self.resets})"
        admissible = [str(n) for n in range(6) if not (self.flaw == "unlisted_expert" and n == self.current - 1)]
        reported = "3" if self.flaw == "mislabelled_task" else str(self.current)
        return text, {"won": False, "admissible_actions": admissible, "task_id": reported}

    def step(self, action):
        if action.strip() == str(self.current - 1):
            self.current -= 1
        won = self.current == 0
        reward = 1 if won else 0
        if self.flaw == "bad_reward":
            reward = "one"
        return f"Now at {self.current}.", reward, won, False, {"won": won}

    def expert_action(self):
        return "9" if self.flaw == "bad_expert" else str(self.current - 1)


def countdown(flaw: str | None = None) -> EpisodeLimit:
    """The countdown env as `make()` returns envs: wrapped in `EpisodeLimit`."""
    return EpisodeLimit(CountdownEnv(flaw))


def test_check_env_passes_on_a_correct_env():
    report = check_env(countdown(), seeds=(0, 1, 2))
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
        check_env(countdown(flaw))
    assert "CountdownEnv ('countdown')" in str(info.value)


def test_check_env_refuses_an_expert_action_missing_from_the_admissible_ones():
    message = r"expert_action\(\) '2' from seed 0 is not among info\['admissible_actions'\]"
    with pytest.raises(EnvCheckError, match=message):
        check_env(countdown("unlisted_expert"))


def test_check_env_refuses_an_env_that_steps_after_the_end():
    with pytest.raises(EnvCheckError, match="step\\(\\) after the episode from seed 0 ended was accepted") as info:
        check_env(CountdownEnv())  # not wrapped: nothing refuses the step
    assert "CountdownEnv ('countdown')" in str(info.value)


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ("unresettable_task", "reset\\(seed=None, options={'task_id': 'ghost'}\\) failed: EnvError: unknown task_id"),
        ("mislabelled_task", "reset to task_id '4' reported info\\['task_id'\\]='3'"),
    ],
)
def test_check_env_resets_every_listed_task(flaw, message):
    with pytest.raises(EnvCheckError, match=message):
        check_env(countdown(flaw))


class EchoEnv(TextEnv):
    """Echoes each action and ends only on `win`: every other episode end comes from `EpisodeLimit`."""

    name = "echo"
    max_steps = 3
    volume = "loud"

    def reset(self, *, seed=None, options=None):
        if (options or {}).get("task_id") == "missing":
            raise EnvError("unknown task_id 'missing'")
        return "Say anything.", {"won": False}

    def step(self, action):
        if action == "bad":
            raise EnvError("action 'bad' is refused")
        return action, float(action == "win"), action == "win", False, {"won": action == "win"}

    def expert_action(self):
        return "win"


def test_make_wraps_envs_in_episode_limit(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    env = make("test_envs_interface:EchoEnv")
    assert isinstance(env, EpisodeLimit) and type(env.unwrapped).__name__ == "EchoEnv"
    assert (env.name, env.max_steps, env.volume, env.thread_safe) == ("echo", 3, "loud", False)


def test_episode_limit_truncates_at_max_steps_and_refuses_steps_outside_an_episode():
    env = EpisodeLimit(EchoEnv())
    for call in (lambda: env.step("a"), env.expert_action, env.expert_decision):
        with pytest.raises(EnvError, match=r"echo: \w+\(\) before reset\(\): call reset\(\) first"):
            call()
    env.reset()
    assert env.step("a") == ("a", 0.0, False, False, {"won": False})
    with pytest.raises(EnvError, match="action 'bad' is refused"):
        env.step("bad")  # the env's own error: the step does not count
    assert env.step("b")[2:4] == (False, False) and env.elapsed_steps == 2
    assert env.step("c")[2:4] == (False, True)
    with pytest.raises(EnvError, match=r"step\(\) after the episode ended: the episode is over, call reset\(\)"):
        env.step("d")
    assert env.expert_action() == "win"  # after the end the expert is the env's business
    env.reset()
    assert env.elapsed_steps == 0
    assert env.step("a")[2:4] == (False, False)
    assert env.step("a")[2:4] == (False, False)
    assert env.step("win")[1:4] == (1.0, True, False)  # terminated on the last step: not truncated
    with pytest.raises(EnvError, match="unknown task_id 'missing'"):
        env.reset(options={"task_id": "missing"})
    with pytest.raises(EnvError, match="before reset"):  # a failed reset starts no episode
        env.step("a")


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
