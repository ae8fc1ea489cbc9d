"""`selfattn viz ...` as a user meets it: help written for people (an example per command, no
markup, no internal names), and every failure one line on stderr, no traceback."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from selfattn.cli import build_parser, main

COMMANDS = ("attention", "positional", "embeddings", "costs")
VIZ = Path(__file__).resolve().parents[2] / "src" / "selfattn" / "viz"


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example_and_no_markup_or_api_names(capsys, command):
    text = _help(capsys, "viz", command)
    examples = text.split("examples:\n", 1)[1].split("\n\n")[0].splitlines()
    assert examples and all(line.strip().startswith(f"selfattn viz {command} ") for line in examples)
    assert "``" not in text and ":func:" not in text and ":class:" not in text
    # no Python names a user cannot type: functions called with (...) or dotted module paths
    assert not re.search(r"\w+\(\w*[=,)]|selfattn\.viz|run_attention|draw_run|attention_html", text), text


def test_viz_help_lists_every_command_with_an_example(capsys):
    text = _help(capsys, "viz")
    for command in COMMANDS:
        assert f"selfattn viz {command} " in text


def _one_line_error(capsys, argv, *expected: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "rerun with --debug" not in err, err  # a user error, said plainly
    for part in expected:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def test_every_viz_failure_is_one_line(capsys, tmp_path, pos_run, mlp_run):
    out = str(tmp_path / "x.png")
    demo = tmp_path / "demo"
    demo.mkdir()
    for name in ("metrics.json", "attention.png", "attention.html"):
        (demo / name).write_text("{}")
    cases = [
        (["viz", "attention", str(tmp_path / "nowhere")], "RUN:", "missing"),
        (["viz", "attention", str(demo)], "'selfattn demo' folder"),
        (["viz", "attention", str(pos_run), "--example", "999", "--out", out], "--example: expected 0.."),
        (["viz", "attention", str(pos_run), "--input", str(tmp_path / "no.txt")], "--input:"),
        (["viz", "attention", str(pos_run), "--max-nodes", "0"], "--max-nodes: expected at least 1"),
        (["viz", "attention", str(pos_run), "--stats", "0"], "--stats: expected at least one"),
        (["viz", "attention", str(pos_run), "--form", "graph", "--out", out], "form: 'graph' needs a set with edges"),
        (["viz", "attention", str(mlp_run)], "model.kind='mlp'"),
        (["viz", "costs", out, "--results", str(tmp_path)], "--results: expected at least one of"),
        (["viz", "embeddings", out, "--words", "animals=dog"], "--words: expected GROUP=word,word"),
        (["viz", "positional", out, "--dim", "7"], "length, dim, num_heads: expected"),
    ]
    for argv, *expected in cases:
        _one_line_error(capsys, argv, *expected)
    assert not (tmp_path / "x.png").exists()


def test_the_drawing_modules_are_a_leaf():
    """maps, graph, image, html and plain_text draw tensors and import nothing of selfattn but
    each other: train, the demo and the run readers use them, never the other way round."""
    leaf = {"maps", "graph", "image", "html", "plain_text"}
    for name in sorted(leaf):
        tree = ast.parse((VIZ / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1 and node.module in leaf, f"viz/{name}.py imports {'.' * node.level}{node.module}"
            elif isinstance(node, ast.ImportFrom | ast.Import):
                modules = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(m and m.split(".")[0] == "selfattn" for m in modules), f"viz/{name}.py: {modules}"
    # and no viz module but cli.py knows argparse: the command line lives in one place
    for path in VIZ.glob("*.py"):
        if path.name != "cli.py":
            assert "argparse" not in path.read_text(encoding="utf-8"), path.name
