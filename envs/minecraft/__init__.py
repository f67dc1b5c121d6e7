"""The Minecraft family: `textcraft` (offline crafting in text, the default) and a MineDojo adapter.

Nothing here imports a simulator at package import time; each env module imports its own dependencies.
"""
