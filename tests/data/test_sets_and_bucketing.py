import pytest
import torch

from selfattn.data import (
    LengthBucketSampler,
    SetDataset,
    VectorSet,
    padding_fraction,
    set_loader,
    split_indices,
)


def test_split_indices_is_seeded_disjoint_and_complete():
    parts = split_indices(103, (0.8, 0.1, 0.1), seed=7)
    assert [len(p) for p in parts] == [83, 10, 10]
    joined = torch.cat(parts).sort().values
    assert torch.equal(joined, torch.arange(103))
    again = split_indices(103, (0.8, 0.1, 0.1), seed=7)
    assert all(torch.equal(a, b) for a, b in zip(parts, again, strict=True))
    other = split_indices(103, (0.8, 0.1, 0.1), seed=8)
    assert not torch.equal(parts[1], other[1])
    with pytest.raises(ValueError, match=r"fractions"):
        split_indices(10, (0.5, 0.2))


def test_set_dataset_split_and_lengths():
    data = SetDataset([VectorSet(x=torch.zeros(n, 1)) for n in range(1, 21)])
    train, val, test = data.split((0.5, 0.25, 0.25), seed=0)
    assert (len(train), len(val), len(test)) == (10, 5, 5)
    assert data.lengths().tolist() == list(range(1, 21))


def _all_indices(batches):
    return sorted(i for b in batches for i in b)


def test_bucketing_uses_every_set_once_and_cuts_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 200, (1000,), generator=g)
    sampler = LengthBucketSampler(lengths, batch_size=16, pool_batches=20, seed=1)
    batches = list(sampler)
    assert _all_indices(batches) == list(range(1000))
    assert len(sampler) == len(batches) == 63
    random_batches = [list(range(i, min(i + 16, 1000))) for i in range(0, 1000, 16)]
    assert padding_fraction(lengths, batches) < 0.1 < padding_fraction(lengths, random_batches)
    assert list(sampler) == batches  # same epoch, same batches
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_max_tokens_bounds_padded_slots_and_keeps_long_sets():
    lengths = [5, 7, 3, 50, 9, 2, 8, 8]
    sampler = LengthBucketSampler(lengths, max_tokens=20, shuffle=False)
    batches = list(sampler)
    assert _all_indices(batches) == list(range(8))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert longest * len(batch) <= 20 or len(batch) == 1
    assert [3] in batches  # longer than max_tokens: a batch of its own, not dropped


def test_drop_last_and_bad_arguments():
    sampler = LengthBucketSampler([1] * 10, batch_size=4, drop_last=True, shuffle=False)
    assert [len(b) for b in sampler] == [4, 4]
    with pytest.raises(ValueError, match=r"exactly one of batch_size= or max_tokens="):
        LengthBucketSampler([1, 2], batch_size=2, max_tokens=3)
    with pytest.raises(ValueError, match=r"batch_size: expected >= 1"):
        LengthBucketSampler([1, 2], batch_size=0)


def test_set_loader_gives_bucketed_batches():
    data = SetDataset([VectorSet(x=torch.zeros(n, 2), y=torch.zeros(n, dtype=torch.long))
                       for n in [5, 1, 9, 2, 8, 3, 7, 4]])
    loader = set_loader(data, labels="vector", batch_size=2, shuffle=False)
    shapes = [tuple(batch.x.shape) for batch in loader]
    assert shapes == [(2, 2, 2), (2, 4, 2), (2, 7, 2), (2, 9, 2)]
    tokens = set_loader(data, labels="vector", batch_size=None, max_tokens=16, layout="packed")
    assert sum(len(batch) for batch in tokens) == 8
    with pytest.raises(ValueError, match="not both"):
        set_loader(data, batch_size=2, max_tokens=10)


def test_vector_set_checks_its_parts():
    with pytest.raises(ValueError, match=r"grid \(img 3\): expected height \* width == 6"):
        VectorSet(x=torch.zeros(6, 1), grid=(2, 2), source="img 3")
    with pytest.raises(ValueError, match="edge_attr: expected 1 rows"):
        VectorSet(x=torch.zeros(2, 1), edge_index=torch.tensor([[0], [1]]),
                  edge_attr=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"x: expected a tensor \(n, \*feature\)"):
        VectorSet(x=torch.tensor(1.0))
