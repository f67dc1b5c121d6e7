"""The rollout engine: many envs stepped together, one backend batch per turn, episodes streamed to disk.

Each turn the prompts of all live episodes go to the agent in one batch; the envs then step in a thread
pool (an env in a child process releases the GIL while it works, so a slow env does not stall the
others). A finished episode is written at once and its slot takes the next task until all are done.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agentkit.envs.base import TextEnv
from agentkit.prompts import PromptFormat, parse_action
from agentkit.rollout.admissible import ActionSpace, check_action_space, sample_replies
from agentkit.rollout.backend import Backend, Messages
from agentkit.rollout.sampling import Completion, SamplingParams
from agentkit.trajectory import Episode, TrajectoryWriter, Turn

INVALID_REPLY = "Invalid reply: no command found. Answer with `Action: <command>`."


def no_command_answer(last_observation: str) -> str:
    """What a reply without a command is answered: the game does not move, so the agent is told so and
    shown where it still is. A prompt that keeps only the latest step would otherwise lose the state
    (e.g. after Agent-R's revision thought)."""
    if last_observation.startswith(INVALID_REPLY):  # already restates the state
        return last_observation
    return f"{INVALID_REPLY}\n\n{last_observation}"


@dataclass
class Reply:
    """An agent's reply to one prompt: the text as produced, and what was read from it."""

    text: str
    action: str | None
    thought: str | None = None
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    error: str | None = None
    loss: bool = True  # a training target (a policy's injected exploration step is not)


@dataclass
class Task:
    task_id: str | None
    seed: int


@dataclass
class Slot:
    """One env and the episode it is playing."""

    env: TextEnv
    episode: Episode | None = None
    info: dict[str, Any] = field(default_factory=dict)
    done: bool = True


class Agent:
    """Chooses actions for a batch of live episodes."""

    name = "agent"

    def begin(self, slot: Slot, task: Task) -> None:
        """A new episode starts in `slot`."""

    def act(self, slots: Sequence[Slot], prompt_format: PromptFormat) -> list[Reply]:
        raise NotImplementedError


class ModelAgent(Agent):
    """A language model behind a backend: one batched call per turn for every live episode.

    `action_space="text"` generates the reply; `"admissible"` draws it from the env's admissible commands
    by the model's probability of each (`agentkit.rollout.admissible`), and of each `extra_replies` text.
    """

    def __init__(
        self,
        backend: Backend,
        sampling: SamplingParams | None = None,
        action_space: ActionSpace = "text",
        extra_replies: tuple[str, ...] = (),
    ):
        self.backend = backend
        self.extra_replies = tuple(extra_replies)
        self.sampling = sampling or SamplingParams()
        if self.sampling.n != 1:
            raise ValueError(f"an acting agent samples one reply per turn; got n={self.sampling.n}")
        check_action_space(action_space)
        self.action_space = action_space
        self.name = f"model:{backend.name}"

    def complete(
        self,
        prompts: list[Messages],
        admissible: list[list[str] | None],
        prompt_format: PromptFormat,
        thought_options: list[list[str] | None] | None = None,
    ) -> list[Completion]:
        """One reply per prompt, in this agent's action space (choosing among offered thoughts)."""
        batches = sample_replies(
            self.backend,
            prompts,
            admissible,
            prompt_format,
            self.sampling,
            self.action_space,
            self.extra_replies,
            thought_options,
        )
        return [completion for (completion,) in batches]

    def act(self, slots: Sequence[Slot], prompt_format: PromptFormat) -> list[Reply]:
        prompts = [prompt_format.messages_for(slot.episode.turns) for slot in slots]
        admissible = [slot.info.get("admissible_actions") for slot in slots]
        offered = [prompt_format.thought_options(slot.episode.turns) for slot in slots]
        replies = []
        for completion in self.complete(prompts, admissible, prompt_format, offered):
            thought, action = parse_action(completion.text)
            replies.append(
                Reply(completion.text, action, thought, completion.token_ids, completion.logprobs, completion.error)
            )
        return replies


class PolicyAgent(Agent):
    """A model-free policy (`agentkit.policies`: the expert, random play), asked env by env.

    Each slot plays with its own copy of the policy, reset with the episode's seed, so a stochastic
    policy's episode depends on its seed only, not on which other episodes run beside it.
    """

    def __init__(self, policy):
        self.policy = policy
        self.name = policy.name
        self._per_slot: dict[int, Any] = {}

    def begin(self, slot: Slot, task: Task) -> None:
        policy = copy.deepcopy(self.policy)
        policy.reset(task.seed)
        self._per_slot[id(slot)] = policy

    def act(self, slots: Sequence[Slot], prompt_format: PromptFormat) -> list[Reply]:
        replies = []
        for slot in slots:
            messages = prompt_format.messages_for(slot.episode.turns)
            decision = self._per_slot[id(slot)].act(slot.env, messages, slot.info)
            text = prompt_format.reply(decision.action, decision.thought)
            replies.append(Reply(text, decision.action, decision.thought, loss=decision.train))
        return replies


@dataclass
class RolloutStats:
    episodes: int = 0
    successes: int = 0
    errors: int = 0
    invalid_actions: int = 0
    steps: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0

    @property
    def episodes_per_second(self) -> float:
        return self.episodes / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds else 0.0


def _fail(slot: Slot, exc: BaseException) -> None:
    slot.episode.error = f"{type(exc).__name__}: {exc}"
    slot.episode.success = False
    slot.done = True


def _start(slot: Slot, task: Task, agent: Agent, prompt_format: PromptFormat, meta: dict[str, Any]) -> None:
    episode = Episode(
        task_id=task.task_id or f"seed-{task.seed}",
        env=slot.env.name,
        seed=task.seed,
        turns=[Turn("system", prompt_format.system_prompt())],
        meta=dict(meta),
    )
    slot.episode, slot.done, slot.info = episode, False, {}
    try:
        options = None if task.task_id is None else {"task_id": task.task_id}
        agent.begin(slot, task)
        observation, info = slot.env.reset(seed=task.seed, options=options)
        episode.task_id = str(info.get("task_id", episode.task_id))
        slot.info = info
        episode.turns.append(prompt_format.observation_turn(observation, info))
    except Exception as exc:  # a missing or corrupt task, a crashed env process: only this episode fails
        _fail(slot, exc)


def _step(slot: Slot, reply: Reply, prompt_format: PromptFormat) -> None:
    episode = slot.episode
    episode.turns.append(
        Turn(
            "assistant",
            reply.text,
            thought=reply.thought,
            action=reply.action,
            loss=reply.loss,
            token_ids=reply.token_ids,
            logprobs=reply.logprobs,
        )
    )
    episode.steps += 1
    if reply.error is not None:
        _fail(slot, RuntimeError(f"backend: {reply.error}"))
        return
    try:
        if reply.action is None:
            episode.meta["invalid_actions"] = episode.meta.get("invalid_actions", 0) + 1
            last = episode.turns[-2].text  # the observation the reply answered
            observation, reward, terminated, info = no_command_answer(last), 0.0, False, {**slot.info, "invalid": True}
            truncated = episode.steps >= slot.env.max_steps
        else:
            observation, reward, terminated, truncated, info = slot.env.step(reply.action)
            truncated = truncated or episode.steps >= slot.env.max_steps  # replies without a command count too
    except Exception as exc:  # the env crashed or hung past its timeout
        _fail(slot, exc)
        return
    episode.turns[-1].reward = float(reward)
    episode.score += float(reward)
    episode.turns.append(prompt_format.observation_turn(observation, info))
    slot.info = info
    if terminated or truncated:
        episode.success = bool(info.get("won", False))
        episode.meta["truncated"] = bool(truncated and not terminated)
        slot.done = True


def rollout(
    env_factory: Callable[[], TextEnv],
    tasks: Iterable[Task],
    agent: Agent,
    *,
    num_envs: int = 16,
    prompt_format: PromptFormat | None = None,
    writer: TrajectoryWriter | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool = True,
    description: str = "rollout",
    close_envs: bool = True,
) -> tuple[list[Episode], RolloutStats]:
    """Play every task with `agent` over `num_envs` envs at once; returns the episodes in task order.

    `env_factory` makes one env per slot (wrap it in `SubprocessEnv` to kill hanging envs). Episodes are
    written to `writer` as they finish, so an interrupted run keeps what it finished. `close_envs=False`
    leaves the envs open for the caller who owns them.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prompt_format = prompt_format or PromptFormat()
    queue = list(tasks)
    if not queue:
        return [], RolloutStats()
    meta = {"agent": agent.name, **(meta or {})}
    if getattr(agent, "backend", None) is not None and agent.backend.adapter is not None:
        meta["adapter"] = {"path": agent.backend.adapter.path, "digest": agent.backend.adapter.digest}
    stats = RolloutStats()
    results: dict[int, Episode] = {}
    order: dict[int, int] = {}
    next_task = 0
    slots = [Slot(env_factory()) for _ in range(min(num_envs, len(queue)))]
    start = time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rates]}"),
    )
    # Envs that share interpreter state (TextWorld's parser, for one) must not step in threads at once;
    # those in their own process (SubprocessEnv) can.
    parallel = all(slot.env.thread_safe for slot in slots)
    pool = ThreadPoolExecutor(max_workers=len(slots) if parallel else 1, thread_name_prefix="env")
    try:
        with Progress(*columns, disable=not progress) as bar:
            handle = bar.add_task(description, total=len(queue), rates="")

            def refill(targets: list[Slot]) -> None:
                nonlocal next_task
                starting = []
                for slot in targets:
                    if next_task < len(queue):
                        order[id(slot)] = next_task
                        starting.append((slot, queue[next_task]))
                        next_task += 1
                list(pool.map(lambda pair: _start(pair[0], pair[1], agent, prompt_format, meta), starting))

            def finish(slot: Slot) -> None:
                episode = slot.episode
                results[order[id(slot)]] = episode
                if writer is not None:
                    writer.write(episode)
                stats.episodes += 1
                stats.successes += episode.success
                stats.errors += episode.error is not None
                stats.invalid_actions += episode.meta.get("invalid_actions", 0)
                stats.steps += episode.steps
                slot.episode = None
                stats.seconds = time.perf_counter() - start
                bar.update(
                    handle,
                    advance=1,
                    rates=(
                        f"{stats.episodes_per_second:.2f} ep/s  {stats.tokens_per_second:.0f} tok/s  "
                        f"success {stats.successes}/{stats.episodes}"
                    ),
                )

            refill(slots)
            while True:
                for slot in slots:
                    if slot.episode is not None and slot.done:
                        finish(slot)
                refill([slot for slot in slots if slot.episode is None])
                live = [slot for slot in slots if slot.episode is not None and not slot.done]
                if not live:
                    if any(slot.episode is not None for slot in slots):
                        continue  # every slot just failed to start: finish those, start the next tasks
                    break
                replies = agent.act(live, prompt_format)
                stats.generated_tokens += sum(len(r.token_ids or []) for r in replies)
                list(pool.map(lambda pair: _step(pair[0], pair[1], prompt_format), zip(live, replies, strict=True)))
    finally:
        pool.shutdown(wait=True)
        if close_envs:
            for slot in slots:
                slot.env.close()
    stats.seconds = time.perf_counter() - start
    return [results[i] for i in range(len(queue))], stats
