"""URPO: ranking rewards, score parsing, preference loading, batch mixing, and the recipe end to end."""

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agentkit.eval.arithmetic import generate
from agentkit.methods.urpo.config import URPOConfig
from agentkit.methods.urpo.data import on_request, open_request, train_problems, warmup_chats
from agentkit.methods.urpo.mixing import for_kind, mix_batches, train_rows
from agentkit.methods.urpo.preferences import (
    Preference,
    PreferenceError,
    arithmetic_preferences,
    both_orders,
    disputed_steps,
    load_preferences,
    perturb_solution,
    recompute,
    trajectory_preferences,
)
from agentkit.methods.urpo.referee import (
    group_rewards,
    kendall_tau,
    make_ranking_reward,
    make_referee_reward,
    parse_ranking,
    parse_score,
    ranking_agreement,
    ranking_prompt,
)
from agentkit.reward_models.math_reward import math_reward
from agentkit.training.run import check_resume
from agentkit.trajectory import Episode, TrajectoryWriter, Turn

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "urpo.py"
CONFIG = ROOT / "recipes" / "configs" / "urpo_arithmetic.yaml"




# ---- ranking reward ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "gold", "tau"),
    [
        ([0, 1, 2], [0, 1, 2], 1.0),
        ([2, 1, 0], [0, 1, 2], -1.0),
        ([1, 0, 2], [0, 1, 2], 1 / 3),  # one of three pairs swapped: (2 - 1) / 3
        ([0, 2, 1, 3], [0, 1, 2, 3], 2 / 3),  # one of six pairs swapped: (5 - 1) / 6
        ([3, 2, 1, 0], [0, 1, 2, 3], -1.0),
        ([1, 0], [0, 1], -1.0),
    ],
)
def test_kendall_tau_on_hand_values(predicted, gold, tau):
    assert kendall_tau(predicted, gold) == pytest.approx(tau)


def test_kendall_tau_rejects_orderings_of_different_items():
    with pytest.raises(ValueError, match="same"):
        kendall_tau([0, 1], [0, 2])


def test_ranking_agreement_normalises_and_top1_checks_only_the_best():
    assert ranking_agreement([1, 0, 2], [0, 1, 2], "kendall") == pytest.approx(2 / 3)
    assert ranking_agreement([0, 2, 1], [0, 1, 2], "top1") == 1.0
    assert ranking_agreement([1, 0, 2], [0, 1, 2], "top1") == 0.0
    assert ranking_agreement(None, [0, 1], "kendall") == 0.0
    with pytest.raises(ValueError, match="metric"):
        ranking_agreement([0, 1], [0, 1], "spearman")


def test_parse_ranking_accepts_full_orders_only():
    assert parse_ranking("Ranking: B > A", 2) == [1, 0]
    assert parse_ranking("I think... Ranking:C>A> B<|im_end|>", 3) == [2, 0, 1]
    for garbage in ("Ranking: A > A", "Ranking: A", "Ranking: A > C", "B is better", "", "Ranking: a > b"):
        assert parse_ranking(garbage, 2) is None, garbage


def test_ranking_reward_scores_replies_and_logs_unparsed_share():
    logged = {}
    reward = make_ranking_reward("kendall")
    completions = ["Ranking: A > B > C", [{"role": "assistant", "content": "Ranking: C > B > A"}], "no idea"]
    values = reward(completions, ranking=[[0, 1, 2]] * 3, log_metric=logged.__setitem__)
    assert values == [1.0, 0.0, 0.0]
    assert logged["referee/unparsed_ranking"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="metric"):
        make_ranking_reward("best")
    bonus = make_ranking_reward("top1", format_bonus=0.2)
    assert bonus(completions, ranking=[[0, 1, 2]] * 3) == pytest.approx([1.0, 0.2, 0.0])  # right, wrong, broken
    with pytest.raises(ValueError, match="format_bonus"):
        make_ranking_reward("top1", format_bonus=1.0)


def test_ranking_prompt_labels_candidates():
    text = ranking_prompt("Question: 1 + 1?", ["#### 2", "#### 3", "#### 4"])
    assert "Answer A:\n#### 2" in text and "Answer C:\n#### 4" in text
    with pytest.raises(ValueError):
        ranking_prompt("q", ["only one"])


