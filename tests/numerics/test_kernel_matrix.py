"""Every exact kernel x dtype x logit scale x hazard mask: finite, zero where nothing
attends, and within the tolerance table (``numerics_tolerances.py``) of float64.

The short cases name each kernel explicitly (below its crossover ``auto`` would pick a
dense kernel); the long ones run ``kernel="auto"`` on both sides of each sparse kernel's
crossover length and check that above it ``auto`` picks, and gets right, the sparse kernel.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numerics_cases import KERNELS, LONG_LENGTHS, check, make_case, make_long_case
from numerics_tolerances import DTYPES, LOGIT_SCALES

from selfattn.functional import choose_kernel

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def examples(n: int) -> int:
    """``n`` examples under the default profile, proportionally more under a longer one."""
    return max(n, n * settings.default.max_examples // 100)


SHORT = settings(max_examples=examples(3), deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG = settings(max_examples=examples(1), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("c", LOGIT_SCALES, ids=lambda c: f"logits{c:g}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("kernel", KERNELS)
@SHORT
@given(lq=st.integers(1, 9), lk=st.integers(1, 9), causal=st.booleans(), need_weights=st.booleans(),
       seed=st.integers(0, 2**16))
@example(lq=1, lk=1, causal=True, need_weights=False, seed=0)
@example(lq=7, lk=3, causal=True, need_weights=True, seed=3)
def test_short_calls(kernel, dtype, c, lq, lk, causal, need_weights, seed):
    case = make_case(kernel, lq, lk, causal, seed, c)
    check(case, kernel, dtype, c, need_weights=need_weights and kernel != "varlen")


@pytest.mark.parametrize("c", (1.0, 1e4), ids=lambda c: f"logits{c:g}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("above", (False, True), ids=("below", "above"))
@pytest.mark.parametrize("kernel", tuple(LONG_LENGTHS))
@LONG
@given(seed=st.integers(0, 2**16))
def test_auto_on_both_sides_of_the_crossover(kernel, above, dtype, c, seed):
    case = make_long_case(kernel, above, seed, c)
    q, k, v = (x.to(dtype) for x in (case.q, case.k, case.v))
    chosen = choose_kernel(q, k, v, **case.options).name
    assert (chosen == kernel) == above, f"auto picked {chosen!r} {'above' if above else 'below'} the crossover"
    # The dense explicit kernel in float64 is the oracle here: it is checked against the
    # reference over random calls in tests/functional, and the column form is slow at this L.
    check(case, "auto", dtype, c, oracle="explicit")
