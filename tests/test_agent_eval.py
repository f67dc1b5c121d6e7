import math

import pytest
import torch

from agentkit.eval.agent import summarize, wilson_interval
from agentkit.trajectory import Episode, Turn


def episode(actions, success, invalid=0):
    turns = [Turn("system", "s"), Turn("user", "o")]
    for action in actions:
        turns += [Turn("assistant", f"Action: {action}", action=action, loss=True), Turn("user", "o")]
    return Episode("t", "env", turns, success=success, steps=len(actions), meta={"invalid_actions": invalid})


def test_wilson_interval_matches_hand_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_summary_counts_repeats_and_invalid_actions():
    episodes = [episode(["go north", "go north", "go north", "take key"], True), episode(["look", None], False, 1)]
    result = summarize("bc", episodes)
    assert result.success_rate == 0.5 and result.episodes == 2
    assert result.repeated_action_rate == pytest.approx(2 / 6)
    assert result.invalid_action_rate == pytest.approx(1 / 6)
    assert result.mean_steps == 3.0
    assert result.loop_action_rate == pytest.approx(2 / 6)  # a period-one loop is a repeat


def test_loops_of_period_two_and_three_count_and_a_revision_breaks_them():
    def loops(actions):
        return summarize("a", [episode(actions, False)]).loop_action_rate * len(actions)

    assert loops(["go east", "go west", "go east", "go west", "go east"]) == pytest.approx(2)
    assert loops(["open box", "take key", "go east", "open box", "take key", "go east"]) == pytest.approx(1)
    assert loops(["examine box", None, "examine box", None, "examine box"]) == 0
    # progress is no loop: the expert's way through a quest repeats no cycle
    assert loops(["go east", "take key", "go west", "unlock door with key", "open door", "go north"]) == 0
    # a cycle of period four is out of reach (periods 1 to 3 only)
    assert loops(["a", "b", "c", "d", "a", "b", "c", "d"]) == 0


def decisions_of(replies_and_menus):
    """One expert episode whose decisions carry these (expert command, admissible commands)."""
    from agentkit.eval.agent import expert_decisions
    from agentkit.prompts import PromptFormat

    first = Turn("user", "You are in a room.", info={"admissible_actions": replies_and_menus[0][1]})
    turns = [Turn("system", "s"), first]
    for index, (action, _) in enumerate(replies_and_menus):
        following = replies_and_menus[index + 1][1] if index + 1 < len(replies_and_menus) else []
        turns += [Turn("assistant", f"Action: {action}", action=action, loss=True),
                  Turn("user", f"After {action}.", info={"admissible_actions": following})]  # fmt: skip
    return expert_decisions([Episode("t", "env", turns, success=True, steps=len(replies_and_menus))], PromptFormat())


def test_random_policy_agreement_is_its_chance_of_picking_the_experts_command():
    from agentkit.eval.agent import expert_agreement
    from agentkit.policies import RandomPolicy
    from agentkit.prompts import PromptFormat
    from agentkit.rollout.engine import PolicyAgent

    decisions = decisions_of([("go north", ["go north", "look"]), ("take key", ["take key", "go south", "look", "x"])])
    assert [action for _, action, _, _ in decisions] == ["go north", "take key"]
    assert decisions[1][0][-1]["content"].startswith("After go north.")  # the prompt is the expert's own state
    random_agent = PolicyAgent(RandomPolicy(0))
    assert expert_agreement(random_agent, decisions, PromptFormat()) == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert expert_agreement(random_agent, [], PromptFormat()) is None


def test_expert_decisions_offer_the_thoughts_of_their_own_state():
    from agentkit.eval.agent import expert_decisions
    from agentkit.prompts import PromptFormat

    options = ["Hi.", "First, go east.", "Then, take the key."]
    turns = [Turn("system", "s"), Turn("user", "Hi. First, go east. Then, take the key.",
                                       info={"admissible_actions": ["go east"], "thought_options": options})]
    for thought, action in zip(options[1:], ["go east", "take key"], strict=True):
        turns += [Turn("assistant", f"Thought: {thought}\nAction: {action}", thought=thought, action=action),
                  Turn("user", f"After {action}.", info={"admissible_actions": ["take key"]})]  # fmt: skip
    episode = Episode("t", "env", turns, success=True, steps=2)
    ordered = expert_decisions([episode], PromptFormat(thoughts=True, thoughts_in_order=True))
    assert [offered for *_, offered in ordered] == [options, options[1:]]  # not the episode's last state's
    assert [offered for *_, offered in expert_decisions([episode], PromptFormat(thoughts=True))] == [options] * 2


