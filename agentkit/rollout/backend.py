"""The backend interface: a batch of chat prompts + sampling params -> completions with ids and logprobs."""

from __future__ import annotations

from abc import ABC, abstractmethod

from agentkit.errors import AgentkitError
from agentkit.rollout.adapters import AdapterRef
from agentkit.rollout.sampling import Completion, SamplingParams

Messages = list[dict[str, str]]


class Backend(ABC):
    """Generates replies for chat prompts. `adapter` is the LoRA adapter it samples with, if any."""

    name: str = ""
    adapter: AdapterRef | None = None

    @abstractmethod
    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        """`params.n` completions for each prompt, in prompt order. A failure confined to one prompt is
        returned as `Completion.failed(...)` for that prompt; it does not raise."""

    def reply_logprobs(self, prompts: list[Messages], replies: list[list[str]]) -> list[list[tuple[float, int]]]:
        """(log-probability, token count) of each of `replies[i]` as the model's whole answer to `prompts[i]`
        (the reply's tokens and its end-of-turn token). A policy over a fixed set of actions, such as an
        env's admissible commands, is built on it; both figures come from one pass, so a caller that ranks
        per token and weighs whole replies pays once."""
        raise AgentkitError(f"the {self.name} backend cannot score replies; use the hf or vllm backend")

    def score(self, prompts: list[Messages], replies: list[list[str]], per_token: bool = False) -> list[list[float]]:
        """Each reply's whole log-probability (`reply_logprobs`), or its mean per token with `per_token`."""
        return [
            [total / length if per_token else total for total, length in row]
            for row in self.reply_logprobs(prompts, replies)
        ]

    def reset_prefix_cache(self) -> None:  # noqa: B027 (a no-op default: backends without a prefix cache)
        """Forget every cached prompt, so that runs measured one after another start equal."""

    def prompt_token_counts(self) -> tuple[int, int] | None:
        """(prompt tokens the model was given, of them those it computed rather than took from its prefix
        cache) since the backend was built: the HF backend counts its scoring passes, vLLM every request
        (each reply token is a request when it scores); None where they are not counted (servers)."""
        return None

    def close(self) -> None:  # noqa: B027 (a no-op default: in-process backends free memory when dropped)
        """Release the engine or connections."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prompt_token_ids(tokenizer, messages: Messages) -> list[int]:
    """The prompt as every in-process backend feeds it: the chat template with the generation prompt.

    A conversation without a system message gets the template's own default system prompt, where it has one
    (SmolLM2's names the model "SmolLM"), exactly as a chat server renders it; agentkit's env prompts always
    send their own (`PromptFormat.messages_for`), at inference and in training alike.
    """
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return tokenizer.apply_chat_template(plain, add_generation_prompt=True, return_dict=True)["input_ids"]


def reply_token_ids(tokenizer, messages: Messages, replies: list[str]) -> tuple[list[int], list[list[int]]]:
    """(prompt ids, each reply's ids): the ids the model is trained on for each reply as the assistant's
    answer, up to and including the end-of-turn token, read off the chat template (the prompt once)."""
    prompt = prompt_token_ids(tokenizer, messages)
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    eos = tokenizer.eos_token_id
    answers = []
    for reply in replies:
        ids = tokenizer.apply_chat_template([*plain, {"role": "assistant", "content": reply}], return_dict=True)
        ids = ids["input_ids"]
        if ids[: len(prompt)] != prompt:
            raise AgentkitError("the chat template renders a prompt differently once a reply follows it")
        answer = ids[len(prompt) :]
        answers.append(answer[: answer.index(eos) + 1] if eos in answer else answer)
    return prompt, answers


def make_backend(kind: str, model: str, adapter: str | None = None, **kwargs) -> Backend:
    """Build a backend by name: `hf`, `vllm` or `openai` (then `model` is the served model's name)."""
    if kind == "hf":
        from agentkit.rollout.hf_backend import HFBackend

        return HFBackend(model, adapter=adapter, **kwargs)
    if kind == "vllm":
        from agentkit.rollout.vllm_backend import VLLMBackend

        return VLLMBackend(model, adapter=adapter, **kwargs)
    if kind == "openai":
        from agentkit.rollout.openai_backend import OpenAIBackend

        return OpenAIBackend(model, **kwargs)
    raise AgentkitError(f"unknown backend {kind!r}; choose one of hf, vllm, openai")
