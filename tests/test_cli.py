import json
import subprocess
import sys

import pytest

from agentkit import __version__
from agentkit.cli import _prompt_format, build_parser, main
from agentkit.prompts import PromptFormat


def test_console_script_version():
    result = subprocess.run(
        [sys.executable, "-m", "agentkit.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"agentkit {__version__}"


def test_user_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "agentkit.cli", "tiny-model", "--preset", "huge", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "agentkit: error: unknown preset 'huge'; choose one of tiny, small"


def test_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_eval_bench_grades_a_predictions_file(tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    rows = [
        {"question": "What is 2 + 3?", "answer": "#### 5", "completion": "2 + 3 = 5. The answer is 5.", "id": 1},
        {"question": "What is 4 * 3?", "answer": "#### 12", "completion": "The answer is 13.", "id": 2},
    ]
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert main(["eval", "bench", "--task", "gsm8k", "--predictions", str(predictions), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| accuracy | 0.5000 |" in printed and str(out / "results.jsonl") in printed
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["id"], r["extracted"], r["correct"]) for r in results] == [(1, "5", True), (2, "13", False)]


def test_eval_bench_through_a_model_writes_per_item_results(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["eval", "bench", "--task", "arithmetic", "--model", str(tiny_model_dir), "--limit", "3", "--out", str(out)]
    assert main(argv) == 0
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 3 and all(r["completion_tokens"] > 0 and "correct" in r for r in results)
    assert main(["eval", "bench", "--task", "arithmetic"]) == 2
    assert "exactly one of --predictions FILE and --model PATH" in capsys.readouterr().err


def test_collect_writes_expert_and_random_episodes(textworld_cache, tmp_path, capsys):
    out = tmp_path / "demos.jsonl"
    base = [
        "collect",
        "--env",
        "textworld",
        "--game-set",
        "custom",
        "--split",
        "train",
        "--episodes",
        "3",
        "--env-arg",
        "n_games=3",
        "--env-arg",
        f"cache_dir={textworld_cache}",
        "--out",
        str(out),
    ]
    assert main(base) == 0
    assert "3 episodes, success 100.0%, 0 failed" in capsys.readouterr().out
    assert main([*base, "--policy", "random"]) == 0
    from agentkit.trajectory import read_episodes

    episodes, _ = read_episodes(out)
    assert [e.meta["agent"] for e in episodes] == ["expert"] * 3 + ["random"] * 3
    assert sorted(e.task_id for e in episodes[:3]) == sorted(e.task_id for e in episodes[3:])


def _collect_argv(textworld_cache, out, *extra: str) -> list[str]:
    return ["collect", "--env", "textworld", "--game-set", "custom", "--split", "train", "--env-arg", "n_games=3",
            "--env-arg", f"cache_dir={textworld_cache}", "--out", str(out), *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--episodes", "0"], "argument --episodes: '0' must be >= 1"),
        (["--episodes", "-1"], "argument --episodes: '-1' must be >= 1"),
        (["--num-envs", "0"], "argument --num-envs: '0' must be >= 1"),
        (["--episodes", "two"], "argument --episodes: 'two' is not an integer"),
    ],
)
def test_collect_refuses_bad_counts_in_one_line_before_writing(textworld_cache, tmp_path, capsys, extra, message):
    out = tmp_path / "demos.jsonl"
    with pytest.raises(SystemExit) as exit_:
        main(_collect_argv(textworld_cache, out, *extra))
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)
    assert not out.exists()


@pytest.mark.parametrize("field", ["episodes", "num_envs"])
def test_collect_refuses_bad_counts_before_opening_its_file(tmp_path, field):
    from agentkit.collect import collect
    from agentkit.errors import AgentkitError
    from agentkit.policies import make_policy

    out = tmp_path / "demos.jsonl"
    counts = {"episodes": 2, "num_envs": 1, field: 0}
    with pytest.raises(AgentkitError, match=rf"^{field}=0 must be an int >= 1$"):
        collect("textworld", {}, make_policy("expert"), counts["episodes"], out, num_envs=counts["num_envs"])
    assert not out.exists()


def test_collect_resume_finishes_a_killed_run_without_duplicates(textworld_cache, tmp_path, capsys):
    from agentkit.trajectory import read_episodes

    out = tmp_path / "demos.jsonl"
    assert main(_collect_argv(textworld_cache, out, "--episodes", "3")) == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:2]) + lines[2][:40])  # killed while writing the third episode
    capsys.readouterr()
    with pytest.warns(UserWarning, match="cut off"):
        assert main(_collect_argv(textworld_cache, out, "--episodes", "3", "--resume")) == 0
    assert "1 episodes, success 100.0%, 0 failed; appended to" in capsys.readouterr().out
    episodes, _ = read_episodes(out)
    assert sorted((e.task_id, e.seed) for e in episodes) == sorted({(e.task_id, e.seed) for e in episodes})
    assert sorted(e.seed for e in episodes) == [0, 1, 2]
    # Without --resume the same episodes are played again, with a warning.
    assert main(_collect_argv(textworld_cache, out, "--episodes", "2")) == 0
    err = capsys.readouterr().err
    assert f"warning: 2 of these episodes (task, seed) were already in {out}" in err
    assert len(read_episodes(out)[0]) == 5


