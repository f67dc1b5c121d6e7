"""Behavior cloning: supervised learning of the expert's action in each state the agent sees (Pomerleau,
1988, "ALVINN"), with DART's noise injection as `demo_noise` (Laskey et al., 2017, "DART: Noise Injection
for Robust Imitation Learning").

The algorithm, step by step, and where each step lives (`cloning.clone` runs them in order):

1. expert demonstrations on the training tasks, optionally with random steps that are not trained on
   (`agentkit.agent_settings.collect_expert_demos`, `agentkit.policies.ExpertPolicy`);
2. SFT on the winning demos, loss on the agent's turns only, one sample per decision (`cloning.train`,
   with `agentkit.training.sft.train_on_episodes`);
3. held-out evaluation of the random policy, the base model and the trained policy (`cloning.evaluate`);
4. the run report (`report.report`).

`config.BCConfig` holds every setting; `recipes/bc.py` is the command line.
"""
