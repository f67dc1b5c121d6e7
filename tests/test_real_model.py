"""The catalogue's real chat model (SmolLM2-135M-Instruct, converted offline from its wheel) through every
part that loads a model: the CLI, transformers, PEFT, TRL, the training data and vLLM.

One vLLM engine for the module; the converted folder is built once per session (`real_model_dir`).
"""

import os
import signal
from pathlib import Path

import pytest
import torch

from agentkit.cli import _model_path, build_parser, main
from agentkit.errors import AgentkitError
from agentkit.models import resolve_model
from agentkit.prompts import PromptFormat
from agentkit.rollout.backend import prompt_token_ids
from agentkit.rollout.hf_backend import HFBackend
from agentkit.rollout.sampling import SamplingParams
from agentkit.rollout.vllm_backend import cpu_environment
from agentkit.training.data import IGNORE_INDEX, decision_samples, encode_messages
from agentkit.trajectory import to_messages

pytestmark = pytest.mark.slow

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "vllm-tests"
SYSTEM = "You answer in one short sentence."
CHATS = [
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Name a colour of the sky."}],
    [
        {"role": "system", "content": "You play a text game. Reply with one command."},
        {"role": "user", "content": "You are in a kitchen. There is a red key on the table. What do you do?"},
    ],
]
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM"


@pytest.fixture(scope="module")
def tokenizer(real_model_dir):
    from agentkit.models import load_tokenizer

    return load_tokenizer(real_model_dir)


@pytest.fixture(scope="module")
def vllm_real(real_model_dir):
    (CACHE / "tmp").mkdir(parents=True, exist_ok=True)
    threads = f"0-{(os.cpu_count() or 1) - 1}"
    from agentkit.rollout.vllm_backend import VLLMBackend

    with pytest.MonkeyPatch.context() as patch:  # vLLM reads these at import and in its engine process
        for name, value in {**cpu_environment(CACHE, threads=threads), "TMPDIR": str(CACHE / "tmp")}.items():
            patch.setenv(name, value)
        backend = VLLMBackend(str(real_model_dir), max_lora_rank=8, max_model_len=2048)
        yield backend
        backend.close()


