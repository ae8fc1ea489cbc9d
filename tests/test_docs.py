"""The documentation site builds with --strict, and the pages still say what the code does.

The build (mkdocs-material + mkdocstrings, ``mkdocs.yml``) fails on a broken link, a missing
page or a docstring mkdocstrings cannot render; it is skipped, with the reason, where the
``docs`` extra is not installed. The other tests read the pages: the kernel guide's table
against ``choose_kernel``, the task pages against the task and preset registries, the
examples page against ``examples/``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_the_site_builds_with_strict(tmp_path):
    missing = [m for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
               if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing:
        pytest.skip(f"the docs extra is not installed ({', '.join(missing)}): pip install -e '.[docs]'")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    # the API reference is rendered from the docstrings, not left as ':::' directives
    functional = (site / "api" / "functional" / "index.html").read_text(encoding="utf-8")
    assert "Attention of queries over keys, exact on every kernel" in functional and ":::" not in functional
    assert "load_run" in (site / "api" / "selfattn" / "index.html").read_text(encoding="utf-8")
    # a results link to a repository file outside docs/ is carried into the site
    assert (site / "_repo" / "benchmarks" / "results" / "task_baselines.json").is_file()
    for page in ("getting-started", "kernels", "examples", "interop", "tasks/pos", "tasks/molecules"):
        assert (site / page / "index.html").is_file(), page


def _kernel_cases() -> dict[str, tuple[tuple, dict]]:
    """The calls the kernel guide's table describes, by its 'case' column."""
    from selfattn.nn import AdditiveScore
    from selfattn.patterns import GraphPattern, LongformerPattern, WindowPattern

    g = torch.Generator().manual_seed(0)

    def qkv(b=2, h=4, length=64, d=32):
        return tuple(torch.randn(b, h, length, d, generator=g) for _ in range(3))

    def graph(n, e):
        return GraphPattern(torch.randint(0, n, (2, e), generator=g), n, duplicates="merge")

    return {
        "plain": (qkv(), {}),
        "weights": (qkv(), {"return_weights": True}),
        "padding": (qkv(), {"key_lengths": torch.tensor([64, 10])}),
        "causal": (qkv(), {"causal": True}),
        "relu": (qkv(), {"normalize": "relu"}),
        "additive": (qkv(), {"score": AdditiveScore(32, 16)}),
        "dropout-small": (qkv(), {"dropout_p": 0.1}),
        "dropout-large": (qkv(b=8, length=256), {"dropout_p": 0.1}),
        "bias-fixed": (qkv(), {"bias": torch.randn(64, 64, generator=g)}),
        "bias-grad": (qkv(), {"bias": torch.randn(64, 64, generator=g).requires_grad_()}),
        "window-short": (qkv(length=128), {"pattern": WindowPattern(8)}),
        "window-long": (qkv(b=1, length=4096), {"pattern": WindowPattern(64)}),
        "graph-small": (qkv(b=1, length=100), {"pattern": graph(100, 300)}),
        "graph-large": (qkv(b=1, length=2000), {"pattern": graph(2000, 8000)}),
        "longformer-long": (qkv(b=1, length=4096), {"pattern": LongformerPattern(64, [0])}),
    }


def test_the_kernel_guide_says_what_the_dispatcher_picks():
    from selfattn.functional import choose_kernel

    rows = re.findall(r"^\| ([a-z-]+) \| .*? \| `([a-z_0-9]+)` \|", (DOCS / "kernels.md").read_text(encoding="utf-8"),
                      re.MULTILINE)
    table = dict(rows)
    cases = _kernel_cases()
    assert set(table) == set(cases), "the table's cases and this test's must be the same"
    for name, (tensors, kwargs) in cases.items():
        assert choose_kernel(*tensors, **kwargs).name == table[name], name


def test_every_task_and_preset_has_its_page():
    from selfattn.train.tasks import PRESETS, TASKS

    index = (DOCS / "tasks" / "index.md").read_text(encoding="utf-8")
    pages = {p.stem: p.read_text(encoding="utf-8") for p in (DOCS / "tasks").glob("*.md") if p.stem != "index"}
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in pages:
        assert f"tasks/{page}.md" in nav and f"({page}.md)" in index, page
    for preset in PRESETS:
        assert f"`{preset}`" in index, f"preset {preset} is missing from docs/tasks/index.md"
        assert any(f"`{preset}`" in text for text in pages.values()), f"no task page names preset {preset}"
    for task in TASKS:
        assert f"`{task}`" in index, f"task {task} is missing from docs/tasks/index.md"
    # each page gives the data.path format and the predict input of its tasks
    for page, text in pages.items():
        assert "## Your data (`data.path`)" in text and "## Predict" in text and "## Results" in text, page


def test_the_examples_page_lists_every_example():
    text = (DOCS / "examples.md").read_text(encoding="utf-8")
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert f"`{script.name}`" in text, script.name
