"""Agent GRPO: online RL of a LoRA agent over whole env episodes; GiGPO's step-level credit as an option
(Feng et al., 2025, "Group-in-Group Policy Optimization for LLM Agent Training", arXiv:2505.10978).

Per iteration, on a LoRA policy whose reference is the base model with the adapter disabled:

    sample G episodes per task with the current adapter (token ids and log-probs of every reply kept)
    A(a_t^i) = A^E(tau_i) [+ omega * A^S(a_t^i), the steps from the same state]   (GRPO [GiGPO])
    loss = -min(r A, clip(r, 1 - eps, 1 + eps) A) + beta * KL_k3(policy || ref),  r = pi / pi_sampler,
           per generated token of the agent
    save the adapter, hot-load it into the engine, check the next episodes used it

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/agent_grpo.py \
        --config recipes/configs/agent_grpo_textworld_smollm2.yaml [key=value ...]

Steps: (1) the base model and the start adapter (`start_adapter`, e.g. a BC run's adapter/), (2) the
iterations above, resumable from the newest checkpoint, (3) held-out evaluation of the start and the trained
adapter, (4) a run folder: config.yaml, metrics.json, report.md, training.png (success, reward, KL, entropy
per iteration), success.png, adapter/, episodes/iteration-N.jsonl (every training episode, for `agentkit view`),
checkpoints/step-N.

The algorithm lives in `agentkit.methods.agent_grpo`; this script is its command line.
"""

from __future__ import annotations

import os
import sys

from agentkit.config import parse_recipe_args, print_report, run_recipe
from agentkit.methods.agent_grpo.config import AgentGRPOConfig

# A resumed run may be given more iterations: the iterations already run are the same either way.
EXTENDABLE = ("optim.iterations",)


def main(argv: list[str]) -> None:
    config = parse_recipe_args(AgentGRPOConfig, argv)  # a bad config fails before the slow imports
    config.check_start_adapter()
    import torch
    from accelerate import Accelerator

    from agentkit.methods.agent_grpo.evaluation import evaluate
    from agentkit.methods.agent_grpo.report import report
    from agentkit.methods.agent_grpo.training import train
    from agentkit.models import resolve_model
    from agentkit.training.run import open_run

    cpu = not torch.accelerator.is_available()
    if cpu and "vllm" in (config.sampling.backend, config.eval.backend):
        from agentkit.rollout.vllm_backend import cpu_environment

        for name, value in cpu_environment(os.path.expanduser(config.cache_dir)).items():
            os.environ.setdefault(name, value)
    accelerator = Accelerator(cpu=cpu, log_with=config.report_to or None, project_dir=f"{config.output_dir}/tb")
    with open_run(config, accelerator, may_change=EXTENDABLE) as run_dir:  # rank 0 builds the model first
        model = resolve_model(config.model, config.cache_dir, config.seed)
    accelerator.init_trackers("agent_grpo")
    # Per iteration: G episodes per task -> GRPO / GiGPO advantages -> clipped-ratio updates on the stored
    # tokens with a KL to the base -> the new adapter hot-loaded into the engine.
    history = train(config, accelerator, model, run_dir)
    accelerator.end_training()
    if not accelerator.is_main_process:
        return
    evaluations = {} if config.skip_eval else evaluate(config, model, run_dir)
    report(config, run_dir, history, evaluations)
    print_report(run_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("agent_grpo", main, sys.argv[1:]))
