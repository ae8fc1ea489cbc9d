"""Bad input fails early with a message naming the argument, what was expected and what was given."""

from __future__ import annotations

import pytest
import torch

from selfattn.functional import attention, reference_attention

Q = torch.randn(2, 3, 5, 4)
K = torch.randn(2, 3, 6, 4)
V = torch.randn(2, 3, 6, 7)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (dict(q=Q[0]), ValueError,
         r"q: expected a 4-D tensor \(batch, heads, length, head_dim\), got shape \(3, 5, 4\)"),
        (dict(k=K[:1]), ValueError,
         r"k: expected batch size 2 \(from q\) on axis 0, got shape \(1, 3, 6, 4\)"),
        (dict(v=V[:, :2]), ValueError, r"v: expected 3 heads \(from q\) on axis 1, got shape \(2, 2, 6, 7\)"),
        (dict(k=K[..., :3]), ValueError, r"k: expected head_dim 4 \(from q\) on axis 3"),
        (dict(v=V[:, :, :5]), ValueError, r"v: expected length 6 \(the key length\) on axis 2, got shape"),
        (dict(mask=torch.ones(5, 5, dtype=torch.bool)), ValueError,
         r"mask: expected a 2-D tensor of shape \(5, 6\) \(query length, key length\), got shape \(5, 5\)"),
        (dict(mask=torch.ones(2, 5, 6, dtype=torch.bool)), ValueError,
         r"mask: expected a 2-D \(Lq, Lk\) or 4-D .* got shape \(2, 5, 6\) \(a 3-D mask is ambiguous"),
        (dict(mask=torch.ones(2, 2, 5, 6, dtype=torch.bool)), ValueError,
         r"mask: expected size 3 or 1 on axis 1 \(heads\), got shape \(2, 2, 5, 6\)"),
        (dict(mask=torch.ones(5, 6)), TypeError,
         r"mask: expected a torch.bool tensor \(True = may attend\), got torch.float32; pass additive"),
        (dict(key_mask=torch.ones(2, 5, dtype=torch.bool)), ValueError,
         r"key_mask: expected shape \(2, 6\) \(batch, key length\), got \(2, 5\)"),
        (dict(key_mask=torch.ones(2, 6)), TypeError, r"key_mask: expected a bool dtype, got torch.float32"),
        (dict(key_lengths=torch.tensor([3, 7])), ValueError,
         r"key_lengths: expected values in \[0, 6\] \(the key length\), got \[3, 7\]"),
        (dict(key_lengths=torch.tensor([3.0, 2.0])), TypeError, r"key_lengths: expected an integer dtype"),
        (dict(key_lengths=torch.tensor([3])), ValueError, r"key_lengths: expected 2 entries"),
        (dict(key_lengths=torch.tensor([3, 2]), key_mask=torch.ones(2, 6, dtype=torch.bool)),
         ValueError, "key_mask and key_lengths: give at most one of them"),
        (dict(bias=torch.ones(5, 6, dtype=torch.bool)), TypeError,
         r"bias: expected a floating-point dtype, got torch.bool"),
        (dict(bias=torch.ones(1, 1, 6, 6)), ValueError, r"bias: expected size 5 on axis 2 \(query length\)"),
        (dict(normalize="softmax2"), ValueError,
         r"normalize: expected one of 'softmax', 'relu', 'sigmoid', got 'softmax2'"),
        (dict(score="cosine"), ValueError, r"score: expected 'dot' or a callable"),
        (dict(k=K.double()), TypeError, r"k: expected dtype torch.float32 \(the dtype of q\), got torch.float64"),
        (dict(q=Q.long()), TypeError, r"q: expected a floating-point dtype, got torch.int64"),
        (dict(v=torch.empty(2, 3, 6, 7, device="meta")), ValueError,
         r"v: expected device cpu \(the device of q\), got meta"),
        (dict(q=[1, 2]), TypeError, r"q: expected a torch.Tensor, got list"),
        (dict(scale=float("nan")), ValueError, r"scale: expected a finite number > 0, got nan"),
        (dict(scale=float("inf")), ValueError, r"scale: expected a finite number > 0, got inf"),
        (dict(scale=0.0), ValueError, r"scale: expected a finite number > 0, got 0.0"),
        (dict(scale=-0.5), ValueError, r"scale: expected a finite number > 0, got -0.5"),
        (dict(scale="big"), TypeError, r"scale: expected a finite number > 0, got 'big'"),
    ],
)
@pytest.mark.parametrize("fn", [attention, reference_attention])
def test_bad_input_is_named(fn, kwargs, error, pattern):
    kwargs = dict(kwargs)
    args = {"q": Q, "k": K, "v": V}
    for name in ("q", "k", "v"):
        if name in kwargs:
            args[name] = kwargs.pop(name)
    with pytest.raises(error, match=pattern):
        fn(args["q"], args["k"], args["v"], **kwargs)


@pytest.mark.parametrize("scale", [float("nan"), 0.0, -1.0])
def test_graph_attention_checks_scale(scale):
    from selfattn.functional.sparse import graph_attention

    x = torch.randn(3, 1, 2)
    with pytest.raises(ValueError, match=r"scale: expected a finite number > 0"):
        graph_attention(x, x, x, torch.tensor([[0, 1], [1, 2]]), scale=scale)
