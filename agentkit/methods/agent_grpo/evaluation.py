"""Held-out evaluation of agent GRPO: baselines, the start policy and the trained adapter on the same tasks."""

from __future__ import annotations

from pathlib import Path

from agentkit.methods.agent_grpo.config import AgentGRPOConfig


def evaluate(config: AgentGRPOConfig, model: str, run_dir: Path) -> dict[str, list]:
    """Per held-out set (`env.eval_kwargs` as `test`, then `env.extra_evals`), the summary of each agent:
    `eval.baselines` (random, base), `start` (the start adapter, or the base without one) and `agent_grpo`."""
    from agentkit.eval.agent import evaluate_held_out
    from agentkit.policies import RandomPolicy
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.engine import ModelAgent, PolicyAgent
    from agentkit.rollout.sampling import SamplingParams

    e = config.eval
    sampling = SamplingParams(max_tokens=e.max_tokens)

    def model_agent(adapter: str | None):
        return lambda: ModelAgent(
            make_backend(e.backend, model, adapter, **e.backend_kwargs()), sampling, e.action_space
        )

    agents = {}
    if "random" in e.baselines:
        agents["random"] = lambda: PolicyAgent(RandomPolicy(config.seed))
    if "base" in e.baselines:
        agents["base"] = model_agent(None)
    if config.include_start:
        agents["start"] = model_agent(config.start_adapter)
    agents["agent_grpo"] = model_agent(str(run_dir / "adapter"))
    return evaluate_held_out(
        agents,
        config.env,
        config.seed,
        run_dir,
        num_envs=e.num_envs,
        prompt_format=config.prompt,
        agreement=e.expert_agreement,
    )