# ---- score parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Score: 7/10", 7.0),
        ("Score: 7", 7.0),
        ("Score:3.5 / 10 because", 3.5),
        ("Score: 12/10", 10.0),  # clipped to the range, not rejected
        ("Score: 7/5", None),
        ("Score: nan/10", None),
        ("score 7", None),
        ("", None),
        ("Score: /10", None),
        ("\x00\x01garbage Score: ", None),
    ],
)
def test_parse_score(reply, score):
    assert parse_score(reply) == score


def test_parse_score_clips_to_range():
    assert parse_score("Score: -3") == 0.0
    assert parse_score("Score: 99") == 10.0
    assert parse_score("Score: 4/5", low=1, high=5) == 4.0


def test_group_rewards_fill_unread_scores_with_the_group_mean():
    assert group_rewards([10, 0, None], 0, 10) == [1.0, 0.0, 0.5]
    assert group_rewards([None, None], 0, 10) == [0.0, 0.0]


class ScriptedReferee:
    """Fake referee that replays fixed scores: stands in for a model to test the grouping."""

    low, high = 0, 10

    def __init__(self, scores):
        self.scores, self.calls = list(scores), []

    def score(self, prompt, responses):
        self.calls.append((prompt, list(responses)))
        return [self.scores.pop(0) for _ in responses]


def test_referee_reward_scores_each_group_of_the_same_request():
    referee = ScriptedReferee([8, 2, None, 5, 5])
    logged = []
    rewards = make_referee_reward(referee)(
        ["a", "b", "c", "d", "e"], task=["t1", "t1", "t1", "t2", "t2"], log_metric=lambda *kv: logged.append(kv)
    )
    assert rewards == [0.8, 0.2, 0.5, 0.5, 0.5]
    assert referee.calls == [("t1", ["a", "b", "c"]), ("t2", ["d", "e"])]
    assert ("referee/unparsed_score", 1 / 3) in logged


# ---- preferences ---------------------------------------------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_load_preferences_reads_both_forms(tmp_path):
    path = write_lines(tmp_path / "prefs.jsonl", [
        json.dumps({"prompt": "p", "chosen": "good", "rejected": "bad"}),
        "",
        json.dumps({"prompt": "q", "responses": ["x", "y", "z"], "ranking": [2, 0, 1], "source": "mine"}),
    ])
    first, second = load_preferences(path)
    assert first == Preference("p", ("good", "bad"), (0, 1), "user")
    assert second == Preference("q", ("x", "y", "z"), (2, 0, 1), "mine")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"prompt": "p", "chosen": "good"}, "field 'rejected' must be a non-empty string"),
        ({"prompt": "", "chosen": "a", "rejected": "b"}, "field 'prompt'"),
        ({"prompt": "p", "responses": ["a"], "ranking": [0]}, "field 'responses' must be a list of at least 2"),
        ({"prompt": "p", "responses": ["a", 3], "ranking": [0, 1]}, "field 'responses[1]'"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [0, 0]}, "field 'ranking' [0, 0] must list each"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [1, 2]}, "field 'ranking'"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": ["B", "A"]}, "integer indices"),
        ({"prompt": "p", "responses": ["a", "b"]}, "field 'ranking' must be a list"),
        ({"prompt": "p", "chosen": "a", "rejected": "b", "score": 1}, "unknown field 'score'"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_load_preferences_names_file_line_and_field(tmp_path, record, message):
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps({"prompt": "ok", "chosen": "a", "rejected": "b"}),
                                               json.dumps(record)])
    with pytest.raises(PreferenceError) as error:
        load_preferences(path)
    assert str(error.value).startswith(f"{path}:2: ")
    assert message in str(error.value)


def test_load_preferences_bad_json_and_missing_file(tmp_path):
    path = write_lines(tmp_path / "broken.jsonl", ['{"prompt": "p", "chosen": '])
    with pytest.raises(PreferenceError, match=r"broken.jsonl:1: not valid JSON"):
        load_preferences(path)
    with pytest.raises(PreferenceError, match="not found"):
        load_preferences(tmp_path / "absent.jsonl")


