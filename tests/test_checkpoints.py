"""Checkpoints a killed run resumes from: a checkpoint counts once it is marked complete, a run killed
while writing one resumes from the one before, and a real training run killed anywhere ends as if never
killed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from agentkit.training.checkpoints import COMPLETE_MARKER, complete_checkpoints, last_checkpoint, mark_complete
from agentkit.trajectory import write_episodes
from tests.processes import communicate_or_kill

ROOT = Path(__file__).resolve().parents[1]
SFT_RUN = ROOT / "tests" / "sft_run.py"
ITEMS = ("apple", "knife", "key", "lamp", "book", "coin")


def _folders(parent: Path, prefix: str, complete: list[int], incomplete: list[int]) -> None:
    for step in complete + incomplete:
        (parent / f"{prefix}-{step}").mkdir(parents=True)
        (parent / f"{prefix}-{step}" / "weights.bin").write_bytes(b"w")
    for step in complete:
        mark_complete(parent / f"{prefix}-{step}")


def test_an_incomplete_checkpoint_is_named_and_skipped(tmp_path):
    _folders(tmp_path, "checkpoint", complete=[2, 10], incomplete=[4, 12])
    with pytest.warns(UserWarning, match=r"skipping incomplete checkpoint checkpoint-12 .*resuming from checkpoint-10"):
        assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-10"  # 10 after 4: by number, not by name
    assert complete_checkpoints(tmp_path) == [tmp_path / "checkpoint-2", tmp_path / "checkpoint-10"]


def test_a_run_with_no_complete_checkpoint_starts_afresh(tmp_path):
    assert last_checkpoint(tmp_path / "none-yet") is None
    _folders(tmp_path, "step", complete=[], incomplete=[0])
    with pytest.warns(UserWarning, match=r"skipping incomplete checkpoint step-0 .*resuming from the start"):
        assert last_checkpoint(tmp_path, "step") is None


def _demos(tmp_path: Path, demo_episode) -> Path:
    path = tmp_path / "demos.jsonl"
    write_episodes(path, [demo_episode(item) for item in ITEMS])
    return path


def _losses(result: dict) -> list[float]:
    return [loss for _, loss in result["loss_history"]]


def test_a_checkpoint_cut_off_mid_write_is_skipped_on_resume(tiny_model_dir, tmp_path, demo_episode):
    """A trainer's checkpoint left without its trainer state (as a kill while writing it leaves it):
    the re-run resumes from the one before and trains the same steps."""
    from agentkit.prompts import PromptFormat
    from agentkit.training.sft import AdapterConfig, TrainConfig, train_on_episodes
    from agentkit.trajectory import read_episodes

    episodes, _ = read_episodes(_demos(tmp_path, demo_episode))
    settings = TrainConfig(learning_rate=0.01, max_steps=4, batch_size=2, logging_steps=1, save_steps=2)

    def train() -> dict:
        return train_on_episodes(str(tiny_model_dir), episodes, PromptFormat(), AdapterConfig(r=4, alpha=8),
                                 settings, tmp_path, tmp_path / "adapter", cpu=True)  # fmt: skip

    first = train()
    checkpoints = tmp_path / "checkpoints"
    assert [p.name for p in complete_checkpoints(checkpoints)] == ["checkpoint-2", "checkpoint-4"]
    # Killed after its last checkpoint: the re-run trains no step past it (step 4 ends mid-epoch).
    done = train()
    assert done["resumed_from_step"] == 4 and done["global_steps"] == 4
    assert done["loss_history"] == first["loss_history"] and done["train_loss"] == pytest.approx(first["train_loss"])
    assert [p.name for p in complete_checkpoints(checkpoints)] == ["checkpoint-2", "checkpoint-4"]
    cut = checkpoints / "checkpoint-4"
    (cut / "trainer_state.json").unlink()
    (cut / COMPLETE_MARKER).unlink()
    with pytest.warns(UserWarning, match=r"skipping incomplete checkpoint checkpoint-4 .*from checkpoint-2"):
        again = train()
    assert again["resumed_from_step"] == 2 and again["global_steps"] == 4
    assert [step for step, _ in again["loss_history"]] == [1, 2, 3, 4]
    assert _losses(again) == pytest.approx(_losses(first), rel=1e-4)
    assert (cut / COMPLETE_MARKER).is_file() and (cut / "trainer_state.json").is_file()


def _start(tiny_model_dir: Path, demos: Path, run_dir: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, str(SFT_RUN), str(tiny_model_dir), str(demos), str(run_dir), *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip


def _finish(process: subprocess.Popen) -> None:
    _, stderr = communicate_or_kill(process, 300, "the training run")
    assert process.returncode == 0, stderr[-3000:]


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # it had already finished
        pass
    process.communicate()


@pytest.mark.slow
def test_a_training_run_killed_anywhere_finishes_with_the_unbroken_loss(tiny_model_dir, tmp_path, demo_episode):
    demos = _demos(tmp_path, demo_episode)
    reference = tmp_path / "unbroken"
    started = time.monotonic()
    _finish(_start(tiny_model_dir, demos, reference))
    duration = time.monotonic() - started
    expected = json.loads((reference / "result.json").read_text())

    broken = tmp_path / "broken"
    # First a kill in the middle of writing checkpoint-4 (weights and optimizer written, trainer state not).
    process = _start(tiny_model_dir, demos, broken, "4")
    paused = any(line.strip() == "mid-checkpoint" for line in process.stdout)  # stops there, or at its end
    _kill(process)
    assert paused, "the run ended without reaching checkpoint-4"
    cut = broken / "checkpoints" / "checkpoint-4"
    assert (cut / "adapter_model.safetensors").is_file() and not (cut / "trainer_state.json").exists()
    # Then kills at random instants of the re-runs, each resuming from what the one before left.
    instants = [random.uniform(0, duration) for _ in range(2)]
    for instant in instants:
        process = _start(tiny_model_dir, demos, broken)
        try:
            process.wait(timeout=instant)
        except subprocess.TimeoutExpired:
            pass
        _kill(process)
    _finish(_start(tiny_model_dir, demos, broken))

    resumed = json.loads((broken / "result.json").read_text())
    note = f"killed mid-checkpoint, then at {[round(t, 1) for t in instants]} s of {duration:.1f} s runs"
    assert [s for s, _ in resumed["loss_history"]] == [s for s, _ in expected["loss_history"]], note
    assert resumed["loss_history"][-1][1] == pytest.approx(expected["loss_history"][-1][1], rel=1e-4), note
    assert _losses(resumed) == pytest.approx(_losses(expected), rel=1e-4), note
    assert resumed["train_loss"] == pytest.approx(expected["train_loss"], rel=1e-4), note
    want = load_file(reference / "adapter" / "adapter_model.safetensors")
    got = load_file(broken / "adapter" / "adapter_model.safetensors")
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=1e-4)
