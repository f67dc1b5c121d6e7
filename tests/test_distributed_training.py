"""Real multi-process training on the CPU through `accelerate launch` and the repository's configs.

The BC recipe trains a few steps of a tiny model with a LoRA adapter under `cpu.yaml` (one process),
`multi_cpu.yaml` (two DDP ranks over gloo) and `deepspeed_zero3.yaml` (two ZeRO-3 ranks), and DDP and
ZeRO-3 must take the same steps.

A rank that silently trains alone still exits 0, so the world size is read from what the trainer did:
after one step the epoch has advanced by world_size * batch / samples. Every launch has a timeout past
which its whole process group is killed, so a stuck rank fails the test instead of hanging CI. DeepSpeed
compiles its shared-memory comm op on first use; the build is kept in `.cache/torch_extensions`.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentkit.trajectory import write_episodes

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "accelerate_configs"
EXTENSIONS_DIR = REPO / ".cache" / "torch_extensions"
RECIPE = REPO / "recipes" / "bc.py"
RECIPE_CONFIG = REPO / "recipes" / "configs" / "bc_textworld.yaml"
STEPS = 3
BATCH = 2  # per process
SAMPLES = 16  # trained decisions: the 8 demos x 2 agent turns
LAUNCH_TIMEOUT_S = 600
DEEPSPEED_TIMEOUT_S = 1200  # the first DeepSpeed run on a machine also compiles its comm op

pytestmark = pytest.mark.slow


@dataclass
class Launch:
    """What one `accelerate launch` left behind: its exit code, console log and output folder."""

    returncode: int
    log: str
    out_dir: Path

    def rank_lines(self, rank: int) -> str:
        """What one worker printed; torchrun prefixes its lines with `[default<rank>]:`."""
        prefix = f"[default{rank}]:"
        return "\n".join(line.split(prefix, 1)[1] for line in self.log.splitlines() if prefix in line)

    def step_logs(self) -> list[dict]:
        """The trainer's per-step metrics (rank 0 logs them), e.g. loss and epoch."""
        logs = [ast.literal_eval(match) for match in re.findall(r"\{'loss': [^}]*\}", self.log)]
        return [{key: float(value) for key, value in entry.items()} for entry in logs]


def launch(script_args: list[str], config: str, out_dir: Path, *, num_processes: int | None = None,
           timeout: int = LAUNCH_TIMEOUT_S) -> Launch:  # fmt: skip
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG_DIR / config)]
    if num_processes is not None:
        command += ["--num_processes", str(num_processes)]
    # Port 0: a free port, so runs on a shared machine do not collide; --tee 3: per-rank line prefixes.
    command += ["--main_process_port", "0", "--tee", "3", *script_args]
    EXTENSIONS_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(EXTENSIONS_DIR), "PYTHONUNBUFFERED": "1"}
    log_path = out_dir.parent / f"{out_dir.name}.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and every rank it started
            process.wait()
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            pytest.fail(f"accelerate launch with {config} did not finish in {timeout} s; log tail:\n{tail}")
    text = log_path.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
    return Launch(process.returncode, text, out_dir)


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory, demo_episode) -> Path:
    path = tmp_path_factory.mktemp("demos") / "demos.jsonl"
    items = ("apple", "knife", "key", "lamp", "book", "coin", "cup", "map")
    write_episodes(path, [demo_episode(item) for item in items])
    return path


@pytest.fixture(scope="module")
def runs(tiny_model_dir: Path, demos: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Launch]:
    """`runs(config)`: each launch happens once per module, so comparisons reuse them."""
    cache: dict[str, Launch] = {}

    def get(config: str) -> Launch:
        if config not in cache:
            out_dir = tmp_path_factory.mktemp("recipe") / config
            args = [str(RECIPE), "--config", str(RECIPE_CONFIG), f"model={tiny_model_dir}",
                    f"demos={demos}", f"output_dir={out_dir}", f"cache_dir={out_dir.parent / 'cache'}",
                    "skip_eval=true", f"train.max_steps={STEPS}", f"train.batch_size={BATCH}",
                    "train.logging_steps=1", "train.save_steps=2"]  # fmt: skip
            if config == "deepspeed_zero3":
                pytest.importorskip("deepspeed", reason="DeepSpeed is the optional 'deepspeed' extra")
                run = launch(args, f"{config}.yaml", out_dir, num_processes=2, timeout=DEEPSPEED_TIMEOUT_S)
            else:
                run = launch(args, f"{config}.yaml", out_dir)
            cache[config] = run
        return cache[config]

    return get


def assert_trained(run: Launch, model_dir: Path, world_size: int) -> None:
    """Exit 0, `world_size` ranks shared the data, finite losses, a loadable adapter that moved."""
    assert run.returncode == 0, run.log[-3000:]
    steps = run.step_logs()
    assert len(steps) == STEPS, f"{len(steps)} logged steps, not {STEPS} from rank 0:\n{run.log[-3000:]}"
    assert all(math.isfinite(step["loss"]) for step in steps), steps
    assert steps[0]["epoch"] == pytest.approx(world_size * BATCH / SAMPLES), (
        f"one step covered {steps[0]['epoch']} epochs: not {world_size} ranks sharing the data"
    )
    assert_adapter_loads_and_moved(run.out_dir / "adapter", model_dir)


def assert_adapter_loads_and_moved(adapter_dir: Path, model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir)
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b, f"{adapter_dir} holds no LoRA weights"
    # LoRA B starts at zero: a trained adapter whose sharded weights were gathered on save has non-zero B.
    assert any(p.abs().sum() > 0 for p in lora_b), "the saved adapter is untrained"


def assert_recipe_finished_once(run: Launch) -> None:
    """Only the main process writes and prints the report."""
    assert run.log.count("# Behavior cloning") == 1, run.log[-3000:]
    metrics = json.loads((run.out_dir / "metrics.json").read_text(encoding="utf-8"))
    losses = [loss for _, loss in metrics["train"]["loss_history"]]
    assert len(losses) == STEPS and all(math.isfinite(loss) for loss in losses)


def test_bc_recipe_trains_under_cpu_config(runs, tiny_model_dir):
    run = runs("cpu")
    assert_trained(run, tiny_model_dir, world_size=1)
    assert_recipe_finished_once(run)


def test_bc_recipe_trains_with_two_ddp_ranks(runs, tiny_model_dir):
    run = runs("multi_cpu")
    assert_trained(run, tiny_model_dir, world_size=2)
    assert_recipe_finished_once(run)


def test_bc_recipe_trains_with_zero3_on_two_ranks(runs, tiny_model_dir):
    run = runs("deepspeed_zero3")
    assert_trained(run, tiny_model_dir, world_size=2)
    assert_recipe_finished_once(run)
    shards = run.out_dir / "checkpoints" / "checkpoint-2" / "global_step2"
    for rank in (0, 1):  # each rank saved its own ZeRO partition of the model and optimizer states
        shard = shards / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt"
        assert shard.is_file(), f"no ZeRO shard of rank {rank} in {shards}"


def test_zero3_and_ddp_take_the_same_steps(runs):
    """Same data, seed and global batch: sharding must not change the maths."""
    ddp = [step["loss"] for step in runs("multi_cpu").step_logs()]
    zero3 = [step["loss"] for step in runs("deepspeed_zero3").step_logs()]
    assert len(ddp) == STEPS and zero3 == pytest.approx(ddp, abs=2e-3)
