"""Packed vs padded variable-length attention: 64 sets, lengths uniform in 16..512 (seed 0).

fp32, embed 512, 8 heads. Contenders, timed round-robin in the same rounds:

* ``padded``: the batch padded to its longest set (64 x 512) with ``key_lengths``;
* ``packed``: ``selfattn`` on the packed form (length-grouped kernel, ``varlen_attention``);
* ``per-set loop``: one call per set (no padding, one kernel call each);
* ``nested``: PyTorch nested jagged tensors through SDPA (attention core only).

Both the attention core (``attention`` / ``varlen_attention`` on q, k, v) and the whole
``MultiHeadAttention`` module (projections included) are measured, forward and
forward + backward. "useful work" is the fraction of padded attention work that is real:
``sum n_b^2 / (B * L_max^2)``.

Run: ``python benchmarks/core_varlen.py``. Writes ``benchmarks/results/core_varlen.json``
and ``core_varlen.png``.
"""

from __future__ import annotations

import argparse
import itertools

import torch

from _timing import interleaved, machine, save, summarize
from selfattn.functional import attention, varlen_attention
from selfattn.nn import MultiHeadAttention
from selfattn.varlen import lengths_to_offsets, pad

E, H, D = 512, 8, 64


def setup(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(16, 513, (64,), generator=g)
    offsets = lengths_to_offsets(lengths)
    n = int(offsets[-1])
    return lengths, offsets, n, g


def core_contenders(lengths, offsets, n, g):
    q, k, v = (torch.randn(n, H, D, generator=g) for _ in range(3))
    L = int(lengths.max())

    def padded_qkv(t):
        return pad(t, offsets, L)[0].transpose(1, 2)  # (B, H, L, D)

    qp, kp, vp = padded_qkv(q), padded_qkv(k), padded_qkv(v)
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    leaves_p = [t.clone().requires_grad_(True) for t in (qp, kp, vp)]
    bounds = offsets.tolist()
    # Jagged layout: components (n, H, D) ragged in n, then (B, H, j, D) for SDPA.
    nested = [torch.nested.nested_tensor([t[bounds[i]:bounds[i + 1]] for i in range(len(lengths))],
                                         layout=torch.jagged).transpose(1, 2)
              for t in (q, k, v)]

    def no_grad(fn):
        def run():
            with torch.no_grad():
                fn()
        return run

    def loop(qq, kk, vv):
        return [attention(qq[s:e].transpose(0, 1)[None], kk[s:e].transpose(0, 1)[None],
                          vv[s:e].transpose(0, 1)[None])
                for s, e in itertools.pairwise(bounds)]

    fwd = {
        "padded": no_grad(lambda: attention(qp, kp, vp, key_lengths=lengths)),
        "packed": no_grad(lambda: varlen_attention(q, k, v, offsets)),
        "per-set loop": no_grad(lambda: loop(q, k, v)),
        "nested": no_grad(lambda: torch.nn.functional.scaled_dot_product_attention(*nested)),
    }
    train = {
        "padded": lambda: attention(*leaves_p, key_lengths=lengths).sum().backward(),
        "packed": lambda: varlen_attention(*leaves, offsets).sum().backward(),
        "per-set loop": lambda: sum(o.sum() for o in loop(*leaves)).backward(),
    }
    return fwd, train


def module_contenders(lengths, offsets, n, g):
    torch.manual_seed(0)
    mha = MultiHeadAttention(E, H)
    L = int(lengths.max())
    x = torch.randn(n, E, generator=g)
    xp = pad(x, offsets, L)[0]
    xg, xpg = x.clone().requires_grad_(True), xp.clone().requires_grad_(True)

    def no_grad(fn):
        def run():
            with torch.no_grad():
                fn()
        return run

    fwd = {
        "padded": no_grad(lambda: mha(xp, key_lengths=lengths)),
        "packed": no_grad(lambda: mha(x, offsets=offsets)),
    }
    train = {
        "padded": lambda: mha(xpg, key_lengths=lengths).sum().backward(),
        "packed": lambda: mha(xg, offsets=offsets).sum().backward(),
    }
    return fwd, train


def plot(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, part in zip(axes, ["core", "module"], strict=True):
        labels, values = [], []
        for mode in ["forward", "forward+backward"]:
            for name, r in results[part][mode].items():
                labels.append(f"{mode}\n{name}")
                values.append(r["median_s"] * 1e3)
        ax.barh(range(len(values)), values)
        ax.set_yticks(range(len(values)), labels, fontsize=7)
        ax.set_xlabel("ms (median)")
        ax.set_title(f"{part}: 64 sets, lengths 16..512")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's, 2 on the reference machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lengths, offsets, n, g = setup()
    useful = float((lengths.double() ** 2).sum() / (len(lengths) * lengths.max().double() ** 2))
    results: dict = {"machine": machine(),
                     "config": {"sets": 64, "lengths": "uniform 16..512, seed 0", "embed": E,
                                "heads": H, "head_dim": D, "tokens": n,
                                "useful_fraction_of_padded_work": useful},
                     "core": {}, "module": {}}
    print(f"{n} tokens; useful fraction of padded attention work = {useful:.3f} "
          f"(padding wastes {1 / useful:.2f}x)")
    for part, make in (("core", core_contenders), ("module", module_contenders)):
        fwd, train = make(lengths, offsets, n, g)
        for mode, cs in (("forward", fwd), ("forward+backward", train)):
            res = summarize(interleaved(cs, args.rounds, warmup=2, budget_s=120))
            results[part][mode] = res
            base = res["padded"]["median_s"]
            print(f"{part:6s} {mode:16s} " + "  ".join(
                f"{k}={v['median_s'] * 1e3:7.1f}ms ({base / v['median_s']:.2f}x)" for k, v in res.items()))
    path = save("core_varlen", results)
    plot(results, path.with_suffix(".png"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
