"""Warm starts: a tiny model briefly pretrained on the text of a task, built once and cached by content.

LoRA adapts a pretrained base, and a random-init tiny model is not one: it has never seen the task's
language, so an adapter would have to learn the words and the strategy at once. A warm start trains every
weight of a tiny preset on task text that carries no expert strategy (random-play transcripts, the format
of a benchmark), so what a recipe then adds on top is the recipe's own. The result lives under
`cache_dir/bases/NAME-HASH`, where the hash covers every input, so the same call reuses it and any change
builds a new one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from itertools import chain
from pathlib import Path
from typing import Any, Literal

FORMAT_VERSION = 1  # bump when the training below changes what a given input produces


@dataclass
class WarmStartConfig:
    """What every warm start is sized by; a recipe's warm-start settings extend it with their data fields.

    `training()` gives these four as `warm_start` keyword arguments.
    """

    preset: Literal["tiny", "small"] = "tiny"
    steps: int = 300
    learning_rate: float = 1e-3
    batch_size: int = 16

    def training(self) -> dict[str, Any]:
        return {spec.name: getattr(self, spec.name) for spec in fields(WarmStartConfig)}


def _content_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def _examples(
    tokenizer, texts: Sequence[str], chats: Sequence[list[dict]], max_length: int
) -> tuple[list[dict], int]:
    """Texts packed into `max_length` blocks (loss on every token); chats one each (loss on replies).

    Returns the examples and how many chats were longer than `max_length` and left out (a chat cut short
    would lose its reply, the part that is trained).
    """
    from agentkit.training.data import encode_messages

    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    examples = [
        {"input_ids": stream[i : i + max_length], "labels": stream[i : i + max_length]}
        for i in range(0, max(len(stream) - 1, 0), max_length)
    ]
    dropped = 0
    for chat in chats:
        encoded = encode_messages(tokenizer, [{**m, "loss": m.get("loss", m["role"] == "assistant")} for m in chat])
        if len(encoded["input_ids"]) <= max_length:
            examples.append(encoded)
        else:
            dropped += 1
    return [e for e in examples if len(e["input_ids"]) > 1], dropped


def _batch(examples: list[dict], pad_id: int):
    import torch

    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id)
    labels = torch.full((len(examples), width), -100)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        ids[row, :n] = torch.tensor(example["input_ids"])
        labels[row, :n] = torch.tensor(example["labels"])
        mask[row, :n] = 1
    return ids, labels, mask


def _train(
    folder: Path, examples: list[dict], steps: int, learning_rate: float, batch_size: int, seed: int, progress: bool
) -> list[float]:
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM

    from agentkit.models import load_tokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = load_tokenizer(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 20)

    def schedule(step: int) -> float:  # linear warm-up, then cosine to 10%
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    losses = []
    order: list[int] = []
    for _ in tqdm(range(steps), desc=f"warm start {folder.name}", disable=not progress):
        if len(order) < batch_size:
            order += rng.sample(range(len(examples)), len(examples))
        chosen, order = order[:batch_size], order[batch_size:]
        ids, labels, mask = _batch([examples[i] for i in chosen], tokenizer.pad_token_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.save_pretrained(folder)
    return losses


def warm_start(
    name: str,
    *,
    texts: Sequence[str] = (),
    chats: Sequence[list[dict]] = (),
    preset: str = "tiny",
    steps: int = 300,
    learning_rate: float = 1e-3,
    batch_size: int = 16,
    max_length: int = 512,
    seed: int = 0,
    cache_dir: str | Path = ".cache/agentkit",
    tokenizer_texts: Iterable[str] | None = None,
    progress: bool = True,
) -> Path:
    """A tiny `preset` model fully trained on `texts` (every token) and `chats` (assistant turns only).

    Its tokenizer is trained on `tokenizer_texts` (default: the given texts and chats plus the default
    corpus). Returns a model folder that transformers, PEFT, TRL and vLLM load by path; a second call with
    the same inputs returns the cached folder without training.
    """
    from agentkit.models import default_corpus, load_tokenizer, make_tiny_model

    if not texts and not chats:
        raise ValueError("warm_start needs texts or chats to train on")
    if steps < 1 or batch_size < 1 or max_length < 2:
        raise ValueError(f"steps={steps}, batch_size={batch_size}, max_length={max_length}: all must be positive")
    vocabulary = list(tokenizer_texts) if tokenizer_texts is not None else None
    settings = dict(
        preset=preset,
        steps=steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        version=FORMAT_VERSION,
    )
    key = _content_hash({"texts": list(texts), "chats": list(chats), "vocabulary": vocabulary, **settings})
    folder = Path(cache_dir) / "bases" / f"{name}-{key}"
    if (folder / "warm_start.json").is_file():
        return folder
    building = folder.with_name(f"{folder.name}.partial-{os.getpid()}")  # concurrent builders never collide
    shutil.rmtree(building, ignore_errors=True)
    chat_text = (m["content"] for chat in chats for m in chat)
    corpus = vocabulary if vocabulary is not None else chain(texts, chat_text, default_corpus())
    make_tiny_model(building, preset=preset, texts=corpus, seed=seed)
    examples, dropped = _examples(load_tokenizer(building), texts, chats, max_length)
    if not examples:
        raise ValueError(f"warm_start: no example fits in max_length={max_length} tokens")
    if dropped:
        warnings.warn(
            f"warm start {name}: {dropped} of {len(chats)} chats are longer than max_length={max_length} tokens "
            "and are left out; raise max_length to train on them",
            stacklevel=2,
        )
    losses = _train(building, examples, steps, learning_rate, batch_size, seed, progress)
    record = {
        "name": name,
        **settings,
        "examples": len(examples),
        "chats": len(chats),
        "chats_dropped_too_long": dropped,
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "loss_every_10": losses[::10],
    }
    (building / "warm_start.json").write_text(json.dumps(record, indent=2))
    try:
        building.rename(folder)  # complete or absent: an interrupted build is rebuilt
    except OSError:  # another process finished the same build first: same inputs, same model
        shutil.rmtree(building, ignore_errors=True)
    return folder
