"""Agent-R's run report: held-out success per round and what each round's search found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.methods.agent_r.config import AgentRConfig
from agentkit.training.run import Plot, success_panel, write_report


def report(config: AgentRConfig, run_dir: Path, rounds: list[dict[str, Any]]) -> None:
    labels = ["BC start" if r["round"] == 0 else f"round {r['round']}" for r in rounds]
    rows = [(label, r["eval"]["success_rate"], r["eval"]["success_low"], r["eval"]["success_high"])
            for label, r in zip(labels, rounds, strict=True)]  # fmt: skip
    success = success_panel(f"Agent-R on {config.env.name}", rows, ["#999999"] + ["#4c72b0"] * (len(rounds) - 1))
    success.ylabel = "held-out success"
    lines = [
        f"# Agent-R on {config.env.name}",
        "",
        f"Model `{config.model}`, {config.rounds} rounds of MCTS ({config.search.iterations} iterations, "
        f"k={config.search.candidates}, c={config.search.exploration}) -> revision + good trajectories -> SFT.",
        "",
        "| round | revisions | good paths | critique by model / repeat / value drop | train loss | success (95% CI) "
        "| repeated actions | actions in loops | expert agreement | episodes with a revision (succeeded) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in zip(labels, rounds, strict=True):
        search, e = r.get("search", {}), r["eval"]
        rules = search.get("critique_rules", {})
        loss = r["train"].get("train_loss")
        agreement = e.get("expert_agreement")  # absent from rounds evaluated without it
        loops = e.get("loop_action_rate")  # absent from rounds evaluated before it was measured
        lines.append(
            f"| {label} | {search.get('revisions', '-')} | {search.get('good', '-')} | "
            f"{rules.get('model', '-')} / {rules.get('repeat', '-')} / {rules.get('value_drop', '-')} | "
            f"{'-' if loss is None else f'{loss:.3f}'} | {e['success_rate']:.1%} "
            f"({e['success_low']:.1%}-{e['success_high']:.1%}) | {e['repeated_action_rate']:.1%} | "
            f"{'-' if loops is None else f'{loops:.1%}'} | {'-' if agreement is None else f'{agreement:.1%}'} | "
            f"{e['episodes_with_revision']} ({e['revised_then_succeeded']}) |"
        )
    write_report(run_dir, {"rounds": rounds}, lines, [Plot("success.png", [success], (max(4, 1.3 * len(rounds)), 3.2))])
