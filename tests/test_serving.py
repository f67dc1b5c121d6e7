"""vLLM's OpenAI-compatible server started by `agentkit.serve`, used by the real `openai` client.

One server per session (it takes a minute or more to start on a CPU); its finalizer always stops it.
"""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agentkit.cli import main
from agentkit.envs import make
from agentkit.rollout.adapters import adapter_ref
from agentkit.rollout.hf_backend import HFBackend
from agentkit.rollout.openai_backend import OpenAIBackend
from agentkit.rollout.sampling import SamplingParams
from agentkit.rollout.vllm_backend import cpu_environment
from agentkit.serve import ServeError, VLLMServer, free_port, parse_adapters, play, server_command
from agentkit.trajectory import read_episodes

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "vllm-tests"
GAMES = {"game_set": "custom", "split": "train", "n_games": 4, "max_steps": 5}
# Greedy decoding of these prompts must give the same token ids on every backend.
PROMPTS = [
    [{"role": "user", "content": "You are in the kitchen. There is a red key on the table."}],
    [{"role": "system", "content": "You play a text game."}, {"role": "user", "content": "Go north."}],
    [{"role": "user", "content": "Commands: open door, take key, go east"}],
    [{"role": "user", "content": "What is 17 plus 25?"}],
]


def server_environment() -> dict[str, str]:
    """What the server process needs on this CPU machine, with its caches under the repository's `.cache`."""
    (CACHE / "tmp").mkdir(parents=True, exist_ok=True)
    threads = f"0-{(os.cpu_count() or 1) - 1}"
    return {**os.environ, **cpu_environment(CACHE, threads=threads), "TMPDIR": str(CACHE / "tmp")}


class Served:
    """`agentkit serve` running in its own process group, as a user starts it."""

    def __init__(self, model: Path, adapter: Path, port: int, log: Path, extra_args: tuple[str, ...] = ()):
        self.model, self.url, self.port = str(model), f"http://127.0.0.1:{port}/v1", port
        command = [sys.executable, "-m", "agentkit.cli", "serve", "--model", self.model, "--port", str(port)]
        command += ["--max-lora-rank", "8", "--max-model-len", "1024", "--cache-dir", str(CACHE), "--log", str(log)]
        self.log = log
        self.process = subprocess.Popen(
            [*command, "--adapter", f"agent={adapter}", *extra_args],
            stdout=subprocess.PIPE,
            text=True,
            env=server_environment(),
            start_new_session=True,
        )


@contextmanager
def running(served: Served) -> Iterator[Served]:
    """`served` once it prints its URL (healthy); stopped on exit whatever happened: SIGTERM first, on which
    `agentkit serve` stops the vLLM server it started (in a session of its own), then SIGKILL."""
    try:
        first_line = served.process.stdout.readline().strip()  # the URL once healthy; EOF if start-up failed
        if first_line != served.url:
            tail = served.log.read_text(errors="replace").splitlines()[-30:] if served.log.exists() else []
            pytest.fail(f"agentkit serve did not become healthy (got {first_line!r}); log:\n" + "\n".join(tail))
        yield served
    finally:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGTERM)
            try:
                served.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(served.process.pid, signal.SIGKILL)
                served.process.wait()


@pytest.fixture(scope="module")
def server(tiny_model_dir, lora_adapter, tmp_path_factory):
    """One server for the module, started through the CLI."""
    log = tmp_path_factory.mktemp("server") / "serve.log"
    with running(Served(tiny_model_dir, lora_adapter, free_port(), log)) as served:
        yield served


def test_server_command_serves_each_adapter_under_its_name(lora_adapter):
    command = server_command("m", parse_adapters([f"agent={lora_adapter}"]), port=1234, max_lora_rank=8)
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert command[command.index("--lora-modules") + 1] == f"agent={lora_adapter.resolve()}"
    assert "--enable-lora" in command and command[command.index("--port") + 1] == "1234"
    assert "--enable-lora" not in server_command("m", {})


