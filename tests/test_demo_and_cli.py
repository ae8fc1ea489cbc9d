"""The README's main job (the demo) learns what a per-vector model cannot; the CLI answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfattn.cli import main
from selfattn.demo import DemoConfig, run_demo


def test_demo_beats_every_per_vector_model(tmp_path):
    cfg = DemoConfig(steps=250, out=str(tmp_path / "run"))
    metrics = run_demo(cfg, progress=False)
    assert metrics["token_accuracy"] > 0.95
    assert metrics["per_vector_baseline_accuracy"] < 0.7
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["token_accuracy"] == metrics["token_accuracy"]
    assert (tmp_path / "run" / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_kernels_lists_the_dispatch_order(capsys):
    assert main(["kernels"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in out]
    assert names.index("sdpa") < names.index("explicit") < names.index("reference")


def test_cli_experiment_writes_json(tmp_path, capsys):
    assert main(["experiment", "attention-is-a-cnn", "--out", str(tmp_path), "-q"]) == 0
    quiet = capsys.readouterr()
    printed = json.loads(quiet.out)
    assert printed["exact_at_alpha_64"] is True
    assert (tmp_path / "results.json").exists() and (tmp_path / "figure.png").exists()
    assert main(["experiment", "attention-is-a-cnn", "--out", str(tmp_path), "-v"]) == 0
    verbose = capsys.readouterr()
    assert json.loads(verbose.out) == printed       # the result is the same; -v adds lines on stderr
    assert "DEBUG selfattn.cli" in verbose.err and "DEBUG" not in quiet.err


def test_cli_viz_positional_writes_png(tmp_path):
    out = tmp_path / "pos.png"
    assert main(["viz", "positional", str(out), "--length", "32", "--dim", "16"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


# -- -q/--quiet and -v/--verbose on every command ------------------------------------------
def _parsers(parser, path=("selfattn",)):
    """Every parser under ``parser`` with its command path: the commands and their sub-commands."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def test_every_command_and_subcommand_takes_quiet_and_verbose():
    from selfattn.cli import build_parser

    walked = list(_parsers(build_parser()))[1:]
    assert {p[1] for p, _ in walked} >= {"demo", "kernels", "experiment", "data", "train", "eval", "predict",
                                        "report", "bench", "viz", "embed"}
    assert {p[-1] for p, _ in walked} >= {"list", "get", "lra", "attention", "positional", "embeddings", "costs"}
    for path, parser in walked:
        options = parser._option_string_actions
        for flag in ("-q", "--quiet", "-v", "--verbose"):
            assert flag in options, f"{' '.join(path)} has no {flag}"
        assert options["-q"].const == -1 and options["-v"].const == 1


