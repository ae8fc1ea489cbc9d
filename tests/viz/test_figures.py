"""What a reader sees in the PNG figures, read from the matplotlib objects: one 1-based numbering,
a colour bar per heat map, tick labels of at least 8 pt, the sentence / SMILES as title, the
predicted labels beside the tokens, colour-bar labels inside the figure, whole-epoch ticks."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colorbar import Colorbar

from selfattn.viz.maps import PREDICTED_LABEL, TICK_FONT, attention_heatmaps, panel_axes

NUMBERED = re.compile(r"layer (\d+)[ /,]*head (\d+)")


def _texts(fig) -> list[str]:
    """Every text of a figure: its title, panel titles, labels, tick labels."""
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and callable(a.get_text))
            if t.get_text()]


def _bars(fig) -> list:
    """The colour bars of a figure, found from the things they explain (images, edge lines)."""
    found = fig.findobj(lambda a: isinstance(getattr(a, "colorbar", None), Colorbar))
    return list({id(a.colorbar): a.colorbar for a in found}.values())


def _numbering(texts) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for t in texts for a, b in NUMBERED.findall(t)}


def _shown_ticks(ax, axis: str):
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t for t in labels if t.get_text()]


def _weights(layers=2, heads=3, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.softmax(torch.randn(heads, n, n, generator=g), -1) for _ in range(layers)]


def test_heatmaps_number_from_one_with_a_colour_bar_and_readable_ticks():
    weights = _weights(layers=2, heads=3)
    tokens = ["the", "dog", "sees", "a", "cat"]
    fig = attention_heatmaps(weights, tokens, title="pos: the dog sees a cat")
    FigureCanvasAgg(fig).draw()
    panels = panel_axes(fig)
    assert [ax.get_title() for ax in panels] == [f"layer {li} head {h}" for li in (1, 2) for h in (1, 2, 3)]
    assert _numbering(_texts(fig)) == {(li, h) for li in (1, 2) for h in (1, 2, 3)}
    for ax in panels:
        (image,) = ax.images
        bar = image.colorbar
        assert bar is not None and bar.ax in fig.axes            # each heat map its own scale
        assert bar.vmin == 0.0 and bar.vmax == pytest.approx(float(image.get_array().max()))
        ticks = [*_shown_ticks(ax, "x"), *_shown_ticks(ax, "y"), *bar.ax.get_yticklabels()]
        assert ticks and min(t.get_fontsize() for t in ticks) >= TICK_FONT >= 8
    assert fig.get_suptitle() == "pos: the dog sees a cat"


def test_predicted_labels_stand_beside_the_tokens_wrong_ones_in_red():
    weights = _weights(layers=2, heads=2, n=4)
    predicted, truth = ["DT", "NN", "VBZ", "NN"], ["DT", "NN", "VBZ", None]
    fig = attention_heatmaps(weights, ["a", "dog", "runs", "."], predicted=predicted, truth=["DT", "JJ", *truth[2:]])
    for li in (1, 2):
        last = next(ax for ax in panel_axes(fig) if ax.get_label() == f"attention layer {li} head 2")
        (side,) = [c for c in last.child_axes if c.get_label() == PREDICTED_LABEL]
        labels = side.get_yticklabels()
        assert [t.get_text() for t in labels] == predicted
        assert min(t.get_fontsize() for t in labels) >= 8
        # NN against a true JJ is wrong (red); an unknown truth is not
        assert [t.get_color() for t in labels] == ["black", "#c0392b", "black", "black"]
    set_level = attention_heatmaps(weights, None, predicted="BBB+", truth="BBB-", title="CCO")
    assert set_level.get_suptitle() == "CCO\npredicted: BBB+ (true: BBB-)"
    with pytest.raises(ValueError, match=r"predicted: expected one label per query \(4\)"):
        attention_heatmaps(weights, None, predicted=["a"])


def test_many_tokens_keep_8pt_labels_by_labelling_every_kth():
    fig = attention_heatmaps(_weights(layers=1, heads=1, n=120), [f"t{i}" for i in range(120)])
    (ax,) = panel_axes(fig)
    shown = _shown_ticks(ax, "x")
    assert 20 <= len(shown) <= 40 and all(t.get_fontsize() >= 8 for t in shown)
    FigureCanvasAgg(fig).draw()
    boxes = [t.get_window_extent() for t in shown]
    assert all(a.x1 <= b.x0 + 0.5 for a, b in itertools.pairwise(boxes))  # no two overlap


def test_run_pictures_are_titled_by_sentence_and_smiles_not_the_cache_path(pos_run, molecule_run, image_run,
                                                                           karate_run):
    from selfattn.viz.attention import run_attention, run_figure

    ra = run_attention(pos_run, example=1)
    fig, info, _ = run_figure(ra)
    assert fig.get_suptitle() == info["title"] == "pos: " + " ".join(ra.tokens)
    assert ".txt" not in fig.get_suptitle()
    (side,) = [c for ax in panel_axes(fig) for c in ax.child_axes if c.get_label() == PREDICTED_LABEL][:1]
    assert [t.get_text() for t in side.get_yticklabels()] == info["predicted"] and len(info["predicted"]) == len(
        ra.tokens)
    mol = run_attention(molecule_run, example=0)
    fig, info, _ = run_figure(mol)
    drawn = [t.get_text() for ax in panel_axes(fig) for t in ax.texts]
    assert drawn == [f"{s}{i + 1}" for i, s in enumerate(mol.symbols)] * 4     # 2 layers x 2 heads
    assert min(t.get_fontsize() for ax in panel_axes(fig) for t in ax.texts) >= 8
    assert ".tsv" not in fig.get_suptitle() and "predicted: BBB" in fig.get_suptitle()
    for run in (molecule_run, image_run, karate_run):
        fig, _, _ = run_figure(run_attention(run))
        assert _numbering(_texts(fig)) == {(1, 1), (1, 2), (2, 1), (2, 2)}
        assert not re.search(r"layer 0|head 0", "\n".join(_texts(fig)))
        bars = _bars(fig)
        assert bars, "no colour bar"
        assert min(t.get_fontsize() for b in bars for t in b.ax.get_yticklabels()) >= 8


def test_image_overlays_each_have_a_colour_bar(image_run):
    from selfattn.viz.attention import run_attention, run_figure
    from selfattn.viz.image import OVERLAY_LABEL

    fig, _, _ = run_figure(run_attention(image_run, example=0))
    for ax in panel_axes(fig):
        (overlay,) = [im for im in ax.images if im.get_label() == OVERLAY_LABEL]
        assert overlay.colorbar is not None
        assert overlay.colorbar.vmax == pytest.approx(float(np.max(overlay.get_array())))


def test_positional_colour_bar_labels_stay_inside_the_figure_and_off_the_panels():
    from selfattn.viz.positional import positional_figure

    fig = positional_figure(length=16, dim=8, num_heads=4)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()   # lays the figure out, as savefig does
    renderer = canvas.get_renderer()
    page = fig.bbox
    bars = [b.ax for b in _bars(fig)]
    panels = [ax for ax in fig.axes if ax not in bars]
    assert len(panels) == len(bars) == 8
    for bar in bars:
        for text in [*bar.get_yticklabels(), bar.yaxis.label]:
            if not text.get_text():
                continue
            box = text.get_window_extent(renderer)
            assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, text.get_text()   # not cut off
            assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in panels), text.get_text()
    heads = [ax for ax in panels if ax.get_xlabel() == "head"]
    assert heads and all(min(t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]) >= 1
                         for ax in heads)   # heads from 1


@pytest.mark.parametrize("epochs", [1, 3, 38])
def test_learning_curves_tick_at_whole_epochs(epochs):
    from selfattn.train.plots import learning_curves_figure

    rows = [{"epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.1 / (e + 1), "val_acc": 0.5 + e / 100}
            for e in range(epochs)]
    fig = learning_curves_figure(rows, "pos")
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert min(ticks) >= 1 and max(ticks) <= epochs
        assert [float(x) for x in ax.get_lines()[0].get_xdata()] == [float(e + 1) for e in range(epochs)]


def test_demo_figure_numbers_from_one_and_draws_its_predictions(tmp_path):
    from selfattn.demo import LABELS, save_attention_heatmap

    weights = _weights(layers=2, heads=2, n=6)
    tokens, truth, predicted = [3, 5, 3, 7, 1, 2], [1, 0, 1, 0, 0, 0], [1, 0, 1, 1, 0, 0]
    fig = save_attention_heatmap(weights, tokens, truth, tmp_path / "demo.png", predicted)
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"
    assert _numbering(_texts(fig)) == {(li, h) for li in (1, 2) for h in (1, 2)}
    assert "w3 w5 w3 w7 w1 w2" in fig.get_suptitle()
    (side,) = [c for ax in panel_axes(fig) for c in ax.child_axes if c.get_label() == PREDICTED_LABEL][:1]
    labels = side.get_yticklabels()
    assert [t.get_text() for t in labels] == [LABELS[p] for p in predicted]
    assert [t.get_color() for t in labels].count("#c0392b") == 1   # w7 called repeated, it is unique


def test_a_runs_own_attention_png_is_titled_and_labelled_like_viz_attention(pos_run, molecule_run, tmp_path):
    """train.plots.example_figure: what `selfattn train` draws as RUN/attention.png."""
    from selfattn.train import load_run
    from selfattn.train.plots import example_figure

    for run, kind in ((pos_run, "tokens"), (molecule_run, "set")):
        cfg, task, spec, state, model = load_run(run)
        data = task.build(cfg)
        example = data.test.examples[0]
        fig = example_figure(cfg, task, spec, {**data.state, **state}, model, example, tmp_path / "a.png")
        assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
        assert str(run.parent) not in fig.get_suptitle() and "/" not in fig.get_suptitle().split("\n")[0]
        assert _numbering(_texts(fig)) == {(1, 1), (1, 2), (2, 1), (2, 2)}
        sides = [c for ax in panel_axes(fig) for c in ax.child_axes if c.get_label() == PREDICTED_LABEL]
        if kind == "tokens":
            words = task.tokens(example, {**data.state, **state})
            assert fig.get_suptitle() == "pos: " + " ".join(words)
            assert len(sides) == 2 and len(sides[0].get_yticklabels()) == len(words)
        else:
            assert not sides and re.search(r"\npredicted: BBB[+-] \(true: BBB[+-]\)$", fig.get_suptitle())
            atoms = task.tokens(example, state)
            assert [t.get_text() for t in panel_axes(fig)[0].get_yticklabels()] == [
                f"{a}{i + 1}" for i, a in enumerate(atoms)]
