"""URPO's run report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.methods.urpo.config import KINDS, URPOConfig
from agentkit.training.run import Panel, Plot, write_report


def report(config: URPOConfig, run_dir: Path, training: dict[str, Any], start: dict, end: dict) -> None:
    series = {
        kind: [
            (e["step"], e[k])
            for e in training["history"]
            for k in e
            if k.startswith(f"rewards/{kind}_") and k.endswith("/mean")
        ]
        for kind in KINDS
    }
    lines = {kind: tuple(zip(*points, strict=True)) for kind, points in series.items() if points}
    title = f"URPO (referee: {config.referee.mode})"
    plot = Plot("rewards.png", [Panel(title, "step", "mean reward", lines=lines, legend=True)])
    rows = [
        ("arithmetic pass@1 (held-out)", "pass_at_1", "{:.1%}"),
        ("policy ranking accuracy (held-out pairs, both orders)", "ranking_accuracy", "{:.1%}"),
        ("policy ranking accuracy among parsed replies", "ranking_parsed_accuracy", "{:.1%}"),
        ("pairs whose better answer it picks in both orders", "ranking_both_orders", "{:.1%}"),
        ("unparsed rankings", "ranking_unparsed", "{}"),
        ("parsed rankings naming the most frequent letter first", "ranking_same_choice", "{:.1%}"),
        ("scoring referee ranking accuracy", "scoring_referee_accuracy", "{:.1%}"),
        ("open-ended answers on request", "open_on_request", "{:.1%}"),
    ]
    text = [
        f"# URPO on arithmetic (referee: {config.referee.mode})",
        "",
        f"Start model `{config.model}`, mix {config.mix.shares()}, {training['global_steps']} GRPO steps of "
        f"{config.grpo.prompts_per_step} prompts x {config.grpo.num_generations} completions, "
        f"{training['train_seconds']:.0f} s; referee scoring replies {training['referee_replies']}, "
        f"unparsed {training['referee_unparsed_scores']}.",
        "",
    ]
    if start:
        text += ["| measure | start | end |", "|---|---|---|"]
        text += [f"| {name} | {fmt.format(start[key])} | {fmt.format(end[key])} |" for name, key, fmt in rows]
    else:
        text.append("(evaluation skipped)")
    write_report(run_dir, {"train": training, "start": start, "end": end}, text, [plot])
