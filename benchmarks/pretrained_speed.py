"""all-MiniLM-L6-v2 on the same weights: selfattn packed vs Hugging Face and torch's fast path.

Batches of token ids with lengths drawn uniformly (seed 0), [CLS] first, [SEP] last; fp32.
Contenders, timed in the same shuffled rounds (``_timing.shuffled_rounds``, wall seconds):

* ``selfattn packed``: ``PretrainedEncoder`` (padding removed once, from the ids);
* ``selfattn padded``: the same module with ``packed=False`` (its slow twin);
* ``hf sdpa`` (the anchor) / ``hf eager``: ``transformers.BertModel`` with that attention;
* ``torch nested``: ``nn.TransformerEncoder`` (``enable_nested_tensor``) with the same
  weights, inference only: its C++ fast path runs on nested tensors (our embeddings first).

Cases: inference on batch 32 of lengths 8..128 and 8..512, 16 single sentences (batch 1,
lengths 8..128, one call each), and a fine-tuning step (train mode, mean pooling, linear
head, cross-entropy, backward, AdamW step) on batch 32 of 8..128. ``speedup`` is the
median over rounds of (anchor time / contender time) in the same round (and
``speedup_vs_torch_nested`` the same against ``torch nested``); ``max_abs_diff``
is each contender's largest difference from ``hf sdpa`` on real tokens (inference).

Run: ``python benchmarks/pretrained_speed.py --threads 1`` (and ``--threads 2``). Writes
``benchmarks/results/pretrained_speed_t{threads}.json``; ``--only CASE...`` re-times some
cases and keeps the others. Each case records the 1-minute load average: on shared cores
a figure taken at a load above the core count says more about the neighbours than the code.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics

import torch
from torch import nn

from _timing import RESULTS, machine, save, shuffled_rounds
from selfattn.nn.pretrained import load_pretrained
from selfattn.train.tasks.pretrained_models import pretrained_folder

ANCHOR = "hf sdpa"


def batch(n: int, low: int, high: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high + 1, (n,), generator=g)
    width = int(lengths.max())
    mask = torch.arange(width)[None] < lengths[:, None]
    ids = torch.randint(1000, 30000, (n, width), generator=g)
    ids[:, 0] = 101
    ids[torch.arange(n), lengths - 1] = 102
    return ids * mask, mask


def torch_fast_path(ours) -> nn.TransformerEncoder:
    """``nn.TransformerEncoder`` holding our (= the checkpoint's) layer weights."""
    spec = ours.spec
    layer = nn.TransformerEncoderLayer(spec["hidden"], spec["heads"], spec["ff"], dropout=0.0,
                                       activation="gelu", layer_norm_eps=spec["eps"], batch_first=True)
    enc = nn.TransformerEncoder(layer, spec["layers"], enable_nested_tensor=True)
    with torch.no_grad():
        for theirs, mine in zip(enc.layers, ours.layers, strict=True):
            theirs.self_attn.in_proj_weight.copy_(mine.self_attn.in_proj.weight)
            theirs.self_attn.in_proj_bias.copy_(mine.self_attn.in_proj.bias)
            theirs.self_attn.out_proj.load_state_dict(mine.self_attn.out_proj.state_dict())
            theirs.linear1.load_state_dict(mine.ff[0].state_dict())
            theirs.linear2.load_state_dict(mine.ff[3].state_dict())
            theirs.norm1.load_state_dict(mine.norm1.state_dict())
            theirs.norm2.load_state_dict(mine.norm2.state_dict())
    return enc.eval()


def models(folder):
    import transformers

    ours = load_pretrained(folder).eval()
    hf = {impl: transformers.BertModel.from_pretrained(folder, attn_implementation=impl).eval()
          for impl in ("sdpa", "eager")}
    return ours, hf, torch_fast_path(ours)


def inference_contenders(ours, hf, fast, ids, mask, with_slow: bool):
    def run_torch():
        h = ours.embed(ids, ours._position_ids(mask))
        out = fast(h, src_key_padding_mask=~mask)
        return out.to_padded_tensor(0.0, h.shape) if out.is_nested else out

    cs = {"selfattn packed": lambda: ours(ids, mask), ANCHOR: lambda: hf["sdpa"](
        input_ids=ids, attention_mask=mask.long()).last_hidden_state, "torch nested": run_torch}
    if with_slow:
        cs["selfattn padded"] = lambda: ours(ids, mask, packed=False)
        cs["hf eager"] = lambda: hf["eager"](input_ids=ids, attention_mask=mask.long()).last_hidden_state
    return cs


def finetune_contenders(ours, hf, ids, mask, labels):
    def step_for(model, call):
        model = copy.deepcopy(model).train()
        head = nn.Linear(384, 2)
        opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-5)

        def step():
            h = call(model)
            pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            nn.functional.cross_entropy(head(pooled), labels).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    return {"selfattn packed": step_for(ours, lambda m: m(ids, mask)),
            "selfattn padded": step_for(ours, lambda m: m(ids, mask, packed=False)),
            ANCHOR: step_for(hf["sdpa"],
                             lambda m: m(input_ids=ids, attention_mask=mask.long()).last_hidden_state)}


