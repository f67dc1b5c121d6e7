"""OREAL: reinforcement learning from binary outcome rewards (Lyu et al., 2025, arXiv:2502.06781).

With only a correct/incorrect verdict per answer, behaviour cloning on the positive samples of best-of-K
sampling already learns the KL-regularised optimal policy; negative samples add signal once their reward
is reshaped (here: the RLOO advantage, leave-one-out within the prompt's group); and a token-level reward
model trained on outcomes alone says which tokens of a sample to learn from. Per token, on a LoRA policy
whose reference is the base model with the adapter disabled:

    loss = BC(positives, weights w)  +  eta * PG(negatives, weights 1 - w)  +  beta * KL_k3(policy || ref)

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/oreal.py \
        --config recipes/configs/oreal_arithmetic.yaml [key=value ...]

Steps: (1) an SFT warm start on arithmetic solutions (cached), (2) per step: K samples per prompt from
the current policy through the rollout backend, verified by the math reward; groups that are all correct
or all wrong are dropped; a few positives and negatives per prompt are trained on; (3) held-out pass@1
and pass@k of the start and the trained policy, (4) a run folder: config.yaml, metrics.json, report.md,
loss.png, adapter/, checkpoints/step-N (resumed from the newest).

The algorithm lives in `agentkit.methods.oreal`; this script is its command line.
"""

from __future__ import annotations

import sys

from agentkit.config import parse_recipe_args, print_report, run_recipe
from agentkit.methods.oreal.config import OrealConfig

# A resumed run may be given more steps: the steps already taken are the same either way.
EXTENDABLE = ("optim.steps",)


def main(argv: list[str]) -> None:
    config = parse_recipe_args(OrealConfig, argv)  # a bad config fails before the slow imports
    import torch
    from accelerate import Accelerator

    from agentkit.methods.oreal.data import build_warm_start
    from agentkit.methods.oreal.evaluation import evaluate_policy
    from agentkit.methods.oreal.report import report
    from agentkit.methods.oreal.training import train
    from agentkit.training.run import open_run, start_model

    cpu = not torch.accelerator.is_available()
    accelerator = Accelerator(cpu=cpu, log_with=config.report_to or None, project_dir=f"{config.output_dir}/tb")
    with open_run(config, accelerator, may_change=EXTENDABLE) as run_dir:  # rank 0 builds the warm start first
        pi_0 = start_model(config, lambda: build_warm_start(config))
    accelerator.init_trackers("oreal")
    # Per step: K samples per prompt, verified; mixed groups only; BC(+) + eta PG(-) + beta KL, token RM weights.
    history = train(config, accelerator, pi_0, run_dir)
    accelerator.end_training()
    if not accelerator.is_main_process:
        return
    evaluations: dict[str, dict] = {}
    if not config.skip_eval:
        e, style = config.eval, config.data.style
        if e.include_start:
            evaluations["start"] = evaluate_policy(pi_0, None, e, style, config.seed)
        evaluations["oreal"] = evaluate_policy(pi_0, str(run_dir / "adapter"), e, style, config.seed)
    report(config, run_dir, history, evaluations)
    print_report(run_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("oreal", main, sys.argv[1:]))
