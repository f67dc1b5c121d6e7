"""Behavior-conditioned SFT's run report."""

from __future__ import annotations

from pathlib import Path

from agentkit.methods.behavior_handbook.config import TASK, BehaviorSFTConfig
from agentkit.training.run import Panel, Plot, loss_plot, write_report


def report(config: BehaviorSFTConfig, run_dir: Path, handbook, training: dict, results: dict) -> None:
    plots = loss_plot(training["loss_history"], f"SFT on {config.conditioning}-conditioned traces")
    if results:
        panels = [
            Panel(label, bars={name: r[key] for name, r in results.items()}, tick_rotation=20)
            for key, label in (("accuracy", "held-out accuracy"), ("mean_completion_tokens", "mean completion tokens"))
        ]
        plots.append(Plot("eval.png", panels, (9, 3)))
    teacher = "scripted teacher" if config.teacher.backend == "scripted" else f"teacher `{config.teacher.model}`"
    lines = [
        f"# Behavior-conditioned SFT on {TASK} (conditioning: {config.conditioning})",
        "",
        f"Student `{config.model}` ({'full fine-tune' if config.lora.full_finetune else 'LoRA'}), {teacher}, "
        f"handbook of {len(handbook)} behaviors ({config.handbook.retrieval} retrieval). "
        f"{training['traces_correct']}/{training['traces']} correct traces of {training['mean_trace_tokens']:.1f} "
        f"tokens on average, {training['global_steps']} steps, final training loss {training['train_loss']:.3f}, "
        f"{training['train_seconds']:.0f} s.",
        "",
    ]
    if results:
        lines += ["| model / prompt | n | accuracy | mean completion tokens |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {name} | {r['n']} | {r['accuracy']:.3f} | {r['mean_completion_tokens']:.1f} |"
            for name, r in results.items()
        ]
    else:
        lines.append("(evaluation skipped)")
    lines += ["", "## Handbook", "", *[f"- `{b.name}`: {b.instruction} (uses {b.uses})" for b in handbook], ""]
    write_report(run_dir, {"train": training, "eval": results}, lines, plots)
