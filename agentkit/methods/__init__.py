"""One package per method (paper): its algorithm, its config and the data it alone needs.

What two or more methods share (rollouts, SFT, warm starts, the run folder, envs, rewards) lives in the
core packages beside this one; each method's `__init__` cites its paper and maps the algorithm to code.
"""
