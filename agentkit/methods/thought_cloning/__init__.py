"""Thought cloning: clone the expert's reasoning along with its actions (Hu & Clune, 2023, "Thought
Cloning: Learning to Think while Acting by Imitating Human Thinking", arXiv:2306.00323).

The algorithm, step by step, and where each step lives: the steps are behavior cloning's
(`agentkit.methods.bc.cloning.clone`), with

1. demos whose agent turns carry `Thought: ...` then `Action: ...` (the env's expert writes the thought;
   `agentkit.prompts.PromptFormat` with `thoughts=True`);
2. loss = action NLL + `thought_weight` x thought NLL (`agentkit.training.sft.train_on_episodes` with
   `thought_weight`; the paper's weight is 2);
3. at inference the agent writes (or picks among the env's offered) thoughts, then the action.

`config.ThoughtCloningConfig` holds its settings; `recipes/thought_cloning.py` is the command line.
"""
