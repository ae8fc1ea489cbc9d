"""One torch thread for the LRA tests: on shared cores, small ops with two threads wait on
each other (measured 10x slower here while other jobs ran)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