def _tagged(path: Path) -> Path:
    nouns, verbs = ["dog", "cat", "house", "book"], ["sees", "likes", "opens"]
    lines = [f"the/DT {nouns[i % 4]}/NN {verbs[i % 3]}/VBZ a/DT {nouns[(i + 1) % 4]}/NN ./." for i in range(24)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TINY_POS = ["model.width=16", "model.heads=2", "model.depth=1", "model.ff=32", "trainer.num_threads=1",
            "run.plots=false", "trainer.max_epochs=2", "trainer.batch_size=8", "data.glove=0"]


@pytest.fixture(scope="module")
def tiny_pos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("verbosity")
    run = folder / "run"
    assert main(["train", "pos", *TINY_POS, f"data.path={_tagged(folder / 'tagged.txt')}",
                 f"run.dir={run}", "-q"]) == 0
    (folder / "in.txt").write_text("the dog sees a cat .\n", encoding="utf-8")
    return run


def _lines(capsys, argv) -> list[str]:
    assert main(argv) in (0, 1), argv
    captured = capsys.readouterr()
    return [line for line in (captured.out + captured.err).splitlines() if line.strip()]


def _three(capsys, make) -> dict[str, list[str]]:
    """The output lines of one cheap command at the default, quiet and verbose levels."""
    return {level: _lines(capsys, make(level, flags)) for level, flags in
            (("default", []), ("quiet", ["-q"]), ("verbose", ["--verbose"]))}


def _assert_levels(out: dict[str, list[str]], progress: str | None) -> None:
    import re

    assert len(out["verbose"]) > len(out["default"]) >= len(out["quiet"]) > 0, {k: len(v) for k, v in out.items()}
    assert any(line.startswith("DEBUG selfattn") for line in out["verbose"])
    assert not any("DEBUG" in line for line in out["default"] + out["quiet"])
    if progress is not None:
        assert any(re.search(progress, line) for line in out["default"]), out["default"]
        assert not any(re.search(progress, line) for line in out["quiet"]), out["quiet"]


def test_quiet_and_verbose_take_effect_on_train_eval_predict_report_viz(tiny_pos, tmp_path, capsys):
    data, text = tiny_pos.parent / "tagged.txt", tiny_pos.parent / "in.txt"
    train = _three(capsys, lambda level, flags: ["train", "pos", *TINY_POS, f"data.path={data}",
                                                 f"run.dir={tmp_path / level}", *flags])
    _assert_levels(train, r"^epoch \d")
    assert any("kernel" in line or "choice" in line.lower() for line in train["verbose"] if "DEBUG" in line)
    for make in (lambda level, flags: ["eval", str(tiny_pos), *flags],
                 lambda level, flags: ["predict", str(tiny_pos), str(text), *flags],
                 lambda level, flags: ["report", str(tiny_pos), *flags],
                 lambda level, flags: ["viz", "attention", str(tiny_pos), "--out", str(tmp_path / f"{level}.png"),
                                       *flags],
                 lambda level, flags: ["embed", str(tmp_path / "no-such-run"), str(text), *flags]):
        _assert_levels(_three(capsys, make), None)


@pytest.mark.parametrize(("argv", "progress"), [
    (["demo", "--steps", "20"], r"^step \d+/20"),
    (["kernels"], None),
    (["data", "list"], None),
    (["viz", "positional", "{tmp}/pos.png", "--length", "8", "--dim", "8"], None),
    (["bench", "lra", "--scale", "tiny", "--attention", "full", "--tasks", "listops", "--threads", "1",
      "--no-memory", "--out", "{tmp}/lra"], r"^speed L="),
])
def test_quiet_and_verbose_take_effect(argv, progress, tmp_path, capsys):
    def make(level, flags):
        return [a.replace("{tmp}", str(tmp_path / level)) for a in argv] + flags

    if argv[0] == "demo":
        argv = [*argv, "--out", "{tmp}/demo"]
    _assert_levels(_three(capsys, make), progress)


# -- predict --chunk-seconds (speech runs) ---------------------------------------------------
def _asr_predictor(seconds):
    import torch

    from selfattn.nn.ctc import CTCModel
    from selfattn.train.predictor import Predictor
    from selfattn.train.tasks.asr import AsrTask

    torch.manual_seed(0)
    model = CTCModel(12, 5, 16, 2, 2, ff=32, positional="rope", pattern="window", window=3)
    with torch.no_grad():
        model.head.bias[1:] += 2.0  # some symbols, not all blanks
    cfg = {"run": {"beam_size": 1, "chunk_seconds": seconds}, "data": {"num_mel_bins": 12}}
    return Predictor(cfg, AsrTask(), {"task": "ctc", "target": "ctc", "symbols": 5},
                     {"symbols": list("abcde"), "units": "characters"}, model)


@pytest.mark.parametrize(("saved", "option", "frames", "calls_expected"), [
    (30.0, [], 3000, []),                           # the run's own 30 s: a 1.5 s recording is one piece
    (30.0, ["--chunk-seconds", "0.4"], 40, [10]),   # 40 frames of 10 ms, 10 after the 4x subsampling
    (0.2, [], 20, [5]),
    (0.2, ["--chunk-seconds", "0"], None, []),
    (0.2, ["--chunk-seconds", "none"], None, []),
])
def test_predict_chunk_seconds_sets_the_chunks(saved, option, frames, calls_expected, tmp_path, capsys,
                                               monkeypatch):
    import numpy as np
    import soundfile

    import selfattn.nn.chunked as chunked
    from selfattn.train.predictor import Predictor

    wav = tmp_path / "talk.wav"
    soundfile.write(wav, np.random.default_rng(0).normal(0, 0.1, 24000).astype("float32"), 16000)
    predictor, calls = _asr_predictor(saved), []
    monkeypatch.setattr(Predictor, "from_run", classmethod(lambda cls, folder: predictor))
    real = chunked.chunked_forward
    monkeypatch.setattr(chunked, "chunked_forward", lambda model, x, size: calls.append(size) or real(model, x, size))
    assert main(["predict", str(tmp_path / "run"), str(wav), *option]) == 0
    text = capsys.readouterr().out
    assert predictor.chunk_frames() == frames
    assert calls == calls_expected
    assert text.startswith(f"{wav}\t")
    whole = _asr_predictor(None).predict_file(wav)[0].text
    assert whole
    assert text.rstrip("\n").split("\t")[-1] == whole      # chunks or not, the same transcript


@pytest.mark.parametrize("bad", ["-1", "ten", "inf", "nan"])
def test_predict_chunk_seconds_rejects_bad_values(bad, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path), "in.wav", "--chunk-seconds", bad])
    assert f"--chunk-seconds: expected a number of seconds >= 0 or none, got {bad!r}" in capsys.readouterr().err


