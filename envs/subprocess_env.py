"""Run any env in a child process so a hung or crashed game can be killed without killing the run.

Interpreters such as TextWorld's Z-machine run native code: a bad game can loop forever or segfault.
`SubprocessEnv` forwards every call to a child (spawn context, so no inherited threads or locks) and
waits at most `step_timeout` seconds. Past it the child is killed and `EnvTimeout` raised; if the child
dies or the env raises an unexpected exception, `EnvCrashed` carries the child's error text. Either way
the next `reset()` starts a fresh child, so a collection run records the failure and goes on.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from multiprocessing import get_context
from multiprocessing.connection import Connection
from typing import Any

from agentkit.envs.base import EnvError, TextEnv
from agentkit.envs.registry import make

_STEP_TIMEOUT = object()  # sentinel: None already means "no limit"


class EnvTimeout(EnvError):
    """An env call took longer than its timeout; the child process was killed."""


class EnvCrashed(EnvError):
    """The env's child process died or the env raised an unexpected exception; the child is gone."""


def _serve(conn: Connection, env_name: str, kwargs: dict[str, Any], stderr_path: str) -> None:
    """Child loop: build the env, then answer (method, args, kwargs) requests until told to close.

    The child's stderr (fd 2, so native code too) goes to `stderr_path`: a native interpreter that dies
    (e.g. "Fatal error: Story file read error") leaves its last words there for the crash report.
    """
    sys.stderr.flush()
    os.dup2(os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    env = None
    while True:
        try:
            method, args, call_kwargs = conn.recv()
        except EOFError:
            return
        try:
            if method == "__init__":
                env = make(env_name, **kwargs)
                result: Any = {"name": env.name, "max_steps": env.max_steps, "task_ids": env.task_ids()}
            else:
                result = getattr(env, method)(*args, **call_kwargs)
            conn.send(("ok", result))
        except EnvError as exc:
            conn.send(("env_error", f"{type(exc).__name__}: {exc}"))
        except BaseException as exc:  # everything else is reported, then the child exits
            conn.send(("crash", "".join(traceback.format_exception(exc)).strip()))
            return
        if method == "close":
            return


class SubprocessEnv(TextEnv):
    """`env_name` (registered, or `"module:attr"`) built with `env_kwargs` in a child process.

    Args:
        step_timeout: seconds any call may take (reset, step, expert_action, ...).
        start_timeout: seconds the env's constructor may take (it may generate data); None: no limit.
    """

    thread_safe = True  # each instance is its own process

    def __init__(
        self,
        env_name: str,
        env_kwargs: dict[str, Any] | None = None,
        *,
        step_timeout: float = 30.0,
        start_timeout: float | None = 600.0,
    ):
        if not isinstance(step_timeout, int | float) or step_timeout <= 0:
            raise EnvError(f"step_timeout={step_timeout!r} must be a positive number of seconds")
        if start_timeout is not None and start_timeout <= 0:
            raise EnvError(f"start_timeout={start_timeout!r} must be a positive number of seconds or None")
        self.env_name = env_name
        self.env_kwargs = dict(env_kwargs or {})
        self.step_timeout = step_timeout
        self.start_timeout = start_timeout
        self._process: Any = None
        self._conn: Connection | None = None
        self._stderr_path: str | None = None
        self._task_ids: list[str] = []
        self._start()

    def _start(self) -> None:
        context = get_context("spawn")
        parent, child = context.Pipe()
        handle, self._stderr_path = tempfile.mkstemp(prefix="agentkit-env-", suffix=".stderr")
        os.close(handle)
        self._process = context.Process(
            target=_serve,
            args=(child, self.env_name, self.env_kwargs, self._stderr_path),
            daemon=True,
            name=f"env-{self.env_name}",
        )
        self._process.start()
        child.close()
        self._conn = parent
        try:
            spec = self._call("__init__", timeout=self.start_timeout)
        except EnvError:
            self._kill()
            raise
        self.name, self.max_steps, self._task_ids = spec["name"], spec["max_steps"], spec["task_ids"]

    def _call(self, method: str, *args: Any, timeout: Any = _STEP_TIMEOUT, **kwargs: Any) -> Any:
        """Forward one call; waits `step_timeout` unless `timeout` says otherwise (None: no limit)."""
        if self._conn is None:
            raise EnvError(f"{self.env_name}: the env process is gone (timeout or crash): call reset()")
        timeout = self.step_timeout if timeout is _STEP_TIMEOUT else timeout
        try:
            self._conn.send((method, args, kwargs))
            if not self._conn.poll(timeout):
                self._kill()
                raise EnvTimeout(f"{self.env_name}: {method}() took longer than {timeout:g}s; process killed")
            status, payload = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._process.join(timeout=5)
            code = self._process.exitcode
            last_words = self._stderr_tail()
            self._kill()
            raise EnvCrashed(
                f"{self.env_name}: the env process died during {method}() (exit code {code}): {last_words}"
            ) from exc
        if status == "env_error":
            raise EnvError(payload)
        if status == "crash":
            self._kill()
            raise EnvCrashed(f"{self.env_name}: {method}() failed in the env process:\n{payload}")
        return payload

    def _stderr_tail(self, chars: int = 2000) -> str:
        try:
            with open(self._stderr_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-chars:].strip() or "(no error output)"
        except OSError:
            return "(no error output)"

    def _kill(self) -> None:
        if self._stderr_path is not None:
            if os.path.exists(self._stderr_path):
                os.unlink(self._stderr_path)
            self._stderr_path = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=5)
            self._process = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        if self._conn is None:
            self._start()
        return self._call("reset", seed=seed, options=options)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        return self._call("step", action)

    def expert_action(self) -> str:
        return self._call("expert_action")

    def expert_decision(self) -> tuple[str, str | None]:
        return tuple(self._call("expert_decision"))

    def task_ids(self) -> list[str]:
        return list(self._task_ids)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._call("close")
            except EnvError:
                pass  # already reported; the process is killed below either way
        self._kill()
