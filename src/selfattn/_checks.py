"""Argument checks shared by every public function.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) with a
message that names the argument, what was expected and what was given, so that bad
input fails early instead of being silently broadcast or truncated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "check_dtype",
    "check_finite_positive",
    "check_ndim",
    "check_probability",
    "check_same_device",
    "check_tensor",
    "check_vectors",
]


def check_tensor(name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    return x


def check_ndim(name: str, x: torch.Tensor, ndim: int, layout: str) -> None:
    """``layout`` names the axes, e.g. ``"(batch, heads, length, head_dim)"``."""
    check_tensor(name, x)
    if x.dim() != ndim:
        raise ValueError(
            f"{name}: expected a {ndim}-D tensor {layout}, got shape {tuple(x.shape)}"
        )


def check_vectors(name: str, x: torch.Tensor, dim: int, packed: bool, *,
                  dtype: torch.dtype | None = None, batch: int | None = None) -> None:
    """A module's input: ``(batch, length, dim)``, or ``(total, dim)`` when ``packed``.

    ``dtype``: the module's parameter dtype, which ``x`` must have (outside autocast,
    where a matmul of two dtypes fails with a message naming neither the argument nor
    the module). ``batch``: the batch size of ``x`` (for a ``context`` or ``value``)."""
    if packed:
        check_ndim(name, x, 2, f"(total, {dim}) with offsets=")
    else:
        check_ndim(name, x, 3, f"(batch, length, {dim})")
    if x.shape[-1] != dim:
        raise ValueError(f"{name}: expected last dimension {dim}, got shape {tuple(x.shape)}")
    if dtype is not None and x.dtype != dtype and not (
            x.is_floating_point() and torch.is_autocast_enabled(x.device.type)):
        raise TypeError(f"{name}: expected dtype {dtype} (the module's parameters), got {x.dtype}; "
                        f"convert the input (x.to({dtype})) or the module (module.to({x.dtype}))")
    if batch is not None and not packed and x.shape[0] != batch:
        raise ValueError(f"{name}: expected batch size {batch} (that of x), got {x.shape[0]} "
                         f"(shape {tuple(x.shape)})")


def check_finite_positive(name: str, value: object) -> float:
    """A constructor's ``scale``, ``temperature``...: a finite number > 0, as a float."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a finite number > 0, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


def check_probability(name: str, value: object) -> float:
    """A dropout rate: a number in [0, 1) (1 would drop everything), as a float."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a probability in [0, 1), got {value!r}") from None
    if not 0.0 <= v < 1.0:  # also False for NaN
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
    return v


def check_dtype(name: str, x: torch.Tensor, allowed: Sequence[torch.dtype] | str) -> None:
    """``allowed`` is a list of dtypes or one of ``"float"``, ``"integer"``, ``"bool"``."""
    if isinstance(allowed, str):
        ok = {
            "float": x.is_floating_point(),
            "integer": (not x.is_floating_point()) and (not x.is_complex())
            and x.dtype != torch.bool,
            "bool": x.dtype == torch.bool,
        }[allowed]
        expected = {"float": "a floating-point dtype", "integer": "an integer dtype",
                    "bool": "a bool dtype"}[allowed]
    else:
        ok = x.dtype in allowed
        expected = " or ".join(str(d) for d in allowed)
    if not ok:
        raise TypeError(f"{name}: expected {expected}, got {x.dtype}")


def check_same_device(**tensors: torch.Tensor | None) -> None:
    """All given tensors (``None`` skipped) live on one device."""
    items = [(n, t) for n, t in tensors.items() if t is not None]
    if not items:
        return
    first_name, first = items[0]
    for name, t in items[1:]:
        if t.device != first.device:
            raise ValueError(
                f"{name}: expected device {first.device} (the device of {first_name}), "
                f"got {t.device}"
            )


def check_same_dtype(**tensors: torch.Tensor | None) -> None:
    items = [(n, t) for n, t in tensors.items() if t is not None]
    if not items:
        return
    first_name, first = items[0]
    for name, t in items[1:]:
        if t.dtype != first.dtype:
            raise TypeError(
                f"{name}: expected dtype {first.dtype} (the dtype of {first_name}), "
                f"got {t.dtype}"
            )
