"""The `agentkit` command. User errors print one readable line and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentkit import __version__
from agentkit.errors import AgentkitError

if TYPE_CHECKING:
    from agentkit.prompts import PromptFormat


def _cmd_envs(args: argparse.Namespace) -> None:
    from agentkit.envs import registered

    specs = registered()
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        extra = f"  [pip install 'agentkit[{spec.extra}]']" if spec.extra else ""
        print(f"{spec.name:<{width}}  {spec.description}{extra}")


def _cmd_tiny_model(args: argparse.Namespace) -> None:
    from agentkit.models import count_parameters, make_tiny_model

    texts = None
    if args.corpus:
        with open(args.corpus, encoding="utf-8") as handle:
            texts = handle.read().splitlines()
    out = make_tiny_model(args.out, preset=args.preset, texts=texts, seed=args.seed)
    from transformers import AutoModelForCausalLM

    n_params = count_parameters(AutoModelForCausalLM.from_pretrained(out))
    print(f"wrote {args.preset} model ({n_params / 1e6:.2f}M parameters) to {out}")


def _cmd_validate(args: argparse.Namespace) -> None:
    from agentkit.trajectory import TrajectoryError, scan_episodes

    episodes = wins = 0
    invalid: list[TrajectoryError] = []
    for item in scan_episodes(args.path):
        if isinstance(item, TrajectoryError):
            if not args.skip_invalid:
                raise item
            invalid.append(item)
        else:
            episodes += 1
            wins += item.success
    rate = f"{wins / episodes:.1%}" if episodes else "n/a"
    print(f"{args.path}: {episodes} valid episodes, success {rate}, {len(invalid)} invalid lines skipped")
    for error in invalid[:10]:
        print(f"  {error}")


def _cmd_serve(args: argparse.Namespace) -> None:
    import signal

    from agentkit.rollout.vllm_backend import cpu_environment
    from agentkit.serve import VLLMServer, parse_adapters

    threads = args.cpu_threads or f"0-{(os.cpu_count() or 1) - 1}"
    env = {**os.environ, **cpu_environment(os.path.expanduser(args.cache_dir), threads=threads)}
    served_name = args.served_model_name or args.model
    server = VLLMServer(
        _model_path(args),
        parse_adapters(args.adapter),
        host=args.host,
        port=args.port,
        env=env,
        log_path=args.log,
        startup_timeout=args.startup_timeout,
        max_lora_rank=args.max_lora_rank,
        max_model_len=args.max_model_len,
        dtype=args.dtype,
        served_model_name=served_name,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"starting vLLM server for {args.model} (log: {server.log_path})", file=sys.stderr, flush=True)
    try:
        server.start()
        served = ", ".join([served_name, *server.adapters])
        print(server.url, flush=True)
        print(f"serving models: {served}; Ctrl-C stops the server", file=sys.stderr, flush=True)
        code = server.wait()
        raise AgentkitError(f"vLLM server exited with code {code}; last log lines:\n{server.log_tail()}")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _env_kwargs(items: list[str]) -> dict:
    """`--env-arg KEY=VALUE` pairs; values are read as JSON when they parse (numbers, lists, booleans)."""
    import json

    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AgentkitError(f"--env-arg {item!r} must be KEY=VALUE")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


def _cmd_collect(args: argparse.Namespace) -> None:
    import importlib
    import inspect

    from agentkit.collect import collect
    from agentkit.envs import spec
    from agentkit.policies import make_policy
    from agentkit.rollout.engine import ModelAgent, PolicyAgent
    from agentkit.rollout.sampling import SamplingParams

    env_kwargs = _env_kwargs(args.env_arg)
    for key in ("game_set", "split"):
        if getattr(args, key) is not None:
            env_kwargs[key] = getattr(args, key)
    if args.seed is not None:  # envs that generate their tasks draw a fresh set from this seed
        module_name, attr = spec(args.env).entry_point.split(":")
        env_class = getattr(importlib.import_module(module_name), attr)
        if "generation_seed" not in inspect.signature(env_class).parameters:
            raise AgentkitError(f"--seed: env {args.env!r} does not generate its tasks from a seed")
        env_kwargs["generation_seed"] = args.seed
    if args.policy == "model":
        if args.model is None:
            raise AgentkitError("--policy model needs --model")
        from agentkit.rollout.backend import make_backend

        _apply_vllm_environment(args.backend, args.cache_dir)
        backend = make_backend(args.backend, _model_path(args), args.adapter, **_backend_options(args))
        agent = ModelAgent(backend, SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens))
    else:
        agent = PolicyAgent(make_policy(args.policy, seed=args.seed or 0))
    prompt_format = _prompt_format(args)
    summary = collect(
        args.env,
        env_kwargs,
        agent,
        args.episodes,
        args.out,
        prompt_format=prompt_format,
        seed=args.seed or 0,
        step_timeout=args.step_timeout,
        num_envs=args.num_envs,
        resume=args.resume,
    )
    skipped = f" ({summary.skipped} already there, skipped)" if summary.skipped else ""
    print(
        f"{summary.episodes} episodes, success {summary.success_rate:.1%}, {summary.errors} failed; "
        f"appended to {summary.path}{skipped}"
    )
    if summary.duplicated:
        print(
            f"warning: {summary.duplicated} of these episodes (task, seed) were already in {summary.path} and are "
            "now there twice; --resume skips the ones a file holds",
            file=sys.stderr,
        )


def _cmd_play(args: argparse.Namespace) -> None:
    from agentkit.rollout.sampling import SamplingParams
    from agentkit.serve import play

    env_kwargs = _env_kwargs(args.env_arg)
    sampling = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)
    episodes, stats = play(
        args.env,
        args.endpoint,
        args.model,
        episodes=args.episodes,
        num_envs=args.num_envs,
        env_kwargs=env_kwargs,
        sampling=sampling,
        out=args.out,
        timeout=args.timeout,
        max_retries=args.retries,
        concurrency=args.concurrency,
        token_ids=not args.no_token_ids,
        progress=args.out is not None,
    )
    if args.out is None:
        for episode in episodes:
            print(episode.to_json())
    print(
        f"{stats.episodes} episodes, success {stats.successes}/{stats.episodes}, errors {stats.errors}, "
        f"{stats.episodes_per_second:.2f} episodes/s, {stats.tokens_per_second:.0f} tokens/s"
        + (f"; wrote {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    if stats.errors == stats.episodes:
        first = next(episode.error for episode in episodes if episode.error)
        raise AgentkitError(f"no episode could be played: all {stats.errors} failed; the first with {first}")


def _cmd_eval_bench(args: argparse.Namespace) -> None:
    from agentkit.eval.bench_eval import format_summary, generate_records, grade_predictions, grade_records

    if (args.predictions is None) == (args.model is None):
        raise AgentkitError("eval bench needs exactly one of --predictions FILE and --model PATH")
    out = args.out or f"runs/eval-{args.task}"
    if args.predictions is not None:
        summary = grade_predictions(args.task, args.predictions, out, split=args.split, limit=args.limit)
    else:
        from agentkit.rollout.backend import make_backend

        _apply_vllm_environment(args.backend, args.cache_dir)
        with make_backend(args.backend, _model_path(args), args.adapter, **_backend_options(args)) as backend:
            records = generate_records(args.task, backend, split=args.split, limit=args.limit)
        summary = grade_records(args.task, records, out, split=args.split)
    print(format_summary(summary))
    print(f"per-item results: {summary['results']}")
    failed = summary["failed_items"]
    if failed:
        shown = ", ".join(failed[:10]) + (", ..." if len(failed) > 10 else "")
        message = (
            f"{len(failed)} of {summary['items']} items have a failed completion (no text, graded as wrong): {shown}"
        )
        if not args.allow_failures:
            raise AgentkitError(f"{message}; --allow-failures accepts them")
        print(f"warning: {message}", file=sys.stderr)


def _cmd_eval_agent(args: argparse.Namespace) -> None:
    from functools import partial
    from pathlib import Path

    from agentkit.collect import build_env, task_ids_of
    from agentkit.eval.agent import bar_chart, evaluate_agents, markdown_table
    from agentkit.policies import make_policy
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.engine import ModelAgent, PolicyAgent, Task
    from agentkit.rollout.sampling import SamplingParams

    env_kwargs = {**_env_kwargs(args.env_arg), "split": args.split}
    task_ids = task_ids_of(args.env, env_kwargs)
    count = args.episodes or len(task_ids)
    tasks = [Task(task_ids[i % len(task_ids)] if task_ids else None, i) for i in range(count)]
    agents = {name: (lambda name=name: PolicyAgent(make_policy(name))) for name in args.baseline}
    if args.model is not None:
        _apply_vllm_environment(args.backend, args.cache_dir)
        sampling = SamplingParams(max_tokens=args.max_tokens)
        options = _backend_options(args)
        model = _model_path(args)
        if not args.no_base:
            agents["base"] = lambda: ModelAgent(
                make_backend(args.backend, model, **options), sampling, args.action_space
            )
        for adapter in args.adapter:
            name, _, path = adapter.rpartition("=") if "=" in adapter else (Path(adapter).name, "", adapter)
            agents[name] = lambda path=path: ModelAgent(
                make_backend(args.backend, model, path, **options), sampling, args.action_space
            )
    if not agents:
        raise AgentkitError("nothing to evaluate: give --model (with --adapter ...) and/or --baseline")
    out = Path(args.out or f"runs/eval-agent-{args.env}-{args.split}")
    out.mkdir(parents=True, exist_ok=True)
    prompt_format = _prompt_format(args)
    factory = partial(build_env, args.env, env_kwargs, args.step_timeout)
    rows = evaluate_agents(
        agents,
        factory,
        tasks,
        out,
        num_envs=args.num_envs,
        prompt_format=prompt_format,
        agreement=args.expert_agreement,
    )
    table = markdown_table(rows)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    bar_chart(rows, str(out / "success.png"), f"{args.env} {args.split}")
    print(table)
    print(f"episodes, table and chart in {out}")


def _cmd_bench(args: argparse.Namespace) -> None:
    from agentkit.benchmarks import run_benches

    readme = Path(args.readme) if args.readme else None
    runs = run_benches(args.names or ["quick"], Path(args.out), readme=readme)
    print(f"results: {Path(args.out)}; " + ", ".join(f"{run.name} {run.status}" for run in runs))


def _cmd_view(args: argparse.Namespace) -> None:
    from agentkit.view import RunFolder, Site, export_site, make_server

    site = Site(RunFolder(args.path), RunFolder(args.compare) if args.compare else None)
    if args.export:
        written = export_site(site, args.export)
        print(f"wrote {written} files to {args.export} (open {args.export}/index.html)")
        return
    try:
        server = make_server(site, args.port)
    except OSError as exc:
        raise AgentkitError(f"--port {args.port}: cannot listen on 127.0.0.1 ({exc.strerror})") from exc
    print(f"viewing {site.run.root} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _apply_vllm_environment(backend: str, cache_dir: str) -> None:
    """vLLM reads its settings from the environment when it is imported: set them before that."""
    if backend == "vllm":
        from agentkit.rollout.vllm_backend import cpu_environment

        for key, value in cpu_environment(os.path.expanduser(cache_dir)).items():
            os.environ.setdefault(key, value)


def _add_prompt_arguments(parser: argparse.ArgumentParser) -> None:
    """The prompt format's options, the same for every command that plays an env."""
    parser.add_argument(
        "--history", type=_history, default=4, help="past steps kept in the prompt (`all`: the whole episode)"
    )
    parser.add_argument(
        "--past-commands",
        action="store_true",
        help="earlier observations keep their command lists, so each prompt extends the last (with --history all)",
    )
    parser.add_argument(
        "--hide-commands",
        action="store_true",
        help="list no admissible commands in the prompt (the quickstart's prompt, with --history all)",
    )
    parser.add_argument("--thoughts", action="store_true", help="replies carry a Thought: line")
    parser.add_argument(
        "--thoughts-in-order",
        action="store_true",
        help="of the thoughts the env offers, only the agent's last one and the next (a plan followed in order)",
    )
    parser.add_argument(
        "--hide-past-thoughts", action="store_true", help="earlier replies in the prompt show their command alone"
    )


