import json

import pytest

from agentkit.models import load_tokenizer
from agentkit.training.warmup import _examples, warm_start

TEXTS = [f"Question: {a} plus {b}?\nAnswer: {a} + {b} = {a + b}.\n#### {a + b}" for a in range(12) for b in range(9)]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, warm_start(
        "sums",
        texts=TEXTS,
        steps=40,
        batch_size=8,
        max_length=64,
        cache_dir=cache,
        tokenizer_texts=TEXTS,
        progress=False,
    )


def test_warm_start_learns_its_text_and_is_reused_from_the_cache(base):
    cache, folder = base
    record = json.loads((folder / "warm_start.json").read_text())
    assert record["final_loss"] < 0.6 * record["first_loss"]
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    again = warm_start(
        "sums",
        texts=TEXTS,
        steps=40,
        batch_size=8,
        max_length=64,
        cache_dir=cache,
        tokenizer_texts=TEXTS,
        progress=False,
    )
    assert again == folder and (folder / "model.safetensors").stat().st_mtime_ns == stamp
    other = warm_start(
        "sums",
        texts=TEXTS,
        steps=2,
        batch_size=8,
        max_length=64,
        cache_dir=cache,
        tokenizer_texts=TEXTS,
        progress=False,
    )
    assert other != folder and not list(cache.glob("bases/*.partial*"))


def test_chats_train_only_the_replies_and_texts_every_token(base):
    _, folder = base
    tokenizer = load_tokenizer(folder)
    chat = [{"role": "user", "content": "Question: 1 plus 2?"}, {"role": "assistant", "content": "#### 3"}]
    (text_example, chat_example), dropped = _examples(tokenizer, ["Answer: 3"], [chat], 64)
    assert text_example["labels"] == text_example["input_ids"]
    trained = tokenizer.decode([t for t in chat_example["labels"] if t != -100])
    assert trained == "#### 3<|im_end|>"
    assert dropped == 0


def test_chats_longer_than_max_length_are_counted_not_cut(base):
    _, folder = base
    tokenizer = load_tokenizer(folder)
    short = [{"role": "user", "content": "1 plus 2?"}, {"role": "assistant", "content": "3"}]
    long = [{"role": "user", "content": " ".join(["one plus two"] * 40)}, {"role": "assistant", "content": "3"}]
    examples, dropped = _examples(tokenizer, [], [short, long], 32)
    assert dropped == 1 and len(examples) == 1 and len(examples[0]["input_ids"]) <= 32


def test_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="texts or chats"):
        warm_start("x", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="steps=0"):
        warm_start("x", texts=["a b"], steps=0, cache_dir=tmp_path)