def timed(cs, rounds: int, budget: float, grad: bool) -> dict:
    for fn in cs.values():  # one warm-up each
        with torch.inference_mode(not grad):
            fn()

    def wrap(fn):
        def run():
            with torch.inference_mode(not grad):
                fn()
        return run

    _, wall = shuffled_rounds({n: wrap(f) for n, f in cs.items()}, rounds, budget)
    out = {}
    for name, ts in wall.items():
        ratios = [a / t for a, t in zip(wall[ANCHOR], ts, strict=True)]
        out[name] = {"median_s": statistics.median(ts), "min_s": min(ts), "rounds": len(ts),
                     "speedup_vs_hf_sdpa": statistics.median(ratios)}
        if "torch nested" in wall:
            out[name]["speedup_vs_torch_nested"] = statistics.median(
                [a / t for a, t in zip(wall["torch nested"], ts, strict=True)])
    return out


def diffs(cs, mask) -> dict:
    with torch.inference_mode():
        ref = cs[ANCHOR]()[mask]
        return {n: float((fn()[mask] - ref).abs().max()) for n, fn in cs.items() if n != ANCHOR}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per case before stopping early")
    parser.add_argument("--only", choices=["b32-128", "b32-512", "b1", "finetune"], nargs="*", default=None,
                        help="re-time these cases only, replacing them in the thread count's JSON")
    args = parser.parse_args()
    wanted = set(args.only or ["b32-128", "b32-512", "b1", "finetune"])
    torch.set_num_threads(args.threads)
    ours, hf, fast = models(pretrained_folder("minilm"))
    results: dict = {"machine": machine(), "model": "all-MiniLM-L6-v2 (6 layers, 384 wide, 12 heads)",
                     "anchor": ANCHOR, "cases": {}}
    previous = RESULTS / f"pretrained_speed_t{args.threads}.json"
    if args.only and previous.is_file():
        results["cases"] = json.loads(previous.read_text())["cases"]

    def report(name, res, extra):
        # the cores are shared: the load says how far the figures can be trusted
        results["cases"][name] = {**extra, "contenders": res, "date": machine()["date"],
                                  "load_average_1min": os.getloadavg()[0]}
        print(f"\n{name} ({extra})")
        for n, r in sorted(res.items(), key=lambda kv: kv[1]["median_s"]):
            print(f"  {n:16s} {r['median_s'] * 1e3:9.1f} ms  x{r['speedup_vs_hf_sdpa']:.2f} vs {ANCHOR}"
                  f"  ({r['rounds']} rounds)")

    for low, high, slow in ((8, 128, True), (8, 512, False)):
        if f"b32-{high}" not in wanted:
            continue
        ids, mask = batch(32, low, high, seed=0)
        cs = inference_contenders(ours, hf, fast, ids, mask, with_slow=slow)
        info = {"batch": 32, "lengths": f"{low}..{high} seed 0", "real_tokens": int(mask.sum()),
                "padded_tokens": mask.numel(), "max_abs_diff_vs_hf_sdpa": diffs(cs, mask)}
        report(f"inference b32 {low}..{high}", timed(cs, args.rounds, args.budget, grad=False), info)

    if "b1" in wanted:
        single_sentences(ours, hf, fast, args, report)
    if "finetune" in wanted:
        ids, mask = batch(32, 8, 128, seed=0)
        labels = torch.randint(0, 2, (32,), generator=torch.Generator().manual_seed(0))
        cs = finetune_contenders(ours, hf, ids, mask, labels)
        report("fine-tune step b32 8..128", timed(cs, args.rounds, args.budget, grad=True),
               {"batch": 32, "lengths": "8..128 seed 0", "optimizer": "AdamW", "mode": "train (dropout 0.1)"})
    path = save(f"pretrained_speed_t{args.threads}", results)
    print(f"\nwrote {path}")


def single_sentences(ours, hf, fast, args, report) -> None:
    singles = [batch(1, 8, 128, seed=s) for s in range(16)]
    per = [inference_contenders(ours, hf, fast, i, m, with_slow=False) for i, m in singles]
    cs = {n: (lambda n=n: [c[n]() for c in per]) for n in per[0]}
    info = {"batch": 1, "calls": 16, "lengths": "8..128, seeds 0..15",
            "max_abs_diff_vs_hf_sdpa": {n: max(d[n] for d in (diffs(c, m) for c, (_, m) in zip(per, singles,
                                                                                            strict=True)))
                                        for n in per[0] if n != ANCHOR}}
    report("inference b1 x16 8..128", timed(cs, args.rounds, args.budget, grad=False), info)


if __name__ == "__main__":
    main()
