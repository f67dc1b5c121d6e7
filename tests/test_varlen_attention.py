"""The varlen attention: packed rows give the losses and gradients of the same samples run padded, it really
attends per sequence (no T x T mask), non-packed batches and generation are plain sdpa, and trained models
load without it."""

import json
import subprocess
import sys

import datasets
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM
from trl import SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from agentkit.models import load_tokenizer
from agentkit.training.sft import AdapterConfig, TrainConfig, peft_config, sft_args
from agentkit.training.varlen_attention import VARLEN_ATTENTION, register_varlen_attention

LENGTHS = [37, 5, 90, 64]


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    torch.set_num_threads(1)
    name = register_varlen_attention()
    varlen = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=name)
    sdpa = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    return varlen, sdpa


def samples() -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    rows = []
    for length in LENGTHS:
        ids = torch.randint(3, 2000, (length,), generator=generator).tolist()
        rows.append({"input_ids": ids, "labels": [-100] * (length // 2) + ids[length // 2 :]})
    return rows


def loss_and_grads(model, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


def test_packed_batch_has_the_loss_and_gradients_of_the_padded_batch(models):
    varlen, sdpa = models
    packed = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(samples())
    padded = DataCollatorForLanguageModeling(pad_token_id=0)(samples())
    assert packed["input_ids"].shape == (1, sum(LENGTHS)) and "cu_seq_lens_q" in packed

    packed_loss, packed_grads = loss_and_grads(varlen, packed)
    padded_loss, padded_grads = loss_and_grads(sdpa, padded)
    assert torch.allclose(packed_loss, padded_loss, atol=1e-5)
    for name, grad in padded_grads.items():
        assert torch.allclose(packed_grads[name], grad, atol=1e-5, rtol=1e-4), name


def test_packed_rows_attend_per_sequence_without_a_mask(models, monkeypatch):
    varlen, _ = models
    calls = []
    sdpa = F.scaled_dot_product_attention

    def recording(query, key, value, attn_mask=None, **kwargs):
        calls.append((query.shape[2], key.shape[2], attn_mask, kwargs.get("is_causal")))
        return sdpa(query, key, value, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", recording)
    packed = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(samples())
    varlen(**packed, use_cache=False)
    layers = varlen.config.num_hidden_layers
    assert calls == [(n, n, None, True) for n in LENGTHS] * layers

    # Position ids alone (no cu_seq_lens) are enough to find the sequences.
    calls.clear()
    varlen(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False)
    assert [q for q, *_ in calls] == LENGTHS * layers


def test_padded_batches_and_generation_match_sdpa(models, tiny_model_dir):
    varlen, sdpa = models
    padded = DataCollatorForLanguageModeling(pad_token_id=0)(samples())
    with torch.no_grad():
        mine = varlen(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"]).logits
        theirs = sdpa(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"]).logits
    real = padded["attention_mask"].bool()
    assert torch.allclose(mine[real], theirs[real], atol=1e-5)

    tokenizer = load_tokenizer(tiny_model_dir)
    tokenizer.padding_side = "left"
    prompts = tokenizer(["go north and take the", "open"], return_tensors="pt", padding=True)
    options = dict(max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert torch.equal(varlen.generate(**prompts, **options), sdpa.generate(**prompts, **options))


@pytest.mark.slow
def test_sft_trains_padding_free_with_varlen_and_the_saved_model_loads_without_it(tiny_model_dir, tmp_path):
    assert sft_args(TrainConfig(padding_free=False), tmp_path).model_init_kwargs is None
    settings = TrainConfig(max_steps=1, batch_size=4, save_steps=100, logging_steps=1)
    args = sft_args(settings, tmp_path / "run", use_cpu=True, disable_tqdm=True)
    assert args.model_init_kwargs == {"attn_implementation": VARLEN_ATTENTION}
    full = AdapterConfig(full_finetune=True)
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=args,
        train_dataset=datasets.Dataset.from_list(samples()),
        processing_class=load_tokenizer(tiny_model_dir),
        peft_config=peft_config(full),
    )
    assert trainer.model.config._attn_implementation == VARLEN_ATTENTION
    trainer.train()
    trainer.save_model(str(tmp_path / "saved"))
    assert VARLEN_ATTENTION not in (tmp_path / "saved" / "config.json").read_text()

    # A fresh interpreter that never imported the varlen module loads and generates with the saved model.
    script = (
        "import json, sys, torch\n"
        "from transformers import AutoModelForCausalLM\n"
        "model = AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        "options = dict(max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=0)\n"
        "out = model.generate(torch.tensor([[5, 6, 7]]), **options)\n"
        "print(json.dumps([model.config._attn_implementation, out.shape[1]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "saved")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["sdpa", 7]
