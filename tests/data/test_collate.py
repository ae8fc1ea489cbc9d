import pytest
import torch
from torch.utils.data import DataLoader

from selfattn.data import Collate, SetDataset, VectorSet, collate
from selfattn.varlen import pack, pad


def _sets(lengths, dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [VectorSet(x=torch.randn(n, dim, generator=g), y=torch.randint(0, 5, (n,), generator=g))
            for n in lengths]


def test_padded_batch_shapes_mask_and_vector_labels():
    sets = _sets([3, 1, 4])
    batch = collate(sets, "padded", "vector")
    assert batch.x.shape == (3, 4, 3)
    assert batch.mask.tolist() == [[True] * 3 + [False], [True] + [False] * 3, [True] * 4]
    assert batch.offsets.tolist() == [0, 3, 4, 8]
    assert batch.lengths.tolist() == [3, 1, 4]
    assert torch.equal(batch.x[0, :3], sets[0].x)
    assert bool((batch.x[1, 1:] == 0).all())
    assert batch.y.shape == (3, 4)
    assert batch.y[1, 1:].tolist() == [-100, -100, -100]
    assert torch.equal(batch.y[batch.mask], torch.cat([s.y for s in sets]))


def test_packed_batch_round_trips_with_varlen():
    sets = _sets([2, 5, 1])
    packed = collate(sets, "packed", "vector")
    padded = collate(sets, "padded", "vector")
    assert packed.x.shape == (8, 3) and packed.mask is None
    values, offsets = pack(padded.x, mask=padded.mask)
    assert torch.equal(values, packed.x) and torch.equal(offsets, packed.offsets)
    again, mask = pad(packed.x, packed.offsets)
    assert torch.equal(again, padded.x) and torch.equal(mask, padded.mask)
    assert torch.equal(packed.y, torch.cat([s.y for s in sets]))


def test_set_labels_and_token_ids():
    sets = [VectorSet(x=torch.tensor([4, 5, 6]), y=torch.tensor(1)),
            VectorSet(x=torch.tensor([7]), y=torch.tensor(0))]
    batch = collate(sets, "padded", "set", padding_value=0)
    assert batch.x.dtype == torch.long and batch.x.tolist() == [[4, 5, 6], [7, 0, 0]]
    assert batch.y.tolist() == [1, 0]


def test_sequence_labels_have_their_own_lengths():
    sets = [VectorSet(x=torch.randn(4, 2), y=torch.tensor([1, 2])),
            VectorSet(x=torch.randn(2, 2), y=torch.tensor([3, 4, 5]))]
    padded = collate(sets, "padded", "sequence")
    assert padded.y.tolist() == [[1, 2, -100], [3, 4, 5]]
    assert padded.y_mask.tolist() == [[True, True, False], [True, True, True]]
    packed = collate(sets, "packed", "sequence")
    assert packed.y.tolist() == [1, 2, 3, 4, 5] and packed.y_offsets.tolist() == [0, 2, 5]


def test_edges_are_renumbered_in_both_layouts():
    a = VectorSet(x=torch.randn(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]),
                  edge_attr=torch.ones(2, 4))
    b = VectorSet(x=torch.randn(2, 2), edge_index=torch.tensor([[1], [0]]),
                  edge_attr=torch.zeros(1, 4))
    packed = collate([a, b], "packed")
    assert packed.edge_index.tolist() == [[0, 1, 4], [1, 2, 3]]
    assert packed.edge_batch.tolist() == [0, 0, 1]
    assert packed.edge_attr.shape == (3, 4)
    padded = collate([a, b], "padded")
    assert padded.edge_index.tolist() == [[0, 1, 4], [1, 2, 3]]  # b starts at row 1 * L = 3
    flat = padded.x.reshape(-1, 2)
    assert torch.equal(flat[padded.edge_index[0, 2]], b.x[1])


def test_grids_travel_with_image_sets():
    sets = [VectorSet(x=torch.randn(6, 1), grid=(2, 3), y=torch.tensor(0)),
            VectorSet(x=torch.randn(4, 1), grid=(2, 2), y=torch.tensor(1))]
    batch = collate(sets, "padded", "set")
    assert batch.grids.tolist() == [[2, 3], [2, 2]]


def test_dataloader_and_to_device():
    data = SetDataset(_sets([3, 2, 5, 1]))
    loader = DataLoader(data, batch_size=2, collate_fn=Collate("padded", "vector"))
    batches = list(loader)
    assert [b.x.shape[1] for b in batches] == [3, 5]
    moved = batches[0].to("cpu")
    assert moved.x.device.type == "cpu" and len(moved) == 2


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"examples: expected at least one set"):
        collate([])
    with pytest.raises(ValueError, match=r"examples\[1\].x: expected dtype"):
        collate([VectorSet(x=torch.randn(2, 3)), VectorSet(x=torch.randn(2, 4))])
    with pytest.raises(ValueError, match=r"examples\[0\].y: labels='vector' needs one label"):
        collate([VectorSet(x=torch.randn(2, 3), y=torch.tensor([1, 2, 3]))], labels="vector")
    with pytest.raises(ValueError, match=r"examples\[0\].y: labels='set' needs a label"):
        collate([VectorSet(x=torch.randn(2, 3))], labels="set")
    with pytest.raises(ValueError, match=r"layout: expected"):
        collate(_sets([1]), layout="ragged")
    with pytest.raises(ValueError, match=r"edge_index"):
        VectorSet(x=torch.randn(3, 2), edge_index=torch.tensor([[0], [3]]))
