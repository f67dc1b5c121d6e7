"""Hugging Face `generate`, batched with left padding, PEFT adapter loaded: the fallback everywhere."""

from __future__ import annotations

import copy
from typing import Any

import torch

from agentkit.precision import resolve_dtype
from agentkit.rollout.adapters import AdapterError, adapter_ref, check_unchanged, tensors_digest
from agentkit.rollout.backend import Backend, Messages, prompt_token_ids, reply_token_ids
from agentkit.rollout.sampling import Completion, SamplingParams


class HFBackend(Backend):
    """Args:
    model: a local model folder or hub name.
    adapter: a PEFT LoRA adapter folder to sample with.
    batch_size: prompts per `generate` call, replies per scoring pass (memory bound).
    dtype: the weights' dtype, or `auto`: bfloat16 where it is fast (`agentkit.precision`), else float32.
    threads: torch's intra-op threads for this process (tiny models on a loaded CPU run far faster on one).
    prefix_cache: how many recent prompts' KV caches scoring keeps; a prompt that starts like one of them
        (the same system prompt and objective, an episode's earlier turns) computes only its new tokens.
    """

    name = "hf"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        batch_size: int = 32,
        dtype: str = "float32",
        threads: int | None = None,
        prefix_cache: int = 16,
    ):
        from transformers import AutoModelForCausalLM

        from agentkit.models import load_tokenizer

        if threads is not None:
            torch.set_num_threads(threads)
        self.tokenizer = load_tokenizer(model)
        self.batch_size = batch_size
        self.prefix_cache = prefix_cache
        self._prefixes: list[tuple[list[int], Any]] = []  # (prompt ids, their KV cache), newest last
        self._prompt_tokens = [0, 0]  # given to the scorer, computed by it
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, resolve_dtype(dtype))).eval()
        if adapter is not None:
            self.load_adapter(adapter)

    def load_adapter(self, path: str) -> None:
        """Load (or replace) the LoRA adapter and check that the weights in memory are the file's."""
        from peft import PeftModel, get_peft_model_state_dict
        from safetensors.torch import load_file

        ref = adapter_ref(path)
        self._prefixes.clear()  # caches computed under other weights
        base = self.model.unload() if self.adapter is not None else self.model
        self.model = PeftModel.from_pretrained(base, ref.path).eval()
        on_disk = tensors_digest(load_file(f"{ref.path}/adapter_model.safetensors"))
        if tensors_digest(get_peft_model_state_dict(self.model)) != on_disk:
            raise AdapterError(f"adapter {ref.path}: the weights in memory differ from the file")
        self.adapter = ref

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        sampling = {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            max_new_tokens=params.max_tokens,
            num_return_sequences=params.n,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=pad,
            return_dict_in_generate=True,
            output_logits=True,
            **(sampling if not params.greedy else {"do_sample": False}),
        )
        new_tokens = out.sequences[:, width:]
        logprobs = torch.stack(out.logits, dim=1).float().log_softmax(-1)
        token_logprobs = logprobs.gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        results: list[list[Completion]] = [[] for _ in prompts]
        eos = self.tokenizer.eos_token_id
        for row, (ids, lps) in enumerate(zip(new_tokens.tolist(), token_logprobs.tolist(), strict=True)):
            stopped = eos in ids
            length = ids.index(eos) + 1 if stopped else len(ids)
            ids, lps = ids[:length], lps[:length]
            text = self.tokenizer.decode(ids[:-1] if stopped else ids, skip_special_tokens=True)
            results[row // params.n].append(Completion(text, ids, lps, "stop" if stopped else "length"))
        return results

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        if self.adapter is not None:
            check_unchanged(self.adapter)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        ids = [prompt_token_ids(self.tokenizer, messages) for messages in prompts]
        results: list[list[Completion]] = []
        for start in range(0, len(ids), self.batch_size):
            results += self._generate_batch(ids[start : start + self.batch_size], params)
        return results

    @torch.inference_mode()
    def reply_logprobs(self, prompts: list[Messages], replies: list[list[str]]) -> list[list[tuple[float, int]]]:
        """Per prompt, one forward pass over the prompt's new tokens, then its replies in one row on the
        prompt's KV cache: a reply costs its own few tokens, not the prompt's hundreds."""
        if self.adapter is not None:
            check_unchanged(self.adapter)
        scores = []
        for messages, options in zip(prompts, replies, strict=True):
            prompt, answers = reply_token_ids(self.tokenizer, messages, options)
            totals = self._score_one(prompt, answers) if answers else []
            scores.append([(t, len(a)) for t, a in zip(totals, answers, strict=True)])
        return scores

    def prompt_token_counts(self) -> tuple[int, int]:
        return self._prompt_tokens[0], self._prompt_tokens[1]

    def _prompt_forward(self, prompt: list[int]):
        """The model's output on `prompt` (last position's logits, KV cache of the whole prompt), reusing the
        cache of the stored prompt that shares the longest start with it: on CPU the prompt dominates the
        cost of scoring, and an episode's prompts repeat the system prompt, the objective and (with a full
        history) every earlier turn."""
        best, reuse, cached = 0, None, 0
        for ids, cache in self._prefixes:
            shared = 0
            for a, b in zip(ids, prompt[:-1], strict=False):  # the last token is always computed, for its logits
                if a != b:
                    break
                shared += 1
            if shared > best:
                best, reuse, cached = shared, cache, len(ids)
        if reuse is not None:
            reuse = copy.deepcopy(reuse)
            if best < cached:
                reuse.crop(best - cached)  # drop the stored prompt's tokens past the shared start
        self._prompt_tokens[0] += len(prompt)
        self._prompt_tokens[1] += len(prompt) - best
        out = self.model(
            input_ids=torch.tensor([prompt[best:]]), past_key_values=reuse, use_cache=True, logits_to_keep=1
        )
        if self.prefix_cache > 0:
            self._prefixes = [entry for entry in self._prefixes if entry[0] != prompt][-(self.prefix_cache - 1) :]
            self._prefixes.append((prompt, out.past_key_values))  # scoring copies it, never extends it
        return out

    def _score_one(self, prompt: list[int], answers: list[list[int]]) -> list[float]:
        """Each answer's log-probability after `prompt`. Up to `batch_size` answers (all but their last token)
        go in one row after the prompt's cache, each attending to the prompt and its own earlier tokens
        (a tree mask): the cache is read once, never copied per answer, and cropped back afterwards."""
        out = self._prompt_forward(prompt)
        first = out.logits[0, -1].float().log_softmax(-1)  # predicts every answer's first token
        totals = [first[answer[0]].item() for answer in answers]
        cache, length = out.past_key_values, len(prompt)
        for start in range(0, len(answers), self.batch_size):
            chunk = answers[start : start + self.batch_size]
            flat = [token for answer in chunk for token in answer[:-1]]
            if not flat:
                continue
            mask = torch.zeros(1, 1, len(flat), length + len(flat), dtype=torch.bool)
            mask[..., :length] = True
            positions, offset = [], 0
            for answer in chunk:
                for i in range(len(answer) - 1):
                    mask[0, 0, offset + i, length + offset : length + offset + i + 1] = True
                    positions.append(length + i)
                offset += len(answer) - 1
            logits = self.model(
                input_ids=torch.tensor([flat]),
                attention_mask=mask,
                position_ids=torch.tensor([positions]),
                past_key_values=cache,
            ).logits[0].float().log_softmax(-1)
            cache.crop(-len(flat))  # back to the prompt alone, for the next chunk and the prefix cache
            offset = 0
            for k, answer in enumerate(chunk):
                rows = torch.arange(offset, offset + len(answer) - 1)
                totals[start + k] += logits[rows, torch.tensor(answer[1:])].sum().item()
                offset += len(answer) - 1
        return totals
