"""Agent evaluation: play held-out tasks through the rollout engine and summarise them with uncertainty.

Success rates on a few dozen episodes are noisy, so every rate carries a 95% Wilson interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from agentkit.prompts import PromptFormat
from agentkit.trajectory import Episode


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a binomial rate (well behaved at 0% and 100%, unlike the normal one)."""
    if total == 0:
        return 0.0, 0.0
    rate = successes / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    # The interval holds the observed rate; rounding can put a bound a hair past it at 0% or 100%.
    return max(0.0, min(rate, centre - half)), min(1.0, max(rate, centre + half))


LOOP_PERIODS = (1, 2, 3)


def _loop_counts(episode: Episode) -> tuple[int, int, int]:
    """(actions repeating the previous action, actions in a loop, actions): loops are the classic failure
    of weak agents.

    An action is in a loop when it and the actions before it repeat the cycle just before them, with a
    period of one to three actions: the second `examine box` in a row, or the fourth step of `go east`,
    `go west`, `go east`, `go west`. A reply without a command (a revision) breaks a cycle.
    """
    actions = [t.action for t in episode.turns if t.role == "assistant"]
    repeats = sum(1 for a, b in zip(actions, actions[1:], strict=False) if a is not None and a == b)
    looping = 0
    for end in range(len(actions)):
        for period in LOOP_PERIODS:
            start = end - 2 * period + 1
            if start < 0:  # two cycles of this period (and of the longer ones) do not fit yet
                break
            window = actions[start : end + 1]
            if None not in window and window[:period] == window[period:]:
                looping += 1
                break
    return repeats, looping, len(actions)


@dataclass
class AgentEvaluation:
    name: str
    episodes: int
    success_rate: float
    success_low: float
    success_high: float
    mean_score: float
    mean_steps: float
    invalid_action_rate: float
    repeated_action_rate: float
    loop_action_rate: float  # actions in a loop of period 1 to 3 (`_loop_counts`)
    errors: int
    expert_agreement: float | None = None  # see `expert_agreement`; None when not measured
    # Of a scoring backend (`Backend.prompt_token_counts`): prompt tokens it computed per decision, and the
    # share of prompt tokens its prefix cache served; None when the backend does not count them.
    prompt_tokens_per_decision: float | None = None
    prefix_cache_hit: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(name: str, episodes: list[Episode]) -> AgentEvaluation:
    """Success (with its interval), score, steps, invalid- and repeated-action and loop rates of `episodes`."""
    total = len(episodes)
    wins = sum(e.success for e in episodes)
    low, high = wilson_interval(wins, total)
    counts = [_loop_counts(e) for e in episodes]
    repeats, looping, actions = (sum(column) for column in zip(*counts, strict=True)) if counts else (0, 0, 0)
    invalid = sum(e.meta.get("invalid_actions", 0) for e in episodes)
    return AgentEvaluation(
        name=name,
        episodes=total,
        success_rate=wins / total if total else 0.0,
        success_low=low,
        success_high=high,
        mean_score=sum(e.score for e in episodes) / total if total else 0.0,
        mean_steps=sum(e.steps for e in episodes) / total if total else 0.0,
        invalid_action_rate=invalid / actions if actions else 0.0,
        repeated_action_rate=repeats / actions if actions else 0.0,
        errors=sum(e.error is not None for e in episodes),
        loop_action_rate=looping / actions if actions else 0.0,
    )


