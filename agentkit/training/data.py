"""Tokenize conversations for training with per-message loss flags and the generator's own token ids.

Each message is rendered through the tokenizer's chat template and tokenized as its own segment, so the
prompt tokens are those the model saw at inference and an assistant turn that carries `token_ids` is used
as generated, never re-tokenized. Labels are -100 everywhere except the assistant turns flagged `loss`.

Thought cloning weighs the two parts of a reply differently (loss = action NLL + w * thought NLL), so an
assistant message may carry `thought_chars`: the length of its leading thought, whose tokens then get
`loss_weights` w while every other trained token gets 1.
"""

from __future__ import annotations

from typing import Any

from agentkit.errors import AgentkitError

IGNORE_INDEX = -100


class TemplateError(AgentkitError, ValueError):
    """The chat template does not render conversations prefix by prefix, so turns cannot be masked."""


def _render(tokenizer, messages: list[dict[str, Any]], add_generation_prompt: bool = False) -> str:
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    if not plain:
        return ""
    return tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=add_generation_prompt)


def _tail(longer: str, prefix: str, what: str) -> str:
    if not longer.startswith(prefix):
        raise TemplateError(f"the chat template does not render {what} as an extension of the turns before it")
    return longer[len(prefix) :]


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _assistant_segment(tokenizer, message: dict[str, Any], body: str, where: str) -> tuple[list[int], int]:
    """Token ids of an assistant reply plus the template's closing text, and how many of them carry loss.

    Loss covers the reply and the end-of-turn token (so the model learns to stop), not what the template
    adds after it.
    """
    content = message["content"]
    suffix = _tail(body, content, f"{where} with its content unchanged")
    generated = message.get("token_ids")
    reply = list(generated) if generated is not None else _encode(tokenizer, content)
    closing = _encode(tokenizer, suffix)
    eos = tokenizer.eos_token_id
    if reply and reply[-1] == eos:  # the generator emitted end-of-turn itself
        if closing and closing[0] == eos:
            closing = closing[1:]
        return reply + closing, len(reply)
    n_loss = len(reply) + (closing.index(eos) + 1 if eos in closing else 0)
    return reply + closing, n_loss


def _thought_tokens(tokenizer, reply_ids: list[int], thought_chars: int) -> int:
    """How many leading tokens of a reply spell its first `thought_chars` characters."""
    for count in range(len(reply_ids) + 1):
        if len(tokenizer.decode(reply_ids[:count])) >= thought_chars:
            return count
    return len(reply_ids)


def encode_messages(
    tokenizer, messages: list[dict[str, Any]], thought_weight: float | None = None
) -> dict[str, list[int]]:
    """`input_ids` and `labels` for a conversation whose messages carry `loss` (and optional `token_ids`).

    With `thought_weight`, also `loss_weights`: that weight on the thought tokens of trained replies, 1 on
    the rest (ignored positions included; the trainer masks them by label).
    """
    input_ids: list[int] = []
    labels: list[int] = []
    weights: list[float] = []
    rendered = ""
    for index, message in enumerate(messages):
        full = _render(tokenizer, messages[: index + 1])
        if message["role"] == "assistant":
            head = _render(tokenizer, messages[:index], add_generation_prompt=True)
            header_ids = _encode(tokenizer, _tail(head, rendered, f"the generation prompt before message {index}"))
            where = f"message {index} (assistant)"
            body_ids, n_loss = _assistant_segment(tokenizer, message, _tail(full, head, where), where)
            if not message.get("loss"):
                n_loss = 0
            input_ids += header_ids + body_ids
            labels += [IGNORE_INDEX] * len(header_ids) + body_ids[:n_loss]
            labels += [IGNORE_INDEX] * (len(body_ids) - n_loss)
            thought_chars = message.get("thought_chars") or 0
            n_thought = _thought_tokens(tokenizer, body_ids, thought_chars) if thought_chars else 0
            weights += [1.0] * len(header_ids) + [thought_weight or 1.0] * n_thought
            weights += [1.0] * (len(body_ids) - n_thought)
        else:
            segment_ids = _encode(tokenizer, _tail(full, rendered, f"message {index} ({message['role']})"))
            input_ids += segment_ids
            labels += [IGNORE_INDEX] * len(segment_ids)
            weights += [1.0] * len(segment_ids)
        rendered = full
    encoded: dict[str, list] = {"input_ids": input_ids, "labels": labels}
    if thought_weight is not None:
        encoded["loss_weights"] = weights
    return encoded


def encode_dataset(tokenizer, dataset):
    """Map a `messages` dataset (see `agentkit.trajectory.to_dataset`) to `input_ids` + `labels` columns."""
    return dataset.map(
        lambda row: encode_messages(tokenizer, row["messages"]),
        remove_columns=dataset.column_names,
        desc="Tokenizing episodes",
    )


def _extends(conversation: list[dict[str, Any]], prompt: list[dict[str, str]]) -> bool:
    """Whether `prompt` starts with every message of `conversation`, word for word."""
    return len(prompt) > len(conversation) and all(
        (m["role"], m["content"]) == (p["role"], p["content"]) for m, p in zip(conversation, prompt, strict=False)
    )


def decision_samples(episode, prompt_format) -> list[list[dict[str, Any]]]:
    """The training conversations of an episode's trained decisions: each the exact prompt the agent saw,
    then its reply.

    Built with `prompt_format.messages_for`, the function that builds inference prompts, so what a model
    is trained on is what it sees when it acts (history window and admissible commands included). With a
    full history (`history: null`), a decision whose prompt extends the previous conversation (see
    `PromptFormat.past_commands`) continues it instead of repeating it: causal attention gives every reply
    the same context either way, and the shared prompt is computed once.
    """
    samples: list[list[dict[str, Any]]] = []
    for prompt, turn, _ in prompt_format.decisions(episode.turns):
        if not turn.loss:
            continue
        reply = {"role": "assistant", "content": turn.text, "loss": True}
        if turn.token_ids is not None:
            reply["token_ids"] = turn.token_ids
        action_line = turn.text.rfind("Action:")
        if turn.thought and action_line > 0:
            reply["thought_chars"] = action_line  # the `Thought: ...` lines before the action
        if prompt_format.history is None and samples and _extends(samples[-1], prompt):
            samples[-1] = [*samples[-1], *prompt[len(samples[-1]) :], reply]
        else:
            samples.append([*prompt, reply])
    return samples


def samples_dataset(
    tokenizer, episodes, prompt_format, max_length: int | None = None, thought_weight: float | None = None
):
    """(a tokenized `datasets.Dataset` of `input_ids`, `labels`, and `loss_weights` with a `thought_weight`,
    the number of decisions dropped, the number kept) for every trained decision of `episodes`.

    Sequences longer than `max_length` tokens are dropped (cutting them would cut a reply), their decisions
    counted.
    """
    import datasets

    rows: dict[str, list] = {}
    dropped = decisions = 0
    for episode in episodes:
        for sample in decision_samples(episode, prompt_format):
            encoded = encode_messages(tokenizer, sample, thought_weight)
            trained = sum(1 for message in sample if message.get("loss"))
            if max_length is not None and len(encoded["input_ids"]) > max_length:
                dropped += trained
                continue
            decisions += trained
            for key, values in encoded.items():
                rows.setdefault(key, []).append(values)
    if not rows:
        rows = {"input_ids": [], "labels": []}
    return datasets.Dataset.from_dict(rows), dropped, decisions
