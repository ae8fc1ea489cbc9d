"""`selfattn viz attention` on tiny trained runs: heat maps, graph edges, image overlays."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from conftest import MOLECULES
from selfattn.cli import main
from selfattn.data import patch_vectors
from selfattn.viz.attention import draw_run_attention, run_attention
from selfattn.viz.graph import EDGE_LABEL, NODE_LABEL, graph_attention_figure, neighbourhood, spring_positions
from selfattn.viz.image import OVERLAY_LABEL, cell_of_pixel, image_attention_figure, image_from_vectors
from selfattn.viz.maps import attention_heatmaps, panel_axes


def _collection(ax, label):
    (found,) = [c for c in ax.collections if c.get_label() == label]
    return found


def test_heatmaps_one_panel_per_layer_and_head_with_the_tokens(pos_run):
    ra = run_attention(pos_run, example=3)
    assert len(ra.weights) == 2 and all(w.shape[0] == 2 for w in ra.weights)
    n = len(ra.example)
    for w in ra.weights:  # each query's weights over the keys sum to 1
        torch.testing.assert_close(w.sum(-1), torch.ones(2, n))
    fig = attention_heatmaps(ra.weights, ra.tokens)
    panels = panel_axes(fig)
    assert len(panels) == 2 * 2
    for ax in panels:
        layer, head = (int(ax.get_label().split()[i]) - 1 for i in (2, 4))
        np.testing.assert_allclose(ax.images[0].get_array(), ra.weights[layer][head].numpy())
        keys = [t.get_text() for t in ax.get_xticklabels()]
        queries = [t.get_text() for t in ax.get_yticklabels()]
        assert keys == (ra.tokens if layer == 1 else [""] * n)      # the bottom row names the keys
        assert queries == (ra.tokens if head == 0 else [""] * n)    # the first column the queries
    assert ra.tokens[-1] == "." and len(ra.tokens) == n


def test_cli_default_example_png_and_html(pos_run, tmp_path, capsys):
    out = tmp_path / "maps.png"
    assert main(["viz", "attention", str(pos_run), "--out", str(out), "--html"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["form"] == "heatmap" and info["layers"] == 2 and info["heads"] == [2, 2]
    assert out.read_bytes()[:4] == b"\x89PNG"
    page = out.with_suffix(".html").read_text()
    data = json.loads(page.split('type="application/json">')[1].split("</script>")[0])
    assert len(data["layers"]) == 2 and len(data["layers"][0]) == 2


def test_user_sentence_keeps_its_words(pos_run, tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("The dog sees a Cat .\nevery book opens\n", encoding="utf-8")
    ra = run_attention(pos_run, input=text, example=1)
    assert ra.tokens == ["every", "book", "opens"]
    assert ra.weights[0].shape == (2, 3, 3)
    assert run_attention(pos_run, input=text).tokens == ["The", "dog", "sees", "a", "Cat", "."]


def test_graph_edges_drawn_are_the_model_weights_on_those_edges(karate_run, tmp_path):
    ra = run_attention(karate_run)
    ex = ra.example
    centre = 0  # karate's instructor: 16 neighbours, all drawn
    nodes = neighbourhood(ex.edge_index, len(ex), centre, max_nodes=40)
    degree = len(set(ex.edge_index[0][ex.edge_index[1] == centre].tolist()))
    assert nodes[0] == centre and len(nodes) == degree + 1
    pos = spring_positions(ex.edge_index, nodes)
    fig = graph_attention_figure(ra.weights, ex.edge_index, pos, nodes)
    panels = panel_axes(fig)
    assert len(panels) == 2 * 2
    for ax in panels:
        layer, head = (int(ax.get_label().split()[i]) - 1 for i in (2, 4))
        w = ra.weights[layer][head]
        lines = _collection(ax, EDGE_LABEL)
        drawn = lines.get_array()
        centre_total = 0.0
        for (start, end), value in zip(lines.get_segments(), drawn, strict=True):
            # the half segment starts at the query node and ends half way to the key node
            q = nodes[int(np.argmin(np.linalg.norm(pos - start, axis=1)))]
            k = nodes[int(np.argmin(np.linalg.norm(pos - (2 * end - start), axis=1)))]
            assert value == pytest.approx(float(w[q, k]), abs=1e-6)
            centre_total += value if q == centre else 0.0
        self_w = _collection(ax, NODE_LABEL).get_array()
        np.testing.assert_allclose(self_w, w[nodes, nodes].numpy(), atol=1e-6)
        # every neighbour of the centre is drawn, so its edges and itself hold all its weight
        assert centre_total + self_w[0] == pytest.approx(1.0, abs=1e-5)
    info = draw_run_attention(ra, tmp_path / "graph.png", html=True)
    assert info["form"] == "graph" and info["node"] in range(len(ex))
    assert (tmp_path / "graph.png").exists() and (tmp_path / "graph.html").exists()


def test_graph_nodes_are_ringed_in_the_class_the_model_predicts(karate_run, tmp_path):
    from matplotlib.colors import to_rgba

    from selfattn.data import collate
    from selfattn.viz.attention import run_figure
    from selfattn.viz.graph import CLASS_COLOURS, PREDICTED_LABEL
    from selfattn.viz.runs import read_run

    ra = run_attention(karate_run)
    fig, info, _ = run_figure(ra)
    nodes = info["nodes"]
    # the twin: the model's own outputs on the whole graph, argmax per node
    _, task, _, state, model = read_run(karate_run)
    batch = collate([ra.example], "padded", "none")
    with torch.no_grad():
        argmax = model(batch.x, batch.mask, edge_index=batch.edge_index, grids=batch.grids)[0].argmax(-1)
    names = task.class_names(state)
    assert info["predicted_drawn"] == {v: names[int(argmax[v])] for v in nodes}
    expected = np.array([to_rgba(CLASS_COLOURS[int(argmax[v]) % len(CLASS_COLOURS)]) for v in nodes])
    for ax in panel_axes(fig):
        ring = _collection(ax, PREDICTED_LABEL)
        np.testing.assert_allclose(ring.get_edgecolors(), expected)
        np.testing.assert_allclose(ring.get_offsets(), _collection(ax, NODE_LABEL).get_offsets())
        assert len(ring.get_facecolors()) == 0 or not ring.get_facecolors()[:, 3].any()  # rings, not discs
    [legend] = fig.legends
    assert "outer ring: predicted class" in legend.get_title().get_text()
    assert [t.get_text() for t in legend.get_texts()] == list(names)
    # a figure without predictions has no rings, and says nothing about them
    plain = graph_attention_figure(ra.weights, ra.example.edge_index, spring_positions(ra.example.edge_index, nodes),
                                   nodes)
    assert not [c for ax in panel_axes(plain) for c in ax.collections if c.get_label() == PREDICTED_LABEL]
    with pytest.raises(ValueError, match=r"predicted: expected \d+ entries \(one per drawn node\), got 1"):
        graph_attention_figure(ra.weights, ra.example.edge_index, spring_positions(ra.example.edge_index, nodes),
                               nodes, predicted=[0])


def test_molecule_atoms_on_rdkit_coordinates_numbered_under_its_smiles(molecule_run, tmp_path):
    ra = run_attention(molecule_run, example=2)
    info = draw_run_attention(ra, tmp_path / "mol.png")
    assert info["form"] == "graph" and info["nodes"] == list(range(len(ra.example)))
    from selfattn.viz.graph import molecule_positions

    pos = molecule_positions(ra.example.x, ra.example.edge_index, ra.symbols)
    a, b = ra.example.edge_index
    bonds = np.linalg.norm(pos[a.numpy()] - pos[b.numpy()], axis=1)
    np.testing.assert_allclose(bonds, 1.5, atol=0.05)  # RDKit depicts every bond 1.5 long
    assert set(ra.symbols) <= {"C", "N", "O", "Cl"}
    assert ra.tokens == [f"{s}{i + 1}" for i, s in enumerate(ra.symbols)]  # C1, C2, O3, ...
    # the title is the molecule's SMILES as the data file wrote it (not the file's path), and the
    # model's answer beside the true one
    from rdkit import Chem

    smiles = info["title"].split("\n")[0].removeprefix("molecule-bbb: ")
    assert smiles in MOLECULES and str(tmp_path) not in info["title"]
    assert [x.GetSymbol() for x in Chem.MolFromSmiles(smiles).GetAtoms()] == ra.symbols
    assert re.search(r"predicted: BBB[+-] \(0\.\d\d\), true: BBB[+-]", info["title"])


def test_pixel_attention_sums_to_one_over_the_image(image_run, tmp_path):
    ra = run_attention(image_run, example=0)
    ex = ra.example
    assert ex.grid == (4, 4) and ra.offset == 0
    image = image_from_vectors(ex.x, ex.grid)
    back, grid = patch_vectors(torch.from_numpy(image), 2, scale=1.0)
    torch.testing.assert_close(back, ex.x)  # the picture rebuilt from its patches
    assert grid == (4, 4) and image.shape == (8, 8)
    query = cell_of_pixel((7, 0), image.shape, ex.grid)
    assert query == 12  # bottom-left cell
    fig = image_attention_figure(ra.weights, image, ex.grid, query)
    panels = panel_axes(fig)
    assert len(panels) == 2 * 2
    for ax in panels:
        layer, head = (int(ax.get_label().split()[i]) - 1 for i in (2, 4))
        (overlay,) = [im for im in ax.images if im.get_label() == OVERLAY_LABEL]
        cell_map = np.asarray(overlay.get_array())
        assert cell_map.shape == (4, 4)
        assert cell_map.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(cell_map.ravel(), ra.weights[layer][head, query].numpy(), atol=1e-7)
    info = draw_run_attention(ra, tmp_path / "img.png", pixel=(0, 7))
    assert info["form"] == "image" and info["cell"] == 3


def test_extra_token_share_is_left_out_of_the_image_map():
    w = torch.softmax(torch.randn(3, 5, 5), -1)  # [CLS] + a 2 x 2 grid, 3 heads, one layer
    fig = image_attention_figure([w], np.zeros((4, 4)), (2, 2), 1, offset=1)
    for h, ax in enumerate(panel_axes(fig)):
        (overlay,) = [im for im in ax.images if im.get_label() == OVERLAY_LABEL]
        assert float(np.sum(overlay.get_array())) == pytest.approx(1.0 - float(w[h, 2, 0]), abs=1e-6)


def test_bad_arguments_say_what_was_expected(pos_run, mlp_run, image_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="RUN: expected a run directory"):
        run_attention(tmp_path / "no-such-run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"RUN: expected .*config\.yaml"):
        run_attention(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"--example: expected 0\.\.\d+ \(the run's test set has \d+ "
                                         r"examples\), got 10000"):
        run_attention(pos_run, example=10000)
    with pytest.raises(FileNotFoundError, match="--input: expected a file"):
        run_attention(pos_run, input=tmp_path / "missing.txt")
    with pytest.raises(ValueError, match=r"model\.kind=.mlp. .*no attention layers"):
        run_attention(mlp_run, example=0)
    ra = run_attention(image_run, example=0)
    with pytest.raises(ValueError, match=r"pixel: expected \(row, col\) with 0 <= row < 8"):
        draw_run_attention(ra, tmp_path / "x.png", pixel=(8, 0))
    with pytest.raises(ValueError, match="form: 'graph' needs a set with edges"):
        draw_run_attention(ra, tmp_path / "x.png", form="graph")
    with pytest.raises(ValueError, match=r"tokens: expected 4 labels"):
        attention_heatmaps([torch.rand(1, 4, 4)], ["a", "b"])
    with pytest.raises(ValueError, match=r"weights\[1\]: expected \(heads, 4, 4\)"):
        attention_heatmaps([torch.rand(1, 4, 4), torch.rand(1, 3, 3)])
    with pytest.raises(SystemExit):
        main(["viz", "attention", str(image_run), "--pixel", "3"])
