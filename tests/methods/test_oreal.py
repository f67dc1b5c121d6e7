"""OREAL: each loss term on hand-computed values, prompt filtering, RLOO, the token reward model's BCE
target and weights, config errors, and one small recipe run that is resumed."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agentkit.config import ConfigError, parse_recipe_args
from agentkit.methods.oreal.config import OrealConfig
from agentkit.methods.oreal.loss import kl_penalty, negative_loss, positive_loss
from agentkit.methods.oreal.policy_gradient import rloo_advantages
from agentkit.methods.oreal.selection import select_samples
from agentkit.methods.oreal.token_reward import (
    TokenRewardHead,
    sequence_logits,
    token_reward_loss,
    token_weights,
)
from agentkit.methods.oreal.training import PolicyWithTokenReward, clip_policy_gradients
from agentkit.training.policy_gradient import (
    completion_batch,
    group_advantages,
    k3_kl,
    reference_logprobs,
    token_logprobs,
)
from tests.processes import communicate_or_kill

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "oreal.py"
CONFIG = ROOT / "recipes" / "configs" / "oreal_arithmetic.yaml"



# Two rows of four positions; the completion is the last two tokens of row 0 and the last three of row 1.
MASK = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
LOGPROBS = torch.tensor([[0.0, -9.0, -1.0, -2.0], [0.0, -4.0, -0.5, -1.5]])


def test_positive_loss_is_weighted_nll_over_positive_tokens():
    positive_rows = MASK * torch.tensor([[1], [0]])  # only row 0 is correct
    weights = torch.tensor([[1.0, 1.0, 0.5, 1.5], [1.0, 1.0, 1.0, 1.0]])
    loss = positive_loss(LOGPROBS, positive_rows, weights)
    assert loss.item() == pytest.approx((0.5 * 1.0 + 1.5 * 2.0) / 2)


def test_negative_loss_is_minus_ratio_times_advantage_per_negative_token():
    logprobs = LOGPROBS.clone().requires_grad_(True)
    # The policy now gives the first negative token twice its sampling probability: ratio 2 there.
    old = LOGPROBS - torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, math.log(2), 0.0, 0.0]])
    negative_rows = MASK * torch.tensor([[0], [1]])
    weights = torch.ones(2, 4)
    advantages = torch.tensor([0.0, -0.75])
    loss = negative_loss(logprobs, old, advantages, negative_rows, weights)
    assert loss.item() == pytest.approx(-(2 * -0.75 + 1 * -0.75 + 1 * -0.75) / 3)
    loss.backward()
    # d/d logp of -(ratio * A) / N is -ratio * A / N: pushes the negative tokens' probability down.
    expected = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 2 * 0.75 / 3, 0.75 / 3, 0.75 / 3]])
    assert torch.allclose(logprobs.grad, expected)


def test_kl_penalty_is_the_mean_k3_estimate_over_completion_tokens():
    ref = LOGPROBS + torch.tensor([[5.0, 5.0, 0.0, math.log(2)], [0.0, 0.0, -math.log(2), 0.0]])
    # k3 = exp(d) - d - 1: d = 0 -> 0, d = ln 2 -> 1 - ln 2, d = -ln 2 -> 0.5 + ln 2 - 1
    expected = ((1 - math.log(2)) + (math.log(2) - 0.5)) / 5
    assert kl_penalty(LOGPROBS, ref, MASK).item() == pytest.approx(expected)
    assert torch.all(k3_kl(torch.randn(50), torch.randn(50)) >= 0)


def test_rloo_advantage_is_reward_minus_mean_of_the_others():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    expected = torch.tensor([[1 - 1 / 3, -2 / 3, -2 / 3, 1 - 1 / 3], [0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(rloo_advantages(rewards), expected)
    assert torch.allclose(group_advantages(torch.tensor([1.0, 0.0]), scale=False), torch.tensor([0.5, -0.5]))
    with pytest.raises(ValueError, match="at least 2"):
        rloo_advantages(torch.tensor([[1.0]]))


def test_select_samples_drops_uniform_groups_and_keeps_the_first_positives_and_negatives():
    rewards = [[1, 1, 1, 1], [0, 0, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0]]
    usable = [[True] * 4, [True] * 4, [True, True, True, True], [True, False, True, True]]
    selection = select_samples(rewards, usable, positives=1, negatives=2, pass_rate_weighting=False)
    assert selection.groups_kept == 2
    assert selection.picks == [(2, 1), (2, 0), (2, 2), (3, 0), (3, 2), (3, 3)]  # (3, 1) failed to generate
    assert selection.correct == [True, False, False, True, False, False]
    assert selection.advantages[:3] == pytest.approx([1 - 1 / 3, -2 / 3, -2 / 3])
    assert selection.advantages[3:4] == pytest.approx([1.0])
    assert selection.prompt_weights == [1.0] * 6


def test_pass_rate_weighting_favours_harder_prompts_and_keeps_the_mean_at_one():
    rewards = [[0, 1, 0, 1], [1, 0, 0, 0]]
    selection = select_samples(rewards, [[True] * 4] * 2, 1, 1, pass_rate_weighting=True)
    easy, hard = selection.prompt_weights[0], selection.prompt_weights[2]
    assert hard / easy == pytest.approx(0.75 / 0.5)
    assert sum(selection.prompt_weights) / 4 == pytest.approx(1.0)


def test_token_reward_bce_targets_the_outcome_through_the_mean_token_score():
    scores = torch.tensor([[9.0, 9.0, 2.0, 0.0], [9.0, 1.0, -1.0, -3.0]])
    assert sequence_logits(scores, MASK).tolist() == pytest.approx([1.0, -1.0])
    loss = token_reward_loss(scores, MASK, torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1.0))))  # both rows: -log sigmoid(1)


def test_token_weights_use_scores_for_positives_and_one_minus_for_negatives():
    scores = torch.tensor([[0.0, 0.0, 0.0, math.log(3)], [0.0, 0.0, math.log(3), 0.0]])
    correct = torch.tensor([True, False])
    raw = token_weights(scores, MASK, correct, normalize=False)
    assert torch.allclose(raw, torch.tensor([[0, 0, 0.5, 0.75], [0, 0.5, 0.25, 0.5]]))
    normalized = token_weights(scores, MASK, correct)
    assert normalized[0, 2:].tolist() == pytest.approx([0.5 / 0.625, 0.75 / 0.625])
    assert sequence_logits(normalized, MASK).tolist() == pytest.approx([1.0, 1.0])


def test_the_token_reward_head_learns_which_token_decides_the_outcome():
    """Outcome = whether feature 0 of the third token is set: BCE on the mean score must find that token."""
    torch.manual_seed(0)
    hidden = torch.randn(64, 4, 8)
    hidden[:, 2, 0] = torch.where(torch.arange(64) % 2 == 0, 3.0, -3.0)
    outcomes = (torch.arange(64) % 2 == 0).float()
    mask = torch.tensor([[0, 1, 1, 1]] * 64)
    head = TokenRewardHead(8)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        token_reward_loss(head(hidden), mask, outcomes).backward()
        optimizer.step()
    weights = token_weights(head(hidden), mask, outcomes.bool())
    decisive, others = weights[:, 2].mean(), weights[:, [1, 3]].mean()
    assert decisive > 1.2 and decisive > 1.5 * others  # untrained, every token weighs 1


def test_the_reward_heads_gradient_does_not_shrink_the_policys_clipped_step():
    """Policy gradient norm 0.5 under a clip of 1 is left whole, however large the head's gradient."""
    from accelerate import Accelerator

    policy, head = torch.nn.Linear(2, 2, bias=False), torch.nn.Linear(2, 1, bias=False)
    policy.weight.grad = torch.full((2, 2), 0.25)  # norm 0.5
    head.weight.grad = torch.full((1, 2), 100.0)
    norm = clip_policy_gradients(Accelerator(cpu=True), PolicyWithTokenReward(policy, head), 1.0)
    assert norm == pytest.approx(0.5)
    assert policy.weight.grad.tolist() == [[0.25, 0.25], [0.25, 0.25]]
    policy.weight.grad = torch.full((2, 2), 1.0)  # norm 2: clipped to 1
    clip_policy_gradients(Accelerator(cpu=True), PolicyWithTokenReward(policy, head), 1.0)
    assert policy.weight.grad.norm().item() == pytest.approx(1.0, rel=1e-4)
    assert head.weight.grad.tolist() == [[100.0, 100.0]]


