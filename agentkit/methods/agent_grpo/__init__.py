"""Agent GRPO: online RL of a LoRA agent over whole env episodes, with GiGPO's step-level credit as an option
(Feng et al., 2025, "Group-in-Group Policy Optimization for LLM Agent Training").

The algorithm box, step by step, and where each step lives:

1. start from a LoRA adapter (a BC run's, `start_adapter`) on the base model (`training.build_policy`);
2. per iteration, play G episodes of each training task with the current adapter through the rollout engine,
   keeping every reply's generated token ids and their log-probs (`training.sample_episodes`);
3. score each episode (`rewards.outcome_function`) and give every step its advantage: the episode's
   group-relative return (GRPO), plus omega times its relative discounted return among the steps taken from
   the same state (GiGPO) (`advantages.task_advantages`);
4. update the policy on exactly the stored token ids (`decisions.episode_decisions`, `decisions.decision_batch`)
   with the clipped importance ratio against the stored log-probs and a k3 KL to the base model, the adapter
   disabled, on the agent's tokens only (`loss.clipped_surrogate`, `training.update`);
5. save the adapter, hot-load it into the engine and check that the next episodes were played with it, by
   content digest (`training.train`);
6. evaluate the start and the trained adapter on held-out tasks (`evaluation.evaluate`), and write the report
   (`report.report`).

`config.AgentGRPOConfig` holds the defaults; `recipes/agent_grpo.py` is the command line.
"""
