"""Agent-R's config: the start policy, the search, the revision pairs and each round's training."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agentkit.agent_settings import EnvConfig, EvalConfig
from agentkit.demo_base import DemoBaseConfig
from agentkit.methods.agent_r.revision import REVISION_THOUGHTS
from agentkit.methods.agent_r.search import MCTSConfig
from agentkit.policies import check_noise
from agentkit.prompts import PromptFormat
from agentkit.training.run import RecipeConfig
from agentkit.training.sft import AdapterConfig, TrainConfig


@dataclass(frozen=True)
class SearchConfig(MCTSConfig):
    """MCTS per training task (`search.MCTSConfig`; its `seed` is offset by the run's seed and the
    round); `trees_at_once` trees advance together, each with its own env."""

    trees_at_once: int = 8
    backend: Literal["hf", "vllm"] = "hf"
    threads: int | None = None


@dataclass
class RevisionConfig:
    """Pairs need good >= alpha and good - bad >= beta (Agent-R's values)."""

    alpha: float = 0.5
    beta: float = 0.2
    pairs_per_task: int = 4
    good_per_task: int = 1
    critique: bool = True  # ask the policy to judge bad steps; off: always the value drop
    critique_max_tokens: int = 4
    # Without the policy's judgement, a command repeated to no effect (a loop) places the error before the
    # value drop, and bad paths that loop are paired first. Off by default, as in the paper's algorithm.
    revise_loops: bool = False
    thoughts: list[str] = field(default_factory=lambda: list(REVISION_THOUGHTS))
    # With an admissible action space the policy only ever names a listed command; offered here, each
    # revision thought's probability is weighed against acting at evaluation, so the policy can revise.
    offer_at_eval: bool = True

    def __post_init__(self) -> None:
        if not self.thoughts:
            raise ValueError("revision.thoughts must hold at least one revision thought")
        if self.pairs_per_task < 0 or self.good_per_task < 0:
            raise ValueError("pairs_per_task and good_per_task must be >= 0")


@dataclass
class AgentRConfig(RecipeConfig):
    model: str = "preset:tiny"
    output_dir: str = "runs/agent_r"
    rounds: int = 3
    # The round-0 policy (an adapter folder, or a model folder with lora.full_finetune); else round 0
    # trains it by behaviour cloning on expert demos.
    start_adapter: str | None = None
    demos_per_task: int = 1
    demo_noise: float = 0.0  # as in the BC recipe: random expert steps, not trained on (DART)
    # Expert demos (episodes JSONL, e.g. the BC run's demos.jsonl) trained on again beside every round's
    # revision and good trajectories, so a round adds to what the start policy knew instead of replacing it.
    replay_demos: str | None = None
    env: EnvConfig = field(default_factory=EnvConfig)
    demo_base: DemoBaseConfig = field(default_factory=DemoBaseConfig)  # used when model is `warm_start`
    prompt: PromptFormat = field(default_factory=PromptFormat)
    lora: AdapterConfig = field(default_factory=AdapterConfig)
    bc_train: TrainConfig = field(default_factory=TrainConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1.0, learning_rate=5e-4))
    search: SearchConfig = field(default_factory=SearchConfig)
    revision: RevisionConfig = field(default_factory=RevisionConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError(f"rounds={self.rounds} must be >= 0")
        check_noise(self.demo_noise, "demo_noise")
        if self.replay_demos is not None and not Path(self.replay_demos).is_file():
            raise ValueError(f"replay_demos={self.replay_demos!r} is not a file")
