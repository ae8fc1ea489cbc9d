"""Graph attention on CPU: ours vs PyG's TransformerConv and GATConv vs dense masked attention.

Config (issue 4): one random graph of N = 10,000 nodes with ~20 incoming edges per node
(E ~ 200,000, duplicates merged), 4 heads x 64 features, fp32; forward and
forward+backward of one layer on node features ``x (N, 256)``.

* ours: a TransformerConv-equivalent layer: ``q, k, v = Linear(x)``,
  ``graph_attention(q, k, v, pattern)`` (sparse CSR products + segment softmax),
  ``+ Linear_skip(x)``; with TransformerConv's weights copied in, it computes the same
  function (checked here); also the attention alone (``attn``) on given q, k, v.
* pyg_transformer: ``torch_geometric.nn.TransformerConv(256, 64, heads=4)``.
* pyg_gat: ``torch_geometric.nn.GATConv(256, 64, heads=4)`` (additive scores; timing only).
* dense: ``F.scaled_dot_product_attention`` with the (N, N) adjacency mask, same N.

Also scaling with N at the same degree (time and peak memory; O(E)), and a packed batch
of 1,000 small graphs (molecule-like). Peak memory: see ``selfattn.bench.memory``.

Run: ``python benchmarks/sparse_graph.py`` (about 3-4 minutes on 2 cores). Results:
``benchmarks/results/sparse_graph.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (
    child_memory,
    environment,
    fmt_mib,
    fmt_ms,
    interleaved,
    median,
    peak_growth,
    save,
)
from selfattn.functional.sparse import graph_attention
from selfattn.patterns import GraphPattern

H, D, DEG = 4, 64, 20
C = H * D


class GraphTransformerLayer(nn.Module):
    """TransformerConv's function (concat heads, root weight, no beta) on our kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v, self.skip = (nn.Linear(C, C) for _ in range(4))

    def copy_from(self, conv: nn.Module) -> GraphTransformerLayer:
        with torch.no_grad():
            for ours, theirs in ((self.q, conv.lin_query), (self.k, conv.lin_key),
                                 (self.v, conv.lin_value), (self.skip, conv.lin_skip)):
                ours.weight.copy_(theirs.weight)
                ours.bias.copy_(theirs.bias)
        return self

    def forward(self, x: torch.Tensor, pattern: GraphPattern) -> torch.Tensor:
        n = x.shape[0]
        q, k, v = (lin(x).view(n, H, D) for lin in (self.q, self.k, self.v))
        return graph_attention(q, k, v, pattern).reshape(n, C) + self.skip(x)


def random_graph(n: int, deg: int, seed: int = 0) -> GraphPattern:
    g = torch.Generator().manual_seed(seed)
    ei = torch.stack([torch.randint(0, n, (n * deg,), generator=g),
                      torch.arange(n).repeat_interleave(deg)])  # ~deg incoming edges per node
    return GraphPattern(ei, n, duplicates="merge")