def test_completion_batch_and_per_token_logprobs_line_up():
    batch = completion_batch([[5, 6], [7]], [[8, 9], [1, 2, 3]], pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 8, 9], [7, 1, 2, 3]]
    assert batch.completion_mask.tolist() == [[0, 0, 1, 1], [0, 1, 1, 1]]
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 2] = math.log(3)  # after token 0, token 2 has probability 3 / 6
    logprobs = token_logprobs(logits, torch.tensor([[1, 2, 3]]))
    assert logprobs.tolist()[0] == pytest.approx([0.0, math.log(0.5), math.log(0.25)])
    with pytest.raises(ValueError, match="at least one token"):
        completion_batch([[1]], [[]], pad_id=0)


def test_reference_is_the_base_without_the_adapter(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    batch = completion_batch([[5, 6, 7]], [[8, 9]], pad_id=0)
    from agentkit.training.policy_gradient import completion_logprobs

    with torch.no_grad():
        base_logprobs = completion_logprobs(base, batch)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    policy = get_peft_model(base, config)
    assert not torch.allclose(completion_logprobs(policy, batch), base_logprobs)
    assert torch.allclose(reference_logprobs(policy, batch), base_logprobs)
    with pytest.raises(TypeError, match="PEFT"):
        reference_logprobs(AutoModelForCausalLM.from_pretrained(tiny_model_dir), batch)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sampling.samples_per_prompt=1", "samples_per_prompt=1"),
        ("loss.negative_weight=-0.5", "negative_weight=-0.5"),
        ("loss.positives_per_prompt=0", "positives_per_prompt=0"),
        ("optim.steps=0", "steps=0"),
        ("eval.ks=[1,16]", "ks=\\[1, 16\\]"),
        ("loss.kl_coeff=0.1", "kl_coeff"),
        ("sampling.backend=openai", "sampling.backend='openai'"),
        ("lora.full_finetune=true", "full_finetune"),
    ],
)
def test_config_errors_name_the_field_and_value(override, message):
    with pytest.raises(ConfigError, match=message):
        parse_recipe_args(OrealConfig, ["--config", str(CONFIG), override])