def markdown_table(rows: list[AgentEvaluation]) -> str:
    lines = [
        "| agent | episodes | success (95% CI) | score | steps | invalid actions | repeated actions "
        "| actions in loops | errors | expert agreement |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        agreement = "-" if r.expert_agreement is None else f"{r.expert_agreement:.1%}"
        lines.append(
            f"| {r.name} | {r.episodes} | {r.success_rate:.1%} ({r.success_low:.1%}-{r.success_high:.1%}) | "
            f"{r.mean_score:.2f} | {r.mean_steps:.1f} | {r.invalid_action_rate:.1%} | "
            f"{r.repeated_action_rate:.1%} | {r.loop_action_rate:.1%} | {r.errors} | {agreement} |"
        )
    return "\n".join(lines)


def bar_chart(rows: list[AgentEvaluation], path: str, title: str) -> None:
    """Success rates side by side with their intervals, as a PNG."""
    from agentkit.training.run import Plot, draw, success_panel

    panel = success_panel(title, [(r.name, r.success_rate, r.success_low, r.success_high) for r in rows])
    draw(Plot(Path(path).name, [panel], (max(4, 1.4 * len(rows)), 3.2)), Path(path).parent)


Decision = tuple[list[dict[str, str]], str, list[str], list[str] | None]


def expert_decisions(episodes: list[Episode], prompt_format) -> list[Decision]:
    """(prompt, the expert's command, the admissible commands, the thoughts the env offered) for every
    decision of expert `episodes`."""
    return [
        (
            prompt,
            turn.action,
            before[-1].info.get("admissible_actions") or [],
            prompt_format.thought_options(before),
        )
        for episode in episodes
        for prompt, turn, before in prompt_format.decisions(episode.turns)
        if turn.action is not None
    ]


def expert_agreement(agent, decisions: list[Decision], prompt_format: PromptFormat) -> float | None:
    """The share of the expert's decisions the agent repeats from the expert's own states.

    Success needs every step of an episode right, so a weak agent sits at 0% while it learns; agreement
    on single decisions moves first. A model agent answers every prompt in one batch (its own sampling,
    greedy by default, and its own action space); the random policy gets its expected agreement,
    1 / number of admissible commands; other policies are not measured (None).
    """
    from agentkit.policies import RandomPolicy
    from agentkit.prompts import parse_action
    from agentkit.rollout.engine import ModelAgent

    if not decisions:
        return None
    if isinstance(agent, ModelAgent):
        prompts, actions, admissible, offered = zip(*decisions, strict=True)
        completions = agent.complete(list(prompts), list(admissible), prompt_format, list(offered))
        pairs = zip(completions, actions, strict=True)
        return sum(parse_action(reply.text)[1] == action for reply, action in pairs) / len(decisions)
    if isinstance(getattr(agent, "policy", None), RandomPolicy):
        return sum(1 / len(a) if action in a else 0.0 for _, action, a, _ in decisions) / len(decisions)
    return None


def evaluate_agents(
    agents: dict[str, Callable[[], object]],
    env_factory: Callable[[], object],
    tasks: list,
    out_dir: str | Path,
    *,
    num_envs: int,
    prompt_format,
    prefix: str = "",
    agreement: bool = False,
) -> list[AgentEvaluation]:
    """Play the same tasks with each agent (built when its turn comes, its backend closed after), writing
    `out_dir/{prefix}{name}.jsonl` afresh, and summarise each; with `agreement`, the env's expert plays
    the tasks first and each agent's `expert_agreement` on those decisions is measured too."""
    from agentkit.policies import ExpertPolicy
    from agentkit.rollout.engine import PolicyAgent, rollout
    from agentkit.trajectory import TrajectoryWriter

    decisions = []
    if agreement:
        expert_episodes, _ = rollout(env_factory, tasks, PolicyAgent(ExpertPolicy()), num_envs=num_envs,
                                     prompt_format=prompt_format, description="expert decisions")  # fmt: skip
        decisions = expert_decisions(expert_episodes, prompt_format)
    results = []
    for name, build in agents.items():
        agent = build()
        path = Path(out_dir) / f"{prefix}{name}.jsonl"
        path.unlink(missing_ok=True)  # a re-run evaluation replaces its episodes instead of adding to them
        with TrajectoryWriter(path) as writer:
            episodes, _ = rollout(
                env_factory,
                tasks,
                agent,
                num_envs=num_envs,
                prompt_format=prompt_format,
                writer=writer,
                description=f"eval {name}",
            )
        summary = summarize(name, episodes)
        backend = getattr(agent, "backend", None)
        counts = backend.prompt_token_counts() if backend is not None else None
        if counts and counts[0]:  # read before the agreement pass scores more prompts
            actions = sum(e.steps for e in episodes)
            summary.prompt_tokens_per_decision = counts[1] / actions if actions else None
            summary.prefix_cache_hit = 1 - counts[1] / counts[0]
        if agreement:
            summary.expert_agreement = expert_agreement(agent, decisions, prompt_format)
        if backend is not None:
            backend.close()
        results.append(summary)
    return results


def evaluate_held_out(
    agents: dict[str, Callable[[], object]], env, seed: int, out_dir: str | Path, **options
) -> dict[str, list[AgentEvaluation]]:
    """`evaluate_agents` on each held-out set of `env` (an `EnvConfig`): `eval_kwargs` as `test`, then
    `extra_evals`, every agent on the same tasks; files are `eval_NAME.jsonl` (`test`) or
    `eval_SET_NAME.jsonl`. `options` go to `evaluate_agents`."""
    results = {}
    for name, split_kwargs in {"test": env.eval_kwargs, **env.extra_evals}.items():
        tasks = env.tasks(split_kwargs, seed, limit=env.eval_limit)
        prefix = "eval_" if name == "test" else f"eval_{name}_"
        results[name] = evaluate_agents(agents, env.factory(split_kwargs), tasks, out_dir, prefix=prefix, **options)
    return results
