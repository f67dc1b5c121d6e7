"""TextWorld env on real generated games (a handful, cached once per session), prompts, policies, collect."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from agentkit.collect import collect, play_episode
from agentkit.envs import EnvError, TextEnv, check_env, make
from agentkit.envs.textworld import GAME_SETS, TextWorldEnv, games
from agentkit.envs.textworld.env import META_REPLY, clean_observation, normalize_action
from agentkit.envs.textworld.expert import instruction_start, objective_sentences, walkthrough_step
from agentkit.policies import ExpertPolicy, RandomPolicy, make_policy
from agentkit.prompts import PromptFormat, parse_action
from agentkit.trajectory import Turn, read_episodes


@pytest.fixture(scope="session")
def custom_env(textworld_cache):
    env = make("textworld", game_set="custom", split="train", n_games=3, cache_dir=textworld_cache)
    yield env
    env.close()


@pytest.mark.parametrize("game_set", sorted(GAME_SETS))
def test_check_env_passes_and_expert_wins_on_every_game_set(game_set, textworld_cache):
    env = make("textworld", game_set=game_set, n_games=2, cache_dir=textworld_cache)
    report = check_env(env, seeds=(0, 1))
    assert report.mean_expert_return > 0


def test_test_hard_split_is_harder_and_disjoint(textworld_cache):
    train = make("textworld", game_set="custom", split="train", n_games=1, cache_dir=textworld_cache)
    hard = make("textworld", game_set="custom", split="test_hard", n_games=1, cache_dir=textworld_cache)
    (train_game,) = (train.game(t) for t in train.task_ids())
    (hard_game,) = (hard.game(t) for t in hard.task_ids())
    assert hard_game.params["world_size"] > train_game.params["world_size"]
    assert hard_game.params["quest_length"] > train_game.params["quest_length"]
    assert check_env(hard, seeds=(0,)).mean_expert_steps >= hard_game.params["quest_length"]


def test_split_seeds_are_disjoint_and_ranges_drawn_per_seed():
    firsts = {split: set(zip(range(1000), games.split_seeds(split), strict=False)) for split in games.SPLITS}
    seeds = [{seed for _, seed in pairs} for pairs in firsts.values()]
    fresh_seeds = games.split_seeds("train", generation_seed=7)
    fresh = {seed for _, seed in zip(range(1000), fresh_seeds, strict=False)}
    everything = seeds + [fresh]
    assert sum(len(s) for s in everything) == len(set().union(*everything))
    spec = games.split_params("custom", "train")
    drawn = [games.concrete_params(spec, seed) for seed in range(50)]
    assert drawn == [games.concrete_params(spec, seed) for seed in range(50)]
    assert {d["world_size"] for d in drawn} == {3, 4, 5}


def test_bad_parameters_are_named(textworld_cache):
    with pytest.raises(EnvError, match="unknown game_set 'tw-nope'"):
        TextWorldEnv("tw-nope", cache_dir=textworld_cache)
    with pytest.raises(EnvError, match="no parameter 'rooms'"):
        TextWorldEnv("custom", cache_dir=textworld_cache, rooms=4)
    with pytest.raises(EnvError, match=r"'quest_length'=\[4, 3\]"):
        TextWorldEnv("custom", cache_dir=textworld_cache, quest_length=[4, 3])
    with pytest.raises(EnvError, match="unknown split 'dev'"):
        TextWorldEnv("custom", "dev", cache_dir=textworld_cache)
    with pytest.raises(EnvError, match="generated no game.*level"):
        TextWorldEnv("tw-coin_collector", n_games=1, cache_dir=textworld_cache, level=500)


def test_cached_games_are_reused_without_generating(custom_env, textworld_cache, monkeypatch):
    def refuse(*args):
        raise AssertionError("the cache should have served these games")

    monkeypatch.setattr(games, "_generate_or_error", refuse)
    again = TextWorldEnv("custom", "train", n_games=3, cache_dir=textworld_cache)
    assert again.task_ids() == custom_env.task_ids()
    manifest = json.loads((again.game(again.task_ids()[0]).path.parent / "manifest.json").read_text())
    assert manifest["game_set"] == "custom" and len(manifest["games"]) >= 3


def test_generation_seed_gives_a_fresh_reproducible_set(custom_env, textworld_cache):
    fresh = TextWorldEnv("custom", n_games=1, cache_dir=textworld_cache, generation_seed=5)
    assert set(fresh.task_ids()).isdisjoint(custom_env.task_ids())
    again = TextWorldEnv("custom", n_games=1, cache_dir=textworld_cache, generation_seed=5)
    assert fresh.task_ids() == again.task_ids()


def test_first_observation_has_objective_and_no_banner(custom_env):
    observation, info = custom_env.reset(seed=0)
    assert "$$" not in observation and not observation.startswith((" ", "\n"))
    assert not any(line.startswith(">") for line in observation.splitlines())
    assert "-=" in observation  # the room title
    assert info["max_score"] >= 1 and info["score"] == 0 and not info["won"]
    assert info["admissible_actions"] and info["task_id"] == custom_env.task_ids()[0]


def test_clean_observation_and_normalize_action():
    raw = "\n\n   ____ \n  |  $$\\ \n\nWelcome!\n\n\n\nroom text\n\n>    -= Cellar =-0/1"
    assert clean_observation(raw) == "Welcome!\n\nroom text"
    assert normalize_action("  Take\tthe   KEY\n") == "take the key"


def test_actions_are_normalised_and_inadmissible_ones_go_to_the_game(custom_env):
    custom_env.reset(seed=0)
    walkthrough = custom_env.game(custom_env.task_ids()[0]).walkthrough
    observation, reward, terminated, _, info = custom_env.step("dance with the moon")
    assert observation and observation != META_REPLY and reward == 0 and not terminated
    observation, *_ = custom_env.step("QUIT")
    assert observation == META_REPLY  # answered by the wrapper: the interpreter would wedge on yes/no
    custom_env.step("  " + walkthrough[0].upper().replace(" ", "   "))
    *_, info = custom_env.step(walkthrough[1])
    while not info["won"]:
        *_, info = custom_env.step(custom_env.expert_action())
    assert info["score"] == info["max_score"]


def test_expert_takes_over_after_random_play(custom_env):
    rng = random.Random(3)
    for seed in range(3):
        _, info = custom_env.reset(seed=seed)
        for _ in range(4):  # random moves, but no eating: that can make a quest item vanish
            safe = [a for a in info["admissible_actions"] if not a.startswith("eat ")]
            _, _, terminated, _, info = custom_env.step(rng.choice(safe))
            if terminated:
                break
        truncated = False
        while not (info["won"] or truncated):
            _, _, _, truncated, info = custom_env.step(custom_env.expert_action())
        assert info["won"] and info["score"] == info["max_score"]


def test_step_limit_truncates(textworld_cache):
    env = make("textworld", game_set="custom", n_games=1, cache_dir=textworld_cache, max_steps=2)
    env.reset(seed=0)
    assert env.step("look")[2:4] == (False, False)
    assert env.step("look")[2:4] == (False, True)
    with pytest.raises(EnvError, match="call reset"):
        env.step("look")
    with pytest.raises(EnvError, match="unknown task_id"):
        env.reset(options={"task_id": "custom-999999"})


def test_parse_action():
    assert parse_action("Thought: the key opens it\nAction: Unlock box with key.") == (
        "the key opens it",
        "Unlock box with key",
    )
    assert parse_action("go north") == (None, "go north")
    assert parse_action("action: `take apple`") == (None, "take apple")
    assert parse_action("Thought: not sure yet") == ("not sure yet", None)
    assert parse_action("I think\nwe should go") == (None, None)
    assert parse_action("") == (None, None)
    assert parse_action(None) == (None, None)  # type: ignore[arg-type]


def test_prompt_messages_window_and_reply_format():
    fmt = PromptFormat(history=1, thoughts=True)
    turns = [
        Turn("system", fmt.system_prompt()),
        fmt.observation_turn("goal: find key", {"admissible_actions": ["go north"]}),
        Turn("assistant", fmt.reply("go north", "explore"), action="go north"),
        fmt.observation_turn("north room", {"admissible_actions": ["take key"]}),
        Turn("assistant", fmt.reply("take key", "grab it"), action="take key"),
        fmt.observation_turn("taken", {"admissible_actions": ["look", "go south"]}),
    ]
    messages = fmt.messages_for(turns)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "goal: find key"  # the objective always stays, its commands do not
    assert messages[2]["content"] == "Thought: grab it\nAction: take key"
    assert messages[3]["content"] == "taken\nCommands: look, go south"
    assert "Thought:" in messages[0]["content"]
    assert fmt.messages_for(turns[:2])[-1]["content"] == "goal: find key\nCommands: go north"
    plain = PromptFormat(show_admissible=False, history=None)
    assert plain.messages_for(turns)[-1]["content"] == "taken"
    assert len(plain.messages_for(turns)) == 6
    assert parse_action(fmt.reply("take key", "grab it")) == ("grab it", "take key")
    # Without past thoughts an earlier reply shows its command alone; a reply with no command stays whole.
    hidden = PromptFormat(history=2, thoughts=True, past_thoughts=False)
    turns[2] = Turn("assistant", "Thought: wait, wrong way", thought="wait, wrong way")
    turns[4] = Turn("assistant", fmt.reply("take key", "grab it"), thought="grab it", action="take key")
    assert [m["content"] for m in hidden.messages_for(turns)[2:5:2]] == ["Thought: wait, wrong way", "Action: take key"]
    assert fmt.messages_for(turns)[2]["content"] == "Thought: grab it\nAction: take key"
    assert hidden.reply("take key", "grab it") == fmt.reply("take key", "grab it")  # the reply keeps its thought
    with pytest.raises(ValueError, match="history=-1"):
        PromptFormat(history=-1)


def test_play_episode_turns_follow_the_prompt_format(custom_env):
    fmt = PromptFormat()
    episode = play_episode(custom_env, ExpertPolicy(), custom_env.task_ids()[1], seed=1, prompt_format=fmt)
    assert episode.success and episode.error is None and episode.score > 0
    roles = [turn.role for turn in episode.turns]
    assert roles[:2] == ["system", "user"] and roles[2:] == ["assistant", "user"] * episode.steps
    assistant = [turn for turn in episode.turns if turn.role == "assistant"]
    assert all(turn.loss and turn.text == f"Action: {turn.action}" for turn in assistant)
    walkthrough = custom_env.game(episode.task_id).walkthrough
    assert tuple(turn.action for turn in assistant) == walkthrough


def test_noisy_expert_steps_off_its_path_untrained_and_labels_the_way_back(custom_env):
    from agentkit.training.data import decision_samples

    fmt = PromptFormat(thoughts=True)
    noisy = ExpertPolicy(noise=0.4, seed=2)
    tasks = custom_env.task_ids()
    episodes = [play_episode(custom_env, noisy, task_id, seed=5, prompt_format=fmt) for task_id in tasks]
    replies = [[t for t in e.turns if t.role == "assistant"] for e in episodes]
    assert sum(not t.loss for turns in replies for t in turns) >= 2 and all(e.error is None for e in episodes)
    for episode, turns in zip(episodes, replies, strict=True):  # replayed: what would the expert have done?
        custom_env.reset(seed=5, options={"task_id": episode.task_id})
        for turn in turns:
            expert, thought = custom_env.expert_decision()
            assert (turn.action == expert) == turn.loss and turn.thought == thought  # a random step keeps it
            custom_env.step(turn.action)
        assert len(decision_samples(episode, fmt)) == sum(t.loss for t in turns)  # random steps are context
    again = play_episode(custom_env, noisy, tasks[0], seed=5, prompt_format=fmt)
    assert again.turns == episodes[0].turns  # reseeded per episode
    with pytest.raises(ValueError, match="noise=1.0"):
        ExpertPolicy(noise=1.0)


def test_random_policy_is_reproducible_per_episode(custom_env):
    first = play_episode(custom_env, RandomPolicy(seed=4), custom_env.task_ids()[0], seed=0)
    second = play_episode(custom_env, RandomPolicy(seed=4), custom_env.task_ids()[0], seed=0)
    assert [t.action for t in first.turns] == [t.action for t in second.turns]
    assert first.steps > 0
    with pytest.raises(ValueError, match="unknown policy 'greedy'"):
        make_policy("greedy")


def test_missing_game_file_fails_only_its_episode(custom_env, textworld_cache, tmp_path):
    shutil.copytree(textworld_cache, tmp_path / "cache")  # broken copies, the session's cache stays intact
    env = make("textworld", game_set="custom", n_games=3, cache_dir=tmp_path / "cache")
    env.game(env.task_ids()[1]).path.unlink()
    episodes = [play_episode(env, ExpertPolicy(), task_id, seed=0) for task_id in env.task_ids()]
    assert [e.success for e in episodes] == [True, False, True]
    assert "is missing" in episodes[1].error


def test_collect_writes_trajectories_and_survives_a_corrupt_game(custom_env, textworld_cache, tmp_path):
    shutil.copytree(textworld_cache, tmp_path / "cache")
    kwargs = {"game_set": "custom", "n_games": 3, "cache_dir": str(tmp_path / "cache")}
    broken = TextWorldEnv(**kwargs).game(custom_env.task_ids()[1]).path
    broken.write_bytes(broken.read_bytes()[:3000])  # a truncated story file: the interpreter exits
    out = tmp_path / "expert.jsonl"
    summary = collect("textworld", kwargs, ExpertPolicy(), 4, out, step_timeout=20, progress=False)
    episodes, skipped = read_episodes(out)
    assert skipped == 0 and [e.task_id for e in episodes] == custom_env.task_ids() + custom_env.task_ids()[:1]
    assert [e.success for e in episodes] == [True, False, True, True]
    assert "Story file read error" in episodes[1].error
    assert (summary.episodes, summary.successes, summary.errors) == (4, 3, 1)


def test_expert_thought_is_the_quest_sub_goal_and_follows_the_agent_off_the_walkthrough(custom_env):
    _, info = custom_env.reset(seed=0)
    walkthrough = custom_env.game(info["task_id"]).walkthrough
    action, thought = custom_env.expert_decision()
    assert action == walkthrough[0]
    assert thought == f"Step 1 of {len(walkthrough)}. Left: {', then '.join(walkthrough)}."
    custom_env.step(walkthrough[0])
    action, thought = custom_env.expert_decision()
    assert action == walkthrough[1] and thought.startswith(f"Step 2 of {len(walkthrough)}. Left: {walkthrough[1]}")
    detour = next(a for a in info["admissible_actions"] if a.startswith("go "))
    custom_env.step(detour)
    action, thought = custom_env.expert_decision()
    assert thought.split(". Left: ")[1].startswith(action)  # the planner's plan, from where the agent is


def walkthrough_thoughts(env: TextEnv, walkthrough: tuple[str, ...]) -> list[str]:
    """Play the walkthrough, checking the expert names each command; its thought at every step."""
    thoughts = []
    for command in walkthrough:
        action, thought = env.expert_decision()
        assert action == command
        thoughts.append(thought)
        env.step(command)
    return thoughts


def test_a_short_expert_thought_names_the_next_commands_and_the_end(textworld_cache):
    env = make("textworld", game_set="custom", split="train", n_games=3, cache_dir=textworld_cache, thought_steps=2)
    try:
        _, info = env.reset(seed=0)
        walkthrough = env.game(info["task_id"]).walkthrough
        assert len(walkthrough) >= 3
        thoughts = walkthrough_thoughts(env, walkthrough)
        assert thoughts[0] == f"Next: {walkthrough[0]}, then {walkthrough[1]}."
        assert thoughts[-2] == f"Next: {walkthrough[-2]}, then {walkthrough[-1]}. Then done."
        assert thoughts[-1] == f"Next: {walkthrough[-1]}. Then done."
    finally:
        env.close()
    with pytest.raises(EnvError, match="thought_steps=0"):
        TextWorldEnv("custom", "train", n_games=3, cache_dir=textworld_cache, thought_steps=0)


def test_instruction_sentences_are_the_block_that_covers_the_commands():
    objective = (
        "Welcome to TextWorld! Here is how to play! First of all, unlock the box inside the cellar. And then, "
        "open the box. Then, take the fly larva from the box. With the fly larva, toss the fly larva on the "
        "floor of the cellar. Got that? Good!"
    )
    walkthrough = ["unlock box with latchkey", "open box", "take fly larva from box", "drop fly larva"]
    sentences = objective_sentences(objective)
    start = instruction_start(sentences, walkthrough)
    assert sentences[start : start + 4] == [
        "First of all, unlock the box inside the cellar.",
        "And then, open the box.",
        "Then, take the fly larva from the box.",
        "With the fly larva, toss the fly larva on the floor of the cellar.",
    ]
    assert instruction_start(["Your objective is to eat the fondue."], ["take fondue", "eat fondue"]) is None


def test_a_plan_resumes_the_walkthrough_at_the_first_step_it_ends_with():
    walkthrough = ["go east", "open box", "take key from box", "go west"]
    assert walkthrough_step(walkthrough, walkthrough) == 0
    assert walkthrough_step(walkthrough[2:], walkthrough) == 2
    assert walkthrough_step(["go north", *walkthrough[1:]], walkthrough) == 1  # a detour undone first
    assert walkthrough_step(["go north", "go west"], walkthrough) == 3
    assert walkthrough_step(["go north", "eat key"], walkthrough) is None
    assert walkthrough_step([], walkthrough) is None


def test_an_instruction_thought_is_the_objectives_sentence_for_the_current_step(textworld_cache):
    env = make("textworld", game_set="custom", split="train", n_games=3, cache_dir=textworld_cache,
               thought="instruction")
    try:
        observation, info = env.reset(seed=0)
        walkthrough = env.game(info["task_id"]).walkthrough
        thoughts = walkthrough_thoughts(env, walkthrough)
        assert len(set(thoughts)) == len(walkthrough)
        assert [observation.index(thought) for thought in thoughts] == sorted(
            observation.index(thought) for thought in thoughts
        )  # the objective's sentences, word for word and in order
        assert set(thoughts) < set(info["thought_options"])  # offered to the agent with the greeting and closing
        turns = [Turn("system", "rules"), PromptFormat().observation_turn(observation, info)]
        assert PromptFormat(thoughts=True).thought_options(turns) == info["thought_options"]
        assert PromptFormat().thought_options(turns) is None  # replies without thoughts choose none
        _, info = env.reset(seed=0)
        detour = next(a for a in info["admissible_actions"] if a.startswith("go ") and a != walkthrough[0])
        env.step(detour)
        action, thought = env.expert_decision()
        assert action != walkthrough[0] and action.startswith("go ")  # the planner walks back first
        assert thought == thoughts[0]  # ... still on the first sentence, not yet carried out
    finally:
        env.close()
    with pytest.raises(EnvError, match="thought='goal'"):
        TextWorldEnv("custom", "train", n_games=3, cache_dir=textworld_cache, thought="goal")


def test_thoughts_in_order_offer_the_last_thought_and_the_next_one():
    options = ["Hi there.", "First, go east.", "Then, take the key.", "And then, go east.", "Done!"]
    ordered = PromptFormat(thoughts=True, thoughts_in_order=True)

    def after(thought: str | None) -> list[Turn]:
        turns = [Turn("system", "rules"), Turn("user", "objective", info={"thought_options": options})]
        if thought is None:
            return turns
        return [*turns, Turn("assistant", "reply", thought=thought, action="go east"), Turn("user", "a room")]

    assert ordered.thought_options(after(None)) == options  # the first decision: where the plan starts
    assert ordered.thought_options(after("First, go east.")) == ["First, go east.", "Then, take the key."]
    assert ordered.thought_options(after("And then, go east.")) == ["And then, go east.", "Done!"]
    assert ordered.thought_options(after("Done!")) == ["Done!"]
    assert ordered.thought_options(after("Next: go west.")) == options  # a thought off the list: all again
    assert PromptFormat(thoughts=True).thought_options(after("First, go east.")) == options


def test_thought_cloning_demos_carry_the_expert_thought(custom_env):
    fmt = PromptFormat(thoughts=True)
    episode = play_episode(custom_env, ExpertPolicy(), custom_env.task_ids()[1], seed=1, prompt_format=fmt)
    replies = [turn for turn in episode.turns if turn.role == "assistant"]
    assert episode.success and all(turn.thought and turn.thought.startswith("Step ") for turn in replies)
    assert all(turn.text == f"Thought: {turn.thought}\nAction: {turn.action}" for turn in replies)
    assert parse_action(replies[0].text) == (replies[0].thought, replies[0].action)