def _prompt_format(args: argparse.Namespace) -> PromptFormat:
    from agentkit.prompts import PromptFormat

    return PromptFormat(
        history=args.history,
        thoughts=args.thoughts,
        thoughts_in_order=args.thoughts_in_order,
        past_thoughts=not args.hide_past_thoughts,
        past_commands=args.past_commands,
        show_admissible=not args.hide_commands,
    )


def _history(text: str) -> int | None:
    """`--history`: a count of past steps >= 0, or `all`."""
    if text == "all":
        return None
    return int(_positive(int, 0)(text))


def _model_path(args: argparse.Namespace) -> str:
    """`--model` as a backend loads it: a catalogue name or `preset:NAME` becomes its cached folder; a
    server's model name (`--backend openai`) stays as given."""
    from agentkit.models import resolve_model

    if getattr(args, "backend", None) == "openai":
        return args.model
    return resolve_model(args.model, os.path.expanduser(args.cache_dir))


def _cmd_models(args: argparse.Namespace) -> None:
    from agentkit.models import catalogue_rows

    for row in catalogue_rows(os.path.expanduser(args.cache_dir)):
        print(f"{row['name']}  {row['parameters']} parameters  {row['licence']}")
        print(f"  weights: {row['weights']}")
        print(f"  {row['state']}")
    print("also: preset:tiny and preset:small (random-init, for tests), any model folder or hub name")


