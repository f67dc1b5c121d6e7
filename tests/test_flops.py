"""FLOP counts behind the MFU figures of the benches, checked against torch's own counter."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModelForCausalLM

from agentkit.flops import attention_flops, forward_flops, lora_step_flops


def counted_matmul_flops(work) -> int:
    """FLOPs of the matmuls torch runs for `work` (sdpa on CPU is not counted by torch, so it is left out)."""
    with FlopCounterMode(display=False) as counter:
        work()
    counts = counter.get_flop_counts()["Global"]
    return sum(flops for op, flops in counts.items() if str(op) in ("aten.mm", "aten.addmm", "aten.bmm"))


def test_the_forward_count_is_what_torch_counts_for_the_matmuls(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    config, ids = model.config, torch.randint(0, model.config.vocab_size, (1, 64))
    with torch.no_grad():
        counted = counted_matmul_flops(lambda: model(input_ids=ids, logits_to_keep=1))
    assert counted == forward_flops(config, [64], 1) - attention_flops(config, [64])
    # causal: half of QK^T and of AV, each 2 x hidden FLOPs per (query, key) pair; one sequence at a time
    assert attention_flops(config, [64, 32]) == 2 * config.num_hidden_layers * config.hidden_size * (64**2 + 32**2)


def test_a_lora_step_counts_the_backward_down_to_the_lowest_adapted_layer_only(tiny_model_dir):
    from peft import get_peft_model

    from agentkit.training.sft import AdapterConfig, peft_config

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config, ids = base.config, torch.randint(0, base.config.vocab_size, (1, 48))
    policy = get_peft_model(base, peft_config(AdapterConfig(layers=1), base))
    counted = counted_matmul_flops(lambda: policy(input_ids=ids, labels=ids).loss.backward())
    expected = lora_step_flops(config, [48], 1) - 3 * attention_flops(config, [48], 1) - (
        attention_flops(config, [48]) - attention_flops(config, [48], 1)
    )
    # torch also counts LoRA's own products (forward, input and weight gradients: at most 6 x weights x tokens),
    # which the model-FLOPs figure leaves out on purpose
    lora = sum(p.numel() for name, p in policy.named_parameters() if "lora_" in name)
    assert expected <= counted <= expected + 6 * lora * 48
    assert lora_step_flops(config, [48], 1) < lora_step_flops(config, [48], config.num_hidden_layers)