def test_catalogue_name_resolves_offline_on_every_model_flag_and_loads_in_transformers(real_model_dir, capsys):
    from transformers import AutoModelForCausalLM

    cache = str(real_model_dir.parents[1])
    assert resolve_model("smollm2-135m", cache) == str(real_model_dir)  # cached: found by the file's hash
    parser = build_parser()
    for command in (["collect", "--env", "textworld", "--out", "x"], ["eval", "bench", "--task", "gsm8k"],
                    ["eval", "agent", "--env", "textworld"], ["serve"]):
        args = parser.parse_args([*command, "--model", "smollm2-135m", "--cache-dir", cache])
        assert _model_path(args) == str(real_model_dir), command
    served = parser.parse_args(["eval", "bench", "--task", "gsm8k", "--model", "smollm2-135m", "--backend", "openai"])
    assert _model_path(served) == "smollm2-135m"  # the name a server knows

    assert main(["models", "--cache-dir", cache]) == 0
    listing = capsys.readouterr().out
    for expected in ("smollm2-135m", "134.5M", "Apache-2.0", "Q4_1", "HuggingFaceTB/SmolLM2-135M-Instruct",
                     f"cached: {real_model_dir}"):
        assert expected in listing

    model = AutoModelForCausalLM.from_pretrained(real_model_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert getattr(model.config, "quantization_config", None) is None


def test_one_lora_sft_step_moves_only_the_adapter_weights(real_model_dir, tokenizer, demo_episode, tmp_path):
    """TRL's SFTTrainer with a PEFT LoRA config, as the recipes build it, on the real model and tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    from agentkit.training.data import samples_dataset
    from agentkit.training.sft import AdapterConfig, TrainConfig, model_init_kwargs, peft_config, sft_args

    train = TrainConfig(learning_rate=1e-3, max_steps=1, batch_size=4, warmup_ratio=0.0, logging_steps=1)
    episodes = [demo_episode("key"), demo_episode("lamp")]
    dataset, dropped, decisions = samples_dataset(tokenizer, episodes, PromptFormat())
    assert dataset.num_rows == decisions == 4 and dropped == 0
    model = AutoModelForCausalLM.from_pretrained(real_model_dir, **model_init_kwargs(train))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    trainer = SFTTrainer(
        model=model,
        args=sft_args(train, tmp_path / "checkpoints", use_cpu=True, save_strategy="no"),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(AdapterConfig(r=4, target_modules=["q_proj", "v_proj"])),
    )
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
    params = dict(trainer.model.named_parameters())
    lora = {name for name in params if "lora_" in name}
    assert lora and {name for name, p in params.items() if p.requires_grad} == lora
    assert any(params[name].abs().sum() > 0 for name in lora if "lora_B" in name)  # B starts at zero
    for name, tensor in params.items():
        if name not in lora:
            assert torch.equal(tensor, before[name.removeprefix("base_model.model.").replace(".base_layer", "")])


def test_loss_mask_covers_exactly_each_trained_reply_and_its_end_of_turn(tokenizer, demo_episode):
    """SmolLM2's template has no generation markers: the mask comes from rendering turn by turn."""
    messages = to_messages(demo_episode("key"))
    encoded = encode_messages(tokenizer, messages)
    text = tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in messages],
                                         tokenize=False)
    assert encoded["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
    runs, current = [], []
    for label in encoded["labels"]:
        if label != IGNORE_INDEX:
            current.append(label)
        elif current:
            runs, current = [*runs, current], []
    runs += [current] if current else []
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    trained = [m["content"] for m in messages if m["role"] == "assistant" and m["loss"]]
    assert len(trained) == 2
    assert runs == [tokenizer(reply, add_special_tokens=False)["input_ids"] + [end] for reply in trained]


def test_prompts_and_training_samples_carry_agentkits_system_prompt_not_the_templates(tokenizer, demo_episode):
    """SmolLM2's template inserts its own system prompt into a conversation that has none; agentkit's
    prompts always send theirs, at inference and in training."""
    prompt_format = PromptFormat()
    header = f"<|im_start|>system\n{prompt_format.system_prompt()}<|im_end|>"
    samples = decision_samples(demo_episode("key"), prompt_format)
    assert len(samples) == 2
    for sample in samples:
        for ids in (prompt_token_ids(tokenizer, sample[:-1]), encode_messages(tokenizer, sample)["input_ids"]):
            text = tokenizer.decode(ids)
            assert text.startswith(header) and DEFAULT_SYSTEM not in text
    no_system = tokenizer.decode(prompt_token_ids(tokenizer, samples[0][1:-1]))
    assert DEFAULT_SYSTEM in no_system  # what the check above guards against


def test_greedy_chat_replies_of_vllm_equal_hf_and_stop_at_the_end_of_turn(vllm_real, real_model_dir):
    params = SamplingParams(max_tokens=40)
    ours = [c[0] for c in vllm_real.generate(CHATS, params)]
    theirs = [c[0] for c in HFBackend(str(real_model_dir), threads=2).generate(CHATS, params)]
    assert [c.token_ids for c in ours] == [c.token_ids for c in theirs]
    assert "Paris" in ours[0].text
    end = vllm_real.tokenizer.convert_tokens_to_ids("<|im_end|>")
    stopped = [c for c in ours + theirs if c.finish_reason == "stop"]
    assert len(stopped) >= 2
    for completion in stopped:
        assert completion.token_ids[-1] == end and "<|im_end|>" not in completion.text


def test_scores_of_the_base_model_and_of_an_adapter_equal_hf(vllm_real, real_model_dir, save_random_lora, tmp_path):
    """Scoring on an engine that serves LoRA (its output layer then carries LoRA too), without and with an
    adapter: the same figures as HF."""
    prompts = [CHATS[2], CHATS[0]]
    replies = [["take red key", "go north", "open door", "eat key"], ["Paris.", "London.", "The capital is Paris."]]
    adapter = save_random_lora(real_model_dir, tmp_path / "agent", seed=1)
    scores = {}
    for path in (None, str(adapter)):
        if path is not None:
            vllm_real.load_adapter(path)
        scores[path] = vllm_real.reply_logprobs(prompts, replies)
        hf = HFBackend(str(real_model_dir), adapter=path, threads=2).reply_logprobs(prompts, replies)
        for ours, theirs in zip(scores[path], hf, strict=True):
            assert [n for _, n in ours] == [n for _, n in theirs]
            assert [s for s, _ in ours] == pytest.approx([s for s, _ in theirs], abs=2e-2)
    base = scores[None]
    assert base[1][0][0] > base[1][1][0]  # Paris over London
    assert scores[str(adapter)] != base


def test_bfloat16_scores_match_float32_closely_enough_to_pick_the_same_replies(real_model_dir):
    """`eval.dtype: bfloat16` (faster on CPUs with AVX512-BF16) must not change which command an agent picks
    when the choice is clear."""
    prompts = [CHATS[2], CHATS[0]]
    replies = [["take red key", "go north", "open door", "eat key"], ["Paris.", "London.", "The capital is Paris."]]
    full = HFBackend(str(real_model_dir), threads=2).reply_logprobs(prompts, replies)
    backend = HFBackend(str(real_model_dir), threads=2, dtype="bfloat16")
    assert backend.model.dtype == torch.bfloat16
    half = backend.reply_logprobs(prompts, replies)
    for ours, theirs in zip(half, full, strict=True):
        assert [n for _, n in ours] == [n for _, n in theirs]
        assert [s for s, _ in ours] == pytest.approx([s for s, _ in theirs], abs=0.5)
    assert half[1][0][0] > half[1][1][0]  # Paris over London, as in float32


def test_a_dead_engine_is_one_line_error(vllm_real):
    """Runs last in this module: the engine's process is killed as the kernel's OOM killer would."""
    import psutil

    children = psutil.Process().children(recursive=True)
    engines = [p for p in children if "EngineCore" in " ".join([p.name(), *p.cmdline()])]
    assert engines, [p.name() for p in children]
    for process in engines:
        os.kill(process.pid, signal.SIGKILL)
    psutil.wait_procs(engines, timeout=30)
    with pytest.raises(AgentkitError, match="vLLM engine died") as caught:
        vllm_real.generate(CHATS[:1], SamplingParams(max_tokens=4))
    assert "\n" not in str(caught.value)
