"""Child processes of the end-to-end tests: each in its own process group, so that a kill ends it whole."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest


def communicate_or_kill(process: subprocess.Popen, timeout: float, what: str) -> tuple[str, str]:
    """(stdout, stderr) of `process` once it ends; past `timeout` seconds its group is killed and the test
    fails with its stderr (never a hang)."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"{what} did not finish in {timeout:.0f} s:\n{stderr[-3000:]}")
