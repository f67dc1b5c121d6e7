"""The run scaffold: one resume rule for every recipe's run folder, and the start model."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentkit.config import ConfigError, load_config, save_config
from agentkit.methods.agent_r.config import AgentRConfig
from agentkit.methods.bc.config import BCConfig
from agentkit.methods.behavior_handbook.config import BehaviorSFTConfig
from agentkit.methods.oreal.config import OrealConfig
from agentkit.methods.thought_cloning.config import ThoughtCloningConfig
from agentkit.methods.urpo.config import URPOConfig
from agentkit.training.run import RecipeConfig, check_resume, config_changes, open_run, start_model

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "bc": (BCConfig, "bc_textworld.yaml"),
    "thought_cloning": (ThoughtCloningConfig, "thought_cloning_textworld.yaml"),
    "agent_r": (AgentRConfig, "agent_r_textcraft.yaml"),
    "oreal": (OrealConfig, "oreal_arithmetic.yaml"),
    "urpo": (URPOConfig, "urpo_arithmetic.yaml"),
    "behavior_sft": (BehaviorSFTConfig, "behavior_sft_arithmetic.yaml"),
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_a_rerun_with_a_changed_config_refuses_in_one_line_before_any_work(recipe, tmp_path):
    cls, config_name = RECIPES[recipe]
    config_file = ROOT / "recipes" / "configs" / config_name
    out, cache = tmp_path / "run", tmp_path / "cache"
    common = [f"output_dir={out}", f"cache_dir={cache}", "model=preset:tiny"]
    out.mkdir()
    save_config(load_config(cls, config_file, common), out / "config.yaml")  # the run as it started
    before = (out / "config.yaml").read_text()

    command = [sys.executable, str(ROOT / "recipes" / f"{recipe}.py"), "--config", str(config_file), *common, "seed=1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)

    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"{recipe}: error: {out}: config changed since this run started (seed: 0 -> 1); "
        "pass resume=false or a new output_dir"
    )
    assert [p.name for p in out.iterdir()] == ["config.yaml"] and (out / "config.yaml").read_text() == before
    assert not cache.exists(), "the recipe built something before checking the run folder"


@dataclass
class Run(RecipeConfig):
    steps: int = 10
    threads: int | None = None
    skip_eval: bool = False


def test_an_unchanged_config_resumes_and_runtime_keys_may_change(tmp_path):
    with open_run(Run(output_dir=str(tmp_path))):
        (tmp_path / "checkpoint").write_text("step 5")
    check_resume(Run(output_dir=str(tmp_path)))
    check_resume(Run(output_dir=str(tmp_path), threads=1, skip_eval=True))
    check_resume(Run(output_dir=str(tmp_path), steps=20), may_change=["steps"])  # a key the recipe lets a run extend
    with pytest.raises(ConfigError, match=r"\(seed: 0 -> 3, steps: 10 -> 20\)"):
        check_resume(Run(output_dir=str(tmp_path), seed=3, steps=20))
    with open_run(Run(output_dir=str(tmp_path))):
        pass
    assert (tmp_path / "checkpoint").read_text() == "step 5"  # resumed, nothing removed


def test_a_key_added_after_the_run_started_counts_as_its_default(tmp_path):
    (tmp_path / "config.yaml").write_text(f"output_dir: {tmp_path}\nseed: 0\n")  # written before `steps` existed
    check_resume(Run(output_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"\(steps: 10 -> 11\)"):
        check_resume(Run(output_dir=str(tmp_path), steps=11))


def test_resume_false_starts_over_without_the_old_runs_outputs(tmp_path):
    out = tmp_path / "run"
    with open_run(Run(output_dir=str(out))):
        (out / "checkpoints" / "step-5").mkdir(parents=True)
    with open_run(Run(output_dir=str(out), resume=False, seed=2)) as run_dir:
        assert run_dir == out and [p.name for p in out.iterdir()] == ["config.yaml"]
    assert "seed: 2" in (out / "config.yaml").read_text()
    check_resume(Run(output_dir=str(out), seed=2))  # the new run is the one a re-run resumes


def test_resume_false_keeps_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with open_run(Run(output_dir=str(tmp_path), resume=False)):
        pass
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_config_changes_name_nested_keys_and_keys_one_side_lacks():
    saved = {"train": {"epochs": 5, "lr": 0.1}, "env": {"kwargs": {"n": 1}}, "threads": 4}
    current = {"train": {"epochs": 3, "lr": 0.1}, "env": {"kwargs": {"n": 1, "split": "test"}}, "threads": 1}
    assert config_changes(saved, current) == ["env.kwargs.split: unset -> \"test\"", "train.epochs: 5 -> 3"]


def test_every_recipe_names_its_warm_start_warm_start(tmp_path):
    built = []

    def build() -> str:
        built.append(True)
        return str(tmp_path / "warm")

    def resolve(model: str, seed: int = 0) -> str:
        return start_model(RecipeConfig(model, cache_dir=str(tmp_path), seed=seed), build)

    assert resolve("warm_start") == str(tmp_path / "warm")
    assert resolve("demo") == resolve("warmup") == str(tmp_path / "warm")  # what older configs call it
    assert resolve("some/folder") == "some/folder"
    assert built == [True, True, True]
    tiny = resolve("preset:tiny", seed=3)
    assert tiny == str(tmp_path / "models" / "tiny-seed3") and (Path(tiny) / "config.json").is_file()