def test_the_shipped_config_loads_with_the_paper_constants():
    config = parse_recipe_args(OrealConfig, ["--config", str(CONFIG)])
    loss, sampling = config.loss, config.sampling
    assert (loss.negative_weight, loss.kl_coef, sampling.samples_per_prompt) == (0.5, 0.01, 16)


def _small_run(tmp_path: Path, out: Path) -> list[str]:
    """A random-init tiny model (its samples are mostly wrong: the loop, not the learning, is under test)."""
    return [
        "model=preset:tiny", f"cache_dir={tmp_path / 'cache'}", f"output_dir={out}",
        "sampling.prompts_per_step=2", "sampling.samples_per_prompt=3", "sampling.max_tokens=16",
        "sampling.threads=1", "loss.rm_warmup_steps=1", "eval.levels=[1]", "eval.per_level=3",
        "eval.samples=4", "eval.max_tokens=16", "eval.threads=1",
    ]  # fmt: skip


def _run(args: list[str], launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    """The recipe in its own process group, killed whole if it outlives the timeout (never a hang)."""
    command = [*(launcher or [sys.executable]), str(RECIPE), "--config", str(CONFIG), *args]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    stdout, stderr = communicate_or_kill(process, 600, "the recipe")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_recipe_run_writes_its_folder_and_resumes(tmp_path):
    out = tmp_path / "run"
    small = _small_run(tmp_path, out)
    first = _run([*small, "optim.steps=2"])
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("config.yaml", "metrics.json", "report.md", "loss.png", "adapter/adapter_model.safetensors",
                 "token_reward_head.pt", "checkpoints/step-2/progress.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["step"] for h in metrics["train"]] == [1, 2]
    logged = {"positive", "negative", "kl", "token_rm", "pass_rate", "prompts_kept", "samples_drawn"}
    assert logged <= set(metrics["train"][0])
    assert metrics["train"][0]["policy_lr"] == 0.0  # frozen while the token reward model warms up
    assert set(metrics["eval"]) == {"start", "oreal"} and "pass@4" in metrics["eval"]["oreal"]
    assert list(out.glob("tb/oreal/events.out.tfevents.*")), "no TensorBoard event file"

    second = _run([*small, "optim.steps=3", "skip_eval=true"])
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stdout and "step-2" in second.stdout
    resumed = json.loads((out / "metrics.json").read_text())["train"]
    assert resumed[:2] == metrics["train"] and resumed[2]["step"] == 3
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept == ["step-2", "step-3"]  # save_total_limit 2
    assert "(evaluation skipped)" in (out / "report.md").read_text()


@pytest.mark.slow
def test_recipe_runs_on_two_ddp_ranks(tmp_path):
    """`accelerate launch` with the two-process config: both ranks sample their share and sync every step."""
    out = tmp_path / "ddp"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(ROOT / "accelerate_configs" / "multi_cpu.yaml"), "--main_process_port", "0", "--tee", "3"]
    result = _run([*_small_run(tmp_path, out), "optim.steps=2", "skip_eval=true"], launcher)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "[default1]:" in result.stdout + result.stderr  # a second rank ran
    history = json.loads((out / "metrics.json").read_text())["train"]
    assert [h["step"] for h in history] == [1, 2]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
