"""Examples/s and peak memory of each attention in the LRA model, relative to full.

``speed_sweep(attentions, scale)`` times one training step (forward + backward of the
cross-entropy, no optimiser) of the scale's ``LRAClassifier`` on ``speed_batch`` random
byte sequences of each length in ``speed_lengths``, as in the LRA paper's Table 2 (its
byte-level text model at 1K-4K). How, so that a shared machine's drift cannot decide:

* Speed: at each length every attention's step runs round-robin inside the same rounds
  (one warm-up step each, then ``speed_rounds`` rounds,
  ``selfattn.bench.timing``); the figure is the fastest round
  (the least disturbed; the median is kept too), examples/s = batch / that time, and the
  ratio is to ``full`` in the same rounds.
* Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` around one step. On CPU (Linux),
  one child process measures every (attention, length) in turn, with glibc's
  ``MALLOC_MMAP_THRESHOLD_=65536`` (every tensor above 64 KiB is its own mapping, returned
  to the system when freed, so the resident set follows the live tensors): after a warm-up
  step it resets the resident-set high-water mark (``/proc/self/clear_refs``), runs one
  step and reports ``VmHWM - VmRSS(before)``: everything the step allocated (activations,
  gradients, workspaces), the parameters excluded. Elsewhere memory is not measured (None).
* Crossover: the shortest length of the sweep from which an attention is faster than full
  at every longer length, and the length where the time ratio crosses 1 (log-linear
  interpolation between the two lengths around it).
"""

from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from ..timing import interleaved, summarize
from .harness import LRAScale, build_model
from .text import BYTE_VOCAB

__all__ = ["crossover", "measure_memory", "speed_sweep", "step_function"]


def step_function(name: str, scale: LRAScale, length: int, device: str = "cpu"):
    """``(model, step)``: ``step()`` runs forward + backward of the model on a fixed batch."""
    model = build_model(name, scale, BYTE_VOCAB, 2, length).to(device).train()
    gen = torch.Generator().manual_seed(length)
    ids = torch.randint(1, BYTE_VOCAB, (scale.speed_batch, length), generator=gen).to(device)
    lengths = torch.full((scale.speed_batch,), length, device=device)
    labels = torch.randint(0, 2, (scale.speed_batch,), generator=gen).to(device)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(ids, lengths), labels).backward()
        if device != "cpu":
            torch.cuda.synchronize()

    return model, step


