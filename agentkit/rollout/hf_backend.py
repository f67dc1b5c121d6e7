"""Hugging Face `generate`, batched with left padding, PEFT adapter loaded: the fallback everywhere."""

from __future__ import annotations

import torch
from transformers import DynamicCache

from agentkit.precision import resolve_dtype
from agentkit.rollout.adapters import AdapterError, adapter_ref, check_unchanged, tensors_digest
from agentkit.rollout.backend import Backend, Messages, prompt_token_ids, reply_token_ids
from agentkit.rollout.sampling import Completion, SamplingParams


class HFBackend(Backend):
    """Args:
    model: a local model folder or hub name.
    adapter: a PEFT LoRA adapter folder to sample with.
    batch_size: prompts per `generate` call.
    score_tokens: the most tokens of one scoring pass across prompts, their cached starts and padding
        included (memory bound; a longer prompt is cached in parts first).
    dtype: the weights' dtype, or `auto`: bfloat16 where it is fast (`agentkit.precision`), else float32.
    threads: torch's intra-op threads for this process (tiny models on a loaded CPU run far faster on one).
    prefix_cache: how many recent prompts' KV caches scoring keeps (at least the envs played at once); a
        prompt that starts like one of them (the same system prompt and objective, an episode's earlier
        turns) computes only its new tokens.
    """

    name = "hf"
    logit_elements = 2**24  # logits held at once while scoring: 64 MB in float32, whatever the vocabulary

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        batch_size: int = 32,
        score_tokens: int = 16384,
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
        self.score_tokens = score_tokens
        self.prefix_cache = prefix_cache
        self._prefixes: list[tuple[torch.Tensor, list]] = []  # (prompt ids, each layer's keys and values)
        self._prompt_tokens = [0, 0]  # given to the scorer, computed by it
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, resolve_dtype(dtype))).eval()
        if adapter is not None:
            self.load_adapter(adapter)

    def load_adapter(self, path: str) -> None:
        """Load (or replace) the LoRA adapter and check that the weights in memory are the file's."""
        from peft import PeftModel, get_peft_model_state_dict
        from safetensors.torch import load_file

        ref = adapter_ref(path)
        self.reset_prefix_cache()  # caches computed under other weights
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

    def reset_prefix_cache(self) -> None:
        self._prefixes.clear()

    @torch.inference_mode()
    def reply_logprobs(self, prompts: list[Messages], replies: list[list[str]]) -> list[list[tuple[float, int]]]:
        """The decisions of many prompts in one forward pass: each prompt's tokens past its longest cached
        start, then its replies side by side under a tree mask, the prompts padded into one batch. A reply
        costs its own few tokens, a prompt what its cache lacks, and logits are computed only where a reply
        token is predicted, a few rows at a time (`_reply_logprobs`)."""
        if self.adapter is not None:
            check_unchanged(self.adapter)
        encoded = [reply_token_ids(self.tokenizer, m, options) for m, options in zip(prompts, replies, strict=True)]
        totals: list[list[float]] = [[0.0] * len(answers) for _, answers in encoded]
        items = []  # (prompt index, first reply, end): replies split where they would not fit one pass
        for k, (prompt, answers) in enumerate(encoded):
            self._prompt_tokens[0] += len(prompt)
            self._prefill(prompt)
            start, size = 0, 0
            for column, answer in enumerate(answers):
                if size and size + len(answer) > self.score_tokens // 2:
                    items.append((k, start, column))
                    start, size = column, 0
                size += len(answer)
            if answers:
                items.append((k, start, len(answers)))
        for batch in self._batches(items, encoded):
            rows = [(encoded[k][0], encoded[k][1][first:end]) for k, first, end in batch]
            for (k, first, end), scores in zip(batch, self._forward(rows), strict=True):
                totals[k][first:end] = scores
        return [
            [(total, len(answer)) for total, answer in zip(row, answers, strict=True)]
            for row, (_, answers) in zip(totals, encoded, strict=True)
        ]

    def prompt_token_counts(self) -> tuple[int, int]:
        return self._prompt_tokens[0], self._prompt_tokens[1]

    def _longest_start(self, prompt: list[int]) -> tuple[int, list | None]:
        """(length, KV) of the longest start of `prompt` (less its last token, always computed for its
        logits) held in the prefix cache: on CPU the prompt dominates the cost of scoring, and an episode's
        prompts repeat the system prompt, the objective and (with a full history) every earlier turn."""
        ids = torch.tensor(prompt[:-1])
        best, kv = 0, None
        for stored, stored_kv in self._prefixes:
            n = min(len(stored), len(ids))
            differ = (stored[:n] != ids[:n]).nonzero()
            shared = int(differ[0]) if len(differ) else n
            if shared > best:
                best, kv = shared, stored_kv
        return best, kv

    def _prefill(self, prompt: list[int]) -> None:
        """Cache a prompt's start in passes of at most `score_tokens // 8` tokens when what the cache lacks
        is longer, so that no pass, attention included, outgrows the bound (without a prefix cache, the
        prompt goes whole)."""
        chunk = max(1, self.score_tokens // 8)
        shared = self._longest_start(prompt)[0]
        while self.prefix_cache and len(prompt) - 1 - shared > chunk:
            self._forward([(prompt[: shared + chunk], [])])
            shared += chunk  # that part is now the longest cached start

    def _batches(self, items: list[tuple[int, int, int]], encoded) -> list[list[tuple[int, int, int]]]:
        """Items grouped, from the fewest tokens to compute, so that a batch pads its computed tokens by at
        most half and holds at most `score_tokens` tokens, cached starts and padding included; a prompt whose
        replies were split goes once per batch (its next part then finds the prompt cached)."""
        sizes = {}
        for item in items:
            prompt, answers = encoded[item[0]]
            computed = len(prompt) - self._longest_start(prompt)[0] + sum(len(a) for a in answers[item[1] : item[2]])
            sizes[item] = (computed, len(prompt) + computed)
        batches: list[list[tuple[int, int, int]]] = []
        for item in sorted(items, key=lambda item: sizes[item][0]):
            batch = batches[-1] if batches else []
            computed, whole = sizes[item]  # the largest in the batch so far: items come sorted
            count = len(batch) + 1
            padded_ok = count * computed <= 1.5 * (computed + sum(sizes[other][0] for other in batch))
            fits = count * max([whole, *(sizes[other][1] for other in batch)]) <= self.score_tokens
            if batch and padded_ok and fits and item[0] not in {other[0] for other in batch}:
                batch.append(item)
            else:
                batches.append([item])
        return batches

    def _forward(self, rows: list[tuple[list[int], list[list[int]]]]) -> list[list[float]]:
        """One forward pass over a batch of (prompt, replies): row b holds the prompt's new tokens, padded
        to the longest, then its replies (all but their last token) side by side, each attending to its
        prompt and its own earlier tokens. The prompts' cached starts are stacked right-aligned in front.
        Returns each reply's log-probability and caches each prompt's KV."""
        starts = [self._longest_start(prompt) for prompt, _ in rows]
        news = [prompt[shared:] for (prompt, _), (shared, _) in zip(rows, starts, strict=True)]
        flats = [[token for answer in answers for token in answer[:-1]] for _, answers in rows]
        cached = max(shared for shared, _ in starts)
        width_new, width = max(map(len, news)), max(map(len, news)) + max(map(len, flats))
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        positions = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), 1, width, cached + width, dtype=torch.bool)
        diagonal = torch.arange(width)
        mask[:, 0, diagonal, cached + diagonal] = True  # every position sees itself (padding too: no empty rows)
        picks = []  # (row, position whose logits predict, token, reply index)
        for b, ((prompt, answers), (shared, _), new, flat) in enumerate(zip(rows, starts, news, flats, strict=True)):
            n = len(new)
            self._prompt_tokens[1] += n
            ids[b, :n] = torch.tensor(new)
            ids[b, width_new : width_new + len(flat)] = torch.tensor(flat, dtype=torch.long)
            positions[b, :n] = torch.arange(shared, shared + n)
            mask[b, 0, :, cached - shared : cached] = True
            mask[b, 0, :n, cached : cached + n] = torch.ones(n, n, dtype=torch.bool).tril()
            mask[b, 0, width_new:, cached : cached + n] = True
            offset = width_new
            for column, answer in enumerate(answers):
                m = len(answer) - 1
                mask[b, 0, offset : offset + m, cached + offset : cached + offset + m] = torch.ones(m, m).tril().bool()
                positions[b, offset : offset + m] = torch.arange(len(prompt), len(prompt) + m)
                picks.append((b, n - 1, answer[0], column))
                picks += [(b, offset + i, token, column) for i, token in enumerate(answer[1:])]
                offset += m
        past = None
        if cached:
            layers, stored = [], next(kv for _, kv in starts if kv is not None)  # any one gives the shapes
            for layer in range(len(stored)):
                keys, values = (
                    torch.zeros(len(rows), *tensor.shape[:-2], cached, tensor.shape[-1], dtype=tensor.dtype)
                    for tensor in stored[layer]
                )
                for b, (shared, kv) in enumerate(starts):
                    if shared:
                        keys[b, :, cached - shared :] = kv[layer][0][:, :shared]
                        values[b, :, cached - shared :] = kv[layer][1][:, :shared]
                layers.append((keys, values))
            past = DynamicCache(ddp_cache_data=layers)
        out = self.model.get_decoder()(
            input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=past, use_cache=True
        )
        if self.prefix_cache > 0:
            for b, ((prompt, _), (shared, _), new) in enumerate(zip(rows, starts, news, strict=True)):
                kv = [
                    tuple(
                        torch.cat([t[b, :, cached - shared : cached], t[b, :, cached : cached + len(new)]], dim=1)
                        for t in (layer.keys, layer.values)
                    )
                    for layer in out.past_key_values.layers
                ]
                self._remember(prompt, kv)
        return self._reply_logprobs(out.last_hidden_state, picks, [len(answers) for _, answers in rows])

    def _remember(self, prompt: list[int], kv: list) -> None:
        """Keep a prompt's KV, dropping the stored prompts it extends (whatever shares a start with one of them
        shares at least as much with it) and the oldest beyond `prefix_cache`."""
        ids = torch.tensor(prompt)
        kept = [
            (stored, stored_kv)
            for stored, stored_kv in self._prefixes
            if not (len(stored) <= len(ids) and torch.equal(stored, ids[: len(stored)]))
        ]
        self._prefixes = [*kept[-(self.prefix_cache - 1) :], (ids, kv)] if self.prefix_cache > 1 else [(ids, kv)]

    def _reply_logprobs(self, hidden: torch.Tensor, picks: list, counts: list[int]) -> list[list[float]]:
        """Sum each reply's token log-probabilities from the hidden states at the positions that predict
        them; the output layer runs on a few rows at a time, so the logits held at once stay bounded
        whatever the vocabulary."""
        head = self.model.get_output_embeddings()
        offsets = [sum(counts[:b]) for b in range(len(counts))]
        totals = torch.zeros(sum(counts), dtype=torch.float64)
        if not picks:
            return [[] for _ in counts]
        rows = max(1, self.logit_elements // head.out_features)
        for start in range(0, len(picks), rows):
            chunk = picks[start : start + rows]
            b, position, token, column = (torch.tensor(values) for values in zip(*chunk, strict=True))
            logits = head(hidden[b, position]).float()
            if cap := getattr(self.model.config, "final_logit_softcapping", None):  # as the model's own head does
                logits = cap * torch.tanh(logits / cap)
            chosen = logits.gather(1, token[:, None])[:, 0] - logits.logsumexp(-1)
            totals.index_add_(0, torch.tensor(offsets)[b] + column, chosen.double())
        return [totals[offset : offset + count].tolist() for offset, count in zip(offsets, counts, strict=True)]