def test_predict_chunk_seconds_of_a_text_run_is_one_line(tiny_pos, capsys):
    assert main(["predict", str(tiny_pos), str(tiny_pos.parent / "in.txt"), "--chunk-seconds", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --chunk-seconds: only asr and phonemes runs") and err.count("\n") == 1


# -- help text: written for users ------------------------------------------------------------
def _package_api_names() -> set[str]:
    """Names the package exports that read as code (``snake_case`` / ``CamelCase``), read from
    every module's ``__all__`` with ``ast`` (no module is imported)."""
    import ast

    import selfattn

    names: set[str] = set()
    for path in Path(selfattn.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets) \
                    and isinstance(node.value, (ast.List, ast.Tuple)):
                names |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    return {n for n in names if "_" in n.strip("_") or any(c.isupper() for c in n[1:])}


_CALL = r"\b[A-Za-z]\w*[_.][\w.]*\("  # a Python call: a dotted or snake_case name before "("


def test_every_help_has_examples_and_no_code_markup():
    import contextlib
    import io
    import re

    from selfattn.cli import build_parser

    api, top = _package_api_names(), build_parser()
    assert {"Predictor", "load_run", "run_command"} & api == {"load_run", "run_command"}  # the reader works
    for path, parser in _parsers(top):
        text, where = parser.format_help(), " ".join(path)
        examples = re.search(r"^examples?:\n((?:  .*\n?)+)", text, re.MULTILINE)
        assert examples, f"{where} --help has no 'example:' block"
        lines = [line.strip() for line in examples.group(1).splitlines()]
        commands = [line[line.index("selfattn "):] for line in lines if "selfattn " in line]
        assert any(c.startswith(where + " ") or c == where for c in commands), (where, lines)
        for command in commands:  # each example parses with the real parser
            import shlex

            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                try:
                    top.parse_args(shlex.split(command, comments=True)[1:])
                except SystemExit as stop:
                    assert stop.code == 0, f"{where}: example {command!r}: {err.getvalue()}"
        for pattern in (r"``\S.*?\S``", r":(?:func|class|meth|mod|attr):`", r"\bselfattn\.[a-z_]",
                        _CALL):
            assert not re.search(pattern, text), f"{where} --help: {re.search(pattern, text).group()!r}"
        shown = sorted(n for n in api if re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-])", text))
        assert shown == [], f"{where} --help names the package's code: {shown}"


def test_the_help_checks_catch_markup():
    import re

    bad = "``add_subparsers(sub)`` adds the three commands; see run_attention(...) and :func:`x`"
    assert re.search(r"``\S.*?\S``", bad) and re.search(r":(?:func|class|meth|mod|attr):`", bad)
    assert re.search(_CALL, "add_subparsers(sub) here") and re.search(_CALL, "Predictor.from_run(RUN)")
    assert not re.search(_CALL, "name(s) of O(L) (default 5), sets (count, height)")
