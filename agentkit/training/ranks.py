"""The end of a multi-process training run."""

from __future__ import annotations

from typing import Any


def finish_training(state: Any) -> bool:
    """All ranks meet once training is over and close their process group; True on the main rank.

    A rank that leaves while the group is still open can be aborted at exit by the collective library's
    threads ("terminate called without an active exception"), failing a run that trained well. So every rank
    closes the group here, and only the main one goes on to evaluate and write the report. `state` is an
    accelerate `PartialState` or `Accelerator`.
    """
    state.wait_for_everyone()
    state.destroy_process_group()
    return state.is_main_process
