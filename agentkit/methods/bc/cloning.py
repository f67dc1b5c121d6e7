"""Behavior cloning's steps: SFT on the winning expert demos, then held-out evaluation against baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.errors import AgentkitError
from agentkit.methods.bc.config import BCConfig


def train(
    config: BCConfig, model: str, demos: Path, run_dir: Path, cpu: bool, thought_weight: float | None = None
) -> dict[str, Any]:
    from agentkit.training.sft import train_on_episodes
    from agentkit.trajectory import read_episodes

    episodes, skipped = read_episodes(demos)
    wins = [e for e in episodes if e.success]  # cloning a failed demonstration teaches failure
    out = config.lora.output_folder(run_dir)
    result = train_on_episodes(
        model, wins, config.prompt, config.lora, config.train, run_dir, out, cpu=cpu, thought_weight=thought_weight
    )
    return {"demos": len(episodes), "demos_used": len(wins), "invalid_demo_lines": skipped, **result}


def evaluate(config: BCConfig, model: str, run_dir: Path, label: str) -> dict[str, list]:
    """Random policy, base model and the trained model (`label`) on each held-out set, same seeds for all."""
    from agentkit.eval.agent import evaluate_held_out
    from agentkit.policies import RandomPolicy
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.engine import ModelAgent, PolicyAgent
    from agentkit.rollout.sampling import SamplingParams

    sampling = SamplingParams(max_tokens=config.eval.max_tokens)
    space = config.eval.action_space
    backend_kwargs = config.eval.backend_kwargs()
    agents = {}
    if "random" in config.eval.baselines:
        agents["random"] = lambda: PolicyAgent(RandomPolicy(config.seed))
    if "base" in config.eval.baselines:
        agents["base"] = lambda: ModelAgent(make_backend(config.eval.backend, model, **backend_kwargs), sampling, space)
    tuned = config.lora.backend_model(model, config.lora.output_folder(run_dir))
    agents[label] = lambda: ModelAgent(make_backend(config.eval.backend, *tuned, **backend_kwargs), sampling, space)
    return evaluate_held_out(
        agents,
        config.env,
        config.seed,
        run_dir,
        num_envs=config.eval.num_envs,
        prompt_format=config.prompt,
        agreement=config.eval.expert_agreement,
    )


def clone(config: BCConfig, *, title: str = "Behavior cloning", label: str = "bc", thought_weight: float | None = None):
    """The whole method for a parsed config: expert demos -> SFT on the winning ones -> held-out evaluation
    -> report. Thought cloning runs the very same steps with its thoughts weighted by `thought_weight`."""
    import torch
    from accelerate import PartialState

    from agentkit.agent_settings import collect_expert_demos, start_model
    from agentkit.config import print_report
    from agentkit.methods.bc.report import report
    from agentkit.training.ranks import finish_training
    from agentkit.training.run import open_run

    # Without an accelerator each process must be told it runs on the CPU, or every rank trains alone.
    cpu = not torch.accelerator.is_available()
    state = PartialState(cpu=cpu)
    with open_run(config, state) as run_dir:  # rank 0 builds the model and demos; the others then read them
        model = start_model(config)
        demos = Path(config.demos) if config.demos else collect_expert_demos(config, run_dir / "demos.jsonl")
    training = train(config, model, demos, run_dir, cpu, thought_weight)
    if not finish_training(state):
        return
    try:
        evaluations = {} if config.skip_eval else evaluate(config, model, run_dir, label)
    except Exception as exc:  # the trained result is on disk already: report training, name the failure
        report(config, run_dir, training, {}, title)
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise AgentkitError(
            f"evaluation failed after training ({type(exc).__name__}: {reason}); the trained result and the "
            f"training report are kept in {run_dir}"
        ) from exc
    report(config, run_dir, training, evaluations, title)
    print_report(run_dir)