def test_view_refuses_a_port_out_of_range_in_one_line(tmp_path, capsys):
    (tmp_path / "run.jsonl").write_text("")
    with pytest.raises(SystemExit) as exit_:
        main(["view", str(tmp_path / "run.jsonl"), "--port", "99999"])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith("argument --port: '99999' must be a TCP port, 0-65535")


def test_eval_bench_reports_failed_completions_apart_and_exits_non_zero(tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    rows = [
        {"question": "What is 2 + 3?", "answer": "#### 5", "completion": "The answer is 5.", "completion_tokens": 10},
        {"question": "What is 4 * 3?", "answer": "#### 12", "completion": None, "completion_tokens": 0},
    ]
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    argv = ["eval", "bench", "--task", "gsm8k", "--predictions", str(predictions), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"agentkit: error: 1 of 2 items have a failed completion (no text, graded as wrong): "
                       f"{predictions}:2; --allow-failures accepts them")  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())  # written all the same
    assert summary["failed_completions"] == 1 and summary["failed_items"] == [f"{predictions}:2"]
    assert summary["accuracy"] == 0.5 and summary["mean_completion_tokens"] == 10  # a failure is not 0 tokens
    assert main([*argv, "--allow-failures"]) == 0
    assert "| failed_completions | 1 |" in capsys.readouterr().out


def test_every_command_that_talks_to_a_server_takes_timeout_concurrency_and_retries():
    from agentkit.cli import _backend_options
    from agentkit.rollout.backend import make_backend

    options = ["--timeout", "5", "--concurrency", "2", "--retries", "1"]
    server = ["--backend", "openai", "--model", "m", *options]
    for argv in (["eval", "bench", "--task", "gsm8k", *server], ["eval", "agent", "--env", "textworld", *server],
                 ["collect", "--env", "textworld", "--out", "x.jsonl", "--policy", "model", *server]):  # fmt: skip
        with make_backend("openai", "m", **_backend_options(build_parser().parse_args(argv))) as backend:
            assert (backend.client.timeout, backend.client.max_retries, backend.pool._max_workers) == (5, 1, 2)
    play = build_parser().parse_args(["play", "--env", "textworld", "--endpoint", "x", "--model", "m", *options])
    assert (play.timeout, play.concurrency, play.retries) == (5, 2, 1)


def test_the_hf_backend_loads_the_dtype_the_command_line_names(tiny_model_dir):
    import torch

    from agentkit.cli import _backend_options
    from agentkit.rollout.backend import make_backend

    argv = ["eval", "agent", "--env", "textworld", "--model", str(tiny_model_dir)]
    assert build_parser().parse_args(argv).dtype == "float32"
    options = _backend_options(build_parser().parse_args([*argv, "--dtype", "bfloat16"]))
    assert make_backend("hf", str(tiny_model_dir), **options).model.dtype == torch.bfloat16