def _equation_holds(line: str) -> bool:
    import re

    left, symbol, right, result = re.search(r"(-?\d+) ([-+*/]) (\d+) = (-?\d+)", line).groups()
    a, b = int(left), int(right)
    return {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[symbol] == int(result)


def test_perturbed_solutions_break_one_step_and_follow_it_consistently():
    rng = random.Random(0)
    for row in generate(3, 30, split="train", style="expression"):
        right, wrong = row["answer"].splitlines(), perturb_solution(row["answer"], rng).splitlines()
        first = next(i for i, (a, b) in enumerate(zip(right, wrong, strict=True)) if a != b)
        assert not _equation_holds(wrong[first])  # the one broken step
        assert all(_equation_holds(line) for line in wrong[first + 1 : -1])  # later steps follow from it
        assert wrong[-1] == "#### " + wrong[-2].split(" = ")[1]
    assert perturb_solution("no steps here\n#### 3", rng) is None


def test_arithmetic_preferences_put_the_verified_answer_first_in_the_ranking():
    rows = generate(2, 40, split="train")
    pairs = arithmetic_preferences(rows, seed=1)
    assert len(pairs) >= 35
    answers = {f"Question: {r['question']}": r["answer"] for r in rows}
    for pair in pairs:
        best, worst = (pair.responses[i] for i in pair.ranking)
        assert math_reward([best, worst], [answers[pair.prompt]] * 2) == [1.0, 0.0]
    assert {pair.ranking for pair in pairs} == {(0, 1), (1, 0)}  # the correct answer is not always A


def test_held_out_pairs_in_both_orders_give_a_fixed_letter_exactly_half_and_keep_the_better_answer():
    pairs = arithmetic_preferences(generate(2, 40, split="test"), seed=1)
    shown = both_orders(pairs)
    assert len(shown) == 2 * len(pairs) and shown[0::2] == pairs
    for pair, flipped in zip(shown[0::2], shown[1::2], strict=True):
        assert flipped.responses == pair.responses[::-1] and flipped.prompt == pair.prompt
        assert flipped.responses[flipped.ranking[0]] == pair.responses[pair.ranking[0]]
    assert sum(pair.ranking[0] == 0 for pair in shown) == len(pairs)  # "A" is right exactly half the time


def test_disputed_steps_are_each_answers_step_on_the_first_line_that_differs():
    pair = Preference("Q", ("Tom has 4 books.\nHe buys 2: 4 + 2 = 7.\nHe doubles: 7 * 2 = 14.\n#### 14",
                            "Tom has 4 books.\nHe buys 2: 4 + 2 = 6.\nHe doubles: 6 * 2 = 12.\n#### 12"), (1, 0))
    assert disputed_steps(pair) == ["4 + 2 = 7", "4 + 2 = 6"]  # in the answers' order, not the ranking's
    assert [recompute(step) for step in disputed_steps(pair)] == [6, 6]
    assert recompute("17 / 5 = 3") == 3  # whole-number division, as in the problems
    assert disputed_steps(Preference("Q", ("same", "same\nmore"), (0, 1))) is None  # no differing line
    assert disputed_steps(Preference("Q", ("it is 3", "it is 4"), (0, 1))) is None  # no step to recompute
    with pytest.raises(ValueError, match="not an `a op b = c` step"):
        recompute("it is 3")


def test_audit_replies_mark_each_answers_step_and_name_the_right_one_first():
    config = URPOConfig()
    config.data.warmup_per_level = 60
    config.warmup.arithmetic = config.warmup.open = config.warmup.scoring = 0
    config.warmup.ranking = 40
    for reply_style in ("audit", "verdict"):
        config.warmup.ranking_reply = reply_style
        chats = warmup_chats(config)
        assert len(chats) == 40
        for prompt, reply in ((chat[0]["content"], chat[1]["content"]) for chat in chats):
            *audit, verdict = reply.split("\n")
            order = parse_ranking(reply, 2)
            assert order is not None and verdict.startswith("Ranking: ")
            if reply_style == "verdict":
                assert audit == []
                continue
            assert [line[:2] for line in audit] == ["A:", "B:"]
            marks = [line.rsplit(", ", 1)[1] for line in audit]
            assert sorted(marks) == ["right", "wrong"] and marks[order[0]] == "right"
            for line, mark in zip(audit, marks, strict=True):
                step, true = line[3:].split(", ")[:2]
                assert step in prompt  # copied from its answer
                assert _equation_holds(f"{step.rsplit(' = ', 1)[0]} = {true.removeprefix('is ')}")
                assert (mark == "right") == _equation_holds(step)


def test_trajectory_preferences_pair_wins_with_losses_of_the_same_task(tmp_path, demo_episode):
    won = demo_episode("key")
    lost = Episode("key", "textworld", [Turn("user", "You are in a kitchen."), Turn("assistant", "Action: look")])
    crashed = Episode("key", "textworld", [Turn("assistant", "Action: x")], error="env crashed")
    other = demo_episode("lamp")
    path = tmp_path / "episodes.jsonl"
    with TrajectoryWriter(path) as writer:
        for episode in (won, lost, crashed, other):
            writer.write(episode)
    (pair,) = trajectory_preferences(path)
    best = pair.responses[pair.ranking[0]]
    assert best == "Action: take key\nAction: go north"
    assert pair.responses[pair.ranking[1]] == "Action: look"
    assert pair.prompt == "You are in a kitchen. There is a key here." and pair.source == "trajectory"


# ---- batch mixing --------------------------------------------------------------------------------------


def test_the_warm_start_and_grpo_get_different_train_problems():
    config = URPOConfig()
    config.data.levels, config.data.warmup_per_level, config.data.train_per_level = [1, 2], 30, 20
    warmup, rl = train_problems(config, "warmup"), train_problems(config, "rl")
    assert Counter(r["level"] for r in warmup) == {1: 30, 2: 30}
    assert Counter(r["level"] for r in rl) == {1: 20, 2: 20}
    assert not {r["question"] for r in warmup} & {r["question"] for r in rl}
    grpo_rows = train_rows(config)
    solved = [r["prompt"][0]["content"].removeprefix("Question: ") for r in grpo_rows if r["kind"] == "verifiable"]
    assert set(solved) <= {r["question"] for r in rl}
    ranked = [row for row in grpo_rows if row["kind"] == "ranking"]
    assert ranked and not any(r["question"] in row["prompt"][0]["content"] for row in ranked for r in warmup)


def test_mix_batches_keeps_the_shares_in_every_batch():
    pools = {"verifiable": list(range(10)), "ranking": ["r1", "r2", "r3"], "open": ["o1"]}
    mixed = mix_batches(pools, {"verifiable": 0.5, "ranking": 0.25, "open": 0.25}, per_batch=8, batches=5)
    assert len(mixed) == 40
    for start in range(0, 40, 8):
        assert Counter(kind for kind, _ in mixed[start : start + 8]) == {"verifiable": 4, "ranking": 2, "open": 2}
    ranking_items = [item for kind, item in mixed if kind == "ranking"]
    assert Counter(ranking_items[:9]) == {"r1": 3, "r2": 3, "r3": 3}  # every item once before any repeats
    assert all(item in pools[kind] for kind, item in mixed)


def test_mix_batches_rounds_by_largest_remainder_and_checks_data():
    mixed = mix_batches({"verifiable": [1], "ranking": [2], "open": [3]},
                             {"verifiable": 0.6, "ranking": 0.3, "open": 0.1}, per_batch=4, batches=1)
    assert Counter(kind for kind, _ in mixed) == {"verifiable": 3, "ranking": 1}  # 2.4, 1.2, 0.4
    only = mix_batches({"verifiable": [1]}, {"verifiable": 1.0, "ranking": 0.0, "open": 0.0}, 4, 2)
    assert [kind for kind, _ in only] == ["verifiable"] * 8
    with pytest.raises(ValueError, match="'ranking' share is 0.5 but there is no ranking data"):
        mix_batches({"verifiable": [1], "ranking": []}, {"verifiable": 0.5, "ranking": 0.5}, 4, 1)


def test_for_kind_scores_only_its_rows():
    seen = {}

    def reward(completions, answer, **kwargs):
        seen.update(completions=completions, answer=answer, state=kwargs["trainer_state"])
        return [1.0] * len(completions)

    wrapped = for_kind("verifiable", reward)
    values = wrapped(["a", "b", "c"], kind=["open", "verifiable", "verifiable"], answer=["", "1", "2"],
                     trainer_state="state")
    assert values == [None, 1.0, 1.0]
    assert seen == {"completions": ["b", "c"], "answer": ["1", "2"], "state": "state"}
    assert wrapped.__name__ == "verifiable_reward"


def test_config_rejects_bad_mix_and_group_size():
    from agentkit.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="mix"):
        load_config(URPOConfig, CONFIG, ["mix.verifiable=-1"])
    with pytest.raises(ConfigError, match="num_generations=1"):
        load_config(URPOConfig, CONFIG, ["grpo.num_generations=1"])
    with pytest.raises(ConfigError, match="referee.mode"):
        load_config(URPOConfig, CONFIG, ["referee.mode=judge"])
    with pytest.raises(ConfigError, match="format_bonus=1.5"):
        load_config(URPOConfig, CONFIG, ["referee.format_bonus=1.5"])


