"""URPO: one policy is both player and referee, and one GRPO loop trains both roles on mixed batches.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/urpo.py \
        --config recipes/configs/urpo_arithmetic.yaml [key=value ...]

Every batch mixes three kinds of prompts in fixed shares (`mix`), all in one chat format:
(a) verifiable: arithmetic word problems, rewarded by the math verifier;
(b) ranking: a prompt with candidates A, B, ... whose gold order is known (`agentkit.methods.urpo.preferences`), the
    policy as referee replies `Ranking: B > A` and is rewarded by agreement with the gold order;
(c) open-ended: requests without a verifier; the policy answers a group as player, then scores each answer
    as referee under a fixed rubric (`Score: 7/10`), and those scores are the group's rewards.
GRPO's group-relative advantages are computed per prompt, so the three reward scales never mix. With
`referee.mode=frozen` the (c) scores come from a separate copy of the start model (the classic frozen
reward model) instead of the live policy: the baseline URPO is compared with.

Steps: (1) a warm start that has learnt the formats (arithmetic solutions, ranking and scoring replies),
(2) GRPO with LoRA through TRL, resumable from the last checkpoint, (3) held-out arithmetic pass@1 and
referee ranking accuracy of the start model and of the trained policy, (4) a run folder: adapter,
config.yaml, metrics.json, report.md and rewards.png.

The algorithm lives in `agentkit.methods.urpo`; this script is its command line.
"""

from __future__ import annotations

import sys

from agentkit.config import parse_recipe_args, print_report, run_recipe
from agentkit.methods.urpo.config import URPOConfig


def main(argv: list[str]) -> None:
    config = parse_recipe_args(URPOConfig, argv)  # a bad config fails before the slow imports
    import torch
    from accelerate import PartialState

    from agentkit.methods.urpo.data import build_warm_start
    from agentkit.methods.urpo.evaluation import evaluate_start_and_end
    from agentkit.methods.urpo.report import report
    from agentkit.methods.urpo.training import train
    from agentkit.training.ranks import finish_training
    from agentkit.training.run import open_run, start_model

    cpu = not torch.accelerator.is_available()
    state = PartialState(cpu=cpu)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    with open_run(config, state) as run_dir:  # rank 0 builds the warm start; the others then read it
        pi_0 = start_model(config, lambda: build_warm_start(config))
    # GRPO on mixed batches: verifiable (verifier), ranking (gold order), open-ended (the policy as referee).
    trainer, referee, training = train(config, pi_0, run_dir, cpu)
    if not finish_training(state):
        return
    start, end = {}, {}
    if not config.skip_eval:
        start, end = evaluate_start_and_end(config, pi_0, trainer, referee)
    training["model_path"] = pi_0
    report(config, run_dir, training, start, end)
    print_report(run_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("urpo", main, sys.argv[1:]))
