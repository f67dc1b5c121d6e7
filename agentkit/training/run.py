"""The run folder every recipe writes, and the one rule for re-running into it.

A run folder holds `config.yaml` (the config the run started with), `metrics.json`, `report.md`, plots and
the recipe's own outputs (adapter, checkpoints, data). Re-running a recipe into an existing run folder
resumes it, but only under the config it started with: resuming a 40-step run as a 100-step one, or on
other data, would silently mix two experiments. A changed config therefore refuses in one line naming the
changed keys, before any model is built; `resume=false` removes the old run and starts over.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentkit.config import ConfigError, config_to_dict, save_config
from agentkit.training.checkpoints import complete_checkpoints, last_checkpoint, mark_complete

CONFIG_FILE = "config.yaml"
WARM_START = "warm_start"  # `model: warm_start` starts from the recipe's own warm start
OLD_WARM_START_NAMES = frozenset({"demo", "warmup"})  # what configs written before called it
# Leaf keys that never change what a run computes: the resume switch itself, thread counts, skipping eval.
RUNTIME_KEYS = frozenset({"resume", "threads", "skip_eval"})


@dataclass
class RecipeConfig:
    """The fields every recipe's config starts with; each recipe sets its own `model` and `output_dir`."""

    model: str = WARM_START  # `warm_start`, `preset:NAME` or a model folder (see `start_model`)
    output_dir: str = "runs/run"
    resume: bool = True  # false: remove an existing run in output_dir and start over
    cache_dir: str = ".cache/agentkit"
    seed: int = 0


def config_changes(saved: Any, current: Any, may_change: Iterable[str] = (), prefix: str = "") -> list[str]:
    """`key: old -> new` for every leaf that differs, dotted keys, except `RUNTIME_KEYS` and `may_change`."""
    if isinstance(saved, dict) and isinstance(current, dict):
        allowed = set(may_change)
        changes = []
        for key in sorted(set(saved) | set(current), key=str):
            dotted = f"{prefix}{key}"
            if key in RUNTIME_KEYS or dotted in allowed:
                continue
            changes += config_changes(saved.get(key), current.get(key), allowed, f"{dotted}.")
        return changes
    if saved == current:
        return []
    return [f"{prefix.rstrip('.')}: {_shown(saved)} -> {_shown(current)}"]


def _shown(value: Any) -> str:
    return "unset" if value is None else json.dumps(value) if isinstance(value, str) else str(value)


