"""Real multi-process training on the CPU through `accelerate launch` and the repository's configs.

Each run trains a few steps of a tiny model with a LoRA adapter: one process (`cpu.yaml`), two DDP
processes over gloo (`multi_cpu.yaml`) and two DeepSpeed ZeRO-3 processes (`deepspeed_zero3.yaml`).
Every launch has a timeout and its whole process group is killed past it, so a stuck rank fails the test
instead of hanging CI. DeepSpeed compiles its shared-memory comm op on first use; the build is kept in
`.cache/torch_extensions` so later runs reuse it.
"""

from __future__ import annotations

import ast
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

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "accelerate_configs"
EXTENSIONS_DIR = REPO / ".cache" / "torch_extensions"
TRAIN_SCRIPT = Path(__file__).with_name("distributed_sft_probe.py")
MAX_STEPS = 3
LAUNCH_TIMEOUT_S = 600
DEEPSPEED_TIMEOUT_S = 1200  # the first DeepSpeed run on a machine also compiles its comm op

pytestmark = pytest.mark.slow


@dataclass
class Launch:
    """What one `accelerate launch` left behind: its exit code, console log and output folder."""

    returncode: int
    log: str
    out_dir: Path

    def rank_lines(self, rank: int) -> list[str]:
        """Lines a worker printed; torchrun prefixes them with `[default<rank>]:` (single process: none)."""
        prefix = f"[default{rank}]:"
        lines = self.log.replace("\r", "\n").splitlines()
        return [line.split(prefix, 1)[1] for line in lines if prefix in line]

    def losses(self) -> list[float]:
        """Per-step training losses from the trainer's logged metrics (rank 0 logs them)."""
        found = []
        for match in re.finditer(r"\{'loss': [^}]*\}", self.log):
            found.append(float(ast.literal_eval(match.group(0))["loss"]))
        return found


def launch(config: str, out_dir: Path, model_dir: Path, *, num_processes: int | None = None,
           timeout: int = LAUNCH_TIMEOUT_S) -> Launch:  # fmt: skip
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG_DIR / config)]
    if num_processes is not None:
        command += ["--num_processes", str(num_processes)]
    # Port 0: a free port, so runs on a shared machine do not collide; --tee 3: per-rank line prefixes.
    command += ["--main_process_port", "0", "--tee", "3", str(TRAIN_SCRIPT)]
    command += ["--model", str(model_dir), "--output_dir", str(out_dir), "--max_steps", str(MAX_STEPS)]
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
    return Launch(process.returncode, log_path.read_text(encoding="utf-8", errors="replace"), out_dir)


def assert_trained(run: Launch, model_dir: Path, world_size: int) -> None:
    """Exit 0, every rank trained in a world of `world_size`, finite losses, a loadable trained adapter."""
    assert run.returncode == 0, run.log[-3000:]
    for rank in range(world_size):
        lines = run.rank_lines(rank) if world_size > 1 else run.log.splitlines()
        assert f"agentkit-probe rank={rank} world_size={world_size}" in "\n".join(lines), (
            f"rank {rank} of {world_size} did not report training:\n{run.log[-3000:]}"
        )
    losses = run.losses()
    assert len(losses) == MAX_STEPS and all(math.isfinite(loss) for loss in losses), losses
    assert_adapter_loads_and_moved(run.out_dir / "adapter", model_dir)


def assert_adapter_loads_and_moved(adapter_dir: Path, model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir)
    lora_b = {name: p for name, p in model.named_parameters() if "lora_B" in name}
    assert lora_b, f"{adapter_dir} holds no LoRA weights"
    # LoRA B starts at zero: a trained, fully gathered adapter has non-zero B matrices of full shape.
    assert any(p.abs().sum() > 0 for p in lora_b.values()), "the saved adapter is untrained"


@pytest.fixture(scope="module")
def runs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Launch]:
    """Each launch once per module, so the loss comparison reuses the runs the other tests check."""
    cache: dict[str, Launch] = {}

    def get(name: str) -> Launch:
        if name not in cache:
            out_dir = tmp_path_factory.mktemp("launch") / name
            if name == "deepspeed_zero3":
                pytest.importorskip("deepspeed", reason="DeepSpeed is the optional 'deepspeed' extra")
                cache[name] = launch(
                    f"{name}.yaml", out_dir, tiny_model_dir, num_processes=2, timeout=DEEPSPEED_TIMEOUT_S
                )
            else:
                cache[name] = launch(f"{name}.yaml", out_dir, tiny_model_dir)
        return cache[name]

    return get


def test_cpu_config_trains_in_one_process(runs, tiny_model_dir):
    assert_trained(runs("cpu"), tiny_model_dir, world_size=1)


def test_multi_cpu_config_trains_with_two_ddp_ranks(runs, tiny_model_dir):
    run = runs("multi_cpu")
    assert_trained(run, tiny_model_dir, world_size=2)
    assert "backend=gloo" in "\n".join(run.rank_lines(1))


def test_deepspeed_zero3_trains_with_two_ranks_on_cpu(runs, tiny_model_dir):
    run = runs("deepspeed_zero3")
    assert_trained(run, tiny_model_dir, world_size=2)
    assert "zero_stage=3" in "\n".join(run.rank_lines(0))


def test_zero3_and_ddp_take_the_same_steps(runs):
    """Same data, seed and global batch: sharding must not change the maths."""
    ddp, zero3 = runs("multi_cpu").losses(), runs("deepspeed_zero3").losses()
    assert ddp and zero3 == pytest.approx(ddp, abs=2e-3)
