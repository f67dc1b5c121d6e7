"""Every config in `accelerate_configs/` passes the checks `accelerate launch` itself runs, and every
DeepSpeed JSON passes DeepSpeed's own parser once transformers has filled its "auto" values.

GPU configs cannot run here, so this is where they are checked: each is put through accelerate's launch
validation and the environment its launcher would export, then the plugin a training process would build
from that environment. Fast: nothing is launched.
"""

from __future__ import annotations

import json
import os
import re
from argparse import Namespace
from pathlib import Path
from unittest import mock

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "accelerate_configs"


# config -> (launcher `accelerate launch` picks, processes it starts, mixed precision)
EXPECTED = {
    "cpu": ("single", 1, "no"),
    "multi_cpu": ("multi_gpu", 2, "no"),
    "single_gpu": ("single", 1, "bf16"),
    "multi_gpu": ("multi_gpu", 8, "bf16"),
    "deepspeed_zero2": ("deepspeed", 8, "no"),  # precision comes from the DeepSpeed JSON ("auto")
    "deepspeed_zero3": ("deepspeed", 8, "no"),
    "fsdp": ("fsdp", 8, "bf16"),
}
DEEPSPEED_STAGES = {"deepspeed_zero2": 2, "deepspeed_zero3": 3}


def launch_args(config: Path) -> tuple[Namespace, object]:
    """Parse and validate `accelerate launch --config_file <config> train.py` as accelerate does."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    command = ["--config_file", str(config), "train.py", "--config", "x.yaml"]
    args = launch_command_parser().parse_args(command)
    args, defaults, _ = _validate_launch_command(args)
    return args, defaults


def launcher_of(args: Namespace) -> str:
    if args.cpu:
        return "single"
    chosen = {"deepspeed": args.use_deepspeed, "fsdp": args.use_fsdp, "multi_gpu": args.multi_gpu}
    return next((name for name, flag in chosen.items() if flag), "single")


def launcher_env(args: Namespace, defaults) -> dict[str, str]:
    """The variables the chosen launcher exports to each training process (what the plugins read)."""
    from accelerate.utils.launch import (
        prepare_deepspeed_cmd_env,
        prepare_multi_gpu_env,
        prepare_simple_launcher_cmd_env,
    )

    launcher = launcher_of(args)
    if launcher == "deepspeed":
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    elif launcher == "single":
        _, env = prepare_simple_launcher_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return {key: value for key, value in env.items() if os.environ.get(key) != value}


def test_the_folder_holds_the_documented_configs():
    readme = (CONFIG_DIR / "README.md").read_text(encoding="utf-8")
    assert {path.stem for path in CONFIG_DIR.glob("*.yaml")} == set(EXPECTED)
    for name in EXPECTED:
        assert re.search(rf"accelerate launch [^\n]*--config_file accelerate_configs/{name}\.yaml", readme), (
            f"README.md has no launch line for {name}.yaml"
        )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_passes_accelerate_launch_validation(name, monkeypatch):
    monkeypatch.chdir(REPO)  # DeepSpeed JSON paths in the configs are relative to the repository root
    args, defaults = launch_args(CONFIG_DIR / f"{name}.yaml")
    launcher, processes, precision = EXPECTED[name]
    assert launcher_of(args) == launcher
    assert args.num_processes == processes
    assert args.mixed_precision == precision
    env = launcher_env(args, defaults)
    assert env["ACCELERATE_MIXED_PRECISION"] == precision
    if name == "cpu":
        assert env["ACCELERATE_USE_CPU"] == "True"


@pytest.mark.parametrize("name", sorted(DEEPSPEED_STAGES))
def test_deepspeed_config_builds_accelerates_plugin(name, monkeypatch):
    from accelerate.utils import DeepSpeedPlugin

    monkeypatch.chdir(REPO)
    args, defaults = launch_args(CONFIG_DIR / f"{name}.yaml")
    with mock.patch.dict(os.environ, launcher_env(args, defaults)):
        plugin = DeepSpeedPlugin()
    assert plugin.zero_stage == DEEPSPEED_STAGES[name]
    assert plugin.hf_ds_config.config["zero_optimization"]["stage"] == DEEPSPEED_STAGES[name]
    assert plugin.zero3_init_flag == (DEEPSPEED_STAGES[name] == 3)


def test_fsdp_config_builds_accelerates_plugin(monkeypatch):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp import StateDictType

    args, defaults = launch_args(CONFIG_DIR / "fsdp.yaml")
    with mock.patch.dict(os.environ, launcher_env(args, defaults)):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.state_dict_type == StateDictType.FULL_STATE_DICT
    assert plugin.auto_wrap_policy is not None


def test_an_unknown_key_is_rejected_by_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    config = yaml.safe_load((CONFIG_DIR / "multi_gpu.yaml").read_text(encoding="utf-8"))
    bad.write_text(yaml.safe_dump({**config, "num_procesess": 2}), encoding="utf-8")
    with pytest.raises(ValueError, match="num_procesess"):
        launch_args(bad)


def filled_deepspeed_config(path: Path, bf16: bool) -> dict:
    """Fill "auto" values the way the HF Trainer does for a tiny Qwen2 model, then return the dict."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM, TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    config = Qwen2Config(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    args = TrainingArguments(
        output_dir="unused",
        per_device_train_batch_size=2,
        gradient_accumulation_steps=4,
        max_grad_norm=0.5,
        bf16=bf16,
        use_cpu=True,
        report_to="none",
    )
    ds_config = HfTrainerDeepSpeedConfig(str(path))
    ds_config.trainer_config_process(args)
    ds_config.trainer_config_finalize(args, model, num_training_steps=10)
    return ds_config.config


def leftover_autos(value, where: str = "") -> list[str]:
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in leftover_autos(item, f"{where}.{key}")]
    return [where] if value == "auto" else []


@pytest.mark.parametrize("stage", [2, 3])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_deepspeed_json_passes_deepspeeds_parser_after_autos_are_filled(stage, bf16):
    from deepspeed.runtime.config import DeepSpeedConfig

    config = filled_deepspeed_config(CONFIG_DIR / "deepspeed" / f"zero{stage}.json", bf16=bf16)
    assert leftover_autos(config) == []
    parsed = DeepSpeedConfig(config)
    assert parsed.zero_optimization_stage == stage
    assert parsed.train_micro_batch_size_per_gpu == 2
    assert parsed.gradient_accumulation_steps == 4
    assert parsed.train_batch_size == 8
    assert parsed.gradient_clipping == 0.5
    assert parsed.bfloat16_config.enabled is bf16
    assert parsed.zero_config.reduce_bucket_size == 32 * 32
    if stage == 3:
        assert parsed.zero_config.gather_16bit_weights_on_model_save  # so save_model() writes full weights


def test_deepspeeds_parser_rejects_a_bad_stage(tmp_path):
    from deepspeed.runtime.config import DeepSpeedConfig

    source = json.loads((CONFIG_DIR / "deepspeed" / "zero2.json").read_text(encoding="utf-8"))
    source["zero_optimization"]["stage"] = 7
    bad = tmp_path / "zero7.json"
    bad.write_text(json.dumps(source), encoding="utf-8")
    with pytest.raises(ValueError, match="stage"):
        DeepSpeedConfig(filled_deepspeed_config(bad, bf16=False))
