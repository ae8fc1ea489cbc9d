"""One torch thread during these tests: their tensors are tiny, and on shared cores the
thread pool's hand-offs cost more than the arithmetic (restored after each test)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
