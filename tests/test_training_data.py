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


def test_thought_tokens_get_the_thought_weight_and_action_tokens_one(tokenizer):
    reply = "Thought: the key opens the chest\nAction: unlock chest with key"
    messages = [*MESSAGES[:2], {"role": "assistant", "content": reply, "loss": True, "thought_chars": 33}]
    encoded = encode_messages(tokenizer, messages, thought_weight=2.0)
    trained = [(t, w) for t, lab, w in zip(encoded["input_ids"], encoded["labels"], encoded["loss_weights"],
                                           strict=True) if lab != IGNORE_INDEX]
    heavy = tokenizer.decode([t for t, w in trained if w == 2.0])
    light = tokenizer.decode([t for t, w in trained if w == 1.0])
    assert heavy == "Thought: the key opens the chest\n"
    assert light == "Action: unlock chest with key<|im_end|>"
    assert "loss_weights" not in encode_messages(tokenizer, messages)


def test_weighted_loss_with_unit_weights_is_the_plain_loss_and_weights_scale_terms():
    import torch

    from agentkit.training.sft import weighted_token_loss

    torch.manual_seed(0)
    logits = torch.randn(1, 6, 11)
    labels = torch.tensor([[IGNORE_INDEX, 3, 4, IGNORE_INDEX, 7, 1]])
    plain = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=IGNORE_INDEX)
    assert torch.allclose(weighted_token_loss(logits, labels, torch.ones(1, 6)), plain)
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:].clamp(min=0), reduction="none")
    weights = torch.tensor([[1.0, 2.0, 2.0, 1.0, 1.0, 1.0]])  # positions 1 and 2 are the "thought"
    expected = (2 * nll[0] + 2 * nll[1] + nll[3] + nll[4]) / 4
    assert torch.allclose(weighted_token_loss(logits, labels, weights), expected)


def _admissible_episode():
    """Three expert decisions, each observation listing its commands, as the rollout engine stores them."""
    from agentkit.trajectory import Episode, Turn

    seen = [("You are in a kitchen. There is a fridge.", ["open fridge", "go north"]),
            ("You open the fridge. It holds eggs.", ["take eggs", "close fridge"]),
            ("Taken.", ["eat eggs", "go north"])]  # fmt: skip
    turns = [Turn("system", "You play a text game.")]
    for (text, commands), action in zip(seen, ["open fridge", "take eggs", "eat eggs"], strict=True):
        turns += [Turn("user", text, info={"admissible_actions": commands}),
                  Turn("assistant", f"Action: {action}", action=action, loss=True)]  # fmt: skip
    return Episode(task_id="kitchen", env="textworld", turns=turns, success=True, score=1.0, steps=3)


def test_a_full_history_packs_an_episode_into_one_sequence_with_each_reply_in_its_own_context(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from agentkit.prompts import PromptFormat
    from agentkit.training.data import decision_samples, samples_dataset

    tokenizer = load_tokenizer(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    episode = _admissible_episode()
    packed_format = PromptFormat(history=None, past_commands=True)
    assert len(decision_samples(episode, PromptFormat(history=None))) == 3  # lists only on the latest: no packing
    (packed,) = decision_samples(episode, packed_format)
    replies = ["Action: open fridge", "Action: take eggs", "Action: eat eggs"]
    assert [m["content"] for m in packed if m.get("loss")] == replies
    dataset, dropped, decisions = samples_dataset(tokenizer, [episode], packed_format)
    assert (dataset.num_rows, dropped, decisions) == (1, 0, 3)

    def trained_logprobs(input_ids, labels):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([input_ids])).logits[0].log_softmax(-1)
        return [logits[i - 1, token].item() for i, token in enumerate(labels) if token != IGNORE_INDEX]

    row = dataset[0]
    separately = []
    for prompt, turn, _ in packed_format.decisions(episode.turns):  # each decision as its own sample
        alone = encode_messages(tokenizer, [*prompt, {"role": "assistant", "content": turn.text, "loss": True}])
        separately += trained_logprobs(alone["input_ids"], alone["labels"])
    assert trained_logprobs(row["input_ids"], row["labels"]) == pytest.approx(separately, abs=1e-4)
