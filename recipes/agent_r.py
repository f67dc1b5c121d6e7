"""Agent-R: an agent learns to notice its own errors mid-episode and revise (Yuan et al., 2025,
"Agent-R: Training Language Model Agents to Reflect via Iterative Self-Training").

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/agent_r.py \
        --config recipes/configs/agent_r_textworld.yaml [key=value ...]

Round 0 is the start: a behaviour-cloning policy on expert demos (or `start_adapter`). Each round k then
(1) searches every training task with MCTS under the current policy (`search.py`), (2) pairs good and
bad paths of each tree, places the error step by the policy's own critique (or the value drop) and splices
revision trajectories (`revision.py`), (3) continues training the policy on the revision and good
trajectories, (4) evaluates it on held-out tasks. The policy is a LoRA adapter (`adapter/`), or with
`lora.full_finetune=true` a whole model (`model/`: what learns on a 1M-parameter demo base). A run folder
holds `round_{k}/` (trees.jsonl, revisions.jsonl, good.jsonl, the policy, eval_*.jsonl, round.json),
metrics.json, report.md and success.png.
A finished round is skipped on a re-run; an interrupted one restarts without touching earlier rounds.

The algorithm lives in `agentkit.methods.agent_r`; this script is its command line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from agentkit.config import parse_recipe_args, print_report, run_recipe
from agentkit.methods.agent_r.config import AgentRConfig

# A finished run may be given more rounds: the rounds already done are the same either way.
EXTENDABLE = ("rounds",)


def main(argv: list[str]) -> None:
    config = parse_recipe_args(AgentRConfig, argv)  # a bad config fails before the slow imports
    import torch

    from agentkit.agent_settings import start_model
    from agentkit.methods.agent_r.report import report
    from agentkit.methods.agent_r.rounds import SearchPolicy, agent_r_round, evaluate, start_round
    from agentkit.training.run import open_run

    cpu = not torch.accelerator.is_available()  # without an accelerator, the process must be told
    with open_run(config, may_change=EXTENDABLE) as run_dir:
        model = start_model(config)
    rounds: list[dict[str, Any]] = []
    search_policy = SearchPolicy(config, model)  # the newest policy, sampled by MCTS
    try:
        for k in range(config.rounds + 1):
            round_dir = run_dir / f"round_{k}"
            record_path = round_dir / "round.json"
            if record_path.is_file():  # a finished round is read back, not redone
                rounds.append(json.loads(record_path.read_text()))
                continue
            if k == 0:  # the start policy: behaviour cloning on expert demos
                record = start_round(config, model, run_dir, cpu)
            else:  # MCTS -> good/bad pairs -> error step -> revision trajectories -> SFT
                record = agent_r_round(config, model, search_policy, k, run_dir, cpu)
            record["eval"] = evaluate(config, model, round_dir, "bc" if k == 0 else f"round_{k}")
            record_path.write_text(json.dumps(record, indent=2))
            rounds.append(record)
    finally:
        search_policy.close()
    report(config, run_dir, rounds)
    print_report(run_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("agent_r", main, sys.argv[1:]))