def molecules(count: int, seed: int = 0) -> tuple[GraphPattern, int]:
    """A packed batch of ``count`` chain-with-rings graphs of 10-40 nodes, edges both ways."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(10, 41, (count,), generator=g).tolist()
    edges, start = [], 0
    for s in sizes:
        i = torch.arange(start, start + s - 1)
        ring = torch.randint(start, start + s, (2, s // 4), generator=g)
        e = torch.cat([torch.stack([i, i + 1]), ring], 1)
        edges.append(torch.cat([e, e.flip(0)], 1))
        start += s
    ei = torch.cat(edges, 1)
    ei = ei[:, ei[0] != ei[1]]
    return GraphPattern(ei, start, duplicates="merge"), start


def make(method: str, pattern: GraphPattern, n: int, seed: int = 0):
    """A callable running ``method`` once, forward+backward (``grad=True``) or forward."""
    from torch_geometric.nn import GATConv, TransformerConv

    torch.manual_seed(seed)
    x = torch.randn(n, C, requires_grad=True)
    if method == "ours":
        layer = GraphTransformerLayer()
        return lambda: layer(x, pattern), [*list(layer.parameters()), x]
    if method == "attn":
        q, k, v = (torch.randn(n, H, D, requires_grad=True) for _ in range(3))
        return lambda: graph_attention(q, k, v, pattern), [q, k, v]
    if method == "pyg_transformer":
        conv = TransformerConv(C, D, heads=H)
        return lambda: conv(x, pattern.edge_index), [*list(conv.parameters()), x]
    if method == "pyg_gat":
        conv = GATConv(C, D, heads=H, add_self_loops=False)
        return lambda: conv(x, pattern.edge_index), [*list(conv.parameters()), x]
    if method == "dense":
        mask = pattern.dense_mask(n, n)
        q, k, v = (torch.randn(1, H, n, D, requires_grad=True) for _ in range(3))
        return lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), [q, k, v]
    raise ValueError(method)


def timed(method: str, pattern: GraphPattern, n: int) -> dict:
    run, params = make(method, pattern, n)

    def fwd():
        with torch.no_grad():
            run()

    def fwdbwd():
        for p in params:
            p.grad = None
        run().sum().backward()
    return {f"{method} fwd": fwd, f"{method} fwdbwd": fwdbwd}


def child(spec: dict) -> None:
    pattern = random_graph(spec["N"], DEG)
    warm = random_graph(500, DEG, seed=1)
    small, _ = make(spec["method"], warm, 500)
    small().sum().backward()
    run, _ = make(spec["method"], pattern, spec["N"])
    print(peak_growth(lambda: run().sum().backward()))


def check_same_function(pattern: GraphPattern, n: int) -> float:
    from torch_geometric.nn import TransformerConv

    conv = TransformerConv(C, D, heads=H)
    ours = GraphTransformerLayer().copy_from(conv)
    x = torch.randn(n, C)
    with torch.no_grad():
        return float((ours(x, pattern) - conv(x, pattern.edge_index)).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--suffix", default="", help="appended to the result file names")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's); 1 is robust on shared, loaded cores")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(json.loads(args.child))
        return
    warnings.filterwarnings("ignore")
    env = environment()
    n = 2000 if args.quick else 10_000
    pattern = random_graph(n, DEG)
    diff = check_same_function(pattern, n)
    print(f"N={n}, E={pattern.num_edges}, heads {H} x {D}; max |ours - TransformerConv| with copied "
          f"weights = {diff:.2e}; threads {env['threads']}")
    fns: dict = {}
    for method in ("ours", "attn", "pyg_transformer", "pyg_gat", "dense"):
        fns.update(timed(method, pattern, n))
    times = {k: median(v) for k, v in interleaved(fns, 3 if args.quick else 5).items()}
    for k, t in times.items():
        print(f"  {k:24s} {fmt_ms(t)} ms")
    speedup = {mode: {m: times[f"{m} {mode}"] / times[f"ours {mode}"]
                      for m in ("pyg_transformer", "pyg_gat", "dense")} for mode in ("fwd", "fwdbwd")}
    print(f"  ours is faster by: {json.dumps(speedup)}")

    script = str(Path(__file__).resolve())
    sizes = [1000, 2000] if args.quick else [2500, 5000, 10_000, 20_000]
    scaling: dict = {"N": sizes, "time_fwdbwd_s": {}, "peak_growth_bytes": {}}
    for method in ("ours", "pyg_transformer", "pyg_gat"):
        scaling["time_fwdbwd_s"][method] = []
        scaling["peak_growth_bytes"][method] = []
    for size in sizes:
        pat = random_graph(size, DEG)
        fs = {}
        for method in ("ours", "pyg_transformer", "pyg_gat"):
            fs[method] = timed(method, pat, size)[f"{method} fwdbwd"]
        ts = interleaved(fs, 3)
        for method in fs:
            scaling["time_fwdbwd_s"][method].append(median(ts[method]))
            mem = child_memory(script, {"method": method, "N": size})
            scaling["peak_growth_bytes"][method].append(mem)
            print(f"  N={size:6d} {method:16s} fwd+bwd {fmt_ms(median(ts[method]))} ms, "
                  f"peak growth {fmt_mib(mem)} MiB")
    dense_mem = child_memory(script, {"method": "dense", "N": n})
    print(f"  dense masked SDPA N={n}: peak growth {fmt_mib(dense_mem)} MiB")

    mol, nm = molecules(200 if args.quick else 1000)
    fs = {}
    for method in ("ours", "pyg_transformer"):
        fs[method] = timed(method, mol, nm)[f"{method} fwdbwd"]
    mol_times = {k: median(v) for k, v in interleaved(fs, 5).items()}
    print(f"  packed molecules: {nm} nodes, {mol.num_edges} edges: "
          + ", ".join(f"{k} {fmt_ms(t)} ms" for k, t in mol_times.items()))

    i10k = sizes.index(n) if n in sizes else -1
    targets = {
        "fwdbwd_speedup_vs_transformerconv": speedup["fwdbwd"]["pyg_transformer"],
        "target_speedup": 2.0,
        "peak_growth_ours_bytes": scaling["peak_growth_bytes"]["ours"][i10k],
        "peak_growth_transformerconv_bytes": scaling["peak_growth_bytes"]["pyg_transformer"][i10k],
        "less_memory": (scaling["peak_growth_bytes"]["ours"][i10k] or 0)
        < (scaling["peak_growth_bytes"]["pyg_transformer"][i10k] or 0),
    }
    payload = {
        "config": {"N": n, "E": pattern.num_edges, "heads": H, "head_dim": D, "dtype": "float32",
                   "in_features": C},
        "environment": env, "max_abs_diff_vs_transformerconv": diff, "median_s": times,
        "speedup": speedup, "scaling": scaling, "dense_peak_growth_bytes": dense_mem,
        "packed_molecules": {"nodes": nm, "edges": mol.num_edges, "median_fwdbwd_s": mol_times},
        "targets": targets,
        "memory_method": "peak RSS growth of a fresh process over one forward+backward",
    }
    path = save(("sparse_graph_quick" if args.quick else "sparse_graph") + args.suffix, payload)
    plot(payload, path.with_suffix(".png"))
    print(f"targets: {json.dumps(targets)}\nwrote {path}")


def plot(payload: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = payload["scaling"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for method, style in (("ours", "o-"), ("pyg_transformer", "s--"), ("pyg_gat", "^:")):
        a.plot(sc["N"], sc["time_fwdbwd_s"][method], style, label=method)
        mem = [(n, m / 2**20) for n, m in zip(sc["N"], sc["peak_growth_bytes"][method], strict=True) if m]
        if mem:
            b.plot(*zip(*mem, strict=True), style, label=method)
    for ax, ylabel in ((a, "forward+backward seconds (median)"), (b, "peak RSS growth (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"nodes N (~{DEG} incoming edges each)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    a.set_title(f"graph attention layer, {H} heads x {D}, fp32, CPU")
    b.set_title("memory of one forward+backward")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