def _backend_options(args: argparse.Namespace) -> dict:
    if args.backend == "openai":
        return {
            "base_url": args.endpoint,
            "timeout": args.timeout,
            "concurrency": args.concurrency,
            "max_retries": args.retries,
        }
    return {"dtype": args.dtype} if args.backend == "hf" else {}


def _positive(kind: type[int] | type[float], low: float) -> Callable[[str], int | float]:
    """An argparse type for numbers >= `low`, so a bad count is one usage line, not a traceback later."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}"
            ) from None
        if not value >= low:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {low}")
        return value

    return parse


COUNT = _positive(int, 1)
RETRIES = _positive(int, 0)
SECONDS = _positive(float, 0.001)


def _port(text: str) -> int:
    value = _positive(int, 0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} must be a TCP port, 0-65535")
    return value


def _add_server_arguments(sub: argparse.ArgumentParser) -> None:
    """How a command talks to an OpenAI-compatible server: the same options wherever it does."""
    sub.add_argument("--timeout", type=SECONDS, default=60.0, help="seconds per request attempt")
    sub.add_argument("--retries", type=RETRIES, default=3, help="attempts after the first failed one")
    sub.add_argument("--concurrency", type=COUNT, default=16, help="requests in flight at once")


def _add_model_arguments(sub: argparse.ArgumentParser, adapters: bool = False) -> None:
    sub.add_argument(
        "--model",
        help="a catalogue name (see `agentkit models`), preset:NAME, a model folder or hub name "
        "(for --backend openai: the served model name)",
    )
    if adapters:
        sub.add_argument(
            "--adapter",
            action="append",
            default=[],
            metavar="[NAME=]PATH",
            help="a PEFT LoRA adapter folder; repeat to compare several",
        )
    else:
        sub.add_argument("--adapter", help="a PEFT LoRA adapter folder (hf and vllm backends)")
    sub.add_argument("--backend", default="hf", choices=["hf", "vllm", "openai"])
    sub.add_argument(
        "--dtype",
        default="float32",
        choices=["auto", "float32", "bfloat16"],
        help="the hf backend's weights (auto: bfloat16 where the CPU or GPU runs it fast, as the quickstart does)",
    )
    sub.add_argument("--endpoint", default="http://127.0.0.1:8000/v1", help="server URL for --backend openai")
    _add_server_arguments(sub)
    sub.add_argument("--cache-dir", default="~/.cache/agentkit", help="converted models and vLLM's compile cache")


def build_parser() -> argparse.ArgumentParser:
    from agentkit.rollout.admissible import ACTION_SPACES

    parser = argparse.ArgumentParser(prog="agentkit", description="Fine-tune LLM agents.")
    parser.add_argument("--version", action="version", version=f"agentkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    command("envs", _cmd_envs, "list the registered environments")

    models = command("models", _cmd_models, "list the model catalogue: real chat models installed offline")
    models.add_argument("--cache-dir", default="~/.cache/agentkit", help="where converted models are cached")

    tiny = command("tiny-model", _cmd_tiny_model, "create a tiny random-init model + tokenizer folder")
    tiny.add_argument("--preset", default="tiny", help="tiny (~1M params) or small (~20M)")
    tiny.add_argument("--out", required=True, help="folder to write (loadable by transformers, PEFT, TRL, vLLM)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--corpus", help="text file to train the tokenizer on (default: shipped GSM8K text)")

    validate = command("validate", _cmd_validate, "check a trajectory JSONL file line by line")
    validate.add_argument("path")
    validate.add_argument("--skip-invalid", action="store_true", help="count and report bad lines, keep going")

    serve = command("serve", _cmd_serve, "start vLLM's OpenAI-compatible server with LoRA adapters")
    serve.add_argument(
        "--model", required=True, help="base model: a catalogue name, preset:NAME, a model folder or hub name"
    )
    serve.add_argument("--served-model-name", help="the name clients ask for (default: --model as given)")
    serve.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="serve a PEFT LoRA adapter folder under NAME (repeatable)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--max-lora-rank", type=int, default=16)
    serve.add_argument("--max-model-len", type=int, default=2048)
    serve.add_argument("--dtype", default="float32", help="float32 on CPU; auto on GPUs")
    serve.add_argument("--startup-timeout", type=float, default=600.0, help="seconds to wait for /health")
    serve.add_argument("--cache-dir", default="~/.cache/agentkit", help="converted models, vLLM's compile caches")
    serve.add_argument("--cpu-threads", help="cores vLLM binds on CPU, e.g. 0-7 (default: all)")
    serve.add_argument("--log", help="write the server's log here (default: a temporary file)")

    play = command("play", _cmd_play, "play episodes of an env against an OpenAI-compatible server")
    play.add_argument("--env", required=True, help="a registered env (see `agentkit envs`)")
    play.add_argument("--endpoint", required=True, help="the server's /v1 URL, e.g. http://127.0.0.1:8000/v1")
    play.add_argument("--model", required=True, help="served model name (an adapter name samples with it)")
    play.add_argument("--episodes", type=COUNT, default=8)
    play.add_argument("--num-envs", type=COUNT, default=8, help="episodes played at once")
    play.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env constructor argument, VALUE parsed as JSON when it can be (repeatable)",
    )
    play.add_argument("--temperature", type=float, default=0.0)
    play.add_argument("--max-tokens", type=COUNT, default=64)
    play.add_argument("--seed", type=int)
    _add_server_arguments(play)
    play.add_argument("--out", help="append the episodes to this JSONL file (default: print them)")
    play.add_argument(
        "--no-token-ids",
        action="store_true",
        help="do not ask for generated token ids (for servers other than vLLM that reject the field)",
    )
    collect = command("collect", _cmd_collect, "play a policy or a model in an env and save the trajectories")
    collect.add_argument("--env", required=True, help="a registered env (see `agentkit envs`)")
    collect.add_argument("--game-set", help="TextWorld game set (custom, tw-simple, tw-cooking, ...)")
    collect.add_argument("--split", help="the env's task split (train, valid, test, ...)")
    collect.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="more env arguments")
    collect.add_argument("--policy", default="expert", choices=["expert", "random", "model"])
    collect.add_argument("--episodes", type=COUNT, default=10)
    collect.add_argument("--out", required=True, help="append the episodes to this JSONL file")
    collect.add_argument(
        "--resume", action="store_true", help="skip the (task, seed) episodes --out already holds (after a kill)"
    )
    collect.add_argument("--seed", type=int, help="generate a fresh task set from this seed (TextWorld)")
    collect.add_argument("--num-envs", type=COUNT, default=4, help="episodes played at once")
    collect.add_argument("--step-timeout", type=SECONDS, default=60.0, help="seconds an env call may take")
    _add_prompt_arguments(collect)
    collect.add_argument("--temperature", type=float, default=0.0)
    collect.add_argument("--max-tokens", type=COUNT, default=48)
    _add_model_arguments(collect)

    evaluate = command("eval", lambda args: None, "evaluate models: reasoning benchmarks")
    evals = evaluate.add_subparsers(dest="eval_command", required=True, metavar="EVAL")
    bench = evals.add_parser("bench", help="grade a reasoning benchmark", description="grade a reasoning benchmark")
    bench.set_defaults(run=_cmd_eval_bench)
    bench.add_argument("--task", required=True, help="a shipped task name (gsm8k, arithmetic, ...) or a YAML path")
    bench.add_argument("--predictions", help="JSONL of completions made elsewhere (question + completion)")
    _add_model_arguments(bench)
    bench.add_argument("--split", help="the task split (default: the task's own)")
    bench.add_argument("--limit", type=COUNT, help="the first N items only")
    bench.add_argument("--out", help="output folder (default runs/eval-TASK)")
    bench.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit 0 even when some items got no completion (failed requests; graded as wrong)",
    )
    agent_eval = evals.add_parser(
        "agent",
        help="success rates of agents on an env's held-out tasks",
        description="success rates of agents on an env's held-out tasks",
    )
    agent_eval.set_defaults(run=_cmd_eval_agent)
    agent_eval.add_argument("--env", required=True, help="a registered env (see `agentkit envs`)")
    agent_eval.add_argument("--split", default="test")
    agent_eval.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE")
    _add_model_arguments(agent_eval, adapters=True)
    agent_eval.add_argument("--no-base", action="store_true", help="skip the base model without adapter")
    agent_eval.add_argument("--baseline", action="append", default=[], choices=["random", "expert"])
    agent_eval.add_argument("--episodes", type=COUNT, help="episodes per agent (default: one per task)")
    agent_eval.add_argument("--num-envs", type=COUNT, default=8)
    agent_eval.add_argument("--step-timeout", type=SECONDS, default=60.0)
    _add_prompt_arguments(agent_eval)
    agent_eval.add_argument("--max-tokens", type=COUNT, default=48)
    agent_eval.add_argument(
        "--action-space",
        choices=ACTION_SPACES,
        default="text",
        help="text: models write their command; admissible(_sum): they pick among the env's admissible "
        "commands by their log-probability per token (or whole)",
    )
    agent_eval.add_argument(
        "--expert-agreement",
        action="store_true",
        help="also measure each agent's agreement with the env's expert on the expert's own decisions",
    )
    agent_eval.add_argument("--out", help="output folder (default runs/eval-agent-ENV-SPLIT)")

    benches = command("bench", _cmd_bench, "run the speed and learning benches and write the results page")
    benches.add_argument(
        "names", nargs="*", metavar="NAME", help="suites (quick, the default; claims; speed; toy; rl) or bench names"
    )
    benches.add_argument("--out", default="bench/results", help="folder of the results pages")
    benches.add_argument("--readme", default="README.md", help="README whose results block `claims` rewrites")

    view = command("view", _cmd_view, "browse a run's trajectories, search trees and curves in a web page")
    view.add_argument("path", metavar="RUN", help="a run folder or one trajectory .jsonl file")
    view.add_argument("compare", nargs="?", help="a second run folder, shown side by side")
    view.add_argument("--port", type=_port, default=8765, help="port on 127.0.0.1 (0 picks a free one)")
    view.add_argument("--export", metavar="DIR", help="write static HTML pages instead of serving")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (AgentkitError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"agentkit: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
