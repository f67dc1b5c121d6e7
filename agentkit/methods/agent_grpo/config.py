"""Agent GRPO's config: every section validated on load, with GiGPO's constants (Feng et al., 2025) as defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentkit.agent_settings import EnvConfig
from agentkit.agent_settings import EvalConfig as AgentEvalConfig
from agentkit.config import ConfigError
from agentkit.prompts import PromptFormat
from agentkit.training.run import WARM_START, RecipeConfig
from agentkit.training.sft import AdapterConfig

OUTCOMES = ("success", "score")  # the env's own outcome rewards; anything else is a `module:function`


def _at_least(section: object, names: tuple[str, ...], low: float, strict: bool = False) -> None:
    """Raise naming the first field of `section` below `low` (at or below it when `strict`)."""
    for name in names:
        value = getattr(section, name)
        if value < low or (strict and value == low):
            raise ValueError(f"{name}={value} must be {'>' if strict else '>='} {low}")


@dataclass
class SamplingConfig:
    """Each iteration plays `episodes_per_task` (G) episodes of each of `tasks_per_iteration` training tasks.

    The policy writes its replies as text (token-in-token-out: the ids it generated are the ids trained on).
    The stored log-probs are of the model's own distribution, so `temperature` other than 1 samples off-policy.
    """

    backend: Literal["hf", "vllm"] = "vllm"
    tasks_per_iteration: int = 8  # across all processes; must divide by the number of processes
    episodes_per_task: int = 8  # G, the group size
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 24
    num_envs: int = 16
    threads: int | None = None  # torch threads of the HF sampler
    # More backend options, e.g. {gpu_memory_utilization: 0.3} for a vLLM engine that shares its GPU with training.
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _at_least(self, ("tasks_per_iteration", "num_envs", "max_tokens"), 1)
        _at_least(self, ("episodes_per_task",), 2)  # a group of one has no relative advantage
        _at_least(self, ("temperature",), 0.0, strict=True)
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p} must be in (0, 1]")


@dataclass
class RewardConfig:
    """`outcome`: `success` (1 for a win, else 0), `score` (the env's score), or `module:function` taking an
    `agentkit.trajectory.Episode` and returning a float (e.g. `agentkit.reward_models:episode_reward`).
    `step_rewards` adds each step's env reward (score gained) to the returns."""

    outcome: str = "success"
    step_rewards: bool = False

    def __post_init__(self) -> None:
        module, sep, name = self.outcome.partition(":")
        if self.outcome not in OUTCOMES and not (sep and module and name):
            raise ValueError(f"outcome={self.outcome!r} must be success, score or module:function")


@dataclass
class AdvantageConfig:
    """`grpo`: the episode's group-relative return for every step. `gigpo`: plus `omega` times the step's
    relative discounted return among the steps taken from the same state in the task's group."""

    estimator: Literal["grpo", "gigpo"] = "grpo"
    omega: float = 1.0  # GiGPO's weight of the step-level advantage
    gamma: float = 0.95  # discount of step returns
    scale: bool = True  # divide by the group's std (false: mean-centred only, GiGPO's "mean_norm")

    def __post_init__(self) -> None:
        _at_least(self, ("omega",), 0.0)
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma={self.gamma} must be in [0, 1]")


@dataclass
class OptimConfig:
    """PPO-style: `epochs` passes over an iteration's episodes in `minibatches` optimizer steps each."""

    iterations: int = 20
    epochs: int = 1
    minibatches: int = 2  # optimizer steps per epoch; every process takes the same number
    micro_batch: int = 4  # decisions per forward pass, gradients accumulated over a minibatch (not under DeepSpeed)
    learning_rate: float = 1e-5
    clip_epsilon: float = 0.2
    kl_coef: float = 0.01  # beta, k3 KL to the base model with the adapter disabled
    max_grad_norm: float = 1.0
    save_total_limit: int = 2

    def __post_init__(self) -> None:
        _at_least(self, ("iterations", "epochs", "minibatches", "micro_batch", "save_total_limit"), 1)
        _at_least(self, ("learning_rate", "clip_epsilon"), 0.0, strict=True)
        _at_least(self, ("kl_coef", "max_grad_norm"), 0.0)


@dataclass
class EvalConfig(AgentEvalConfig):
    """Held-out evaluation: the start and the trained adapter writing their own replies, as they were trained;
    `baselines` may add `random` and `base` (the model without an adapter)."""

    baselines: list[str] = field(default_factory=list)
    expert_agreement: bool = False


@dataclass
class AgentGRPOConfig(RecipeConfig):
    model: str = "smollm2-135m"  # a catalogue name (`agentkit models`), a model folder or a hub name
    output_dir: str = "runs/agent_grpo"
    start_adapter: str | None = None  # a LoRA folder to start from (e.g. a BC run's adapter/); None: a fresh one
    env: EnvConfig = field(default_factory=EnvConfig)
    prompt: PromptFormat = field(default_factory=PromptFormat)
    lora: AdapterConfig = field(default_factory=AdapterConfig)  # the fresh adapter's shape (unused with a start)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    advantage: AdvantageConfig = field(default_factory=AdvantageConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    include_start: bool = True  # also evaluate the start policy on the held-out tasks
    skip_eval: bool = False
    report_to: list[str] = field(default_factory=list)  # accelerate trackers, e.g. [tensorboard] (OUTPUT_DIR/tb)

    def __post_init__(self) -> None:
        if self.lora.full_finetune:
            raise ValueError("lora.full_finetune=True: agent GRPO trains a LoRA adapter (the base is its reference)")
        if self.model == WARM_START:
            raise ValueError(f"model={self.model!r}: agent GRPO has no warm start; give a model and a start_adapter")
        if self.sampling.max_tokens > self.eval.max_tokens:
            raise ValueError(
                f"sampling.max_tokens={self.sampling.max_tokens} exceeds eval.max_tokens={self.eval.max_tokens}: "
                "the evaluated policy would be cut shorter than the trained one"
            )

    def check_start_adapter(self) -> None:
        """Raise unless `start_adapter` is a LoRA folder (checked at start, so a config loads before it exists)."""
        if self.start_adapter is not None and not (Path(self.start_adapter) / "adapter_config.json").is_file():
            raise ConfigError(
                f"start_adapter={self.start_adapter!r} is not a LoRA adapter folder (no adapter_config.json)"
            )
