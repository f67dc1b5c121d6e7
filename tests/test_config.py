"""Recipe configs: every bad value is refused at load with one line naming the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.config import ConfigError, load_config, parse_recipe_args, run_recipe
from agentkit.methods.bc.cloning import clone
from agentkit.methods.bc.config import BCConfig

CONFIGS = Path(__file__).resolve().parents[1] / "recipes" / "configs"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=-1", r"^train: epochs=-1.0 must be > 0"),
        ("train.epochs=0", r"^train: epochs=0.0 must be > 0"),
        ("train.learning_rate=.nan", r"^train.learning_rate=nan must be a number$"),
        ("train.learning_rate=.inf", r"^train: learning_rate=inf must be a finite number > 0$"),
        ("train.lr_scheduler=bogus", r"^train: lr_scheduler='bogus' must be one of linear, cosine, "),
        ("train.warmup_ratio=1.5", r"^train: warmup_ratio=1.5 must be in \[0, 1\)$"),
        ("train.save_steps=0", r"^train: save_steps=0 must be >= 1$"),
        ("train.max_length=0", r"^train: max_length=0 must be >= 1$"),
        ("lora.r=0", r"^lora: r=0 must be >= 1$"),
        ("lora.dropout=1.0", r"^lora: dropout=1.0 must be in \[0, 1\)$"),
        ("lora.target_modules=[]", r"^lora: target_modules=\[\] must name at least one module$"),
        ("train.nosuch=1", r"^unknown config key 'train.nosuch'; valid keys: "),
        ("train.weight_decay=.nan", r"^train.weight_decay=nan must be a number$"),
    ],
)
def test_bad_training_values_fail_at_load(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(BCConfig, None, [override])


def test_epochs_need_not_be_positive_when_max_steps_bounds_the_run():
    config = load_config(BCConfig, None, ["train.epochs=0", "train.max_steps=5"])
    assert config.train.max_steps == 5


def test_every_scheduler_transformers_knows_is_accepted():
    from agentkit.training.sft import scheduler_names

    for name in scheduler_names():
        assert load_config(BCConfig, None, [f"train.lr_scheduler={name}"]).train.lr_scheduler == name


def test_a_recipe_given_a_missing_demos_file_says_so_in_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.jsonl"
    def main(argv: list[str]) -> None:
        clone(parse_recipe_args(BCConfig, argv))

    assert run_recipe("bc", main, [f"demos={missing}", f"output_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bc: error: BCConfig: demos='{missing}' is not a file"]
    assert not (tmp_path / "run").exists()


def test_a_float_written_with_an_exponent_but_no_dot_is_a_float():
    # YAML 1.1 reads `2e-4` as a string; users write learning rates that way.
    assert load_config(BCConfig, None, ["train.learning_rate=2e-4"]).train.learning_rate == pytest.approx(2e-4)
    with pytest.raises(ConfigError, match=r"train.learning_rate='fast' must be float"):
        load_config(BCConfig, None, ["train.learning_rate=fast"])


def test_envs_run_in_process_when_the_step_timeout_is_null():
    from agentkit.envs.subprocess_env import SubprocessEnv

    config = load_config(BCConfig, None, ["env.step_timeout=null", "env.name=entity_deduction", "env.kwargs={}"])
    env = config.env.factory({})()
    assert config.env.step_timeout is None and not isinstance(env, SubprocessEnv)
    env.close()


CPUS = [(True, False, True), (False, True, True), (False, False, False)]  # AVX512-BF16, AMX, bfloat16 is fast


@pytest.mark.parametrize(("avx512_bf16", "amx", "fast"), CPUS)
def test_auto_precision_takes_bfloat16_only_on_a_cpu_with_bfloat16_instructions(monkeypatch, avx512_bf16, amx, fast):
    import torch

    from agentkit.precision import resolve_dtype
    from agentkit.training.sft import sft_args

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    config = load_config(BCConfig, None, ["train.bf16=auto", "eval.dtype=auto"])
    assert sft_args(config.train, "unused", use_cpu=True).bf16 is fast
    assert resolve_dtype(config.eval.dtype) == ("bfloat16" if fast else "float32")
    assert resolve_dtype("float32") == "float32"  # an explicit choice is kept
    assert sft_args(load_config(BCConfig, None, ["train.bf16=false"]).train, "unused", use_cpu=True).bf16 is False


@pytest.mark.parametrize(("override", "message"), [("train.bf16=sometimes", "train.bf16='sometimes'"),
                                                   ("eval.dtype=float16", "eval.dtype='float16'")])  # fmt: skip
def test_a_precision_that_is_neither_a_choice_nor_auto_fails_at_load(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(BCConfig, None, [override])


def _recipe_config_classes() -> dict[str, type]:
    from agentkit.methods.agent_grpo.config import AgentGRPOConfig
    from agentkit.methods.agent_r.config import AgentRConfig
    from agentkit.methods.bc.config import BCConfig
    from agentkit.methods.behavior_handbook.config import BehaviorSFTConfig
    from agentkit.methods.oreal.config import OrealConfig
    from agentkit.methods.thought_cloning.config import ThoughtCloningConfig
    from agentkit.methods.urpo.config import URPOConfig

    return {"agent_grpo": AgentGRPOConfig, "agent_r": AgentRConfig, "bc": BCConfig, "behavior_sft": BehaviorSFTConfig,
            "oreal": OrealConfig, "thought_cloning": ThoughtCloningConfig, "urpo": URPOConfig}  # fmt: skip


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_config_loads_and_its_header_launches_it(path):
    recipe = next(name for name in _recipe_config_classes() if path.stem.startswith(f"{name}_"))
    load_config(_recipe_config_classes()[recipe], str(path), [])
    header = path.read_text().split("\n\n", 1)[0]
    assert f"recipes/{recipe}.py" in header and f"--config recipes/configs/{path.name}" in header
