"""The whole loop at its smallest: tiny model -> trajectory file -> messages -> one TRL SFT step with LoRA."""

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
