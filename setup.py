"""Maps the repository's top-level folders into the one `agentkit` namespace.

The root shows the architecture (`envs/`, `reward_models/`, `eval/` beside `agentkit/`), while every import
lives under `agentkit.*`, so nothing called plain `envs` or `eval` lands in site-packages.
"""

from setuptools import find_namespace_packages, setup

ROOTS = {
    "agentkit": "agentkit",
    "agentkit.envs": "envs",
    "agentkit.reward_models": "reward_models",
    "agentkit.eval": "eval",
}

packages = []
for name, folder in ROOTS.items():
    packages.append(name)
    # Namespace discovery also lists data folders (e.g. `envs/entity_deduction/data`), so they ship.
    packages += [f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])]

setup(packages=packages, package_dir=ROOTS)
