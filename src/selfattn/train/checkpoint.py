"""Checkpoints as safetensors files: weights and training state, never pickled code.

Lightning hands a checkpoint to its ``CheckpointIO`` as a nested dict (model weights,
optimizer moments, loop counters, callback states). ``SafetensorsCheckpointIO`` stores
every tensor in a ``.safetensors`` file and the rest of the structure as JSON in the
file's metadata, so loading runs no unpickler at all: a checkpoint is data, not a program.

Writes are atomic: the file goes to ``<name>.tmp`` first and replaces the target with
``os.replace``, so a run killed mid-write leaves the previous checkpoint intact.

``save_weights`` / ``load_weights`` do the same for a bare ``state_dict`` (the model only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO

__all__ = ["SafetensorsCheckpointIO", "decode", "encode", "load_state", "load_weights", "save_state",
           "save_weights", "weights_metadata"]

_STRUCTURE = "selfattn.structure"


def encode(obj: Any, tensors: dict[str, torch.Tensor], where: str = "checkpoint") -> Any:
    """A JSON-able copy of ``obj`` with every tensor moved into ``tensors`` (by a key)."""
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {"__dict__": [[encode(k, tensors, where), encode(v, tensors, f"{where}[{k!r}]")]
                             for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, torch.dtype):
        return {"__dtype__": str(obj).removeprefix("torch.")}
    if isinstance(obj, (Path, os.PathLike)):
        return str(obj)
    if hasattr(obj, "item") and hasattr(obj, "dtype"):  # numpy scalars
        return obj.item()
    raise TypeError(f"{where}: cannot store a {type(obj).__name__} in a safetensors checkpoint "
                    "(only tensors, numbers, strings, lists, tuples and dicts)")


def decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(decode(v, tensors) for v in obj["__tuple__"])
        if "__dtype__" in obj:
            return getattr(torch, obj["__dtype__"])
        return {decode(k, tensors): decode(v, tensors) for k, v in obj["__dict__"]}
    return obj


def _atomic_save_file(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # safetensors creates files readable by the owner only
    os.replace(tmp, path)


def save_state(state: dict[str, Any], path: str | Path) -> None:
    """Any nested dict of tensors and plain values -> one safetensors file (atomically)."""
    tensors: dict[str, torch.Tensor] = {}
    structure = encode(state, tensors)
    _atomic_save_file(tensors, Path(path), {_STRUCTURE: json.dumps(structure)})


def load_state(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a file written by :func:`save_state` (no unpickling)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: expected a safetensors checkpoint, got {path} (missing)")
    device = map_location if isinstance(map_location, (str, torch.device)) else "cpu"
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from None
    if _STRUCTURE not in metadata:
        raise ValueError(f"{path}: a safetensors file without selfattn's training state "
                         f"(metadata key {_STRUCTURE!r}); use load_weights for bare weights")
    return decode(json.loads(metadata[_STRUCTURE]), tensors)


def save_weights(state_dict: dict[str, torch.Tensor], path: str | Path,
                 metadata: dict[str, str] | None = None) -> None:
    """A model's ``state_dict`` -> safetensors (atomically)."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    _atomic_save_file(tensors, Path(path), dict(metadata or {}))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (a full checkpoint gives its ``state_dict``)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: expected a safetensors weights file, got {path} (missing)")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            if _STRUCTURE in (f.metadata() or {}):
                structured = True
            else:
                return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from None
    return load_state(path)["state_dict"] if structured else {}


def weights_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a safetensors file (``{}`` if it has none)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except Exception as error:
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from None


class SafetensorsCheckpointIO(CheckpointIO):
    """Lightning ``CheckpointIO`` writing :func:`save_state` files (see the module doc)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
        save_state(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None
                        ) -> dict[str, Any]:
        return load_state(path, map_location or "cpu")

    def remove_checkpoint(self, path) -> None:
        Path(path).unlink(missing_ok=True)
