"""The math reward and the env-outcome reward, called directly and by TRL's GRPO trainer."""

from pathlib import Path

import pytest

from agentkit.reward_models import (
    completion_text,
    env_outcome_reward,
    episode_reward,
    make_math_reward,
    math_reward,
)
from agentkit.trajectory import Episode, Turn, to_dataset

GSM8K_SOLUTION = "Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18.\n#### 18"


def test_math_reward_scores_string_completions_against_each_answer_form() -> None:
    completions = ["The answer is 18.", "The answer is 17.", r"So $\boxed{\dfrac{3}{4}}$.", "x = -3", ""]
    answers = [GSM8K_SOLUTION, "18", r"the answer is \boxed{\frac{3}{4}}", "-3", "18"]
    assert math_reward(completions, answer=answers) == [1.0, 0.0, 1.0, 1.0, 0.0]


def test_math_reward_reads_conversational_completions() -> None:
    completions = [
        [{"role": "assistant", "content": "9 * 2 = 18. The answer is 18."}],
        [{"role": "assistant", "content": [{"type": "text", "text": "#### "}, {"type": "text", "text": "17"}]}],
        [],
    ]
    assert math_reward(completions, answer=["18", "18", "18"], prompts=["p"] * 3) == [1.0, 0.0, 0.0]
    assert completion_text([{"role": "assistant", "content": None}]) == ""


def test_format_term_rewards_an_explicit_final_answer() -> None:
    reward = make_math_reward(format_weight=0.1)
    completions = ["The answer is 18.", "9 * 2 = 18", "#### 17", "I don't know"]
    assert reward(completions, answer=["18"] * 4) == pytest.approx([1.1, 1.0, 0.1, 0.0])
    assert reward.__name__ == "math_format_reward" and math_reward.__name__ == "math_reward"


def test_format_term_with_a_pattern() -> None:
    reward = make_math_reward(format_weight=0.5, format_pattern=r"^<think>.+</think>")
    completions = ["<think>9 * 2 = 18</think> The answer is 18.", "The answer is 18."]
    assert reward(completions, answer=["18", "18"]) == [1.5, 1.0]


def test_extraction_methods_can_be_restricted() -> None:
    strict = make_math_reward(methods=["marker"])
    assert strict(["The answer is 18.", "#### 18"], answer=["18", "18"]) == [0.0, 1.0]
    with pytest.raises(ValueError, match="'regex'"):
        make_math_reward(methods=["regex"])


def test_mismatched_columns_are_an_error() -> None:
    with pytest.raises(ValueError, match="2 completions but 1 answers"):
        math_reward(["18", "18"], answer=["18"])


def episode(success: bool, score: float, **kwargs) -> Episode:
    turns = [Turn("user", "You are in a room."), Turn("assistant", "go north", loss=True)]
    return Episode("t1", "textworld", turns, success=success, score=score, steps=1, **kwargs)


def test_episode_reward_is_one_on_success_else_the_score_share() -> None:
    assert episode_reward(episode(True, 3)) == 1.0
    assert episode_reward(episode(False, 0.25)) == 0.25
    assert episode_reward(episode(False, 3, meta={"max_score": 4})) == 0.75
    assert episode_reward(episode(True, 1, error="env crashed")) == 0.0
    with pytest.raises(ValueError, match="score 3 is not a share"):
        episode_reward(episode(False, 3))


def test_env_outcome_reward_reads_the_trajectory_dataset_columns() -> None:
    rows = to_dataset([episode(True, 1.0), episode(False, 0.5), episode(False, 0.0)])
    rewards = env_outcome_reward(["a", "b", "c"], success=rows["success"], score=rows["score"], task_id=["t1"] * 3)
    assert rewards == [1.0, 0.5, 0.0]
    assert env_outcome_reward(["a"], success=[False], score=[2], max_score=[8]) == [0.25]
    with pytest.raises(ValueError, match="2 completions but 1 'success' values"):
        env_outcome_reward(["a", "b"], success=[True])


@pytest.mark.slow
def test_grpo_trainer_takes_math_reward_as_a_reward_func(tiny_model_dir: Path, tmp_path: Path) -> None:
    """One real GRPO step on CPU with conversational prompts: TRL calls the reward with its own arguments."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    rows = Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": f"What is {a} + {a}?"}] for a in (1, 2)],
            "answer": ["#### 2", "#### 4"],
        }
    )
    config = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        bf16=False,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
    )
    trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=[math_reward], args=config, train_dataset=rows)
    trainer.train()
    logged = trainer.state.log_history[0]
    assert 0.0 <= logged["rewards/math_reward/mean"] <= 1.0
