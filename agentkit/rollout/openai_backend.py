"""Any OpenAI-compatible chat server (vLLM's own server, or a hosted model) over HTTP.

Requests run concurrently; the client retries with exponential backoff within its timeout, and a request
that still fails becomes a failed completion for its prompt only, never an exception for the batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from agentkit.rollout.backend import Backend, Messages
from agentkit.rollout.sampling import Completion, SamplingParams


class OpenAIBackend(Backend):
    """Args:
    model: the model name the server knows (for `agentkit serve`, an adapter's name serves that adapter).
    base_url: the server's `/v1` URL.
    api_key: sent as the bearer token (local servers accept any).
    concurrency: requests in flight at once.
    timeout: seconds per request attempt.
    max_retries: attempts after the first, with exponential backoff.
    token_ids: ask a vLLM server for the generated token ids (other servers may reject the field).
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key: str = "EMPTY",
        concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 3,
        token_ids: bool = True,
    ):
        from openai import OpenAI

        self.model = model
        self.client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="openai-backend")
        self.token_ids = token_ids

    def _one(self, messages: Messages, params: SamplingParams) -> list[Completion]:
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                n=params.n,
                seed=params.seed,
                logprobs=True,
                extra_body={"return_token_ids": True} if self.token_ids else None,
            )
        except Exception as exc:  # connection refused, timeout after retries, HTTP errors
            return [Completion.failed(f"{type(exc).__name__}: {exc}")] * params.n
        completions = []
        for choice in response.choices:
            ids = (choice.model_extra or {}).get("token_ids")
            logprobs = (
                [t.logprob for t in choice.logprobs.content] if choice.logprobs and choice.logprobs.content else None
            )
            reason = "length" if choice.finish_reason == "length" else "stop"
            completions.append(Completion(choice.message.content or "", ids, logprobs, reason))
        return completions

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        return list(self.pool.map(lambda messages: self._one(messages, params), prompts))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