@pytest.fixture(scope="module")
def always_north(tmp_path_factory):
    """A tiny model taught to answer "Action: go north" to anything, so what it says is known."""
    from agentkit.training.warmup import warm_start

    chats = [[{"role": "user", "content": f"room {i}"}, {"role": "assistant", "content": "Action: go north"}]
             for i in range(32)]  # fmt: skip
    cache = tmp_path_factory.mktemp("always-north")
    return str(warm_start("always-north", chats=chats, steps=40, learning_rate=3e-3, cache_dir=cache, progress=False))


def test_model_agreement_counts_the_replies_that_name_the_experts_command(always_north):
    from agentkit.eval.agent import expert_agreement
    from agentkit.prompts import PromptFormat
    from agentkit.rollout.engine import ModelAgent
    from agentkit.rollout.hf_backend import HFBackend
    from agentkit.rollout.sampling import SamplingParams

    agent = ModelAgent(HFBackend(always_north), SamplingParams(max_tokens=8))
    decisions = decisions_of([(action, [action, "look"]) for action in ["go north", "look", "go north", "take key"]])
    assert expert_agreement(agent, decisions, PromptFormat()) == pytest.approx(0.5)


def test_hf_score_is_the_replys_token_logprobs_and_ranks_the_taught_reply_first(always_north):
    import torch

    from agentkit.rollout.backend import reply_token_ids
    from agentkit.rollout.hf_backend import HFBackend

    backend = HFBackend(always_north, batch_size=2)  # three replies: two rows on the prompt's cache
    prompt = [{"role": "user", "content": "room 7"}]
    replies = ["Action: go north", "Action: look", "Action: take the small key from the table"]
    (scores,) = backend.score([prompt], [replies])
    assert max(range(3), key=scores.__getitem__) == 0 and all(s < 0 for s in scores)
    prompt_ids, answers = reply_token_ids(backend.tokenizer, prompt, replies)
    for answer, score in zip(answers, scores, strict=True):  # replies of different lengths: padded together
        assert answer[-1] == backend.tokenizer.eos_token_id  # the end of the reply is part of its probability
        with torch.inference_mode():
            logits = backend.model(input_ids=torch.tensor([prompt_ids + answer])).logits[0].log_softmax(-1)
        by_hand = sum(logits[len(prompt_ids) - 1 + t, token].item() for t, token in enumerate(answer))
        assert score == pytest.approx(by_hand, abs=1e-4)
    per_token = backend.score([prompt], [replies], per_token=True)[0]
    assert per_token == pytest.approx([score / len(a) for score, a in zip(scores, answers, strict=True)], abs=1e-5)


