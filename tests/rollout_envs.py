"""Small envs with deliberate faults, importable by child processes (`SubprocessEnv("tests.rollout_envs:...")`).

They stand in for what a real env does only rarely (crash or hang mid-episode) so the engine's fault
handling can be shown on demand.
"""

from __future__ import annotations

import os
import time

from agentkit.envs.base import TextEnv


class FaultyEnv(TextEnv):
    """Task `ok-N` is won by saying `go` N times; `crash-*` raises on its first step, `hang-*` sleeps."""

    name = "faulty"
    max_steps = 4

    def __init__(self) -> None:
        self.task = "ok-1"
        self.left = 1

    def task_ids(self) -> list[str]:
        return ["ok-1", "crash-1", "ok-2", "hang-1", "ok-3"]

    def reset(self, *, seed=None, options=None):
        self.task = (options or {}).get("task_id", "ok-1")
        self.left = int(self.task.split("-")[1])
        return f"Say go {self.left} times.", {"won": False, "admissible_actions": ["go", "stop"], "task_id": self.task}

    def step(self, action):
        if self.task.startswith("crash"):
            os._exit(3)  # a native crash: the process dies without a Python exception
        if self.task.startswith("hang"):
            time.sleep(3600)
        if action == "go":
            self.left -= 1
        won = self.left == 0
        return (
            ("Done." if won else f"{self.left} to go."),
            float(won),
            won,
            False,
            {"won": won, "admissible_actions": ["go", "stop"]},
        )

    def expert_action(self):
        return "go"
