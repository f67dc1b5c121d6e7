"""Agent-R: an agent learns to notice its own errors mid-episode and revise (Yuan et al., 2025, "Agent-R:
Training Language Model Agents to Reflect via Iterative Self-Training", arXiv:2501.11425).

The algorithm, step by step, and where each step lives:

0. the start policy: behaviour cloning on expert demos, or a given adapter (`rounds.start_round`);
then each round k (`rounds.agent_r_round`):
1. MCTS on every training task under the current policy (`search.Search`, `search.build_trees`; UCT
   selection `search.uct_score`, expansion by sampled replies, simulation to a terminal state, back-up);
2. pair good and bad paths of each tree: good >= alpha, good - bad >= beta (`revision.leaf_paths`,
   `revision.select_pairs`, `revision.good_paths`);
3. place the error step of each bad path by the policy's own critique, else the value drop
   (`revision.locate_errors`);
4. splice revision trajectories: the bad path up to the error, a revision thought, the good path's rest
   (`revision.splice`, `revision.good_episode`; the whole round's data by `rounds.build_data`);
5. continue training the policy on the revision and good trajectories (`rounds.agent_r_round`);
6. evaluate on held-out tasks (`rounds.evaluate`).

The search trees are saved per round as `trees.jsonl`, whose record types (`tree_records`) the run
viewer reads. `config.AgentRConfig` holds every setting; `recipes/agent_r.py` is the command line.
"""
