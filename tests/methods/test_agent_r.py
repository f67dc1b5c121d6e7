"""Agent-R: MCTS (UCT, expansion, replay), good/bad pairs, critique, splices, and the recipe end to end.

Searches run on the real textcraft env. Where a test needs to dictate the policy's replies (which command
is sampled, what a critique says), `ScriptedBackend` is a fake model: it returns fixed replies in order.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.envs import make
from agentkit.methods.agent_r.revision import (
    Pair,
    TreePath,
    good_paths,
    leaf_paths,
    locate_errors,
    parse_judgement,
    repeat_step,
    select_pairs,
    splice,
    value_drop_step,
)
from agentkit.methods.agent_r.search import (
    MCTSConfig,
    Node,
    Replayer,
    Search,
    Transition,
    Tree,
    build_trees,
    uct_score,
)
from agentkit.methods.agent_r.tree_records import tree_from_dict
from agentkit.prompts import PromptFormat
from agentkit.rollout.backend import Backend
from agentkit.rollout.engine import INVALID_REPLY, Task, no_command_answer
from agentkit.rollout.sampling import Completion
from agentkit.trajectory import episode_from_dict

ROOT = Path(__file__).resolve().parents[2]
ENV_KWARGS = {"split": "train", "depth": 1, "max_steps": 6}
TASK = Task("acacia_wood", 0)  # expert: get 4 acacia log, craft 3 acacia wood using 4 acacia log
WIN = ["get 4 acacia log", "craft 3 acacia wood using 4 acacia log"]


class ScriptedBackend(Backend):
    """A fake model: replies come from `script` in order (cycled), `n` per prompt; calls are recorded."""

    name = "scripted"

    def __init__(self, script: list[str]):
        self.script = script
        self.calls: list[tuple[int, int]] = []  # (prompts, n) per generate call
        self._next = 0

    def generate(self, prompts, params):
        self.calls.append((len(prompts), params.n))
        out = []
        for _ in prompts:
            replies = []
            for _ in range(params.n):
                replies.append(Completion(self.script[self._next % len(self.script)]))
                self._next += 1
            out.append(replies)
        return out


class CountingEnv:
    """The real textcraft env, counting resets and steps (to check what the replay cache saves)."""

    def __init__(self):
        self.env = make("textcraft", **ENV_KWARGS)
        self.name, self.max_steps, self.thread_safe = self.env.name, self.env.max_steps, False
        self.resets = 0
        self.steps: list[str] = []

    def reset(self, **kwargs):
        self.resets += 1
        return self.env.reset(**kwargs)

    def step(self, action):
        self.steps.append(action)
        return self.env.step(action)

    def close(self):
        self.env.close()


def tree_for(env=None, max_depth: int = 6) -> Tree:
    env = env or make("textcraft", **ENV_KWARGS)
    return Tree(TASK, Replayer(env, TASK), max_depth)


def hand_node(tree: Tree, parent: Node, action: str, visits: int, value: float, outcome: float | None = None):
    """A node with hand-set statistics (no env step)."""
    node = Node(len(tree.nodes), parent.id, action, None, f"Action: {action}", Transition(f"after {action}"),
                parent.depth + 1, terminal=outcome is not None, outcome=outcome, visits=visits,
                value_sum=value * visits)
    tree.nodes.append(node)
    parent.children.append(node.id)
    return node


# --- UCT ---------------------------------------------------------------------------------------------------


def test_uct_score_is_mean_value_plus_exploration_bonus():
    assert uct_score(0.5, 4, 16, 0.25) == pytest.approx(0.5 + 0.25 * math.sqrt(math.log(16) / 4))
    assert uct_score(0.9, 0, 16, 0.25) == math.inf


def test_uct_picks_the_child_with_the_best_score_from_hand_values():
    tree = tree_for()
    tree.root.visits, tree.root.expanded = 20, True
    exploit = hand_node(tree, tree.root, "a", visits=15, value=0.6)  # 0.6 + 0.25 * sqrt(ln 20 / 15) = 0.711
    explore = hand_node(tree, tree.root, "b", visits=2, value=0.4)  # 0.4 + 0.25 * sqrt(ln 20 / 2) = 0.706
    assert tree.select_child(tree.root, 0.25) is exploit
    assert tree.select_child(tree.root, 1.0) is explore  # more exploration favours the rarely tried child


def test_unvisited_children_come_first_whatever_the_values():
    tree = tree_for()
    tree.root.visits, tree.root.expanded = 10, True
    hand_node(tree, tree.root, "a", visits=9, value=1.0)
    fresh = hand_node(tree, tree.root, "b", visits=0, value=0.0)
    assert tree.select(0.25) is fresh  # selection stops at the unvisited child to simulate from it


def test_backup_adds_the_value_along_the_path():
    tree = tree_for()
    child = hand_node(tree, tree.root, "a", visits=0, value=0.0)
    leaf = hand_node(tree, child, "b", visits=0, value=0.0, outcome=1.0)
    tree.backup(leaf, 1.0)
    tree.backup(leaf, 0.0)
    assert [(n.visits, n.value) for n in tree.path(leaf)] == [(2, 0.5), (2, 0.5), (2, 0.5)]


# --- expansion and replay -----------------------------------------------------------------------------------


def test_expansion_merges_replies_naming_the_same_command():
    tree = tree_for()
    first = tree.add_child(tree.root, "Action: get 4 acacia log")
    again = tree.add_child(tree.root, "Thought: logs first\nAction: Get  4 ACACIA log.")
    other = tree.add_child(tree.root, "Action: inventory")
    assert again is first and other is not first
    assert tree.root.children == [first.id, other.id]
    assert first.observation.startswith("Got 4 acacia log")


def test_a_node_is_reached_by_reset_and_replay_and_known_steps_come_from_the_cache():
    env = CountingEnv()
    replayer = Replayer(env, TASK)
    tree = Tree(TASK, replayer, 6)
    get = tree.add_child(tree.root, f"Action: {WIN[0]}")
    won = tree.add_child(get, f"Action: {WIN[1]}")
    assert won.terminal and won.outcome == 1.0 and env.resets == 1 and env.steps == WIN  # no replay needed
    detour = tree.add_child(tree.root, "Action: inventory")  # a sibling: reset, then one step
    assert env.resets == 2 and env.steps[-1] == "inventory"
    again = tree.add_child(get, "Action: get 1 coal")  # back under `get`: reset and replay it first
    assert env.resets == 3 and env.steps[-2:] == [WIN[0], "get 1 coal"]
    steps_before, hits_before = len(env.steps), replayer.cache_hits
    assert replayer.transition([WIN[0]], WIN[1]) is won.transition  # known: no env step at all
    assert len(env.steps) == steps_before and replayer.cache_hits == hits_before + 1
    fresh = make("textcraft", **ENV_KWARGS)
    fresh.reset(seed=TASK.seed, options={"task_id": TASK.task_id})
    fresh.step(WIN[0])
    assert fresh.step("get 1 coal")[0] == again.observation and detour.depth == 1


def test_a_discounted_win_is_worth_less_the_longer_it_took():
    tree = Tree(TASK, Replayer(make("textcraft", **ENV_KWARGS), TASK), 6, discount=0.5)
    won = tree.add_child(tree.add_child(tree.root, f"Action: {WIN[0]}"), f"Action: {WIN[1]}")
    detour = tree.add_child(tree.add_child(tree.root, "Action: inventory"), f"Action: {WIN[0]}")
    late_win = tree.add_child(detour, f"Action: {WIN[1]}")
    assert won.outcome == 0.5 and late_win.outcome == 0.25  # 1 x 0.5^(steps - 1)
    # the shorter win is the good path Agent-R keeps, and a pair needs alpha of it
    paths = leaf_paths(tree)
    assert [p.nodes[-1] for p in good_paths(paths, alpha=0.3, limit=2)] == [won]
    with pytest.raises(ValueError, match="discount=0"):
        MCTSConfig(discount=0)


def test_a_reply_without_a_command_gets_the_engines_answer_and_never_reaches_the_env():
    env = CountingEnv()
    tree = tree_for(env)
    node = tree.add_child(tree.root, "Thought: hmm\n\nsomething\nelse")
    assert node.action is None and env.steps == []
    assert node.observation == f"{INVALID_REPLY}\n\n{tree.root.observation}"  # told so, and shown the state
    assert tree.add_child(node, "Thought: still\nnothing").observation == node.observation  # restated once, not nested


def test_search_batches_every_tree_into_one_generate_per_phase():
    backend = ScriptedBackend(["Action: inventory", f"Action: {WIN[0]}", "Action: get 1 coal",
                               f"Action: {WIN[1]}"])
    trees, failed = build_trees(lambda: make("textcraft", **ENV_KWARGS), [TASK, Task("birch_planks", 1)], 3)
    assert failed == []
    search = Search(backend, PromptFormat(), MCTSConfig(iterations=3, candidates=4, max_depth=3))
    search.run(trees)
    assert backend.calls[0] == (2, 1)  # the first simulation step of both trees: one call
    assert next(call for call in backend.calls if call[1] == 4) == (2, 4)  # both roots expand in one call
    assert {n for _, n in backend.calls} == {1, 4}  # simulations sample 1 reply, expansions k = 4
    stats = search.stats(trees)
    assert stats.generate_calls == len(backend.calls) and stats.leaves >= 2 and stats.cache_hits >= 0
    for tree in trees:
        assert tree.root.visits == 3  # one backup per iteration
        assert all(leaf.terminal and leaf.outcome is not None for leaf in tree.leaves())
        record = json.loads(json.dumps(tree.as_record("textcraft", 1, [])))
        assert len(tree_from_dict(record).nodes) == len(tree.nodes)  # the run viewer reads it


def test_admissible_search_expands_only_listed_commands(tiny_model_dir):
    from agentkit.rollout.hf_backend import HFBackend

    trees, _ = build_trees(lambda: make("textcraft", **ENV_KWARGS), [TASK], 2)
    settings = MCTSConfig(iterations=2, candidates=3, max_depth=2, action_space="admissible")
    Search(HFBackend(str(tiny_model_dir), threads=1), PromptFormat(), settings).run(trees)
    for tree in trees:
        assert len(tree.nodes) > 2
        for node in tree.nodes[1:]:
            listed = tree.nodes[node.parent].transition.info["admissible_actions"]
            assert node.action in listed and node.transition.error is None
    with pytest.raises(ValueError, match="action_space='menu'"):
        MCTSConfig(action_space="menu")


def test_a_task_whose_env_fails_to_reset_is_reported_not_raised():
    trees, failed = build_trees(lambda: make("textcraft", **ENV_KWARGS), [Task("no_such_goal", 0)], 3)
    assert trees == [] and failed[0][0].task_id == "no_such_goal" and "no_such_goal" in failed[0][1]


# --- pairs, critique, splice --------------------------------------------------------------------------------


def scored_tree() -> tuple[Tree, dict[str, Node]]:
    """root -> a -> {a1 (win 1.0), a2 (0.0)};  root -> b (0.6);  root -> c (0.9)."""
    tree = tree_for()
    tree.root.visits = 4
    a = hand_node(tree, tree.root, "a", visits=2, value=0.5)
    nodes = {
        "a": a,
        "a1": hand_node(tree, a, "a1", visits=1, value=1.0, outcome=1.0),
        "a2": hand_node(tree, a, "a2", visits=1, value=0.0, outcome=0.0),
        "b": hand_node(tree, tree.root, "b", visits=1, value=0.6, outcome=0.6),
        "c": hand_node(tree, tree.root, "c", visits=1, value=0.45, outcome=0.45),
    }
    return tree, nodes


def test_pairs_need_a_good_path_above_alpha_that_beats_the_bad_one_by_beta():
    tree, n = scored_tree()
    paths = {p.nodes[-1].action: p for p in leaf_paths(tree)}
    pairs = select_pairs(list(paths.values()), alpha=0.5, beta=0.2, limit=10)
    as_actions = [(p.good.nodes[-1].action, p.bad.nodes[-1].action) for p in pairs]
    # a2 (0.0) pairs with the best good path a1 (1.0); c (0.45) with a1 too; b (0.6) is within 0.4 of a1
    # but 1.0 - 0.6 >= 0.2, so b pairs as well; a1 has nothing 0.2 above it.
    assert as_actions == [("a1", "a2"), ("a1", "c"), ("a1", "b")]
    assert pairs[0].split == 2 and pairs[1].split == 1  # a2 shares root and a with a1
    assert [p for p in select_pairs(list(paths.values()), 0.5, 0.5, 10) if p.bad.nodes[-1].action == "b"] == []
    assert select_pairs(list(paths.values()), alpha=1.1, beta=0.2, limit=10) == []  # nothing is good
    assert len(select_pairs(list(paths.values()), 0.5, 0.2, limit=1)) == 1
    assert [p.nodes[-1].action for p in good_paths(list(paths.values()), 0.5, 2)] == ["a1", "b"]


def test_bad_paths_that_loop_are_paired_first_among_equals():
    tree, n = scored_tree()
    again = hand_node(tree, n["c"], "c", visits=1, value=0.0)  # c again, same observation: a loop
    hand_node(tree, again, "d", visits=1, value=0.0, outcome=0.0)
    paths = leaf_paths(tree)
    bad_leaves = [p.bad.nodes[-1].action for p in select_pairs(paths, 0.5, 0.2, limit=1)]
    assert bad_leaves == ["a2"]  # a2 and the looping path are both worth 0.0: the older one goes first
    bad_leaves = [p.bad.nodes[-1].action for p in select_pairs(paths, 0.5, 0.2, limit=1, loops_first=True)]
    assert bad_leaves == ["d"]


def test_critique_replies_that_are_not_judgements_fall_back_to_the_value_drop():
    tree, n = scored_tree()
    pair = Pair(TreePath(tree, tree.path(n["a1"])), TreePath(tree, tree.path(n["a2"])), split=2)
    locate_errors([pair], ScriptedBackend(["alsalsals"]))
    assert (pair.error, pair.rule) == (2, "value_drop")
    pair_c = Pair(TreePath(tree, tree.path(n["a1"])), TreePath(tree, tree.path(n["c"])), split=1)
    locate_errors([pair_c], None)  # critique off
    assert (pair_c.error, pair_c.rule) == (1, "value_drop")


def test_the_first_bad_judgement_places_the_error():
    tree, n = scored_tree()
    deep = hand_node(tree, n["a2"], "a3", visits=1, value=0.0, outcome=0.0)
    pair = Pair(TreePath(tree, tree.path(n["a1"])), TreePath(tree, tree.path(deep)), split=2)
    backend = ScriptedBackend(["Uncertain.", "bad: it wastes a turn"])  # step 2 uncertain, step 3 bad
    locate_errors([pair], backend)
    assert (pair.error, pair.rule) == (3, "model") and backend.calls == [(2, 1)]
    assert parse_judgement("  GOOD move") == "good" and parse_judgement("Goodness") is None


def test_a_command_repeated_to_no_effect_places_the_error_before_the_value_drop():
    tree, n = scored_tree()
    again = hand_node(tree, n["a2"], "a2", visits=1, value=0.0)  # a2 again, and the same observation
    leaf = hand_node(tree, again, "a3", visits=1, value=0.0, outcome=0.0)
    pair = Pair(TreePath(tree, tree.path(n["a1"])), TreePath(tree, tree.path(leaf)), split=2)
    assert value_drop_step(pair) == 2 and repeat_step(pair) == 3
    locate_errors([pair], ScriptedBackend(["alsalsals"] * 3), repeats=True)  # no judgement: the repeat rules
    assert (pair.error, pair.rule) == (3, "repeat")
    locate_errors([pair], ScriptedBackend(["Bad", "Good", "Good"]), repeats=True)  # a judgement comes first
    assert (pair.error, pair.rule) == (2, "model")
    locate_errors([pair], None)  # the paper's rule alone
    assert (pair.error, pair.rule) == (2, "value_drop")
    again.transition = Transition("something changed")  # the same command with a new result is no loop
    assert repeat_step(pair) is None
    locate_errors([pair], None, repeats=True)
    assert (pair.error, pair.rule) == (2, "value_drop")


def test_value_drop_is_the_first_bad_step_below_the_good_path():
    tree, n = scored_tree()
    a_low = hand_node(tree, tree.root, "x", visits=3, value=0.7)  # above a (0.5): not the error yet
    leaf = hand_node(tree, a_low, "y", visits=1, value=0.0, outcome=0.0)
    pair = Pair(TreePath(tree, tree.path(n["a1"])), TreePath(tree, tree.path(leaf)), split=1)
    assert value_drop_step(pair) == 2


def test_critique_by_a_tiny_random_model_falls_back(tiny_model_dir):
    from agentkit.rollout.hf_backend import HFBackend

    tree, n = scored_tree()
    pair = Pair(TreePath(tree, tree.path(n["a1"])), TreePath(tree, tree.path(n["a2"])), split=2)
    locate_errors([pair], HFBackend(str(tiny_model_dir), threads=1))
    assert pair.rule == "value_drop"


def test_splice_layout_and_loss_flags():
    tree = tree_for()
    get = tree.add_child(tree.root, f"Action: {WIN[0]}")
    won = tree.add_child(get, f"Action: {WIN[1]}")
    coal = tree.add_child(get, "Action: get 1 coal")
    lost = tree.add_child(coal, "Action: inventory")
    for leaf, value in ((won, 1.0), (lost, 0.0)):
        leaf.terminal, leaf.outcome = True, value
        tree.backup(leaf, value)
    (pair,) = select_pairs(leaf_paths(tree), 0.5, 0.2, 4)
    pair.error, pair.rule = 2, "value_drop"  # the bad step `get 1 coal`
    episode = splice(pair, "textcraft", PromptFormat(), "I realize my approach was flawed.", round_index=1)
    roles = [t.role for t in episode.turns]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user",
                     "assistant", "user"]
    texts = [t.text for t in episode.turns]
    k = episode.meta["splice_turn"]
    assert k == 6 and texts[k] == "Thought: I realize my approach was flawed."
    assert texts[2] == f"Action: {WIN[0]}" and texts[4] == "Action: get 1 coal"  # shared prefix, bad step
    assert texts[k + 1] == no_command_answer(texts[k - 1])  # what the engine answers a reply without a command
    assert texts[k + 2] == f"Action: {WIN[1]}" and "Goal reached" in texts[k + 3]  # the good continuation
    assert [t.loss for t in episode.turns if t.role == "assistant"] == [False, False, True, True]
    assert episode.success and episode.meta == {
        "kind": "revision", "splice_turn": 6, "round": 1, "critique_rule": "value_drop",
        "pair": {"task_id": "acacia_wood", "good": [0, get.id, won.id], "bad": [0, get.id, coal.id, lost.id]},
    }
    assert episode_from_dict(json.loads(episode.to_json())) == episode  # an ordinary episode on disk
    with pytest.raises(ValueError, match="locate_errors"):
        splice(Pair(pair.good, pair.bad, pair.split), "textcraft", PromptFormat(), "x", 1)


# --- the recipe ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_recipe_runs_rounds_and_resumes_per_round(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, str(ROOT / "recipes" / "agent_r.py"), "--config",
            str(ROOT / "recipes" / "configs" / "agent_r_textcraft.yaml"), f"output_dir={out}",
            f"cache_dir={tmp_path / 'cache'}", "env.train_limit=3", "env.eval_limit=2", "env.kwargs.max_steps=3",
            "bc_train.max_steps=2", "train.max_steps=1", "train.padding_free=false", "bc_train.padding_free=false",
            "search.iterations=2", "search.candidates=2", "search.max_tokens=12", "eval.max_tokens=12",
            "eval.num_envs=2", "revision.alpha=0.0", "revision.beta=0.0"]
    first = subprocess.run([*args, "rounds=1"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-3000:]
    round_1 = out / "round_1"
    for name in ("trees.jsonl", "revisions.jsonl", "good.jsonl", "adapter/adapter_model.safetensors",
                 "eval_round_1.jsonl", "round.json"):
        assert (round_1 / name).is_file(), name
    for name in ("config.yaml", "metrics.json", "report.md", "success.png", "round_0/eval_bc.jsonl"):
        assert (out / name).is_file(), name
    trees = [json.loads(line) for line in (round_1 / "trees.jsonl").read_text().splitlines()]
    assert len(trees) == 3 and all(tree_from_dict(t).round == 1 for t in trees)
    record = json.loads((round_1 / "round.json").read_text())
    assert record["search"]["tasks"] == 3 and "success_rate" in record["eval"]
    finished = (round_1 / "round.json").stat().st_mtime_ns
    (out / "round_2" / "trees.jsonl.partial").parent.mkdir()
    (out / "round_2" / "trees.jsonl.partial").write_text("{cut off")  # an interrupted round 2
    second = subprocess.run([*args, "rounds=2"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (round_1 / "round.json").stat().st_mtime_ns == finished  # round 1 was skipped, not redone
    assert [r["round"] for r in json.loads((out / "metrics.json").read_text())["rounds"]] == [0, 1, 2]
    assert not (out / "round_2" / "trees.jsonl.partial").exists()
    assert "| round 2 |" in (out / "report.md").read_text()


def expert_demos_file(path: Path) -> Path:
    """One winning expert episode of TASK, as a demos JSONL."""
    from agentkit.policies import ExpertPolicy
    from agentkit.rollout.engine import PolicyAgent, rollout
    from agentkit.trajectory import TrajectoryWriter

    with TrajectoryWriter(path) as writer:
        episodes, _ = rollout(lambda: make("textcraft", **ENV_KWARGS), [TASK], PolicyAgent(ExpertPolicy()),
                              num_envs=1, writer=writer, progress=False)  # fmt: skip
    assert [e.success for e in episodes] == [True]
    return path


def trained_decisions(path: Path) -> int:
    from agentkit.trajectory import read_episodes

    episodes, _ = read_episodes(path)
    return sum(turn.role == "assistant" and turn.loss for e in episodes for turn in e.turns)


@pytest.mark.slow
def test_full_finetune_rounds_continue_the_previous_rounds_model(tmp_path):
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "run"
    demos = expert_demos_file(tmp_path / "demos.jsonl")
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "agent_r.py"), "--config",
         str(ROOT / "recipes" / "configs" / "agent_r_textcraft.yaml"), f"output_dir={out}",
         f"cache_dir={tmp_path / 'cache'}", "rounds=1", "lora.full_finetune=true", "env.train_limit=2",
         "env.eval_limit=1", "env.kwargs.max_steps=3", "bc_train.max_steps=2", "train.max_steps=2",
         "train.padding_free=false", "bc_train.padding_free=false", "search.iterations=2", "search.candidates=2",
         "search.max_tokens=12", "eval.max_tokens=12", "eval.num_envs=1", "eval.expert_agreement=false",
         "revision.alpha=0.0", "revision.beta=0.0", f"replay_demos={demos}"],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    weights = [load_file(out / f"round_{k}" / "model" / "model.safetensors") for k in (0, 1)]
    assert not (out / "round_1" / "adapter").exists()
    record = json.loads((out / "round_1" / "round.json").read_text())
    # The round trains on its own revision and good trajectories and on the replayed demo's decisions.
    own = sum(trained_decisions(out / "round_1" / name) for name in ("revisions.jsonl", "good.jsonl"))
    assert own > 0 and record["replayed_demos"] == 1
    assert record["train"]["samples"] == own + trained_decisions(demos)
    assert record["policy"] == str(out / "round_1" / "model") and record["train"]["global_steps"] == 2
    assert any(not torch.equal(weights[0][name], weights[1][name]) for name in weights[0])  # round 1 trained
    assert json.loads((out / "round_0" / "round.json").read_text())["eval"]["episodes"] == 1


def test_bad_config_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "agent_r.py"), "--config",
         str(ROOT / "recipes" / "configs" / "agent_r_textworld.yaml"), "revision.alpha=high"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("agent_r: error: revision.alpha='high'")
    missing = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "agent_r.py"), "--config",
         str(ROOT / "recipes" / "configs" / "agent_r_textworld.yaml"), f"replay_demos={tmp_path / 'none.jsonl'}"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert missing.returncode == 2 and "replay_demos=" in missing.stderr and "is not a file" in missing.stderr


def test_config_takes_the_demo_base_like_bc():
    from agentkit.config import parse_recipe_args
    from agentkit.methods.agent_r.config import AgentRConfig

    config = parse_recipe_args(AgentRConfig, [
        "--config", str(ROOT / "recipes" / "configs" / "agent_r_textworld.yaml"), "model=demo", "demo_base.steps=7"])
    assert config.model == "demo" and config.demo_base.steps == 7
    assert config.env.train_kwargs["split"] == "train"
