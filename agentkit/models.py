"""Tiny local models: a byte-level BPE tokenizer trained in seconds plus a randomly initialised Qwen2 LM.

Nothing can be downloaded at run time, so tests and the default demo use models the project creates itself.
The folder is written with `save_pretrained`, so transformers, PEFT, TRL and vLLM all load it by path.
Every entry point that takes a model also takes a local path or hub name of a real checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from agentkit.errors import AgentkitError

PAD_TOKEN = "<|endoftext|>"
TURN_START = "<|im_start|>"
TURN_END = "<|im_end|>"
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# ChatML, as Qwen models use it, with `{% generation %}` markers so TRL's assistant-only loss accepts it.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{%- else -%}"
    "{{ message['content'] + '<|im_end|>' }}"
    "{%- endif -%}"
    "{{ '\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class TinyPreset:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int


PRESETS: dict[str, TinyPreset] = {
    # ~1M parameters: unit tests.
    "tiny": TinyPreset(2048, 128, 2, 4, 2, 512, 2048),
    # ~20M parameters: demos and benchmarks.
    "small": TinyPreset(4096, 384, 8, 6, 2, 1536, 2048),
}


class ModelError(AgentkitError, ValueError):
    """A user error in model creation or loading (unknown preset, bad path)."""


def default_corpus() -> Iterator[str]:
    """English and numbers shipped with the package (GSM8K's training split), to train a tokenizer on."""
    from importlib.resources import files

    with files("agentkit.eval").joinpath("data/gsm8k/train.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            yield record["question"] + "\n" + record["answer"]


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE tokenizer (any text encodes) wrapped as a transformers fast tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    # Qwen2's own normalizer and splitting rules: transformers rebuilds a `qwen2` folder's tokenizer with
    # them when loading, so training with anything else would change the ids between save and load.
    core = Tokenizer(models.BPE())
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, TURN_START, TURN_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=TURN_END,
        pad_token=PAD_TOKEN,
        bos_token=None,
        chat_template=CHAT_TEMPLATE,
    )


def make_tiny_model(
    out_dir: str | Path,
    preset: str = "tiny",
    texts: Iterable[str] | None = None,
    seed: int = 0,
) -> Path:
    """Create a random-init causal LM and its tokenizer in `out_dir`; same preset, text and seed, same bytes."""
    if preset not in PRESETS:
        raise ModelError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = PRESETS[preset]
    tokenizer = train_tokenizer(texts if texts is not None else default_corpus(), shape.vocab_size)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "agentkit_model.json").write_text(json.dumps({"preset": preset, "seed": seed, **asdict(shape)}, indent=2))
    return out


def load_tokenizer(name_or_path: str | Path):
    """Load a tokenizer by path or hub name; a model folder without a chat template is a clear error."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    if tokenizer.chat_template is None:
        raise ModelError(f"{name_or_path}: the tokenizer has no chat template (agents need one)")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
