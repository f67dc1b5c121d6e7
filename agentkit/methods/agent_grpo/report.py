"""The run report of agent GRPO: training curves per iteration and the held-out comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.methods.agent_grpo.config import AgentGRPOConfig
from agentkit.training.run import Panel, Plot, success_panel, write_report

CURVES = (  # (metric, title, y label)
    ("success_rate", "training episodes", "success rate"),
    ("mean_reward", "training episodes", "mean outcome reward"),
    ("kl", "KL to the base model (k3)", "KL per token"),
    ("entropy", "policy entropy", "nats per token"),
)


def training_plot(history: list[dict[str, Any]]) -> Plot:
    """`training.png`: success, reward, KL and entropy per iteration."""
    x = [row["iteration"] for row in history]
    panels = [
        Panel(title, "iteration", label, lines={metric: (x, [row[metric] for row in history])})
        for metric, title, label in CURVES
    ]
    return Plot("training.png", panels, (4 * len(panels), 3))


def report(config: AgentGRPOConfig, run_dir: Path, history: list[dict[str, Any]], evaluations: dict[str, list]) -> None:
    from agentkit.eval.agent import markdown_table

    a, s = config.advantage, config.sampling
    method = "GiGPO" if a.estimator == "gigpo" else "GRPO"
    held_out = evaluations.get("test", [])
    metrics = {
        "method": method,
        "train": history,
        "eval": {e.name: e.as_dict() for e in held_out},
        "eval_extra": {n: {e.name: e.as_dict() for e in rows} for n, rows in evaluations.items() if n != "test"},
    }
    plots = [training_plot(history)] if history else []
    if held_out:
        rows = [(e.name, e.success_rate, e.success_low, e.success_high) for e in held_out]
        plots.append(Plot("success.png", [success_panel(f"held-out {config.env.name} tasks", rows)], (4, 3.2)))
    episodes = sum(row["episodes"] for row in history)
    seconds = sum(row["seconds"] for row in history)
    step = f", omega {a.omega}, gamma {a.gamma}" if a.estimator == "gigpo" else ""
    lines = [
        f"# Agent {method} on {config.env.name}",
        "",
        f"Model `{config.model}`, start adapter `{config.start_adapter}`, {len(history)} iterations of "
        f"{s.tasks_per_iteration} tasks x {s.episodes_per_task} episodes ({episodes} episodes, "
        f"{seconds:.0f} s, {episodes / max(seconds, 1e-9):.2f} episodes/s with training){step}; "
        f"reward `{config.reward.outcome}`, clip {config.optim.clip_epsilon}, KL coefficient {config.optim.kl_coef}.",
        "",
        "| iteration | success | reward | loss | KL | entropy | clipped | max abs(ratio - 1) at first update | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['iteration']} | {r['success_rate']:.1%} | {r['mean_reward']:.3f} | {r['loss']:.4f} | {r['kl']:.5f} "
        f"| {r['entropy']:.3f} | {r['clipped']:.1%} | {r['ratio_deviation']:.1e} | {r['seconds']:.0f} |"
        for r in history
    ]
    lines.append("")
    if not evaluations:
        lines.append("(evaluation skipped)")
    for name, rows in evaluations.items():
        lines += [f"## Held-out: {name}", "", markdown_table(rows), ""]
    lines.append("Every training episode is in `episodes/iteration-N.jsonl` (`agentkit view`).")
    write_report(run_dir, metrics, lines, plots)
