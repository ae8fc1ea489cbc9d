"""Benchmarks that ship with the package: a PyTorch Long Range Arena (``selfattn.bench.lra``)."""
