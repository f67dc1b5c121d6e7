"""The rollout engine on real TextWorld games with the Hugging Face backend, and its fault handling."""

import pytest

from agentkit.envs import make
from agentkit.envs.subprocess_env import SubprocessEnv
from agentkit.policies import ExpertPolicy
from agentkit.prompts import PromptFormat
from agentkit.rollout.adapters import AdapterError
from agentkit.rollout.backend import make_backend
from agentkit.rollout.engine import INVALID_REPLY, ModelAgent, PolicyAgent, Task, no_command_answer, rollout
from agentkit.rollout.hf_backend import HFBackend
from agentkit.rollout.sampling import Completion, SamplingError, SamplingParams
from agentkit.trajectory import TrajectoryWriter, read_episodes


@pytest.fixture(scope="module")
def textworld(textworld_games):
    return textworld_games


@pytest.fixture(scope="module")
def hf_backend(tiny_model_dir):
    return HFBackend(str(tiny_model_dir), threads=1)


def test_expert_through_the_engine_wins_every_game(textworld, tmp_path):
    kwargs, tasks = textworld
    with TrajectoryWriter(tmp_path / "expert.jsonl") as writer:
        episodes, stats = rollout(
            lambda: make("textworld", **kwargs),
            tasks,
            PolicyAgent(ExpertPolicy()),
            num_envs=2,
            writer=writer,
            progress=False,
        )
    assert [e.task_id for e in episodes] == [t.task_id for t in tasks]
    assert stats.successes == len(tasks) and stats.errors == 0
    on_disk, _ = read_episodes(tmp_path / "expert.jsonl")
    assert sorted(e.task_id for e in on_disk) == sorted(t.task_id for t in tasks)
    first = episodes[0]
    assert [t.role for t in first.turns[:3]] == ["system", "user", "assistant"]
    assert first.turns[2].text == f"Action: {first.turns[2].action}" and first.turns[2].loss


def test_model_rollout_keeps_generated_tokens_and_logprobs(textworld, hf_backend, tiny_model_dir):
    kwargs, tasks = textworld
    agent = ModelAgent(hf_backend, SamplingParams(max_tokens=12))
    factory = lambda: SubprocessEnv("textworld", {**kwargs, "max_steps": 6}, step_timeout=60)  # noqa: E731
    episodes, stats = rollout(factory, tasks, agent, num_envs=4, progress=False, prompt_format=PromptFormat(history=2))
    assert stats.episodes == len(tasks) and stats.errors == 0
    assert stats.generated_tokens > 0
    tokenizer = hf_backend.tokenizer
    for episode in episodes:
        replies = [t for t in episode.turns if t.role == "assistant"]
        assert len(replies) == episode.steps
        for turn in replies:
            assert len(turn.token_ids) == len(turn.logprobs) <= 12
            assert all(lp <= 0 for lp in turn.logprobs)
            text_ids = turn.token_ids[:-1] if turn.token_ids[-1] == tokenizer.eos_token_id else turn.token_ids
            assert tokenizer.decode(text_ids, skip_special_tokens=True) == turn.text
        # Untrained replies rarely parse: such turns are counted and answered without stepping the game.
        invalid = [t for t in replies if t.action is None]
        assert episode.meta.get("invalid_actions", 0) == len(invalid)
        for index, turn in enumerate(episode.turns):
            if turn.role == "assistant" and turn.action is None:
                answer = episode.turns[index + 1].text  # the state again, so a short window keeps it
                assert answer == no_command_answer(episode.turns[index - 1].text) and answer.startswith(INVALID_REPLY)
    assert all(e.success or e.meta["truncated"] for e in episodes)


def test_replies_without_a_command_count_toward_the_step_limit(textworld):
    """Every reply is a step of the episode, parsed or not: an agent that mixes chatter with commands still
    stops at `max_steps` replies (the game itself counts only the commands it was given)."""
    from agentkit.rollout.engine import Agent, Reply

    class ChatterThenLook(Agent):
        def act(self, slots, prompt_format):
            return [Reply("Hmm.", None) if slot.episode.steps % 2 == 0 else Reply("Action: look", "look")
                    for slot in slots]  # fmt: skip

    kwargs, tasks = textworld
    episodes, _ = rollout(lambda: make("textworld", **{**kwargs, "max_steps": 4}), tasks[:1], ChatterThenLook(),
                          num_envs=1, progress=False)  # fmt: skip
    assert episodes[0].steps == 4 and episodes[0].meta["truncated"] and episodes[0].meta["invalid_actions"] == 2


