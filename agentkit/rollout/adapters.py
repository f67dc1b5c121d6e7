"""Adapter identity: a LoRA folder is known by its path and a digest of its content.

Peers have shipped bugs where updated LoRA weights never reached the inference engine and training
sampled the old policy. Backends record the digest of what they loaded and refuse to generate when the
folder has changed since, so a stale adapter fails loudly instead of silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from agentkit.errors import AgentkitError

WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class AdapterError(AgentkitError):
    """A missing adapter folder, or an adapter that is not the one asked for."""


@dataclass(frozen=True)
class AdapterRef:
    path: str
    digest: str

    @property
    def short(self) -> str:
        return self.digest[:12]


def _files(path: Path) -> list[Path]:
    config = path / "adapter_config.json"
    weights = [path / name for name in WEIGHT_FILES if (path / name).is_file()]
    if not config.is_file() or not weights:
        raise AdapterError(f"{path}: not a PEFT adapter folder (needs adapter_config.json and adapter weights)")
    return [config, weights[0]]


def adapter_ref(path: str | Path) -> AdapterRef:
    """The identity of the adapter folder as it is on disk now."""
    folder = Path(path).resolve()
    digest = hashlib.sha256()
    for file in _files(folder):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return AdapterRef(str(folder), digest.hexdigest())


def tensors_digest(state_dict: dict) -> str:
    """A digest of adapter tensors by name, to compare what a backend holds in memory with the file."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def check_unchanged(loaded: AdapterRef) -> None:
    """Raise if the adapter folder changed since the backend loaded it (its weights would be stale)."""
    now = adapter_ref(loaded.path)
    if now.digest != loaded.digest:
        raise AdapterError(
            f"adapter {loaded.path} changed on disk since it was loaded ({loaded.short} -> {now.short}); "
            "load it again before generating"
        )
