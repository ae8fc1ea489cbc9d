"""PyG interop: collate reads PyG Data/Batch as the same sets; to_pyg gives PyG's own batch back."""

from __future__ import annotations

import pytest
import torch

from selfattn.data import VectorSet, collate, from_pyg, to_pyg

pyg_data = pytest.importorskip("torch_geometric.data")


def _graphs(sizes=(4, 1, 3), edge_dim=2, vector_labels=False, seed=0):
    """Random PyG graphs (a one-node graph without edges included) and the same as VectorSets."""
    g = torch.Generator().manual_seed(seed)
    pyg, ours = [], []
    for i, n in enumerate(sizes):
        x = torch.randn(n, 5, generator=g)
        e = int(torch.randint(0, 2 * n, (), generator=g)) if n > 1 else 0
        edge_index = torch.randint(0, n, (2, e), generator=g)
        edge_attr = torch.randn(e, edge_dim, generator=g)
        y = torch.randint(0, 3, (n,), generator=g) if vector_labels else torch.tensor([i % 2])
        pyg.append(pyg_data.Data(x=x, edge_index=edge_index, edge_attr=edge_attr, y=y))
        ours.append(VectorSet(x=x, y=y if vector_labels else y[0], edge_index=edge_index, edge_attr=edge_attr))
    return pyg, ours


def _same_batch(a, b):
    for name in ("x", "offsets", "lengths", "mask", "y", "edge_index", "edge_attr", "edge_batch"):
        u, v = getattr(a, name), getattr(b, name)
        assert (u is None) == (v is None), name
        if u is not None:
            assert u.shape == v.shape and torch.equal(u, v), name


@pytest.mark.parametrize("layout", ["padded", "packed"])
@pytest.mark.parametrize("labels", ["set", "vector"])
def test_pyg_data_list_and_batch_collate_like_vector_sets(layout, labels):
    pyg, ours = _graphs(vector_labels=labels == "vector")
    expected = collate(ours, layout, labels)
    _same_batch(collate(pyg, layout, labels), expected)
    _same_batch(collate(pyg_data.Batch.from_data_list(pyg), layout, labels), expected)
    if labels == "set":
        assert collate(pyg, layout, labels).y.shape == (3,)   # PyG's (1,) per graph -> one label each


@pytest.mark.parametrize("layout", ["padded", "packed"])
@pytest.mark.parametrize("labels", ["set", "vector", "none"])
def test_to_pyg_equals_pygs_own_batch(layout, labels):
    pyg, _ = _graphs(vector_labels=labels == "vector", seed=1)
    got = to_pyg(collate(pyg, layout, labels))
    expected = pyg_data.Batch.from_data_list(pyg)
    assert got.num_graphs == 3
    for name in ("x", "edge_index", "edge_attr", "batch", "ptr") + (("y",) if labels != "none" else ()):
        assert torch.equal(getattr(got, name), getattr(expected, name)), name
    if labels == "none":
        assert got.y is None
    # and back again: the PyG batch collates to the same selfattn batch
    _same_batch(collate(got, layout, labels), collate(pyg, layout, labels))


def test_a_vector_set_to_data_and_back():
    s = VectorSet(x=torch.randn(3, 4), y=torch.tensor([0, 2, 1]), edge_index=torch.tensor([[0, 1], [1, 2]]),
                  edge_attr=torch.randn(2, 1))
    data = to_pyg(s)
    assert isinstance(data, pyg_data.Data) and data.num_nodes == 3
    back = from_pyg(data)
    for name in ("x", "y", "edge_index", "edge_attr"):
        assert torch.equal(getattr(back, name), getattr(s, name))


def test_bad_pyg_input_is_named():
    with pytest.raises(ValueError, match=r"examples\[1\]\.x: expected node features .* got NoneType"):
        collate([pyg_data.Data(x=torch.randn(2, 3)), pyg_data.Data(edge_index=torch.zeros(2, 0).long(),
                                                                     num_nodes=2)])
    bad = pyg_data.Data(x=torch.randn(2, 3), edge_index=torch.tensor([[0], [5]]))
    with pytest.raises(ValueError, match=r"edge_index \(examples\[0\]\): edge 0 is \[0, 5\], expected node numbers in \[0, 2\)"):
        collate([bad])
    with pytest.raises(TypeError, match=r"examples\[0\]: expected a VectorSet or a torch_geometric Data, got dict"):
        collate([{"x": torch.randn(2, 3)}])
    with pytest.raises(ValueError, match=r"to_pyg: a batch with labels='sequence'"):
        to_pyg(collate([VectorSet(x=torch.randn(2, 3), y=torch.tensor([1, 2, 3]))], labels="sequence"))
    with pytest.raises(TypeError, match=r"to_pyg: expected a selfattn VectorSet or Batch, got list"):
        to_pyg([])
