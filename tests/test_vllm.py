"""vLLM's offline engine in process (`VLLMBackend`), with LoRA, against HF `generate` on the same model.

One engine for the module: it takes about a minute to start on a CPU.
"""

import os
import shutil
from pathlib import Path

import pytest

from agentkit.envs import make
from agentkit.prompts import PromptFormat
from agentkit.rollout.adapters import AdapterError, adapter_ref
from agentkit.rollout.backend import prompt_token_ids
from agentkit.rollout.engine import ModelAgent, rollout
from agentkit.rollout.hf_backend import HFBackend
from agentkit.rollout.sampling import SamplingParams
from agentkit.rollout.vllm_backend import cpu_environment

pytestmark = pytest.mark.slow

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "vllm-tests"
HELLO = [[{"role": "user", "content": "You are in the kitchen. There is a red key on the table."}]]


@pytest.fixture(scope="module")
def adapter(lora_adapter) -> Path:
    return lora_adapter


@pytest.fixture(scope="module")
def vllm_backend(tiny_model_dir, adapter):
    (CACHE / "tmp").mkdir(parents=True, exist_ok=True)
    threads = f"0-{(os.cpu_count() or 1) - 1}"
    from agentkit.rollout.vllm_backend import VLLMBackend

    with pytest.MonkeyPatch.context() as patch:  # vLLM reads these at import and in its engine process
        for name, value in {**cpu_environment(CACHE, threads=threads), "TMPDIR": str(CACHE / "tmp")}.items():
            patch.setenv(name, value)
        backend = VLLMBackend(str(tiny_model_dir), adapter=str(adapter), max_lora_rank=8, max_model_len=1024)
        yield backend
        backend.close()


@pytest.fixture(scope="module")
def textworld(textworld_games):
    kwargs, tasks = textworld_games
    return {**kwargs, "max_steps": 3}, tasks


def test_greedy_textworld_episodes_are_identical_to_hf(vllm_backend, tiny_model_dir, adapter, textworld):
    """Same model, adapter and games: every greedy reply has the same token ids (and so the same actions)."""
    kwargs, tasks = textworld
    params = SamplingParams(max_tokens=12)
    prompt_format = PromptFormat(history=2)
    runs = {}
    for backend in (vllm_backend, HFBackend(str(tiny_model_dir), adapter=str(adapter), threads=1)):
        runs[backend.name], stats = rollout(
            lambda: make("textworld", **kwargs),
            tasks,
            ModelAgent(backend, params),
            num_envs=4,
            prompt_format=prompt_format,
            progress=False,
        )
        assert stats.errors == 0 and stats.generated_tokens > 0
    identity = {"path": str(adapter.resolve()), "digest": adapter_ref(adapter).digest}
    for ours, theirs in zip(runs["vllm"], runs["hf"], strict=True):
        assert ours.meta["adapter"] == identity == theirs.meta["adapter"]
        mine = [t for t in ours.turns if t.role == "assistant"]
        hf = [t for t in theirs.turns if t.role == "assistant"]
        assert [(t.token_ids, t.text, t.action) for t in mine] == [(t.token_ids, t.text, t.action) for t in hf]
        for a, b in zip(mine, hf, strict=True):
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-3)


def test_the_adapter_changes_the_output_and_a_changed_adapter_fails_loudly(
    vllm_backend, tiny_model_dir, tmp_path, save_random_lora
):
    params = SamplingParams(max_tokens=12)
    first = vllm_backend.generate(HELLO, params)[0][0].token_ids
    folder = shutil.copytree(vllm_backend.adapter.path, tmp_path / "adapter")
    vllm_backend.load_adapter(str(folder))  # same content: the engine keeps the loaded LoRA
    assert vllm_backend.generate(HELLO, params)[0][0].token_ids == first

    save_random_lora(tiny_model_dir, folder, seed=2)  # a new training round overwrites the folder
    with pytest.raises(AdapterError, match="changed on disk since it was loaded"):
        vllm_backend.generate(HELLO, params)
    vllm_backend.load_adapter(str(folder))
    assert vllm_backend.adapter == adapter_ref(folder)
    second = vllm_backend.generate(HELLO, params)[0][0].token_ids
    expected = HFBackend(str(tiny_model_dir), adapter=str(folder), threads=1).generate(HELLO, params)
    assert second == expected[0][0].token_ids != first


