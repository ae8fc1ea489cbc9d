"""Positional ablation: every registered scheme is run; buckets and scores are consistent."""

from __future__ import annotations

import json

import pytest

from selfattn.experiments.positional_ablation import BUCKETS, run, schemes
from selfattn.positional import SCHEMES


def test_every_registered_scheme_is_ablated():
    names = schemes(20)
    assert set(SCHEMES) <= set(names)
    assert "max_len: 20, beyond: interpolate" in " ".join(names["learned (interpolated)"])


def test_experiment_tiny(tmp_path):
    run(tmp_path, scale="tiny", only=["none", "learned", "rope"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    for key in ("command", "seed", "wall_s", "torch_threads", "buckets", "schemes", "setup"):
        assert key in saved
    assert [r["scheme"] for r in saved["schemes"]] == ["none", "learned", "rope"]
    assert len(saved["buckets"]) == 1 + len(BUCKETS)
    for row in saved["schemes"]:
        assert list(row["buckets"]) == saved["buckets"]
        for key, bucket in row["buckets"].items():
            assert 0.0 <= bucket["accuracy"] <= 1.0
            if key == "21-30":  # sentence lengths really are in the bucket
                assert 21 * bucket["sentences"] <= bucket["tokens"] <= 30 * bucket["sentences"]
        # the held-out short sentences are the trainer's test split: same score both ways
        assert row["accuracy_short"] == pytest.approx(row["trainer_test_acc"], abs=2e-3)
        assert 0.0 <= row["accuracy_over_30"] <= 1.0
    assert saved["schemes"][0]["extra_drop_vs_none"] == pytest.approx(0.0)


def test_rejects_unknown_scheme(tmp_path):
    with pytest.raises(ValueError, match=r"only: expected names from .*got unknown \['sinusoid'\]"):
        run(tmp_path, scale="tiny", only=["sinusoid"])