def check_resume(config: RecipeConfig, may_change: Iterable[str] = ()) -> None:
    """Refuse to resume a run folder under another config than the one it started with.

    `may_change` names the dotted keys a resumed run may raise (e.g. a step count that only extends the
    run). Reads only, so every process of a launch can check before any of them writes."""
    saved_path = Path(config.output_dir) / CONFIG_FILE
    if not config.resume or not saved_path.is_file():
        return
    try:
        saved = yaml.safe_load(saved_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{saved_path}: not valid YAML ({exc}); pass resume=false or a new output_dir") from exc
    # A key the saved config lacks came after the run started; the run had what is now its default.
    changes = config_changes(_with_defaults(saved, type(config)()), config_to_dict(config), may_change)
    if changes:
        raise ConfigError(
            f"{config.output_dir}: config changed since this run started ({', '.join(changes)}); "
            "pass resume=false or a new output_dir"
        )


def _with_defaults(saved: Any, defaults: Any) -> Any:
    """`saved` with the config fields it lacks taken from the dataclass `defaults`, section by section
    (free-form mappings such as env kwargs are taken as saved)."""
    if not isinstance(saved, dict) or not dataclasses.is_dataclass(defaults):
        return saved
    filled = dict(saved)
    for spec in dataclasses.fields(defaults):
        value = getattr(defaults, spec.name)
        if spec.name not in saved:
            filled[spec.name] = config_to_dict(value) if dataclasses.is_dataclass(value) else value
        else:
            filled[spec.name] = _with_defaults(saved[spec.name], value)
    return filled


@contextmanager
def open_run(config: RecipeConfig, state: Any = None, may_change: Iterable[str] = ()) -> Iterator[Path]:
    """The run folder, checked, created and holding this config; the body runs on the main process first.

    `state` is an accelerate `PartialState` or `Accelerator` (None: one process). With `resume=false` an
    existing run folder (one holding a config.yaml) is removed first, so no old output mixes with the new.
    Work inside the block (building the start model, demos) is done by the main process before the others
    enter it, so they read what it built."""
    check_resume(config, may_change)
    run_dir = Path(config.output_dir)
    main = state is None or state.is_main_process
    with state.main_process_first() if state is not None else nullcontext():
        if main:
            if not config.resume and (run_dir / CONFIG_FILE).is_file():
                shutil.rmtree(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir / CONFIG_FILE)
        yield run_dir


def start_model(config: RecipeConfig, build: Callable[[], str | Path]) -> str:
    """The model a recipe starts from (`config.model`), one rule for every recipe.

    `warm_start`: the recipe's warm start, made by `build()` once and cached by content (older configs
    call it `demo` or `warmup`); a catalogue name (`smollm2-135m`, see `agentkit models`) or `preset:NAME`
    is built once in `config.cache_dir` (`agentkit.models.resolve_model`); anything else is a local folder
    or hub name, returned as is."""
    if config.model == WARM_START or config.model in OLD_WARM_START_NAMES:
        return str(build())
    from agentkit.models import resolve_model

    return resolve_model(config.model, config.cache_dir, config.seed)


# ---------------------------------------------------------------- report


@dataclass
class Panel:
    """One chart: lines (label -> (x, y)) or bars (label -> height, with optional lower/upper errors)."""

    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    lines: dict[str, tuple[Sequence[float], Sequence[float]]] = field(default_factory=dict)
    bars: dict[str, float] = field(default_factory=dict)
    bar_errors: tuple[list[float], list[float]] | None = None
    bar_colors: list[str] | str = "#4c72b0"
    ylim: tuple[float, float] | None = None
    legend: bool = False
    tick_rotation: float = 0


@dataclass
class Plot:
    """A PNG of the run folder: its panels side by side."""

    file: str
    panels: list[Panel]
    size: tuple[float, float] = (5, 3)


def draw(plot: Plot, folder: str | Path) -> None:
    """`plot` as `folder/plot.file`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(plot.panels), figsize=plot.size, squeeze=False)
    for ax, panel in zip(axes[0], plot.panels, strict=True):
        for label, (xs, ys) in panel.lines.items():
            ax.plot(xs, ys, label=label)
        if panel.bars:
            ax.bar(list(panel.bars), list(panel.bars.values()), yerr=panel.bar_errors, capsize=4,
                   color=panel.bar_colors)  # fmt: skip
        ax.set_title(panel.title)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        if panel.ylim is not None:
            ax.set_ylim(*panel.ylim)
        if panel.tick_rotation:
            ax.tick_params(axis="x", labelrotation=panel.tick_rotation)
        if panel.legend:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(Path(folder) / plot.file, dpi=120)
    plt.close(fig)


def success_panel(
    title: str, rows: Sequence[tuple[str, float, float, float]], colors: list[str] | str = "#4c72b0"
) -> Panel:
    """Success rates side by side with their confidence intervals; `rows` are (name, rate, low, high)."""
    return Panel(
        title,
        ylabel="success rate",
        bars={name: rate for name, rate, _, _ in rows},
        bar_errors=([rate - low for _, rate, low, _ in rows], [high - rate for _, rate, _, high in rows]),
        bar_colors=colors,
        ylim=(0, 1),
    )


def loss_plot(loss_history: Sequence[tuple[int, float]], title: str) -> list[Plot]:
    """`loss.png`: training loss per logged step (no plot when nothing was logged)."""
    if not loss_history:
        return []
    steps, losses = zip(*loss_history, strict=True)
    return [Plot("loss.png", [Panel(title, "step", "training loss", lines={"loss": (steps, losses)})])]


def write_report(run_dir: str | Path, metrics: dict[str, Any], lines: list[str], plots: Sequence[Plot] = ()) -> None:
    """The run folder's metrics.json, plots and report.md (the markdown `lines`), the same way for every recipe."""
    run_dir = Path(run_dir)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for plot in plots:
        draw(plot, run_dir)
    (run_dir / "report.md").write_text("\n".join(lines).rstrip("\n") + "\n")


# ---------------------------------------------------------------- checkpoints of custom training loops


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete step checkpoints, oldest first (see `agentkit.training.checkpoints`)."""
    return complete_checkpoints(run_dir / "checkpoints", "step")


def save_checkpoint(
    accelerator: Any, run_dir: Path, step: int, history: list[dict], limit: int, export: Callable[[Path], None]
) -> Path:
    """Everything a resumed loop needs after `step` steps: weights, optimizer, scheduler and RNG state
    (accelerate's state), what `export(folder)` writes (e.g. the adapter the next samples come from) and
    the metrics so far. Only the newest `limit` checkpoints are kept."""
    folder = run_dir / "checkpoints" / f"step-{step}"
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        export(folder)
        (folder / "progress.json").write_text(json.dumps({"step": step, "history": history}))
        mark_complete(folder)  # written last: a folder without the marker is never resumed from
        for old in checkpoint_dirs(run_dir)[:-limit]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return folder


def finish_step(
    accelerator: Any,
    run_dir: Path,
    step: int,
    history: list[dict],
    record: dict[str, Any],
    line: str,
    checkpoint: tuple[int, Callable[[Path], None]],
    backend: Any,
) -> Path:
    """The end of one step of an online loop: its metrics kept, logged and printed (`line`), a checkpoint
    saved (`checkpoint`: how many to keep, what to export) and its adapter loaded into the engine that
    samples the next step."""
    history.append(record)
    accelerator.log({k: v for k, v in record.items() if isinstance(v, int | float)}, step=step)
    accelerator.print(line)
    folder = save_checkpoint(accelerator, run_dir, step, history, *checkpoint)
    backend.load_adapter(str(folder / "adapter"))
    return folder


def resume_checkpoint(accelerator: Any, run_dir: Path) -> tuple[Path | None, list[dict]]:
    """Load the newest complete checkpoint into `accelerator`'s registered objects; returns it and the
    metrics history so far (None and [] for a fresh run)."""
    resume = last_checkpoint(run_dir / "checkpoints", "step")
    if resume is None:
        return None, []
    accelerator.load_state(str(resume))
    progress = json.loads((resume / "progress.json").read_text())
    accelerator.print(f"resumed from {resume} (step {progress['step']})")
    return resume, progress["history"]
