"""URPO: one policy is both player and referee, trained in one GRPO loop (Lu et al., 2025, "URPO: A
Unified Reward & Policy Optimization Framework for Large Language Models", arXiv:2507.17515).

The algorithm, step by step, and where each step lives:

1. a start model that knows the formats (`data.build_warm_start` on `data.warmup_chats`: solutions,
   rankings with `data.audit_lines`, rubric scores);
2. recast all data into one chat format: verifiable problems, preference data with a known order
   (`preferences.arithmetic_preferences`, `preferences.load_preferences`,
   `preferences.trajectory_preferences`; prompts by `referee.ranking_prompt`) and open-ended requests
   (`data.open_request`);
3. mix the three kinds in fixed shares in every batch (`mixing.mix_batches`, `mixing.train_rows`);
4. reward each kind by its own rule, only on its own rows (`mixing.for_kind`): the verifier, agreement with
   the gold order (`referee.make_ranking_reward`), and the policy's own rubric scores of the group's
   answers (`referee.Referee`, `referee.make_referee_reward`);
5. one GRPO loop over the mixed batches, group-relative advantages per prompt (`training.train`);
6. held-out figures of player and referee (`evaluation.evaluate`).

`config.URPOConfig` holds every setting; `recipes/urpo.py` is the command line.
"""