def test_hf_prefix_cache_scores_like_a_fresh_pass_and_computes_only_the_new_tokens(always_north):
    from agentkit.rollout.backend import reply_token_ids
    from agentkit.rollout.hf_backend import HFBackend

    cached, fresh = HFBackend(always_north), HFBackend(always_north, prefix_cache=0)
    passes = []
    cached.model.get_decoder().register_forward_pre_hook(
        lambda _m, args, kwargs: passes.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    system = {"role": "system", "content": "You play a text game. " * 20}  # the shared start dominates
    episode = [system, {"role": "user", "content": "room 1"}]
    replies = ["Action: go north", "Action: look"]
    new_tokens = []
    for step in range(3):  # each prompt extends the last, as an episode's prompts do with a full history
        before = cached.prompt_token_counts()[1]
        assert cached.score([episode], [replies])[0] == pytest.approx(fresh.score([episode], [replies])[0], abs=1e-4)
        new_tokens.append(cached.prompt_token_counts()[1] - before)
        _, answers = reply_token_ids(cached.tokenizer, episode, replies)
        assert passes[-1] == new_tokens[-1] + sum(len(a) - 1 for a in answers)  # one pass: new tokens, then replies
        reply, seen = {"role": "assistant", "content": "Action: go north"}, {"role": "user", "content": f"room {step}"}
        episode = [*episode, reply, seen]
    assert len(passes) == 3 and new_tokens[1] < new_tokens[0] / 2 and new_tokens[2] < new_tokens[0] / 2
    given, _ = cached.prompt_token_counts()
    assert fresh.prompt_token_counts() == (given, given)  # without a cache every prompt token is computed


def episode_prompts(count: int, turns: int) -> list[list[dict[str, str]]]:
    """Prompts of `count` episodes after `turns` turns each: a shared system prompt, different rooms."""
    prompts = []
    for episode in range(count):
        messages = [{"role": "system", "content": "You play a text game."}]
        for turn in range(turns + episode % 3):
            messages += [{"role": "user", "content": f"Game {episode}, room {turn}: a door to the north."},
                         {"role": "assistant", "content": "Action: go north"}]  # fmt: skip
        prompts.append([*messages, {"role": "user", "content": f"Game {episode}: you see a key."}])
    return prompts


def test_hf_scores_the_decisions_of_many_envs_in_one_pass_exactly_as_one_at_a_time(always_north):
    from agentkit.rollout.hf_backend import HFBackend

    batched, alone = HFBackend(always_north), HFBackend(always_north)
    passes = []
    batched.model.get_decoder().register_forward_pre_hook(
        lambda _m, args, kwargs: passes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    replies = [["Action: go north", "Action: take key"], ["Action: look"], ["Action: go north", "Action: eat the key"]]
    for turns in (1, 2):  # the second time each episode extends its first prompt: cached starts of other lengths
        prompts = episode_prompts(6, turns)
        options = [replies[i % 3] for i in range(6)]
        together = batched.score(prompts, options)
        assert passes[-1][0] == 6  # the six decisions in one batch
        one_by_one = [alone.score([prompt], [row])[0] for prompt, row in zip(prompts, options, strict=True)]
        for got, want in zip(together, one_by_one, strict=True):
            assert got == pytest.approx(want, abs=1e-4)
    assert len(passes) == 2


def test_hf_scoring_memory_stays_bounded_whatever_the_prompt_length_and_vocabulary(always_north):
    from agentkit.rollout.hf_backend import HFBackend

    unbounded, bounded = HFBackend(always_north), HFBackend(always_north, score_tokens=64)
    vocabulary = bounded.model.get_output_embeddings().out_features
    bounded.logit_elements = 3 * vocabulary  # three rows of logits at a time
    tokens, head_rows = [], []
    bounded.model.get_decoder().register_forward_pre_hook(
        lambda _m, args, kwargs: tokens.append(kwargs["input_ids"].numel()), with_kwargs=True
    )
    bounded.model.get_output_embeddings().register_forward_pre_hook(lambda _m, args: head_rows.append(len(args[0])))
    prompts = episode_prompts(3, 12)  # hundreds of tokens each
    replies = [[f"Action: go {way} and then {way} again" for way in ("north", "south", "east", "west")]] * 3
    got, want = bounded.score(prompts, replies), unbounded.score(prompts, replies)
    assert sum(got, []) == pytest.approx(sum(want, []), abs=1e-4)
    assert max(tokens) <= 64 and len(tokens) > 10 and max(head_rows) <= 3


def test_hf_scoring_builds_no_autograd_graph_so_its_prefix_cache_holds_no_activations(always_north):
    """With autograd on, every cached prompt's keys and values keep the whole pass's activations alive: the
    quickstart's zero-shot evaluation grew by 2 GB a step until the kernel killed it."""
    from agentkit.rollout.hf_backend import HFBackend

    backend = HFBackend(always_north)
    grad_during_passes = []
    backend.model.get_decoder().register_forward_hook(lambda *_: grad_during_passes.append(torch.is_grad_enabled()))
    backend.score(episode_prompts(3, 4), [["Action: go north", "Action: go south"]] * 3)
    backend.score(episode_prompts(3, 5), [["Action: go north", "Action: go south"]] * 3)  # on the cached starts
    assert grad_during_passes and not any(grad_during_passes)


def test_an_evaluation_records_the_prompt_tokens_a_scoring_model_computed_per_decision(always_north, textworld_games,
                                                                                        tmp_path):  # fmt: skip
    from agentkit.collect import build_env
    from agentkit.eval.agent import evaluate_agents
    from agentkit.policies import RandomPolicy
    from agentkit.prompts import PromptFormat
    from agentkit.rollout.engine import ModelAgent, PolicyAgent
    from agentkit.rollout.hf_backend import HFBackend
    from agentkit.rollout.sampling import SamplingParams

    kwargs, tasks = textworld_games
    agents = {
        "random": lambda: PolicyAgent(RandomPolicy(0)),
        "model": lambda: ModelAgent(HFBackend(always_north), SamplingParams(), "admissible_sum"),
    }
    fmt = PromptFormat(history=None, show_admissible=False)  # each prompt extends the last
    random, model = evaluate_agents(agents, lambda: build_env("textworld", {**kwargs, "max_steps": 5}, None),
                                    tasks[:2], tmp_path, num_envs=2, prompt_format=fmt)  # fmt: skip
    assert random.prefix_cache_hit is None and random.prompt_tokens_per_decision is None
    assert model.prefix_cache_hit > 0.5  # five steps, each reusing the episode so far
    assert 0 < model.prompt_tokens_per_decision < 200
    assert model.as_dict()["prefix_cache_hit"] == model.prefix_cache_hit  # written to metrics.json


def test_admissible_action_space_only_names_listed_commands(always_north):
    from agentkit.eval.agent import expert_agreement
    from agentkit.prompts import PromptFormat, parse_action
    from agentkit.rollout.engine import ModelAgent
    from agentkit.rollout.hf_backend import HFBackend
    from agentkit.rollout.sampling import SamplingParams

    backend = HFBackend(always_north)
    greedy = ModelAgent(backend, SamplingParams(), action_space="admissible")
    decisions = decisions_of([(action, [action, "look"]) for action in ["go north", "look", "go north", "take key"]])
    # "go north" is taken wherever it is listed (2 of 2) and never named where it is not.
    assert expert_agreement(greedy, decisions, PromptFormat()) >= 0.75
    prompts = [[{"role": "user", "content": "hall"}]] * 3
    menus = [["go north", "look"], ["look", "take key"], None]  # the last has no list: generated as text
    replies = greedy.complete(prompts, menus, PromptFormat())
    assert replies[0].text == "Action: go north" and replies[1].text in ("Action: look", "Action: take key")
    assert replies[2].text.startswith("Action: go north")
    sampled = ModelAgent(backend, SamplingParams(temperature=5.0, seed=3), action_space="admissible")
    menu = ["go north", "look", "take key"]
    texts = {reply.text for reply in sampled.complete([prompts[0]] * 30, [menu] * 30, PromptFormat())}
    assert len(texts) >= 2 and texts <= {f"Action: {command}" for command in menu}  # hot: not only the best
    thinking = greedy.complete(prompts[:2], menus[:2], PromptFormat(thoughts=True))
    assert [parse_action(reply.text)[1] for reply in thinking] == [replies[0].text[8:], replies[1].text[8:]]
    with pytest.raises(ValueError, match="action_space='menu'"):
        ModelAgent(backend, action_space="menu")


def test_extra_replies_compete_with_the_listed_commands(always_north):
    from agentkit.prompts import PromptFormat, parse_action
    from agentkit.rollout.engine import ModelAgent
    from agentkit.rollout.hf_backend import HFBackend
    from agentkit.rollout.sampling import SamplingParams

    backend = HFBackend(always_north)
    acted = [{"role": "user", "content": "room 1"}, {"role": "assistant", "content": "Action: go north"}]
    prompts = [[*acted, {"role": "user", "content": "hall"}]] * 2
    menus = [["look", "take key"], ["go north", "look"]]
    plain = ModelAgent(backend, SamplingParams(), "admissible").complete(prompts, menus, PromptFormat())
    assert plain[0].text in ("Action: look", "Action: take key")
    # The taught reply wins as an extra where the list lacks it; an untaught thought loses to it.
    offered = ModelAgent(backend, SamplingParams(), "admissible", extra_replies=("Action: go north",))
    assert [r.text for r in offered.complete(prompts, menus, PromptFormat())] == ["Action: go north"] * 2
    revising = ModelAgent(backend, SamplingParams(), "admissible", extra_replies=("Thought: I was wrong.",))
    assert revising.complete(prompts[1:], menus[1:], PromptFormat())[0].text == "Action: go north"
    hot = ModelAgent(backend, SamplingParams(temperature=50.0, seed=1), "admissible", ("Thought: I was wrong.",))
    texts = {r.text for r in hot.complete(prompts[:1] * 40, menus[:1] * 40, PromptFormat())}
    assert "Thought: I was wrong." in texts  # drawn like any command: a reply that names none
    assert parse_action("Thought: I was wrong.") == ("I was wrong.", None)
    # Offered only right after an action: not before the first one, not after a revision.
    revised = [{"role": "assistant", "content": "Thought: I was wrong."}, {"role": "user", "content": "hall"}]
    unrevisable = [[{"role": "user", "content": "hall"}], [*acted, *revised]]
    texts = {r.text for r in hot.complete(unrevisable * 20, menus[:1] * 40, PromptFormat())}
    assert texts <= {"Action: look", "Action: take key"}


class KnownProbabilities:
    """Stands in for a model whose reply probabilities are given: (log-probability, tokens) per reply."""

    name = "known"

    def __init__(self, replies: dict[str, tuple[float, int]]):
        self.replies = replies

    def generate(self, prompts, params):
        raise AssertionError("an admissible choice without written thoughts generates nothing")

    def reply_logprobs(self, prompts, replies):
        return [[self.replies[r] for r in row] for row in replies]


def test_an_extra_reply_is_weighed_against_acting_at_all_not_per_token():
    from agentkit.prompts import PromptFormat
    from agentkit.rollout.admissible import sample_replies
    from agentkit.rollout.sampling import SamplingParams

    revision = "Thought: I realize my approach was flawed. I need to revise it."

    commands = {"Action: look": (-1.0, 4), "Action: take key": (-1.5, 5)}
    prompt = [{"role": "user", "content": "room"}, {"role": "assistant", "content": "Action: look"},
              {"role": "user", "content": "hall"}]  # fmt: skip
    menu = ["look", "take key"]
    # A long reply learnt by heart: 30 tokens at -0.1 each beat any command per token, yet acting (the two
    # commands' mass, log(e^-1 + e^-1.5) = -0.53) is far likelier than its -3.0, so the agent acts.
    def choose(revision_logprob: float) -> str:
        backend = KnownProbabilities({**commands, revision: (revision_logprob, 30)})
        (replies,) = sample_replies(backend, [prompt], [menu], PromptFormat(), SamplingParams(), "admissible",
                                    (revision,))  # fmt: skip
        return replies[0].text

    assert choose(-3.0) == "Action: look"  # per token -0.1 vs -0.25: ranked per token, it would revise
    assert choose(-0.2) == revision


def test_draw_follows_the_softmax_of_the_scores_and_top_p():
    import random

    from agentkit.rollout.admissible import draw
    from agentkit.rollout.sampling import SamplingParams

    scores = [0.0, -1.0, -5.0]
    assert draw(scores, SamplingParams(), random.Random(0)) == 0
    rng = random.Random(0)
    counts = [0, 0, 0]
    for _ in range(4000):
        counts[draw(scores, SamplingParams(temperature=1.0), rng)] += 1
    expected = [1 / (1 + math.e**-1 + math.e**-5), math.e**-1 / (1 + math.e**-1 + math.e**-5)]
    assert counts[0] / 4000 == pytest.approx(expected[0], abs=0.03)
    assert counts[1] / 4000 == pytest.approx(expected[1], abs=0.03)
    # top_p 0.7 keeps only the best command (its mass alone is ~0.73).
    assert {draw(scores, SamplingParams(temperature=1.0, top_p=0.7), rng) for _ in range(200)} == {0}


def test_an_offered_thought_is_chosen_by_its_mass_then_the_command_given_it():
    from agentkit.prompts import PromptFormat
    from agentkit.rollout.admissible import sample_replies
    from agentkit.rollout.sampling import SamplingParams

    fmt = PromptFormat(thoughts=True)
    prompt, menu = [{"role": "user", "content": "hall"}], ["go east", "take key"]
    thoughts = ["First, head east.", "Then, take the key."]
    # The second thought holds more mass over both commands (log(e^-2.2 + e^-1.9) = -1.35 against
    # log(e^-1.5 + e^-9) = -1.50), but its replies are short: per token of its replies the first one wins.
    backend = KnownProbabilities({
        fmt.reply("go east", thoughts[0]): (-1.5, 20),
        fmt.reply("take key", thoughts[0]): (-9.0, 20),
        fmt.reply("go east", thoughts[1]): (-2.2, 5),
        fmt.reply("take key", thoughts[1]): (-1.9, 5),
    })  # fmt: skip

    def choice(action_space: str) -> str:
        (replies,) = sample_replies(backend, [prompt], [menu], fmt, SamplingParams(), action_space, (), [thoughts])
        return replies[0].text

    assert choice("admissible_sum") == fmt.reply("take key", thoughts[1])  # whole mass, then the whole reply
    assert choice("admissible") == fmt.reply("go east", thoughts[0])  # per token, then per token
    hot = SamplingParams(temperature=20.0, n=40, seed=2)
    drawn = {r.text for r in sample_replies(backend, [prompt], [menu], fmt, hot, "admissible", (), [thoughts])[0]}
    assert drawn == {fmt.reply(command, thought) for command in menu for thought in thoughts}
