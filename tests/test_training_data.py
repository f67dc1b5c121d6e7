import pytest

from agentkit.models import load_tokenizer
from agentkit.training.data import IGNORE_INDEX, TemplateError, encode_messages

MESSAGES = [
    {"role": "system", "content": "You play a text game.", "loss": False},
    {"role": "user", "content": "You are in a kitchen. There is a fridge.", "loss": False},
    {"role": "assistant", "content": "Action: open fridge", "loss": True},
    {"role": "user", "content": "You open the fridge. It holds 12 eggs.", "loss": False},
    {"role": "assistant", "content": "Action: take eggs", "loss": False},
    {"role": "user", "content": "Taken.", "loss": False},
    {"role": "assistant", "content": "Action: eat eggs", "loss": True},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def trained_text(tokenizer, encoded):
    return tokenizer.decode([t for t in encoded["labels"] if t != IGNORE_INDEX])


def test_ids_match_the_whole_conversation_tokenized_at_once(tokenizer):
    encoded = encode_messages(tokenizer, MESSAGES)
    plain = [{k: m[k] for k in ("role", "content")} for m in MESSAGES]
    whole = tokenizer.apply_chat_template(plain, return_dict=True)["input_ids"]
    assert encoded["input_ids"] == whole
    assert len(encoded["labels"]) == len(encoded["input_ids"])


def test_only_flagged_assistant_turns_and_their_end_of_turn_are_trained(tokenizer):
    encoded = encode_messages(tokenizer, MESSAGES)
    assert trained_text(tokenizer, encoded) == "Action: open fridge<|im_end|>Action: eat eggs<|im_end|>"


def test_generated_token_ids_are_used_as_generated(tokenizer):
    # A tokenization the tokenizer itself would never produce for this text: one token per character.
    chars = ["Ġ" if c == " " else c for c in "Action: eat eggs"]  # byte-level spelling of a space
    generated = [*tokenizer.convert_tokens_to_ids(chars), tokenizer.eos_token_id]
    assert generated[:-1] != tokenizer("Action: eat eggs")["input_ids"]
    messages = [*MESSAGES[:-1], {**MESSAGES[-1], "token_ids": generated}]
    encoded = encode_messages(tokenizer, messages)
    tail = encoded["input_ids"][-len(generated) - 1 :]
    assert tail == [*generated, tokenizer("\n")["input_ids"][0]]
    assert [t for t in encoded["labels"] if t != IGNORE_INDEX][-len(generated) :] == generated


def test_template_that_rewrites_history_is_a_clear_error(tokenizer):
    class StrippingTokenizer:
        """Wraps the tiny tokenizer with a template that drops earlier assistant turns (as some do)."""

        eos_token_id = tokenizer.eos_token_id

        def __call__(self, text, **kwargs):
            return tokenizer(text, **kwargs)

        def apply_chat_template(self, messages, **kwargs):
            last = len(messages) - 1
            kept = [m for i, m in enumerate(messages) if m["role"] != "assistant" or i == last]
            return tokenizer.apply_chat_template(kept, **kwargs)

    with pytest.raises(TemplateError, match=r"message 3 \(user\)"):
        encode_messages(StrippingTokenizer(), MESSAGES)
