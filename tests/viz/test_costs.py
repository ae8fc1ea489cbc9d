"""Cost curves read from the committed benchmark results: what is drawn is what was measured."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from selfattn.cli import main
from selfattn.viz.costs import FILES, plot_costs

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


@pytest.mark.skipif(not (RESULTS / "variants_speed.json").is_file(), reason="no committed benchmark results")
def test_curves_are_the_benchmark_numbers():
    fig, series = plot_costs(None, RESULTS)
    panel = {ax.get_label(): ax for ax in fig.axes}
    d = json.loads((RESULTS / "variants_speed.json").read_text())
    lines = {ln.get_gid(): ln for ln in panel["costs variants time"].get_lines()
             if not ln.get_label().startswith("_")}
    assert len(lines) == len(d["results"])
    full = d["results"]["full"]["lengths"]
    xs = sorted(int(L) for L in full)
    assert list(lines["full (SDPA)"].get_xdata()) == xs
    assert list(lines["full (SDPA)"].get_ydata()) == [full[str(L)]["min_s"] for L in xs]
    window = json.loads((RESULTS / "sparse_window.json").read_text())
    (mem,) = [s for s in series if s.panel == "sparse memory" and s.name == "window: selfattn"]
    assert mem.y == [window["peak_growth_bytes"][f"ours {L}"] for L in mem.x]
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for k, ax in panel.items()
               if k.startswith("costs") and k != "costs varlen")


def test_missing_files_are_said_and_no_results_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="--results: expected the benchmarks' results folder"):
        plot_costs(None, tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="--results: expected at least one of"):
        plot_costs(None, tmp_path)
    if not (RESULTS / "sparse_graph.json").is_file():
        pytest.skip("no committed benchmark results")
    shutil.copy(RESULTS / "sparse_graph.json", tmp_path)
    fig, series = plot_costs(tmp_path / "costs.png", tmp_path)
    assert {s.panel for s in series} == {"sparse time", "sparse memory"} and len(series) == 6
    assert all(name in fig.get_suptitle() for name in FILES if name != "sparse_graph.json")  # said missing
    assert main(["viz", "costs", str(tmp_path / "cli.png"), "--results", str(tmp_path)]) == 0
    assert (tmp_path / "cli.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "cli.json").read_text())
    graph = json.loads((RESULTS / "sparse_graph.json").read_text())["scaling"]
    (ours,) = [c for c in report["curves"] if c["name"] == "graph (N nodes): selfattn" and "time" in c["panel"]]
    t, n = graph["time_fwdbwd_s"]["ours"], graph["N"]
    assert ours["slope_last"] == pytest.approx(math.log(t[-1] / t[-2]) / math.log(n[-1] / n[-2]), abs=1e-3)
