"""OREAL's run report: the loss terms and pass rates per step, and the held-out table."""

from __future__ import annotations

from pathlib import Path

from agentkit.methods.oreal.config import OrealConfig
from agentkit.training.run import Panel, Plot, write_report


def report(config: OrealConfig, run_dir: Path, history: list[dict], evaluations: dict[str, dict]) -> None:
    steps = [h["step"] for h in history]
    terms = {term: (steps, [h[term] for h in history]) for term in ("loss", "positive", "negative", "kl", "token_rm")}
    rates = {label: (steps, [h[key] for h in history])
             for label, key in (("sample pass rate", "pass_rate"), ("prompts kept", "prompts_kept"))}  # fmt: skip
    plot = Plot("loss.png", [Panel("loss terms", "step", lines=terms, legend=True),
                             Panel(xlabel="step", lines=rates, ylim=(0, 1), legend=True)], size=(9, 3))  # fmt: skip
    ks = [f"pass@{k}" for k in config.eval.ks]
    lines = [
        "# OREAL on procedural arithmetic",
        "",
        f"Model `{config.model}`, {len(history)} steps of {config.sampling.prompts_per_step} prompts x "
        f"{config.sampling.samples_per_prompt} samples; negative weight {config.loss.negative_weight}, "
        f"KL {config.loss.kl_coef}, token RM {'on' if config.loss.token_rm else 'off'}.",
        "",
    ]
    if evaluations:
        lines += [
            f"Held-out test problems, levels {config.eval.levels}, {config.eval.samples} samples each "
            f"(temperature {config.eval.temperature}) for pass@k:",
            "",
            "| policy | problems | greedy | " + " | ".join(ks) + " |",
            "|---|---|---|" + "---|" * len(ks),
        ]
        for name, ev in evaluations.items():
            cells = " | ".join(f"{ev[k]:.3f}" for k in ks)
            lines.append(f"| {name} | {ev['problems']} | {ev['greedy']:.3f} | {cells} |")
    else:
        lines.append("(evaluation skipped)")
    write_report(run_dir, {"train": history, "eval": evaluations}, lines, [plot])