# -- memory ---------------------------------------------------------------------------------
def _status(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{name} not in /proc/self/status")


def _peak_here(step, device: str) -> int:
    step()  # warm-up
    gc.collect()
    if device != "cpu":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        return int(torch.cuda.max_memory_allocated() - before)
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    step()
    return max(_status("VmHWM") - before, 0)


def _memory_child(spec: dict) -> dict:
    torch.set_num_threads(spec["threads"])
    gc.freeze()  # the imported modules' objects: never collected, so gc.collect() stays cheap
    scale = LRAScale(**{**spec["scale"], "tasks": {}})
    out: dict = {}
    for length in spec["lengths"]:
        for name in spec["attentions"]:
            model, step = step_function(name, scale, length)
            out.setdefault(name, {})[str(length)] = _peak_here(step, "cpu")
            del model, step
            gc.collect()
    return out


def measure_memory(attentions: list[str], scale: LRAScale, lengths: list[int],
                   device: str = "cpu") -> dict[str, dict[str, int | None]]:
    """Peak bytes of one step, ``{name: {str(length): bytes or None}}`` (see module doc)."""
    if device != "cpu":
        out: dict = {}
        for length in lengths:
            for name in attentions:
                model, step = step_function(name, scale, length, device)
                out.setdefault(name, {})[str(length)] = _peak_here(step, device)
                del model, step
        return out
    if not Path("/proc/self/clear_refs").exists():
        return {n: dict.fromkeys(map(str, lengths)) for n in attentions}
    spec = {"attentions": list(attentions), "lengths": list(lengths), "threads": torch.get_num_threads(),
            "scale": {k: v for k, v in asdict(scale).items() if k != "tasks"}}
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    code = "import sys, json; from selfattn.bench.lra.speed import _memory_child; " \
           "print(json.dumps(_memory_child(json.loads(sys.argv[1]))))"
    res = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], env=env, capture_output=True,
                         text=True)
    if res.returncode:
        raise RuntimeError(f"the memory measurement failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# -- the sweep ------------------------------------------------------------------------------
def crossover(lengths: list[int], ratios: list[float]) -> tuple[int | None, float | None]:
    """``(first, interpolated)``: the shortest length from which ``ratio > 1`` (faster than
    full) at every longer length, and where the ratio crosses 1 (log-linear between the
    lengths around it; ``first`` itself if it is the shortest length). None if never."""
    if len(lengths) != len(ratios) or not lengths:
        raise ValueError(f"lengths, ratios: expected two non-empty lists of one size, got "
                         f"{len(lengths)} and {len(ratios)}")
    first = next((i for i in range(len(ratios)) if all(r > 1 for r in ratios[i:])), None)
    if first is None:
        return None, None
    if first == 0:
        return lengths[0], float(lengths[0])
    r0, r1 = math.log(ratios[first - 1]), math.log(ratios[first])
    l0, l1 = math.log(lengths[first - 1]), math.log(lengths[first])
    return lengths[first], math.exp(l0 + (0 - r0) * (l1 - l0) / (r1 - r0))


def speed_sweep(attentions: list[str], scale: LRAScale, device: str = "cpu", memory: bool = True,
                progress: bool = True) -> dict:
    """Speed and memory of every attention at every ``scale.speed_lengths``, relative to
    full (which must be among ``attentions``), and the crossover lengths."""
    if "full" not in attentions:
        raise ValueError(f"attentions: expected 'full' among them (the reference), got {attentions}")
    lengths = list(scale.speed_lengths)
    timing: dict[str, dict[str, dict]] = {n: {} for n in attentions}
    for length in lengths:
        steps = {n: step_function(n, scale, length, device)[1] for n in attentions}
        for name, t in summarize(interleaved(steps, scale.speed_rounds, warmup=1)).items():
            timing[name][str(length)] = t
        del steps
        gc.collect()
        if progress:
            print(f"speed L={length}: " + ", ".join(
                f"{n} {timing[n][str(length)]['min_s'] * 1e3:.0f} ms" for n in attentions), flush=True)
    peaks = measure_memory(attentions, scale, lengths, device) if memory else {
        n: dict.fromkeys(map(str, lengths)) for n in attentions}
    results: dict = {}
    for name in attentions:
        per_length = {}
        for length in map(str, lengths):
            t, f = timing[name][length], timing["full"][length]
            peak, full_peak = peaks[name][length], peaks["full"][length]
            per_length[length] = {
                **t, "examples_per_s": scale.speed_batch / t["min_s"],
                "speedup_vs_full": f["min_s"] / t["min_s"],
                "speedup_vs_full_median": f["median_s"] / t["median_s"],
                "peak_bytes": peak,
                "peak_ratio_vs_full": None if peak is None or not full_peak else peak / full_peak,
            }
        first, cross = crossover(lengths, [per_length[str(n)]["speedup_vs_full"] for n in lengths])
        results[name] = {"lengths": per_length, "crossover_length": first, "crossover_interpolated": cross}
    return {"config": {"lengths": lengths, "batch": scale.speed_batch, "rounds": scale.speed_rounds,
                       "d_model": scale.d_model, "heads": scale.heads, "layers": scale.layers,
                       "ff": scale.ff, "device": device, "threads": torch.get_num_threads(),
                       "step": "forward + backward of the LRA classifier (cross-entropy), no optimiser",
                       "speed": "fastest of the interleaved rounds; ratios to full in the same rounds",
                       "memory": "CUDA max_memory_allocated, or on CPU RSS high-water of one step in a "
                                 "child process with MALLOC_MMAP_THRESHOLD_=65536"},
            "results": results}