def test_collect_and_eval_agent_read_the_same_prompt_options():
    options = ["--history", "1", "--thoughts", "--thoughts-in-order", "--hide-past-thoughts"]
    collect = build_parser().parse_args(["collect", "--env", "textworld", "--out", "x.jsonl", *options])
    agent = build_parser().parse_args(["eval", "agent", "--env", "textworld", *options])
    expected = PromptFormat(history=1, thoughts=True, thoughts_in_order=True, past_thoughts=False)
    assert _prompt_format(collect) == _prompt_format(agent) == expected
    assert _prompt_format(build_parser().parse_args(["eval", "agent", "--env", "textworld"])) == PromptFormat(history=4)
    whole = ["eval", "agent", "--env", "textworld", "--history", "all"]
    assert _prompt_format(build_parser().parse_args([*whole, "--past-commands"])) == PromptFormat(
        history=None, past_commands=True
    )
    quickstart = build_parser().parse_args([*whole, "--hide-commands"])  # the quickstart adapter's prompt
    assert _prompt_format(quickstart) == PromptFormat(history=None, show_admissible=False)


def test_collect_seed_draws_a_fresh_game_set(textworld_cache, tmp_path, capsys):
    out = tmp_path / "fresh.jsonl"
    argv = [
        "collect",
        "--env",
        "textworld",
        "--episodes",
        "1",
        "--seed",
        "7",
        "--env-arg",
        "n_games=1",
        "--env-arg",
        f"cache_dir={textworld_cache}",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    from agentkit.trajectory import read_episodes

    shipped = main(
        [
            "collect",
            "--env",
            "textworld",
            "--episodes",
            "1",
            "--env-arg",
            "n_games=1",
            "--env-arg",
            f"cache_dir={textworld_cache}",
            "--out",
            str(tmp_path / "split.jsonl"),
        ]
    )
    assert shipped == 0
    assert read_episodes(out)[0][0].task_id != read_episodes(tmp_path / "split.jsonl")[0][0].task_id
    assert main(["collect", "--env", "textcraft", "--seed", "3", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "does not generate its tasks from a seed" in capsys.readouterr().err


def test_eval_agent_compares_agents_in_one_table_and_chart(tmp_path, capsys):
    out = tmp_path / "eval"
    argv = [
        "eval",
        "agent",
        "--env",
        "textcraft",
        "--split",
        "test",
        "--baseline",
        "random",
        "--baseline",
        "expert",
        "--episodes",
        "4",
        "--env-arg",
        "depth=1",
        "--out",
        str(out),
        "--expert-agreement",
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| expert | 4 | 100.0% (51.0%-100.0%) |" in table and "| random | 4 |" in table
    rows = {row["name"]: row for row in json.loads((out / "results.json").read_text())}
    assert rows["expert"]["success_rate"] == 1.0 and rows["expert"]["errors"] == 0
    assert 0 < rows["random"]["expert_agreement"] < 0.5  # its chance: 1 / number of admissible commands
    assert rows["expert"]["expert_agreement"] is None  # only model agents and the random policy are measured
    assert (out / "success.png").stat().st_size > 0 and (out / "random.jsonl").is_file()
    assert main(["eval", "agent", "--env", "textcraft"]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err


def test_eval_agent_admissible_action_space_sends_only_listed_commands(tmp_path, tiny_model_dir):
    from agentkit.trajectory import read_episodes

    out = tmp_path / "eval"
    argv = ["eval", "agent", "--env", "textcraft", "--env-arg", "depth=1", "--env-arg", "max_steps=3",
            "--episodes", "2", "--model", str(tiny_model_dir), "--backend", "hf", "--action-space", "admissible",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    episodes, _ = read_episodes(out / "base.jsonl")
    for episode in episodes:
        turns = episode.turns
        for index, turn in enumerate(turns):
            if turn.role == "assistant":
                assert turn.action in turns[index - 1].info["admissible_actions"]


def test_model_flag_takes_a_preset_built_once_in_the_cache_dir(tmp_path):
    out = tmp_path / "out"
    argv = ["eval", "bench", "--task", "arithmetic", "--model", "preset:tiny", "--cache-dir", str(tmp_path)]
    assert main([*argv, "--limit", "2", "--out", str(out)]) == 0
    assert (tmp_path / "models" / "tiny-seed0" / "config.json").is_file()
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