def test_server_command_serves_the_base_model_under_the_given_name():
    command = server_command("/cache/models/smollm2-135m-0123", {}, served_model_name="smollm2-135m")
    assert command[command.index("--served-model-name") + 1] == "smollm2-135m"
    assert "--served-model-name" not in server_command("m", {})


@pytest.mark.parametrize(
    ("spec", "message"),
    [("agent", "must be NAME=PATH"), ("=x", "must be NAME=PATH"), ("agent=/nonexistent", "not a PEFT adapter")],
)
def test_bad_adapter_argument_is_a_clear_error(spec, message):
    with pytest.raises(Exception, match=message):
        parse_adapters([spec])


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers: a server too slow for the client's timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


@pytest.mark.parametrize(("server_state", "error"), [("down", "APIConnectionError"), ("silent", "APITimeoutError")])
def test_play_against_a_server_down_or_too_slow_records_failed_episodes(
    server_state, error, silent_server, textworld_cache, tmp_path
):
    url = silent_server if server_state == "silent" else f"http://127.0.0.1:{free_port()}/v1"
    episodes, stats = play(
        "textworld",
        url,
        "agent",
        episodes=2,
        num_envs=2,
        env_kwargs={**GAMES, "n_games": 2, "cache_dir": str(textworld_cache)},
        out=tmp_path / "failed.jsonl",
        timeout=1,
        max_retries=1,
    )
    assert stats.errors == 2 and not any(e.success for e in episodes)
    assert all(e.error.startswith(f"RuntimeError: backend: {error}") for e in episodes), episodes[0].error
    on_disk, _ = read_episodes(tmp_path / "failed.jsonl")
    assert [e.error for e in on_disk] == [e.error for e in episodes]


def test_play_command_fails_when_no_episode_could_be_played(textworld_cache, tmp_path, capsys):
    argv = ["play", "--env", "textworld", "--endpoint", f"http://127.0.0.1:{free_port()}/v1", "--model", "agent"]
    argv += ["--episodes", "2", "--num-envs", "2", "--out", str(tmp_path / "failed.jsonl")]
    argv += [f"--env-arg={key}={value}" for key, value in {**GAMES, "cache_dir": str(textworld_cache)}.items()]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "2 episodes, success 0/2, errors 2" in err[-2]
    assert err[-1].startswith("agentkit: error: no episode could be played: all 2 failed; the first with ")
    assert "APIConnectionError" in err[-1]
    assert len(read_episodes(tmp_path / "failed.jsonl")[0]) == 2  # the failures are still recorded