def test_batched_and_one_by_one_rollouts_give_the_same_greedy_episodes(textworld, hf_backend):
    kwargs, tasks = textworld
    agent = ModelAgent(hf_backend, SamplingParams(max_tokens=8))
    factory = lambda: make("textworld", **{**kwargs, "max_steps": 3})  # noqa: E731
    batched, _ = rollout(factory, tasks, agent, num_envs=4, progress=False)
    single, _ = rollout(factory, tasks, agent, num_envs=1, progress=False)
    assert [[t.text for t in e.turns] for e in batched] == [[t.text for t in e.turns] for e in single]


def test_env_crash_and_hang_fail_only_their_episodes():
    factory = lambda: SubprocessEnv("tests.rollout_envs:FaultyEnv", {}, step_timeout=5)  # noqa: E731
    tasks = [Task(t, i) for i, t in enumerate(["ok-1", "crash-1", "ok-2", "hang-1", "ok-3"])]
    episodes, stats = rollout(factory, tasks, PolicyAgent(ExpertPolicy()), num_envs=3, progress=False)
    outcome = {e.task_id: (e.success, e.error) for e in episodes}
    assert outcome["ok-1"] == (True, None) and outcome["ok-2"] == (True, None) and outcome["ok-3"] == (True, None)
    assert "EnvCrashed" in outcome["crash-1"][1] and outcome["crash-1"][0] is False
    assert "EnvTimeout" in outcome["hang-1"][1] and outcome["hang-1"][0] is False
    assert stats.errors == 2 and stats.successes == 3


class _FailsOnMarker(HFBackend):
    """The real HF backend, except that prompts naming `crash` come back failed, as one HTTP request can."""

    def generate(self, prompts, params):
        results = super().generate(prompts, params)
        return [
            [Completion.failed("HTTP 503")] if "crash" in str(p) else r for p, r in zip(prompts, results, strict=True)
        ]


def test_backend_failure_fails_only_the_affected_episodes(tiny_model_dir):
    from agentkit.envs.subprocess_env import SubprocessEnv

    backend = _FailsOnMarker(str(tiny_model_dir))
    factory = lambda: SubprocessEnv("tests.rollout_envs:FaultyEnv", {}, step_timeout=5)  # noqa: E731
    tasks = [Task("ok-1", 0), Task("crash-1", 1), Task("ok-2", 2)]
    # The faulty env's first observation does not name the task; put it in the system prompt instead.
    episodes, stats = rollout(
        factory,
        tasks,
        ModelAgent(backend, SamplingParams(max_tokens=4)),
        num_envs=3,
        progress=False,
        prompt_format=PromptFormat(system="Task crash if crash"),
    )
    assert stats.errors == 3  # every prompt carries the marker: all fail, none crashes the run
    assert all(e.error == "RuntimeError: backend: HTTP 503" for e in episodes)


def test_adapter_identity_is_recorded_and_a_stale_adapter_fails_loudly(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False),
    )
    model.save_pretrained(tmp_path / "adapter")
    backend = HFBackend(str(tiny_model_dir), adapter=str(tmp_path / "adapter"))
    assert len(backend.adapter.digest) == 64
    assert backend.generate([[{"role": "user", "content": "hi"}]], SamplingParams(max_tokens=2))[0][0].token_ids
    for param in model.parameters():
        if param.requires_grad:
            param.data += 1.0
    model.save_pretrained(tmp_path / "adapter")  # a new training round overwrote the folder
    with pytest.raises(AdapterError, match="changed on disk since it was loaded"):
        backend.generate([[{"role": "user", "content": "hi"}]], SamplingParams(max_tokens=2))
    backend.load_adapter(str(tmp_path / "adapter"))
    assert backend.generate([[{"role": "user", "content": "hi"}]], SamplingParams(max_tokens=2))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"temperature": -1}, "temperature=-1 must be a number >= 0"),
        ({"top_p": 0}, "top_p=0 must be a number in"),
        ({"max_tokens": 0}, "max_tokens=0 must be an int >= 1"),
        ({"n": 1.5}, "n=1.5 must be an int >= 1"),
        ({"beam_width": 3}, "unknown sampling parameter 'beam_width'"),
    ],
)
def test_bad_sampling_params_name_the_parameter(params, message):
    with pytest.raises(SamplingError, match=message):
        SamplingParams.from_dict(params)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(Exception, match="unknown backend 'tgi'; choose one of hf, vllm, openai"):
        make_backend("tgi", "model")