def test_seeded_sampling_repeats_and_gives_n_replies(vllm_backend):
    params = SamplingParams(temperature=1.0, max_tokens=8, n=3, seed=7)
    prompts = HELLO * 2
    once, again = vllm_backend.generate(prompts, params), vllm_backend.generate(prompts, params)
    assert [len(c) for c in once] == [3, 3]
    assert [[c.token_ids for c in r] for r in once] == [[c.token_ids for c in r] for r in again]
    assert len({tuple(c.token_ids) for c in once[0]}) > 1, "three samples at temperature 1 were all equal"
    assert all(len(c.token_ids) == len(c.logprobs) for r in once for c in r)


def test_benchmark_eval_gives_the_same_per_item_results_as_hf(vllm_backend, tiny_model_dir, adapter, tmp_path):
    """`agentkit eval bench` through vLLM and through HF: the same completions, answers and grades, item by item."""
    from agentkit.eval.bench_eval import generate_records, grade_records
    from agentkit.eval.tasks import get_task

    task = get_task("arithmetic")
    vllm_backend.load_adapter(str(adapter))  # an earlier test may have moved the engine to another adapter
    hf = HFBackend(str(tiny_model_dir), adapter=str(adapter), threads=1)
    results = {}
    for name, backend in (("vllm", vllm_backend), ("hf", hf)):
        summary = grade_records(task, generate_records(task, backend, limit=6), tmp_path / name)
        results[name] = Path(summary["results"]).read_text().splitlines()
    assert len(results["hf"]) == 6
    assert results["vllm"] == results["hf"]


def test_scores_of_admissible_commands_match_hf_and_an_admissible_rollout_is_identical(
    vllm_backend, tiny_model_dir, adapter, textworld
):
    """`score` gives HF's log-probabilities, so a greedy admissible-command policy plays the same games."""
    prompts = HELLO * 2
    replies = [["Action: take red key", "Action: go north", "Action: look"], ["Action: open the kitchen door"]]
    hf = HFBackend(str(tiny_model_dir), adapter=str(adapter), threads=1)
    ours, theirs = vllm_backend.score(prompts, replies), hf.score(prompts, replies)
    assert [len(row) for row in ours] == [3, 1]
    assert sum(ours, []) == pytest.approx(sum(theirs, []), abs=1e-3)
    kwargs, tasks = textworld
    runs = {}
    for backend in (vllm_backend, hf):
        runs[backend.name], stats = rollout(
            lambda: make("textworld", **kwargs),
            tasks,
            ModelAgent(backend, SamplingParams(), action_space="admissible"),
            num_envs=4,
            prompt_format=PromptFormat(history=2),
            progress=False,
        )
        assert stats.errors == 0 and stats.invalid_actions == 0  # every command was admissible
    for mine, hf_episode in zip(runs["vllm"], runs["hf"], strict=True):
        assert [t.action for t in mine.turns if t.role == "assistant"] == [
            t.action for t in hf_episode.turns if t.role == "assistant"
        ]


def test_a_prompt_that_extends_the_last_is_served_from_the_prefix_cache_and_counted(vllm_backend):
    """Whole-episode prompts: the next step's prompt computes only what follows the cached start."""
    system = {"role": "system", "content": "You play a text game in a house with many rooms. " * 20}
    first = [system, {"role": "user", "content": "You are in the kitchen."}]
    longer = [*first, {"role": "assistant", "content": "Action: go north"}, {"role": "user", "content": "A hall."}]
    vllm_backend.generate([first], SamplingParams(max_tokens=2))
    given, computed = vllm_backend.prompt_token_counts()
    vllm_backend.generate([longer], SamplingParams(max_tokens=2))
    now_given, now_computed = vllm_backend.prompt_token_counts()
    more_given, more_computed = now_given - given, now_computed - computed
    assert more_given > 200 and more_computed < more_given / 4  # the cache shares whole blocks of 32 tokens


def test_episodes_that_start_together_compute_their_shared_system_prompt_once(vllm_backend):
    """16 episodes that start together: the system prompt they share is computed once, not once per episode."""
    vllm_backend.reset_prefix_cache()
    system = {"role": "system", "content": "You explore a castle full of locked doors and old keys. " * 20}
    batch = [[system, {"role": "user", "content": f"You are in room {n}."}] for n in range(8)]
    length = len(prompt_token_ids(vllm_backend.tokenizer, batch[0]))
    _, computed = vllm_backend.prompt_token_counts()
    vllm_backend.generate(batch, SamplingParams(max_tokens=2))
    computed = vllm_backend.prompt_token_counts()[1] - computed
    own = 32 + 16  # a prompt's own text and the partial 32-token block before it
    assert length > 200 and computed <= length + len(batch) * own  # once, not once per prompt
