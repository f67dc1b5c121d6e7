"""The run report of behavior cloning (and of thought cloning, which runs the same steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.methods.bc.config import BCConfig
from agentkit.training.run import Plot, loss_plot, success_panel, write_report


def report(config: BCConfig, run_dir: Path, training: dict[str, Any], evaluations: dict[str, list], title: str) -> None:
    from agentkit.eval.agent import markdown_table

    held_out = evaluations.get("test", [])
    metrics = {
        "method": title,
        "train": training,
        "eval": {e.name: e.as_dict() for e in held_out},
        "eval_extra": {
            name: {e.name: e.as_dict() for e in rows} for name, rows in evaluations.items() if name != "test"
        },
    }
    plots = loss_plot(training["loss_history"], title.lower())
    if held_out:
        rows = [(e.name, e.success_rate, e.success_low, e.success_high) for e in held_out]
        size = (max(4, 1.4 * len(rows)), 3.2)
        plots.append(Plot("success.png", [success_panel(f"held-out {config.env.name} tasks", rows)], size))
    lines = [
        f"# {title} on {config.env.name}",
        "",
        f"Model `{config.model}`, {training['demos_used']} expert demos "
        f"({training['decisions']} decisions in {training['samples']} sequences), "
        f"{training['global_steps']} steps, final training loss {training['train_loss']:.3f}, "
        f"{training['train_seconds']:.0f} s.",
        "",
    ]
    if not evaluations:
        lines.append("(evaluation skipped)")
    for name, rows in evaluations.items():
        split = {"test": config.env.eval_kwargs, **config.env.extra_evals}[name].get("split", name)
        lines += [f"## Held-out: {name} (split `{split}`)", "", markdown_table(rows), ""]
    write_report(run_dir, metrics, lines, plots)
