"""selfattn.bench.memory: the peak of one call, against allocations of known size."""

from __future__ import annotations

import sys

import pytest
import torch

from selfattn.bench.memory import child_memory, peak_bytes, peak_growth


def test_peak_bytes_sees_the_largest_live_tensor():
    def two_in_turn():
        a = torch.ones(1000, 1000)  # 4 MB
        del a
        b = torch.ones(500, 1000)   # 2 MB, after a was freed
        return b.sum()

    peak = peak_bytes(two_in_turn)
    assert 4_000_000 <= peak < 6_000_000  # a alone, not a + b


def test_peak_bytes_of_nothing_is_zero():
    assert peak_bytes(lambda: None) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_peak_growth_bounds_a_touched_buffer():
    n = 64 * 2**20
    assert peak_growth(lambda: torch.ones(n // 4).sum()) >= 0.9 * n


def test_child_memory_reads_the_last_line_and_reports_failure(tmp_path, capsys):
    ok = tmp_path / "ok.py"
    ok.write_text("import sys\nprint('noise')\nprint(len(sys.argv))\n")
    assert child_memory(str(ok), {"n": 1}) == 5  # script --child SPEC --threads N
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit(3)\n")
    assert child_memory(str(bad), {"n": 1}) is None
    assert "memory child {'n': 1} failed" in capsys.readouterr().err
