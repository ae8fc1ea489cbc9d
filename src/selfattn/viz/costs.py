"""Cost curves: time and memory against length L per kernel, from the committed benchmarks.

The lecture's reason for truncated attention and for the variants [32, 42]: the
attention matrix is ``L x L``, so full attention costs ``L^2`` time and memory, and long
inputs (speech) make that the bottleneck. ``plot_costs`` reads the JSON files the
benchmarks wrote in ``benchmarks/results/`` (it runs nothing) and draws them log-log,
where an ``L^2`` cost is a line of slope 2 and an ``L`` cost one of slope 1:

* row 1, ``variants_speed.json``: every efficient variant against full attention
  (module forward + backward; fastest of the interleaved rounds; peak memory of a fresh
  process);
* row 2, ``sparse_window.json`` / ``sparse_grid.json`` / ``sparse_graph.json``: the exact
  sparse kernels (1-D window, 2-D neighbourhood, graph edges) against SDPA with a dense
  mask or PyG; forward + backward;
* row 3, ``core_mha.json``: selfattn's ``MultiHeadAttention`` against torch's at a fixed
  8,192 tokens a batch (no memory recorded); ``core_varlen.json``: packed against padded
  sets (lengths 16..512: no single L, so bars).

Every curve's numbers are returned with the figure (``series``), as read from the files;
the command also writes them, with each curve's log-log slope between its two largest
``L`` (the measured exponent: 2 for quadratic, 1 for linear), to ``OUT`` with ``.json``.

    selfattn viz costs OUT.png [--results DIR]   (default: benchmarks/results of the repository)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = ["Series", "cost_series", "default_results", "plot_costs"]

FILES = ("variants_speed.json", "sparse_window.json", "sparse_grid.json", "sparse_graph.json",
         "core_mha.json", "core_varlen.json")


@dataclass
class Series:
    """One curve: ``panel`` (``"variants time"`` ...), ``name``, ``x`` (L), ``y`` (s or bytes)."""

    panel: str
    name: str
    x: list[float]
    y: list[float]
    source: str = ""
    style: dict = field(default_factory=dict)

    @property
    def slope(self) -> float | None:
        """The log-log slope between the two largest L: the measured exponent of the cost."""
        if len(self.x) < 2 or min(self.y[-2:]) <= 0:
            return None
        return math.log(self.y[-1] / self.y[-2]) / math.log(self.x[-1] / self.x[-2])


def _read(folder: Path, name: str) -> dict | None:
    path = folder / name
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a benchmark results file (not JSON: {error})") from error


def default_results(candidates: Sequence[str | Path] | None = None) -> Path:
    """The first of ``candidates`` holding a benchmark results file; by default
    ``benchmarks/results`` of the current directory, then of the checkout this package runs
    from (an editable install): the folder comes with the repository, not with the package."""
    if candidates is None:
        candidates = [Path("benchmarks") / "results",
                      Path(__file__).resolve().parents[3] / "benchmarks" / "results"]
    folders = [Path(c) for c in candidates]
    for folder in folders:
        if any((folder / f).is_file() for f in FILES):
            return folder
    raise FileNotFoundError(
        f"--results: no benchmark results in {' nor '.join(map(str, folders))}; the JSON files "
        f"({', '.join(FILES)}) come with the repository's benchmarks/results folder, not with the "
        "installed package: run from the repository root or pass --results DIR")


def _variants_series(d: dict) -> list[Series]:
    out = []
    for name, r in d["results"].items():
        rows = sorted((int(L), v) for L, v in r["lengths"].items() if "min_s" in v)
        style = {"ls": "-", "lw": 2.2, "color": "k"} if name == "full" else {}
        if name == "full_explicit":
            style = {"ls": "--", "lw": 1.8, "color": "0.4"}
        label = {"full": "full (SDPA)", "full_explicit": "full, weights materialised"}.get(name, name)
        out.append(Series("variants time", label, [L for L, _ in rows], [v["min_s"] for _, v in rows],
                          "variants_speed.json", style))
        mem = [(L, v["peak_bytes"]) for L, v in rows if v.get("peak_bytes")]
        out.append(Series("variants memory", label, [L for L, _ in mem], [b for _, b in mem],
                          "variants_speed.json", style))
    return out


_SPARSE_NAMES = {"ours": "selfattn", "chunked": "chunked", "sdpa_band": "SDPA + band mask",
                 "sdpa_mask": "SDPA + dense mask"}


def _sparse_series(d: dict, file: str, what: str, kernels: tuple[str, ...]) -> list[Series]:
    out = []
    rows = sorted(d["rows"], key=lambda r: r["L"])
    peaks = d.get("peak_growth_bytes", {})
    for k in kernels:
        pts = [(r["L"], r["median_s"][f"{k} fwdbwd"]) for r in rows if f"{k} fwdbwd" in r["median_s"]]
        style = {"ls": "-" if k == "ours" else ":", "marker": "o" if what == "window" else "s"}
        label = f"{what}: {_SPARSE_NAMES[k]}"
        out.append(Series("sparse time", label, [p[0] for p in pts], [p[1] for p in pts], file, style))
        # sparse_grid keeps the peak per row, sparse_window per "kernel L" key
        mem = [(r["L"], (r.get("peak_growth_bytes") or {}).get(k, peaks.get(f"{k} {r['L']}")))
               for r in rows]
        mem = [(L, b) for L, b in mem if b]
        out.append(Series("sparse memory", label, [p[0] for p in mem], [p[1] for p in mem], file, style))
    return out


def _graph_series(d: dict) -> list[Series]:
    out = []
    sc = d["scaling"]
    kernels = (("ours", "selfattn"), ("pyg_transformer", "PyG TransformerConv"), ("pyg_gat", "PyG GAT"))
    for k, name in kernels:
        style = {"ls": "-" if k == "ours" else ":", "marker": "^"}
        label = f"graph (N nodes): {name}"
        file = "sparse_graph.json"
        out.append(Series("sparse time", label, sc["N"], sc["time_fwdbwd_s"][k], file, style))
        out.append(Series("sparse memory", label, sc["N"], sc["peak_growth_bytes"][k], file, style))
    return out


def _core_series(d: dict) -> list[Series]:
    out = []
    lengths = sorted(d["mha"], key=int)
    for name in d["mha"][lengths[0]]["forward+backward"]:
        ys = [d["mha"][L]["forward+backward"][name]["median_s"] for L in lengths]
        style = {"ls": "-" if name.startswith("selfattn") else ":", "marker": "o"}
        out.append(Series("core time", name, [int(L) for L in lengths], ys, "core_mha.json", style))
    return out


# each results file and the curves read from it (core_varlen.json: bars, read by _varlen_bars)
_READERS = (
    ("variants_speed.json", _variants_series),
    ("sparse_window.json", lambda d: _sparse_series(d, "sparse_window.json", "window",
                                                    ("ours", "chunked", "sdpa_band"))),
    ("sparse_grid.json", lambda d: _sparse_series(d, "sparse_grid.json", "2-D grid", ("ours", "sdpa_mask"))),
    ("sparse_graph.json", _graph_series),
    ("core_mha.json", _core_series),
)


def cost_series(results: str | Path | None = None) -> tuple[list[Series], dict, list[str]]:
    """``(series, varlen, missing)`` read from the benchmark JSON files in ``results``
    (default: :func:`default_results`)."""
    folder = default_results() if results is None else Path(results)
    if not folder.is_dir():
        why = "not a directory" if folder.exists() else "missing"
        raise FileNotFoundError(f"--results: expected the benchmarks' results folder (JSON files such as "
                                f"{FILES[0]}), got {folder} ({why})")
    missing = [f for f in FILES if not (folder / f).is_file()]
    if len(missing) == len(FILES):
        raise FileNotFoundError(f"--results: expected at least one of {list(FILES)} in {folder}, found none")
    out: list[Series] = []
    for file, series_of in _READERS:
        if (d := _read(folder, file)) is None:
            continue
        try:
            out += series_of(d)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
            raise ValueError(f"{folder / file}: not laid out as its benchmark writes it "
                             f"({type(error).__name__}: {error})") from error
    varlen = _read(folder, "core_varlen.json") or {}
    return out, varlen, missing


def plot_costs(out: str | Path | None = None, results: str | Path | None = None, dpi: int = 120
               ) -> tuple[Figure, list[Series]]:
    """The one figure of cost curves (module docstring) -> ``(Figure, series)``; PNG at ``out``
    (``results``: the benchmarks' JSON folder, default :func:`default_results`)."""
    results = default_results() if results is None else Path(results)
    series, varlen, missing = cost_series(results)
    fig = Figure(figsize=(13.5, 14.5))
    axes = fig.subplots(3, 2)
    panels = {"variants time": axes[0, 0], "variants memory": axes[0, 1], "sparse time": axes[1, 0],
              "sparse memory": axes[1, 1], "core time": axes[2, 0]}
    titles = {
        "variants time": "efficient variants vs full: time (fwd+bwd, B=1, d=256, 4 heads)",
        "variants memory": "efficient variants vs full: peak memory of one step",
        "sparse time": "exact sparse kernels vs dense masks: time (fwd+bwd)",
        "sparse memory": "exact sparse kernels vs dense masks: peak memory",
        "core time": "MultiHeadAttention, 8,192 tokens a batch: time (fwd+bwd, d=512, 8 heads)"}
    for key, ax in panels.items():
        ax.set_label(f"costs {key}")
        mine = [s for s in series if s.panel == key]
        for i, s in enumerate(mine):
            style = {"marker": "o", "ms": 3.5, "lw": 1.3, **s.style}
            style.setdefault("color", f"C{i % 10}")
            slope = "" if s.slope is None else f" ({s.slope:.1f})"
            ax.plot(s.x, s.y, label=s.name + slope, gid=s.name, **style)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(titles[key], fontsize=9)
        ax.set_xlabel("L (vectors per set; graph: nodes)", fontsize=8)
        ax.set_ylabel("seconds" if key.endswith("time") else "bytes", fontsize=8)
        ax.grid(True, which="both", alpha=0.25)
        if mine:
            _guides(ax, mine, key != "core time")
            ax.legend(fontsize=6, ncols=2 if len(mine) > 6 else 1, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no results file", ha="center", transform=ax.transAxes)
    _varlen_bars(axes[2, 1], varlen)
    note = f" (missing: {', '.join(missing)})" if missing else ""
    fig.suptitle(f"Cost against length, log-log, from {Path(results)}{note}\n"
                 "dashed grey guides: slope 1 (linear) and slope 2 (quadratic); (n) in a legend: the curve's "
                 "slope between its two largest L", fontsize=10)
    fig.tight_layout()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi)
    return fig, series


def _guides(ax, series: list[Series], show: bool) -> None:
    """Slope-1 and slope-2 lines through the first point of the first curve."""
    if not show:
        return
    s = series[0]
    x = np.array([min(min(t.x) for t in series), max(max(t.x) for t in series)], dtype=float)
    for power in (1, 2):
        ax.plot(x, s.y[0] * (x / s.x[0]) ** power, color="0.6", ls="--", lw=0.8, label="_guide")


def _varlen_bars(ax, d: dict) -> None:
    ax.set_label("costs varlen")
    if not d:
        ax.text(0.5, 0.5, "core_varlen.json missing", ha="center", transform=ax.transAxes)
        return
    modes = [m for m in ("forward", "forward+backward") if m in d.get("core", {})]
    kinds = ["padded", "packed", "per-set loop", "nested"]
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        ys = [d["core"][m].get(kind, {}).get("median_s", np.nan) for m in modes]
        ax.bar(np.arange(len(modes)) + i * width, ys, width, label=kind, color=f"C{i}")
    ax.set_xticks(np.arange(len(modes)) + 0.4 - width / 2, modes)
    ax.set_yscale("log")
    cfg = d.get("config", {})
    ax.set_title(f"{cfg.get('sets', '?')} sets, lengths {cfg.get('lengths', '?')}: attention core, packed vs "
                 "padded", fontsize=9)
    ax.set_ylabel("seconds", fontsize=8)
    ax.legend(fontsize=7)
