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


def _nav_pages(node) -> list[str]:
    """Every page a ``nav`` entry of mkdocs.yml names (nested sections included)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return [p for item in node for p in _nav_pages(item)]


def test_every_docs_page_is_in_the_nav():
    import yaml

    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert sorted(pages - set(nav)) == [], "pages no nav entry of mkdocs.yml reaches (orphans on the site)"
    assert sorted(set(nav) - pages) == [], "nav entries with no page"
    assert len(nav) == len(set(nav)), "a page twice in the nav"


_SHELL = re.compile(r"\s(?:\||&&|;)\s")  # a pipe or command list between two commands on one line


def _doc_commands() -> list[tuple[str, str]]:
    """``(page, command line)`` for each ``selfattn ...`` command in a code block of docs/ or the
    README: fenced or indented, one per shell command (``echo x | selfattn predict RUN -``
    gives the part after the pipe), continuation lines joined."""
    from markdown_it import MarkdownIt

    md, found = MarkdownIt(), []
    for page in [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]:
        for token in md.parse(page.read_text(encoding="utf-8")):
            if token.type not in ("fence", "code_block") or token.info.strip() not in ("", "bash", "sh",
                                                                                     "console", "shell"):
                continue
            for line in token.content.replace("\\\n", " ").splitlines():
                for part in _SHELL.split(line.strip().removeprefix("$ ")):
                    if part.strip().startswith("selfattn "):
                        found.append((page.relative_to(ROOT).as_posix(), part.strip()))
    return found


def _argv(line: str) -> list[str]:
    import shlex

    words = shlex.split(line, comments=True)[1:]
    for i, word in enumerate(words):  # a redirection ends the command's own words
        if re.fullmatch(r"\d?>>?(&\d)?|<", word) or re.match(r"\d?>|<", word):
            return words[:i]
    return words


def test_every_command_in_the_docs_parses():
    import contextlib
    import io

    from selfattn.cli import build_parser
    from selfattn.train.config import parse_overrides, resolve_config
    from selfattn.train.tasks import PRESETS

    commands = _doc_commands()
    assert len(commands) >= 20, commands  # the pages have commands to check (the reader found them)
    checked = 0
    for page, line in commands:
        argv = [a for a in _argv(line) if a != "--debug"]
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                args = build_parser().parse_args(argv)
        except SystemExit as stop:  # --help and --version stop with 0, a bad line with 2
            assert stop.code == 0, f"{page}: {line}\n{out.getvalue()}"
            continue
        if args.command == "train" and args.task in PRESETS and not args.config:
            resolve_config(args.task, None, args.overrides)      # merge + check_config: keys and values
            checked += 1
        elif args.command == "eval":
            assert set(parse_overrides(args.overrides)) <= {"data"}, f"{page}: {line}: eval takes data.KEY=VALUE only"
    assert checked >= 3


@pytest.mark.parametrize(("line", "argv"), [
    ("selfattn train pos seed=1   # a comment", ["train", "pos", "seed=1"]),
    ("selfattn demo > out.txt 2>&1", ["demo"]),
    ("selfattn eval runs/pos data.label_map='{\"a\": \"b\"}'", ["eval", "runs/pos", 'data.label_map={"a": "b"}']),
])
def test_the_docs_command_reader(line, argv):
    assert _argv(line) == argv


def test_the_docs_command_reader_finds_piped_and_continued_commands(tmp_path, monkeypatch):
    page = tmp_path / "docs" / "p.md"
    page.parent.mkdir()
    page.write_text("text selfattn train x\n\n```bash\necho a | selfattn predict runs/pos -\nselfattn train pos \\\n"
                    "  seed=1\n```\n\n```python\nselfattn = 1\n```\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("    $ selfattn kernels\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "DOCS", tmp_path / "docs")
    assert _doc_commands() == [("docs/p.md", "selfattn predict runs/pos -"), ("docs/p.md", "selfattn train pos    seed=1"),
                               ("README.md", "selfattn kernels")]