def test_open_requests_and_the_rule_check():
    (row,) = generate(2, 1, split="train")
    request = open_request(row["question"], 2)
    assert on_request(request, row["question"])
    assert not on_request(request, row["question"][:20])
    assert not on_request(request.replace(" 2 steps", " 3 steps"), row["question"])


# ---- end to end ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_urpo_recipe_runs_end_to_end(tmp_path):
    """A tiny warm start and three GRPO steps on a mixed batch, the policy as referee, then the report."""
    out = tmp_path / "run"
    command = [
        sys.executable, str(RECIPE), "--config", str(CONFIG), f"output_dir={out}", f"cache_dir={tmp_path / 'cache'}",
        "warmup.steps=20", "warmup.arithmetic=100", "warmup.ranking=40", "warmup.scoring=40", "warmup.open=20",
        "data.warmup_per_level=60", "data.train_per_level=40", "data.eval_per_level=4", "data.eval_pairs_per_level=4",
        "grpo.steps=3", "grpo.prompts_per_step=4", "grpo.max_completion_length=24", "grpo.logging_steps=1",
        "grpo.save_steps=2", "eval.max_new_tokens=24", "threads=1", "lora.full_finetune=false",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.yaml", "metrics.json", "report.md", "rewards.png", "adapter/adapter_model.safetensors",
                 "checkpoints/checkpoint-2/adapter_model.safetensors"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["global_steps"] == 3
    logged = metrics["train"]["history"]
    assert len(logged) == 3 and all("rewards/open_referee_reward/mean" in entry for entry in logged)
    # one open-ended request per step, 4 completions each, every one scored by the policy as referee
    assert metrics["train"]["referee_replies"] == 3 * 4
    assert metrics["end"]["problems"] == 4 and metrics["end"]["pairs"] >= 3
    assert "| arithmetic pass@1 (held-out) |" in (out / "report.md").read_text()


def test_bad_override_is_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, str(RECIPE), "--config", str(CONFIG), "referee.mode=judge"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("urpo: error: referee.mode='judge' must be one of")


def test_a_run_folder_resumes_only_under_its_own_config(tmp_path):
    from agentkit.config import ConfigError, load_config, save_config

    config = load_config(URPOConfig, CONFIG, [f"output_dir={tmp_path}"])
    save_config(config, tmp_path / "config.yaml")
    check_resume(config)  # the config the run started with
    (tmp_path / "checkpoints" / "checkpoint-20").mkdir(parents=True)
    check_resume(load_config(URPOConfig, CONFIG, [f"output_dir={tmp_path}", "threads=1"]))
    longer = load_config(URPOConfig, CONFIG, [f"output_dir={tmp_path}", "grpo.steps=100"])
    with pytest.raises(ConfigError, match="grpo.steps: 200 -> 100"):
        check_resume(longer)


def test_grpo_trl_options_reach_trls_config_and_bad_ones_fail_at_load(tmp_path):
    from agentkit.config import ConfigError, load_config
    from agentkit.methods.urpo.training import grpo_args

    config = load_config(URPOConfig, CONFIG, ["grpo.trl.epsilon=0.3"])
    args = grpo_args(config, tmp_path, cpu=True)
    assert args.epsilon == 0.3 and args.num_generations == config.grpo.num_generations
    with pytest.raises(ConfigError, match="grpo.trl.bogus is not an option of TRL's GRPOConfig"):
        load_config(URPOConfig, CONFIG, ["grpo.trl.bogus=1"])
    with pytest.raises(ConfigError, match="grpo.trl.beta: agentkit sets it from its own settings"):
        load_config(URPOConfig, CONFIG, ["grpo.trl.beta=0.1"])
