"""Which float type runs fastest on this machine, for `auto` settings: bfloat16 on GPUs that support it and on
CPUs with AVX512-BF16 or AMX instructions (1.4-1.6x float32 for SmolLM2's LoRA training and scoring on 2
cores), float32 elsewhere, where bfloat16 is emulated and several times slower."""

from __future__ import annotations

import torch


def bf16_is_fast() -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private in torch, there since 2.1
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_dtype(name: str) -> str:
    """`auto` -> the fastest of bfloat16 and float32 here; any other name is returned as it is."""
    if name != "auto":
        return name
    return "bfloat16" if bf16_is_fast() else "float32"
