"""The whole loop at its smallest: tiny model -> trajectory file -> messages -> one TRL SFT step with LoRA."""

import pytest
import torch
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from agentkit.models import load_tokenizer
from agentkit.training.data import IGNORE_INDEX, encode_dataset
from agentkit.trajectory import read_episodes, to_dataset, write_episodes


def test_trajectory_to_lora_sft_step_changes_the_adapter(tiny_model_dir, tmp_path, demo_episode):
    path = tmp_path / "demos.jsonl"
    write_episodes(path, [demo_episode(item) for item in ("apple", "knife", "key", "lamp")])
    episodes, skipped = read_episodes(path)
    assert skipped == 0 and len(episodes) == 4

    tokenizer = load_tokenizer(tiny_model_dir)
    dataset = encode_dataset(tokenizer, to_dataset(episodes))
    first = dataset[0]
    trained = tokenizer.decode([t for t in first["labels"] if t != IGNORE_INDEX])
    assert trained == "Action: take apple<|im_end|>Action: go north<|im_end|>"

    args = SFTConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        dataloader_num_workers=0,
    )
    peft_config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for row, labels in zip((dataset[0], dataset[1]), batch["labels"].tolist(), strict=True):
        assert labels[: len(row["labels"])] == row["labels"], "the trainer does not train on our loss mask"
        assert set(labels[len(row["labels"]) :]) <= {IGNORE_INDEX}

    lora = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}
    assert lora and all(p.requires_grad for n, p in trainer.model.named_parameters() if "lora_" in n)
    base = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" not in n}
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
    after = dict(trainer.model.named_parameters())
    assert any(not torch.equal(lora[n], after[n]) for n in lora), "the LoRA weights did not move"
    assert all(torch.equal(base[n], after[n]) for n in base), "a frozen base weight moved"

    trainer.save_model(str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


def _thought_episode(item: str):
    from agentkit.trajectory import Episode, Turn

    reply = f"Thought: I need the {item} first\nAction: take {item}"
    return Episode(
        task_id=item,
        env="textworld",
        turns=[
            Turn("system", "You play a text game."),
            Turn("user", f"You are in a kitchen. There is a {item} here."),
            Turn("assistant", reply, thought=f"I need the {item} first", action=f"take {item}", loss=True),
        ],
        success=True,
    )


@pytest.mark.parametrize("padding_free", [True, False])
def test_weighted_thought_training_batches_weights_like_labels(tiny_model_dir, tmp_path, padding_free):
    from agentkit.prompts import PromptFormat
    from agentkit.training.sft import AdapterConfig, TrainConfig, train_on_episodes

    episodes = [_thought_episode(item) for item in ("apple", "knife", "key")]
    settings = TrainConfig(max_steps=2, batch_size=3, padding_free=padding_free, save_steps=100, logging_steps=1)
    result = train_on_episodes(
        str(tiny_model_dir),
        episodes,
        PromptFormat(thoughts=True),
        AdapterConfig(r=4, alpha=8),
        settings,
        tmp_path,
        tmp_path / "adapter",
        cpu=True,
        thought_weight=2.0,
    )
    assert result["global_steps"] == 2 and result["samples"] == 3
    assert all(loss > 0 for _, loss in result["loss_history"])
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("padding_free", [True, False])
def test_weight_collator_lines_weights_up_with_labels(padding_free):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from agentkit.training.sft import _weighted_collator

    collate = _weighted_collator(DataCollatorForLanguageModeling(pad_token_id=0, padding_free=padding_free))
    examples = [
        {"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "loss_weights": [1.0, 2.0, 1.0]},
        {"input_ids": [8, 9], "labels": [-100, 9], "loss_weights": [1.0, 3.0]},
    ]
    batch = collate(examples)
    assert batch["loss_weights"].shape == batch["labels"].shape
    weight_of = {
        int(t): float(w)
        for t, w in zip(batch["input_ids"].flatten(), batch["loss_weights"].flatten(), strict=True)
        if t
    }
    assert weight_of == {5: 1.0, 6: 2.0, 7: 1.0, 8: 1.0, 9: 3.0}


def test_no_trained_decision_is_a_clear_error(tiny_model_dir, tmp_path, demo_episode):
    from agentkit.prompts import PromptFormat
    from agentkit.training.sft import AdapterConfig, TrainConfig, train_on_episodes

    with pytest.raises(ValueError, match=r"nothing to train on: 1 episodes .*2 longer than train.max_length=8"):
        train_on_episodes(str(tiny_model_dir), [demo_episode("apple")], PromptFormat(), AdapterConfig(),
                          TrainConfig(max_length=8), tmp_path, tmp_path / "out", cpu=True)  # fmt: skip


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("train.trl.bogus=1", "train: trl.bogus is not an option of TRL's SFTConfig"),
        ("train.trl.learning_rate=0.1", "train: trl.learning_rate: agentkit sets it from its own settings"),
        ("train.trl.optim=banana", "train: trl: banana is not a valid OptimizerNames"),
    ],
)
def test_a_bad_trl_option_fails_at_config_load_naming_it(option, message):
    from agentkit.config import ConfigError, load_config
    from agentkit.methods.bc.config import BCConfig

    with pytest.raises(ConfigError, match=message):
        load_config(BCConfig, None, [option])


def test_trl_options_reach_trls_config_beside_the_cpu_safe_defaults(tmp_path):
    from agentkit.config import load_config
    from agentkit.methods.bc.config import BCConfig
    from agentkit.training.sft import sft_args

    config = load_config(BCConfig, None, ["train.trl.neftune_noise_alpha=5", "train.trl.max_grad_norm=0.5"])
    args = sft_args(config.train, tmp_path)
    assert (args.neftune_noise_alpha, args.max_grad_norm) == (5, 0.5)
    assert args.bf16 is False and args.gradient_checkpointing is False  # agentkit's CPU-safe settings stay


def test_adapters_on_the_last_layers_only_leave_the_lower_layers_frozen_and_untouched(tiny_model_dir):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from agentkit.training.sft import AdapterConfig, peft_config

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    total = base.config.num_hidden_layers
    model = get_peft_model(base, peft_config(AdapterConfig(layers=1), tiny_model_dir))
    adapted = {int(name.split(".layers.")[1].split(".")[0]) for name, _ in model.named_parameters() if "lora_" in name}
    assert adapted == {total - 1}
    assert all(not p.requires_grad for name, p in model.named_parameters() if "lora_" not in name)
    with pytest.raises(ValueError, match="layers=0"):
        AdapterConfig(layers=0)