def test_eval_bench_against_a_server_too_slow_reports_failed_completions(silent_server, tmp_path, capsys):
    import json

    out = tmp_path / "out"
    argv = ["eval", "bench", "--task", "arithmetic", "--backend", "openai", "--endpoint", silent_server, "--model", "m"]
    argv += ["--limit", "2", "--timeout", "1", "--retries", "0", "--concurrency", "2", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "2 of 2 items have a failed completion (no text, graded as wrong): record 0, record 1" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_completions"] == 2 and summary["mean_completion_tokens"] is None


@pytest.mark.slow
def test_a_server_that_cannot_start_fails_with_its_log(tmp_path):
    broken = VLLMServer(str(tmp_path / "no-such-model"), env=server_environment(), startup_timeout=300)
    with pytest.raises(ServeError, match="exited with code") as failure:
        broken.start()
    assert "no-such-model" in str(failure.value)
    assert broken.process is None


@pytest.mark.slow
def test_chat_completion_through_the_adapter_with_the_openai_client(server, lora_adapter):
    from openai import OpenAI

    client = OpenAI(base_url=server.url, api_key="EMPTY")
    listed = {m.id: m for m in client.models.list().data}
    assert set(listed) == {server.model, "agent"}
    assert listed["agent"].model_extra["root"] == str(lora_adapter.resolve())
    replies = {}
    for model in (server.model, "agent"):
        response = client.chat.completions.create(
            model=model, messages=PROMPTS[0], temperature=0, max_tokens=12, extra_body={"return_token_ids": True}
        )
        replies[model] = response.choices[0].model_extra["token_ids"]
        assert replies[model] and response.usage.completion_tokens == len(replies[model])
    assert replies["agent"] != replies[server.model], "the adapter did not change the output"


@pytest.mark.slow
def test_greedy_replies_over_http_equal_hf_generate(server, tiny_model_dir, lora_adapter):
    """Same model, same prompts: vLLM's server and HF `generate` give identical greedy token ids."""
    params = SamplingParams(max_tokens=16)
    with OpenAIBackend("agent", base_url=server.url) as remote:
        over_http = remote.generate(PROMPTS, params)
    local = HFBackend(str(tiny_model_dir), adapter=str(lora_adapter), threads=1).generate(PROMPTS, params)
    for (http,), (hf,) in zip(over_http, local, strict=True):
        assert http.error is None
        assert http.token_ids == hf.token_ids
        assert http.text == hf.text
        assert http.logprobs == pytest.approx(hf.logprobs, abs=1e-3)


@pytest.mark.slow
def test_benchmark_eval_over_http_gives_the_same_per_item_results_as_hf(server, tiny_model_dir, lora_adapter, tmp_path):
    """`agentkit eval bench --backend openai` against the server equals the HF backend, item by item."""
    from agentkit.eval.bench_eval import generate_records, grade_records
    from agentkit.eval.tasks import get_task

    task = get_task("arithmetic")
    results = {}
    with OpenAIBackend("agent", base_url=server.url) as remote:
        backends = (("openai", remote), ("hf", HFBackend(str(tiny_model_dir), adapter=str(lora_adapter), threads=1)))
        for name, backend in backends:
            summary = grade_records(task, generate_records(task, backend, limit=6), tmp_path / name)
            results[name] = Path(summary["results"]).read_text().splitlines()
    assert len(results["hf"]) == 6
    assert results["openai"] == results["hf"]


@pytest.mark.slow
def test_textworld_episodes_end_to_end_over_http(server, lora_adapter, textworld_cache, tmp_path):
    out = tmp_path / "played.jsonl"
    episodes, stats = play(
        "textworld",
        server.url,
        "agent",
        episodes=4,
        num_envs=4,
        env_kwargs={**GAMES, "cache_dir": str(textworld_cache)},
        sampling=SamplingParams(max_tokens=12),
        out=out,
    )
    assert stats.episodes == 4 and stats.errors == 0 and stats.generated_tokens > 0
    on_disk, skipped = read_episodes(out)
    assert skipped == 0 and sorted(e.task_id for e in on_disk) == sorted(e.task_id for e in episodes)
    env = make("textworld", **{**GAMES, "cache_dir": str(textworld_cache)})
    assert [e.task_id for e in episodes] == env.task_ids()
    env.close()
    identity = {"path": str(lora_adapter.resolve()), "digest": adapter_ref(lora_adapter).digest}
    for episode in episodes:
        assert episode.meta["adapter"] == identity
        assert episode.meta["endpoint"] == server.url
        replies = [t for t in episode.turns if t.role == "assistant"]
        assert len(replies) == episode.steps >= 1
        assert all(t.token_ids and len(t.token_ids) == len(t.logprobs) <= 12 for t in replies)
        assert episode.success or episode.meta["truncated"]


@pytest.mark.slow
def test_play_command_saves_trajectories(server, textworld_cache, tmp_path, capsys):
    out = tmp_path / "cli.jsonl"
    argv = ["play", "--env", "textworld", "--endpoint", server.url, "--model", "agent", "--episodes", "2"]
    argv += ["--num-envs", "2", "--max-tokens", "8", "--out", str(out)]
    argv += [f"--env-arg={key}={value}" for key, value in {**GAMES, "cache_dir": str(textworld_cache)}.items()]
    assert main(argv) == 0
    episodes, _ = read_episodes(out)
    assert len(episodes) == 2 and all(e.error is None for e in episodes)
    assert "2 episodes" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_command_stops_the_server_on_sigterm(server):
    """Runs last in this module: SIGTERM to `agentkit serve` ends it and the vLLM server it started."""
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
