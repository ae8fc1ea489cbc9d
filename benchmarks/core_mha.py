"""Multi-head attention: selfattn vs torch.nn.MultiheadAttention vs plain SDPA + projections.

fp32, embed 512, 8 heads, L in {256, 1024, 4096} with batch * L = 8192 tokens. For each L,
all contenders are timed round-robin in the same rounds (medians; ratios to anchors):

* forward in eval mode under no_grad, and forward + backward in train mode (dropout 0);
* ``selfattn`` with and without ``return_weights``; torch with its default
  ``need_weights=True`` and with ``False``; "sdpa+proj": one fused input projection,
  ``scaled_dot_product_attention``, output projection (the floor for any MHA on SDPA);
* GFLOP/s of the attention core (``selfattn.functional.attention``, q k^T and weights @ v
  counted, 4 B H L^2 D per forward, 3x that for forward + backward) against a 2048^3 matmul
  timed in the same rounds.

Run: ``python benchmarks/core_mha.py`` (about 5 minutes on 2 cores). Writes
``benchmarks/results/core_mha.json`` and ``core_mha.png``.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from _timing import interleaved, machine, save, summarize
from selfattn.functional import attention
from selfattn.nn import MultiHeadAttention

E, H, TOKENS = 512, 8, 8192


class SDPAProj(nn.Module):
    """The floor: fused in-projection, SDPA, out-projection; nothing else."""

    def __init__(self, m: MultiHeadAttention) -> None:
        super().__init__()
        self.in_proj, self.out_proj = m.in_proj, m.out_proj

    def forward(self, x):
        b, l, _ = x.shape
        q, k, v = (t.view(b, l, H, E // H).transpose(1, 2) for t in self.in_proj(x).split(E, -1))
        return self.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, l, E))


def contenders(L: int):
    torch.manual_seed(0)
    b = TOKENS // L
    ours = MultiHeadAttention(E, H)
    ref = nn.MultiheadAttention(E, H, batch_first=True)
    plain = SDPAProj(ours)
    x = torch.randn(b, L, E)
    xg = x.clone().requires_grad_(True)

    def fwd(fn):
        def run():
            with torch.no_grad():
                fn(x)
        return run

    def train(fn):
        def run():
            out = fn(xg)
            out.sum().backward()
        return run

    models = (ours, ref, plain)
    fwd_set = {
        "selfattn": fwd(lambda t: ours(t)),
        "selfattn+weights": fwd(lambda t: ours(t, return_weights=True)),
        "torch(need_weights=True)": fwd(lambda t: ref(t, t, t)),
        "torch(need_weights=False)": fwd(lambda t: ref(t, t, t, need_weights=False)),
        "sdpa+proj": fwd(plain),
    }
    train_set = {
        "selfattn": train(lambda t: ours(t)),
        "selfattn+weights": train(lambda t: ours(t, return_weights=True)[0]),
        "torch(need_weights=True)": train(lambda t: ref(t, t, t)[0]),
        "torch(need_weights=False)": train(lambda t: ref(t, t, t, need_weights=False)[0]),
        "sdpa+proj": train(plain),
    }
    return models, fwd_set, train_set


def core_gflops(L: int, rounds: int) -> dict:
    torch.manual_seed(0)
    b, d = TOKENS // L, E // H
    q, k, v = (torch.randn(b, H, L, d) for _ in range(3))
    qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))
    a, m = torch.randn(2048, 2048), torch.randn(2048, 2048)

    def fwd():
        with torch.no_grad():
            attention(q, k, v)

    def train():
        attention(qg, kg, vg).sum().backward()

    fns = {"matmul": lambda: a @ m, "fwd": fwd, "fwd+bwd": train}
    t = summarize(interleaved(fns, rounds, warmup=2, budget_s=60))
    flops = 4 * b * H * L * L * d
    mm = 2 * 2048**3 / t["matmul"]["median_s"] / 1e9
    f = flops / t["fwd"]["median_s"] / 1e9
    fb = 3 * flops / t["fwd+bwd"]["median_s"] / 1e9
    return {"matmul_gflops": mm, "fwd_gflops": f, "fwd+bwd_gflops": fb,
            "fwd_fraction_of_matmul": f / mm, "fwd+bwd_fraction_of_matmul": fb / mm}


def plot(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    lengths = sorted(int(k) for k in results["mha"])
    for ax, mode in zip(axes, ["forward", "forward+backward"], strict=True):
        names = list(results["mha"][str(lengths[0])][mode])
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            ms = [results["mha"][str(L)][mode][name]["median_s"] * 1e3 for L in lengths]
            ax.bar([j + i * width for j in range(len(lengths))], ms, width, label=name)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(lengths))], [f"L={L}" for L in lengths])
        ax.set_yscale("log")
        ax.set_ylabel("ms per call (median)")
        ax.set_title(f"{mode}: {TOKENS} tokens, E={E}, {H} heads, fp32")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's, 2 on the reference machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict = {"machine": machine(), "config": {"embed": E, "heads": H, "tokens": TOKENS},
                     "mha": {}, "core": {}}
    for L in args.lengths:
        _, fwd_set, train_set = contenders(L)
        entry = {"forward": summarize(interleaved(fwd_set, args.rounds, warmup=2, budget_s=90)),
                 "forward+backward": summarize(interleaved(train_set, args.rounds, warmup=2, budget_s=120))}
        results["mha"][str(L)] = entry
        for mode, res in entry.items():
            ours = res["selfattn"]["median_s"]
            print(f"L={L:5d} {mode:16s} " + "  ".join(
                f"{n}={r['median_s'] * 1e3:8.1f}ms" for n, r in res.items()))
            print(f"{'':8s}{mode:16s} torch(default)/selfattn = "
                  f"{res['torch(need_weights=True)']['median_s'] / ours:.2f}x, "
                  f"torch(no weights)/selfattn = {res['torch(need_weights=False)']['median_s'] / ours:.2f}x, "
                  f"selfattn/(sdpa+proj) = {ours / res['sdpa+proj']['median_s']:.3f}, "
                  f"weights cost = {res['selfattn+weights']['median_s'] / ours:.2f}x")
        if L >= 1024:
            results["core"][str(L)] = core_gflops(L, args.rounds)
            c = results["core"][str(L)]
            print(f"L={L:5d} core: fwd {c['fwd_gflops']:.0f} GFLOP/s = {c['fwd_fraction_of_matmul']:.0%} "
                  f"of matmul ({c['matmul_gflops']:.0f}); fwd+bwd {c['fwd+bwd_fraction_of_matmul']:.0%}")
    path = save("core_mha", results)
    plot(results, path.with_suffix(".png"))
    print(f"wrote {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
