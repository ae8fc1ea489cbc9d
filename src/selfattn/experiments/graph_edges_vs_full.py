"""On a graph, attend along the edges (the lecture [40]): graph attention against full attention.

The lecture: edges already say which nodes are related, so self-attention on a graph need
only score connected pairs, which makes it a graph neural network (GAT-like). Here the
same model classifies the nodes of real graphs two ways through ``selfattn.train`` (the
``polblogs`` preset: identity node features, so a node is known only by its neighbours):

* ``graph``: ``model.pattern=graph``: node ``i`` attends to itself and to every ``j`` with
  an edge ``j -> i``;
* ``full``: ``model.pattern=none``: every node attends to every node, the edges unused.

Accuracy is the test-node accuracy at the best validation epoch, over several seeds. Time
per epoch (one epoch is one step: the whole graph is one set) is timed interleaved in one
run, for the full model and for the graph model two ways: ``sparse``, as ``selfattn.train``
runs it (the edges go to the attention as a ``GraphPattern``, and the dispatcher picks the
O(E) edge kernel where it is faster; its choice is recorded), and ``dense mask`` (the same
pairs as an ``(N, N)`` mask to the dense kernel). The per-epoch wall time of the Lightning
runs (which includes the validation pass and writing checkpoints) is recorded too.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..bench.results import save_results
from ..bench.timing import interleaved, median
from ._runs import Stopwatch, check_scale, kernel_choice, run_record, torch_threads, twins

__all__ = ["PATTERNS", "SCALES", "run"]

NAME = "graph-edges-vs-full"
PATTERNS = {"graph": "model.pattern=graph", "full": "model.pattern=none"}
BASE_OVERRIDES = ["data.component=largest", "trainer.progress=false", "run.plots=false",
                  "trainer.num_threads=null"]
SCALES: dict[str, dict[str, Any]] = {
    "tiny": {"graphs": ("karate",), "seeds": 2, "reps": 1,
             "extra": ["model.width=16", "model.heads=2", "model.ff=32", "trainer.max_epochs=4",
                       "optim.warmup_steps=1"]},
    "small": {"graphs": ("polblogs", "polbooks", "football"), "seeds": 3, "reps": 7, "extra": []},
    "full": {"graphs": ("polblogs", "polbooks", "football"), "seeds": 10, "reps": 15, "extra": []},
}


def _config(scale: str, graph: str, pattern: str, seed: int, run_dir: Path) -> dict:
    from ..train.config import resolve_config

    overrides = [*BASE_OVERRIDES, *SCALES[scale]["extra"], f"data.graph={graph}", PATTERNS[pattern],
                 f"seed={seed}", f"run.dir={run_dir}"]
    return resolve_config("polblogs", overrides=overrides)


def _accuracy(scale: str, graph: str, seeds: list[int]) -> dict[str, Any]:
    from ..train.run import train

    out: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="selfattn-graph-"))
    try:
        for pattern in PATTERNS:
            runs = []
            for sd in seeds:
                cfg = _config(scale, graph, pattern, sd, root / f"{pattern}-{sd}")
                res = train(cfg, log=lambda _: None)
                runs.append({"seed": sd, "test_acc": res["test_acc"], "best_val_acc": res["best_val"],
                             "epochs": res["epochs"], "train_wall_s": res["train_wall_s"],
                             "wall_s_per_epoch": round(res["train_wall_s"] / max(res["epochs"], 1), 4)})
            accs = [r["test_acc"] for r in runs]
            out[pattern] = {"config": {"model.pattern": cfg["model"]["pattern"]}, "runs": runs,
                            "mean_test_acc": sum(accs) / len(accs), "min_test_acc": min(accs),
                            "max_test_acc": max(accs), "parameters": res["parameters"]}
            print(f"[{NAME}] {graph} {pattern}: test acc {out[pattern]['mean_test_acc']:.4f}",
                  file=sys.stderr)
        out["info"] = res["data"]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def _cost(scale: str, graph: str, seed: int) -> dict[str, Any]:
    """Interleaved time of one training step (= one epoch) and the pairs each model scores."""
    from ..data import collate
    from ..nn.model import pattern_mask, pattern_object
    from ..train.run import build_task_model
    from ..train.tasks import get_task

    cfg = _config(scale, graph, "graph", seed, Path("unused"))
    task = get_task("nodes")
    data = task.build(cfg)
    torch.manual_seed(seed)
    model = build_task_model(cfg, data.spec)  # model.pattern=graph, as selfattn.train builds it
    task.init_model(model, data, cfg)
    batch = collate(data.train.examples, "padded", "vector")
    n = batch.mask.shape[1]
    models = {k if k == "full" else f"graph ({k})": m for k, m in twins(model, "graph").items()}
    pattern = pattern_object("graph", n, edge_index=batch.edge_index, batch_size=1)
    heads, width = int(cfg["model"]["heads"]), int(cfg["model"]["width"])
    choice = kernel_choice(pattern, 1, heads, n, width // heads, key_mask=batch.mask,
                           dropout_p=float(cfg["model"]["dropout"]))
    with torch.no_grad():
        a = models["graph (sparse)"].eval()(batch.x, batch.mask, edge_index=batch.edge_index)
        b = models["graph (dense mask)"].eval()(batch.x, batch.mask, edge_index=batch.edge_index)
    dense_pairs = int(pattern_mask("graph", n, edge_index=batch.edge_index, batch_size=1).sum())

    def step_fn(model: torch.nn.Module):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        model.train()

        def step() -> None:
            out = model(batch.x, batch.mask, edge_index=batch.edge_index)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), batch.y.reshape(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    times = interleaved({k: step_fn(m) for k, m in models.items()}, SCALES[scale]["reps"])
    full_t = median(times["full"])
    return {"nodes": n, "pairs_scored": {"full": n * n, "graph (dense mask)": dense_pairs,
                                         "graph (sparse)": pattern.num_edges},
            "sparse_kernel_choice": choice,
            "sparse_vs_dense_max_abs_diff": float((a - b).abs().max()),
            "step_ms": {k: round(1e3 * median(v), 2) for k, v in times.items()},
            "time_ratio_to_full": {k: round(median(v) / full_t, 3) for k, v in times.items()},
            "times_s": {k: [round(t, 5) for t in v] for k, v in times.items()}}


def run(out_dir: str | Path = f"runs/experiments/{NAME}", scale: str = "small", seed: int = 0, *,
        threads: int = 1) -> dict:
    """Test accuracy (seeds) and time per epoch of edge-restricted against full attention.

    ``scale``: ``tiny`` (tests: karate club), ``small`` (polblogs, polbooks, football; 3
    seeds) or ``full`` (10 seeds). Writes ``results.json`` and ``figure.png``.
    """
    check_scale(scale, list(SCALES))
    clock = Stopwatch()
    s = SCALES[scale]
    seeds = [seed + i for i in range(s["seeds"])]
    with torch_threads(threads):
        graphs = {}
        for g in s["graphs"]:
            graphs[g] = {"cost": _cost(scale, g, seed), **_accuracy(scale, g, seeds)}
        cfg = _config(scale, s["graphs"][0], "graph", seed, Path("unused"))
        result = {
            "experiment": NAME,
            "claim": "on a graph, attention restricted to the edges (graph attention) is at least as "
                     "accurate as full attention over all nodes, and scores far fewer pairs",
            "setup": {"preset": "polblogs", "overrides": [*BASE_OVERRIDES, *s["extra"]],
                      "graphs": list(s["graphs"]),
                      "patterns": PATTERNS, "seeds": seeds,
                      "ways": {"graph (sparse)": "GraphPattern to the attention (selfattn.train's path); the "
                                                 "dispatcher picks the kernel (sparse_kernel_choice)",
                               "graph (dense mask)": "the same pairs as an (N, N) bool mask to the dense "
                                                     "kernel"},
                      "model": {k: cfg["model"][k] for k in ("width", "depth", "heads", "ff", "dropout",
                                                             "positional")},
                      "features": cfg["data"]["features"], "split": cfg["data"]["fractions"],
                      "timing": "one training step = one epoch (forward, backward, AdamW on the whole "
                                f"graph), median of {s['reps']} interleaved rounds; ratios from the same "
                                "rounds"},
            "graphs": graphs,
        }
        result["run"] = run_record(NAME, out_dir, scale, seed, clock)
    return save_results(result, out_dir, _plot)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["graphs"])
    fig, (ax, tx) = plt.subplots(1, 2, figsize=(12, 4.2))
    colours = {"graph": "tab:green", "full": "tab:purple"}
    for j, pattern in enumerate(PATTERNS):
        xs = [i + (j - 0.5) * 0.38 for i in range(len(names))]
        means = [result["graphs"][g][pattern]["mean_test_acc"] for g in names]
        label = "edges only (model.pattern=graph)" if pattern == "graph" else "all nodes (model.pattern=none)"
        ax.bar(xs, means, width=0.36, color=colours[pattern], alpha=0.6, label=label)
        for x, g in zip(xs, names, strict=True):
            accs = [r["test_acc"] for r in result["graphs"][g][pattern]["runs"]]
            ax.plot([x] * len(accs), accs, "o", color="black", ms=3)
    ax.set_xticks(range(len(names)), [f"{g}\n({result['graphs'][g]['cost']['nodes']} nodes)" for g in names])
    ax.set_ylabel("test node accuracy (dots: seeds)")
    ax.set_ylim(0, 1.18)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title("node classification")
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    ax.grid(True, axis="y", alpha=0.3)
    kinds = ["full", "graph (dense mask)", "graph (sparse)"]
    for j, kind in enumerate(kinds):
        xs = [i + (j - 1) * 0.27 for i in range(len(names))]
        tx.bar(xs, [result["graphs"][g]["cost"]["step_ms"][kind] for g in names], width=0.25, label=kind)
    tx.set_yscale("log")
    tx.set_xticks(range(len(names)), names)
    tx.set_ylabel("ms per epoch (one training step, interleaved median)")
    tx.set_title("time per epoch")
    tx.legend(fontsize=8)
    tx.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
