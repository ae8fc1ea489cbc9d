"""selfattn experiment sagan-ablation at the tiny scale on fake Fashion-MNIST files."""

from __future__ import annotations

import json
import math

import numpy as np

from selfattn.data.idx import write_idx
from selfattn.experiments import EXPERIMENTS
from selfattn.experiments.sagan_ablation import run


def _fake(folder, n_train=300, n_test=120):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 4 + 2 * c: 14 + 2 * c, 6:22] = 240
        write_idx(folder / f"{stem}-images-idx3-ubyte", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte", labels)
    return folder


def test_tiny_run_writes_finite_fids_plots_and_grids(tmp_path):
    assert "sagan-ablation" in EXPERIMENTS
    out = tmp_path / "out"
    result = run(out, scale="tiny", seed=0, data_path=_fake(tmp_path / "fm"))
    assert set(result["fid"]) == {"attention", "no-attention"}
    for fids in result["fid"].values():
        assert len(fids) == 2 and all(math.isfinite(f) and f >= 0 for f in fids)
    assert (out / "figure.png").is_file() and (out / "attention.png").is_file()
    assert (out / "samples-attention-epoch2.png").is_file() and (out / "samples-no-attention-epoch1.png").is_file()
    assert json.loads((out / "results.json").read_text())["final_fid"] == result["final_fid"]
