"""MultiHeadAttention(pattern=): the dispatcher's sparse kernels against the pattern's dense mask.

The slow, obvious twin is the same module with ``mask=pattern.dense_mask(L, L)`` on the dense
kernels. Outputs and gradients (inputs and parameters) must agree, padded and packed, over
random lengths (0 and 1 included), with the sparse kernel forced (``kernel=`` the pattern's)
and as the dispatcher picks it.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfattn.nn import MultiHeadAttention
from selfattn.patterns import GraphPattern, LongformerPattern, Neighborhood2DPattern, WindowPattern
from selfattn.positional import build_positional
from selfattn.varlen import lengths_to_mask, pack

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORCED = {WindowPattern: "window", LongformerPattern: "block_sparse", Neighborhood2DPattern: "neighborhood2d",
          GraphPattern: "graph"}


def _pattern(kind: str, length: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    if kind == "window":
        return WindowPattern(left=int(torch.randint(0, 3, (), generator=g)),
                             right=int(torch.randint(0, 3, (), generator=g)))
    if kind == "longformer":
        return LongformerPattern(window=1, global_tokens=(0,) if length else ())
    if kind == "grid":
        return Neighborhood2DPattern(1, length, 3, border="clip") if length else None
    edges = torch.randint(0, max(length, 1), (2, 3 * length), generator=g) if length else torch.zeros(2, 0)
    return GraphPattern(edges.long(), length, duplicates="merge")


def _pair(kernel: str, seed: int, **kw):
    torch.manual_seed(seed)
    fast = MultiHeadAttention(16, 2, kernel=kernel, **kw).double()
    slow = MultiHeadAttention(16, 2, kernel="explicit", **kw).double()
    slow.load_state_dict(fast.state_dict())
    return fast, slow


def _grads(module, out, x):
    out.pow(2).sum().backward()
    return [x.grad.clone(), *[p.grad.clone() for p in module.parameters()]]


@SETTINGS
@given(kind=st.sampled_from(["window", "longformer", "grid", "graph"]), length=st.integers(0, 12),
       batch=st.integers(1, 3), forced=st.booleans(), seed=st.integers(0, 10_000), data=st.data())
def test_padded_pattern_equals_dense_mask(kind, length, batch, forced, seed, data):
    pattern = _pattern(kind, length, seed)
    if pattern is None:
        return
    lengths = torch.tensor(data.draw(st.lists(st.integers(0, length), min_size=batch, max_size=batch)))
    fast, slow = _pair(FORCED[type(pattern)] if forced and length else "auto", seed)
    x = torch.randn(batch, length, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    key_mask = lengths_to_mask(lengths, length)
    y1, w1 = fast(x1, key_mask=key_mask, pattern=pattern, return_weights=True)
    y2, w2 = slow(x2, key_mask=key_mask, mask=pattern.dense_mask(length, length), return_weights=True)
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(w1, w2)
    assert torch.isfinite(y1).all()
    for g1, g2 in zip(_grads(fast, y1, x1), _grads(slow, y2, x2), strict=True):
        torch.testing.assert_close(g1, g2)


@SETTINGS
@given(lengths=st.lists(st.integers(0, 9), min_size=1, max_size=4), left=st.integers(0, 3),
       rope=st.booleans(), seed=st.integers(0, 10_000))
def test_packed_window_equals_padded_dense_mask(lengths, left, rope, seed):
    pattern = WindowPattern(left=left)
    kw = build_positional("rope", d_model=16, num_heads=2).attention_kwargs(2, 8) if rope else {}
    fast, slow = _pair("auto", seed, **kw)
    fast.pattern = pattern  # the module's own pattern
    lengths_t = torch.tensor(lengths)
    length = max(lengths)
    x = torch.randn(len(lengths), length, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    xp, offsets = pack(x, lengths=lengths_t)
    xp = xp.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    y1 = fast(xp, offsets=offsets)
    y2 = slow(x2, key_lengths=lengths_t, mask=pattern.dense_mask(length, length))
    torch.testing.assert_close(y1, pack(y2, lengths=lengths_t)[0])
    (y1.pow(2).sum()).backward()
    (pack(y2, lengths=lengths_t)[0].pow(2).sum()).backward()
    if xp.numel():  # an empty packed input has no gradient to compare
        torch.testing.assert_close(xp.grad, pack(x2.grad, lengths=lengths_t)[0])
    for p1, p2 in zip(fast.parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(p1.grad if p1.grad is not None else torch.zeros_like(p1), p2.grad)


def test_pattern_argument_is_checked_and_a_call_pattern_replaces_the_modules():
    with pytest.raises(TypeError, match=r"pattern: expected a selfattn.patterns pattern .* got str"):
        MultiHeadAttention(8, 2, pattern="window")
    m = MultiHeadAttention(8, 2, pattern=WindowPattern(left=0)).eval()
    x = torch.randn(1, 5, 8)
    with pytest.raises(TypeError, match="got int"):
        m(x, pattern=3)
    _, w_own = m(x, return_weights=True)
    _, w_call = m(x, pattern=WindowPattern(left=4), return_weights=True)
    assert (w_own[0, 0] > 0).sum() == 5 and (w_call[0, 0] > 0).sum() == 25
    with pytest.raises(ValueError, match="context_offsets: a pattern applies inside each set"):
        m(x[0], x[0], offsets=torch.tensor([0, 5]), context_offsets=torch.tensor([0, 5]))
