"""Test fixture: the smallest real TRL SFT + LoRA run, launched by `tests/test_distributed_training.py`.

Run under `accelerate launch`; every rank reports its rank, world size, backend, distributed type and ZeRO
stage on one line so the test can tell which processes took part and how, then trains and saves the
adapter (on every rank: under ZeRO-3 saving gathers sharded weights collectively). `use_cpu=True` is what
a script needs on a machine without GPUs for the ranks to form one training job.
"""

from __future__ import annotations

import argparse

from datasets import Dataset
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from agentkit.models import load_tokenizer


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def demo_rows(n: int) -> list[dict]:
    return [
        {"messages": [user(f"You are in room {i}."), {"role": "assistant", "content": "go north"}]}
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_steps", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=2, help="per process")
    parser.add_argument("--rows", type=int, default=16)
    cli = parser.parse_args()

    args = SFTConfig(
        output_dir=cli.output_dir,
        max_steps=cli.max_steps,
        per_device_train_batch_size=cli.batch_size,
        learning_rate=1e-2,
        seed=0,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=cli.model,
        args=args,
        train_dataset=Dataset.from_list(demo_rows(cli.rows)),
        processing_class=load_tokenizer(cli.model),
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    state = trainer.accelerator.state
    backend = state.backend if state.num_processes > 1 else "none"
    zero_stage = state.deepspeed_plugin.zero_stage if trainer.is_deepspeed_enabled else 0
    print(
        f"agentkit-probe rank={state.process_index} world_size={state.num_processes} "
        f"backend={backend} type={state.distributed_type.value} zero_stage={zero_stage}",
        flush=True,
    )
    trainer.train()
    trainer.save_model(f"{cli.output_dir}/adapter")


if __name__ == "__main__":
    main()
