"""OREAL: outcome reward-based reinforcement learning (Lyu et al., 2025, "Exploring the Limit of Outcome
Reward for Learning Mathematical Reasoning", arXiv:2502.06781).

The algorithm box, step by step, and where each step lives:

1. start from an SFT warm start pi_0 (`data.build_warm_start`, built once by `agentkit.training.warmup`);
2. per step, sample K answers per prompt from the current policy and verify each (`training.train`, with
   `policy_gradient.sample_groups` and `agentkit.reward_models.math_reward`);
3. drop groups that are all right or all wrong; keep a few positives and negatives per prompt, with their
   RLOO advantages (`selection.select_samples`);
4. weigh each token by the token-level reward model trained on outcomes alone
   (`token_reward.TokenRewardHead`, `token_reward.token_reward_loss`, `token_reward.token_weights`);
5. update on BC(positives) + eta * PG(negatives) + beta * KL_k3(policy || reference)
   (`loss.positive_loss`, `loss.negative_loss`, `loss.kl_penalty`; one step in `training.train_step`);
6. evaluate greedy accuracy and pass@k on held-out problems (`evaluation.evaluate_policy`).

`config.OrealConfig` holds the paper's constants as defaults; `recipes/oreal.py` is the command line.
"""
