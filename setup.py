"""Maps the repository's top-level folders into the one `agentkit` namespace.

The root shows the architecture (`envs/`, `reward_models/`, `eval/` beside `agentkit/`), while every import
lives under `agentkit.*`, so nothing called plain `envs` or `eval` lands in site-packages.
"""

from setuptools import find_packages, setup

ROOTS = {
    "agentkit": "agentkit",
    "agentkit.envs": "envs",
    "agentkit.reward_models": "reward_models",
    "agentkit.eval": "eval",
}

packages = []
for name, folder in ROOTS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=ROOTS)
