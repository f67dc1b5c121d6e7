"""Behavior-conditioned SFT (Metacognitive Reuse, 2025): a student learns from traces a teacher wrote with
behaviors in its prompt, and is trained WITHOUT them, so it internalises the shorter reasoning.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/behavior_sft.py \
        --config recipes/configs/behavior_sft_arithmetic.yaml [key=value ...]

Steps: (1) the student's base: a warm start of a tiny preset on the benchmark's reference solutions (or
any local model), (2) the handbook: loaded, or extracted by the teacher (solve -> reflect -> extract) from
its own traces on training problems, (3) teacher traces on the training problems, each prompt carrying
the behaviors retrieved for it (`conditioning=behaviors`) or none (`conditioning=none`: vanilla SFT on full
traces, the baseline), wrong answers dropped, (4) SFT (LoRA, or full fine-tune) on question -> trace with
the plain question as prompt, resumable, (5) held-out accuracy and completion tokens of the student and the
teacher, each with plain and behavior-conditioned prompts, (6) a run folder: handbook.json, traces.jsonl,
adapter/ or model/, config.yaml, metrics.json, report.md, plots.

The teacher is a backend: `scripted` (the rule-based arithmetic teacher of
`agentkit.methods.behavior_handbook.scripted_teacher`, for tiny-scale runs), `hf` or `vllm` (a local model
folder) or `openai` (a served model; `teacher.kwargs` carries e.g. `base_url`).

The method lives in `agentkit.methods.behavior_handbook`; this script is its command line.
"""

from __future__ import annotations

import sys

from agentkit.config import parse_recipe_args, print_report, run_recipe
from agentkit.methods.behavior_handbook.config import BehaviorSFTConfig


def main(argv: list[str]) -> None:
    config = parse_recipe_args(BehaviorSFTConfig, argv)  # a bad config fails before the slow imports
    import torch
    from accelerate import PartialState

    from agentkit.methods.behavior_handbook.report import report
    from agentkit.methods.behavior_handbook.student import build_warm_start, evaluate, train
    from agentkit.methods.behavior_handbook.teacher import Conditioner, build_handbook, make_teacher, make_traces
    from agentkit.training.ranks import finish_training
    from agentkit.training.run import open_run, start_model

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    cpu = not torch.accelerator.is_available()
    state = PartialState(cpu=cpu)
    teacher = handbook = conditioner = None
    with open_run(config, state) as run_dir:  # rank 0 builds the handbook, the traces and the base first
        if state.is_main_process:
            teacher = make_teacher(config)
            handbook = build_handbook(config, teacher, run_dir)  # solve -> reflect -> extract behaviors
            conditioner = Conditioner(config, handbook)  # retrieves behaviors for a question's prompt
            make_traces(config, teacher, conditioner, run_dir)  # teacher traces with behaviors in context
        student = start_model(config, lambda: build_warm_start(config))
    # SFT on plain question -> trace: the behaviors the teacher saw are not in the student's prompt.
    training = train(config, student, run_dir / "traces.jsonl", run_dir, cpu)
    if not finish_training(state):
        return
    results = {} if config.skip_eval else evaluate(config, student, teacher, conditioner, run_dir)
    handbook.save(run_dir / "handbook.json")  # with the use counts of this run's retrievals
    report(config, run_dir, handbook, training, results)
    teacher.close()
    print_report(run_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("behavior_sft", main, sys.argv[1:]))
