"""SubprocessEnv: a real child process, a real hang, a real crash (no mocks)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agentkit.collect import collect
from agentkit.envs import EnvError, TextEnv, check_env
from agentkit.envs.subprocess_env import EnvCrashed, EnvTimeout, SubprocessEnv
from agentkit.policies import ExpertPolicy
from agentkit.trajectory import read_episodes

ENTRY = "test_subprocess_env:FaultyEnv"


class FaultyEnv(TextEnv):
    """Count to 3 to win; the actions `hang`, `segfault`, `raise` and `bad` misbehave on purpose.

    Task "hang" makes the expert hang too, so a collection run meets a hanging step.
    """

    name = "faulty"
    max_steps = 10

    def __init__(self, target: int = 3):
        self.target = target
        self.count = 0
        self.task = "ok"

    def task_ids(self) -> list[str]:
        return ["ok", "hang", "ok2"]

    def reset(self, *, seed=None, options=None):
        self.task = (options or {}).get("task_id") or self.task_ids()[(seed or 0) % 3]
        self.count = 0
        return f"count to {self.target}", {"won": False, "task_id": self.task}

    def step(self, action):
        if action == "hang":
            time.sleep(3600)
        if action == "segfault":
            os.write(2, b"Fatal error: simulated interpreter failure\n")
            os._exit(3)
        if action == "raise":
            raise RuntimeError("interpreter state corrupt")
        if action == "bad":
            raise EnvError("action 'bad' is not allowed")
        self.count += 1
        won = self.count >= self.target
        return str(self.count), float(won), won, not won and self.count >= self.max_steps, {"won": won}

    def expert_action(self):
        return "hang" if self.task == "hang" else "next"


@pytest.fixture
def importable(monkeypatch):
    """The spawned child imports this module by name, so its folder must be on the inherited sys.path."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


@pytest.fixture
def env(importable):
    env = SubprocessEnv(ENTRY, {"target": 3}, step_timeout=5)
    yield env
    env.close()


def test_child_env_passes_the_contract(env):
    report = check_env(env, seeds=(0, 2))
    assert report.mean_expert_steps == 3
    assert env.task_ids() == ["ok", "hang", "ok2"]
    assert (env.name, env.max_steps) == ("faulty", 10)


def test_hanging_step_is_killed_and_the_next_reset_starts_a_new_child(importable):
    env = SubprocessEnv(ENTRY, step_timeout=1.0)
    env.reset(seed=0)
    with pytest.raises(EnvTimeout, match=r"step\(\) took longer than 1s"):
        env.step("hang")  # it sleeps an hour: returning at all means the child was killed
    with pytest.raises(EnvError, match="call reset"):
        env.step("next")
    observation, _ = env.reset(seed=0)
    assert observation == "count to 3"
    assert env.step("next")[0] == "1"
    env.close()


def test_native_crash_reports_the_childs_last_words(env):
    env.reset(seed=0)
    with pytest.raises(EnvCrashed, match=r"exit code 3.*simulated interpreter failure"):
        env.step("segfault")
    env.reset(seed=0)
    assert env.step("next")[0] == "1"


def test_exception_in_child_is_a_crash_with_its_traceback(env):
    env.reset(seed=0)
    with pytest.raises(EnvCrashed, match="RuntimeError: interpreter state corrupt"):
        env.step("raise")


def test_env_error_in_child_is_passed_through_and_the_child_lives_on(env):
    env.reset(seed=0)
    with pytest.raises(EnvError, match="action 'bad' is not allowed") as caught:
        env.step("bad")
    assert not isinstance(caught.value, EnvCrashed)
    assert env.step("next")[0] == "1"


def test_bad_env_name_and_kwargs_fail_at_construction(importable):
    with pytest.raises(EnvError, match="unknown env 'nope'"):
        SubprocessEnv("nope")
    with pytest.raises(EnvCrashed, match="unexpected keyword argument 'colour'"):
        SubprocessEnv(ENTRY, {"colour": "red"})
    with pytest.raises(EnvError, match="step_timeout=0"):
        SubprocessEnv(ENTRY, step_timeout=0)


def test_close_twice_is_harmless(env):
    env.close()
    env.close()


def test_collect_records_a_hanging_episode_and_goes_on(importable, tmp_path):
    out = tmp_path / "episodes.jsonl"
    summary = collect(ENTRY, {"target": 2}, ExpertPolicy(), 3, out, step_timeout=1.0, progress=False)
    episodes, skipped = read_episodes(out)
    assert skipped == 0
    assert [e.task_id for e in episodes] == ["ok", "hang", "ok2"]
    assert [e.success for e in episodes] == [True, False, True]
    assert "EnvTimeout" in episodes[1].error
    assert episodes[0].error is None and episodes[2].error is None
    assert (summary.episodes, summary.successes, summary.errors) == (3, 2, 1)
