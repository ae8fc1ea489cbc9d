"""A trained run, read back for pictures: its model and each layer's weights on one set.

``read_run(run)`` is ``selfattn.train.load_run`` with a one-line error naming the file for
each way a folder is not a readable run; ``example_weights(model, example)`` gives each
layer's ``(heads, n, n)`` attention weights for one ``VectorSet``. Both the pictures
(``attention.py``, ``embeddings.py``) and the numbers (``summary.py``) read runs here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["example_weights", "read_run"]


def example_weights(model: torch.nn.Module, example) -> list[torch.Tensor]:
    """Each layer's ``(heads, n, n)`` attention weights for one ``VectorSet`` (eval mode, no grad)."""
    from ..data import collate

    batch = collate([example], "padded", "none")
    model.eval()
    with torch.no_grad():
        _, weights = model(batch.x, batch.mask, edge_index=batch.edge_index, grids=batch.grids,
                           return_weights=True)
    return [w[0] for w in weights]


def read_run(run: str | Path) -> tuple[dict, Any, dict, dict, torch.nn.Module]:
    """``selfattn.train.load_run(run)`` with a one-line error naming the file for each way a
    folder is not a readable run: missing, a ``selfattn demo`` folder (which keeps no
    model), a corrupt ``config.yaml``, weights that are not safetensors or do not fit."""
    import yaml
    from safetensors import SafetensorError

    from ..train import load_run

    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"RUN: expected a run directory written by 'selfattn train', got {run} "
                                f"({'not a directory' if run.exists() else 'missing'})")
    if not (run / "config.yaml").is_file() and (run / "metrics.json").is_file() \
            and (run / "attention.png").is_file():
        raise FileNotFoundError(
            f"RUN: {run} holds no model to reload (no config.yaml): it is a 'selfattn demo' folder, whose "
            f"attention is drawn in {run / 'attention.png'} and {run / 'attention.html'}; viz attention "
            "reads run directories written by 'selfattn train' (e.g. runs/pos)")
    weights = run / "model.safetensors"
    weights = weights if weights.is_file() else run / "checkpoints" / "best.safetensors"
    try:
        return load_run(run)
    except SafetensorError as error:
        raise ValueError(f"{weights}: not a readable safetensors file ({error})") from error
    except yaml.YAMLError as error:
        problem = " ".join(str(error).split())
        raise ValueError(f"{run / 'config.yaml'}: not readable YAML ({problem})") from error
    except RuntimeError as error:
        if not str(error).startswith("Error(s) in loading state_dict"):
            raise
        first = str(error).splitlines()[0]
        raise ValueError(f"{weights}: does not fit the model of {run / 'config.yaml'} ({first})") from error
