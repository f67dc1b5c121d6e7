"""Serving: vLLM's OpenAI-compatible server with LoRA adapters as a child process, and playing envs against it.

The server runs as `python -m vllm.entrypoints.openai.api_server` (the `vllm` console script is missing
from the CPU wheel) in its own process group, so stopping it also ends the engine workers it spawns.
Start-up takes a minute or more on a CPU, so readiness is polled on `/health` with a deadline, and a
server that dies or never gets ready is reported with the last lines of its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentkit.errors import AgentkitError
from agentkit.rollout.adapters import AdapterRef, adapter_ref
from agentkit.rollout.sampling import SamplingParams
from agentkit.trajectory import Episode, TrajectoryWriter


class ServeError(AgentkitError):
    """The server could not start, died, or an adapter/endpoint argument is malformed."""


def parse_adapters(specs: list[str]) -> dict[str, str]:
    """`NAME=PATH` pairs -> {name: path}; each path must be a PEFT adapter folder."""
    adapters: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ServeError(f"--adapter {spec!r} must be NAME=PATH")
        if name in adapters:
            raise ServeError(f"--adapter name {name!r} given twice")
        adapter_ref(path)  # a missing or incomplete folder fails here, not a minute into server start-up
        adapters[name] = str(Path(path).resolve())
    return adapters


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def server_command(
    model: str,
    adapters: Mapping[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_lora_rank: int = 16,
    max_model_len: int = 2048,
    dtype: str = "float32",
    seed: int = 0,
    served_model_name: str | None = None,
    extra_args: list[str] | None = None,
) -> list[str]:
    """The argv that starts vLLM's OpenAI server for `model` with `adapters` served under their names; the
    base model answers to `served_model_name` (vLLM's default is the folder path `model`)."""
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
    if served_model_name:
        command += ["--served-model-name", served_model_name]
    command += ["--host", host, "--port", str(port), "--dtype", dtype, "--seed", str(seed)]
    command += ["--max-model-len", str(max_model_len)]
    if adapters:
        command += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", str(len(adapters))]
        command += ["--lora-modules", *(f"{name}={path}" for name, path in adapters.items())]
    return command + list(extra_args or [])


class VLLMServer:
    """vLLM's OpenAI-compatible server as a child process; a context manager that always stops it.

    Args:
        model: the base model folder or hub name.
        adapters: {served name: PEFT adapter folder}; a request for that name samples with that adapter.
        env: the child's full environment (None inherits this process's); on CPU add `cpu_environment()`.
        log_path: where the server's output goes (default: a temporary file, removed on a clean stop).
        startup_timeout: seconds to wait for `/health` before giving up.
        server_kwargs: passed to `server_command` (port, max_lora_rank, max_model_len, dtype, extra_args...).
    """

    def __init__(
        self,
        model: str,
        adapters: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        log_path: str | Path | None = None,
        startup_timeout: float = 300.0,
        **server_kwargs: Any,
    ):
        self.model = str(model)
        self.adapters = dict(adapters or {})
        self.adapter_refs: dict[str, AdapterRef] = {name: adapter_ref(path) for name, path in self.adapters.items()}
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.command = server_command(self.model, self.adapters, host=host, port=self.port, **server_kwargs)
        self.env = dict(env) if env is not None else None
        self._own_log = log_path is None
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="vllm-server-", suffix=".log")[1])
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI base URL clients use."""
        return f"{self.root_url}/v1"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.root_url}/health", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> VLLMServer:
        """Start the server and block until it answers `/health`; on failure stop it and raise."""
        if self.process is not None:
            raise ServeError("server already started")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        deadline = time.monotonic() + self.startup_timeout
        while not self._healthy():
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise ServeError(f"vLLM server exited with code {code} during start-up; last log lines:\n"
                                 f"{self.log_tail()}")
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise ServeError(f"vLLM server not healthy after {self.startup_timeout:.0f} s at {self.root_url}; "
                                 f"last log lines:\n{tail}")
            time.sleep(1.0)
        return self

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after `grace` seconds. Idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # engine workers left behind in the group after the main process exited
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self._own_log and process.returncode in (0, -signal.SIGTERM):
            self.log_path.unlink(missing_ok=True)

    def wait(self) -> int:
        """Block until the server process exits by itself; its exit code."""
        if self.process is None:
            raise ServeError("server not started")
        return self.process.wait()

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def served_adapter(base_url: str, model: str, api_key: str = "EMPTY", timeout: float = 10.0) -> AdapterRef | None:
    """The identity of the adapter a vLLM server serves as `model`, when it is a folder on this machine.

    vLLM lists each LoRA module with its folder as `root` and the base model as `parent`; the base model
    itself, another server, or a folder elsewhere gives None.
    """
    from openai import OpenAI

    with OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1) as client:
        try:
            entries = client.models.list().data
        except Exception:  # the play run itself reports an unreachable server, episode by episode
            return None
    for entry in entries:
        extra = entry.model_extra or {}
        if entry.id == model and extra.get("parent") and extra.get("root"):
            root = Path(extra["root"])
            return adapter_ref(root) if (root / "adapter_config.json").is_file() else None
    return None


def play(
    env: str,
    base_url: str,
    model: str,
    *,
    episodes: int = 8,
    num_envs: int = 8,
    env_kwargs: Mapping[str, Any] | None = None,
    sampling: SamplingParams | None = None,
    out: str | Path | None = None,
    api_key: str = "EMPTY",
    timeout: float = 60.0,
    max_retries: int = 3,
    concurrency: int = 16,
    token_ids: bool = True,
    progress: bool = False,
    **prompt_kwargs: Any,
) -> tuple[list[Episode], Any]:
    """Play `episodes` tasks of the registered env `env` against the OpenAI-compatible server at `base_url`.

    Tasks are the env's task ids in order (cycled), seeded by position. Episodes are streamed to `out`
    (JSONL) when given. A server that is down or too slow fails the affected episodes with the reason,
    after the client's `max_retries` (at most `concurrency` requests in flight). `token_ids=False` for
    servers other than vLLM, which may reject the request field that asks for them. Returns the episodes
    and the engine's `RolloutStats`.
    """
    from agentkit.envs import make
    from agentkit.prompts import PromptFormat
    from agentkit.rollout.engine import ModelAgent, Task, rollout
    from agentkit.rollout.openai_backend import OpenAIBackend

    if episodes < 1:
        raise ServeError(f"episodes={episodes!r} must be >= 1")
    env_kwargs = dict(env_kwargs or {})
    probe = make(env, **env_kwargs)
    try:
        task_ids = probe.task_ids()
    finally:
        probe.close()
    tasks = [Task(task_ids[i % len(task_ids)] if task_ids else None, i) for i in range(episodes)]
    backend = OpenAIBackend(model, base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
                            concurrency=concurrency, token_ids=token_ids)  # fmt: skip
    backend.adapter = served_adapter(base_url, model, api_key, timeout)
    writer = TrajectoryWriter(out) if out is not None else None
    try:
        return rollout(
            lambda: make(env, **env_kwargs),
            tasks,
            ModelAgent(backend, sampling),
            num_envs=num_envs,
            prompt_format=PromptFormat(**prompt_kwargs),
            writer=writer,
            meta={"endpoint": base_url, "model": model},
            progress=progress,
            description=f"play {env}",
        )
    finally:
        backend.close()
        if writer is not None:
            writer.close()
