"""Each way `selfattn viz` can be given a wrong run or argument is one error naming the file or
the argument (FileNotFoundError / ValueError, which the CLI prints as one line)."""

from __future__ import annotations

import shutil

import pytest

from selfattn.viz.attention import read_run, run_attention
from selfattn.viz.costs import FILES, default_results, plot_costs
from selfattn.viz.embeddings import run_vectors
from selfattn.viz.summary import run_attention_stats


@pytest.fixture
def run_copy(pos_run, tmp_path):
    """A copy of the POS run to damage."""
    return shutil.copytree(pos_run, tmp_path / "run")


def test_missing_run_and_demo_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"RUN: expected a run directory .*, got .*nowhere \(missing\)"):
        run_attention(tmp_path / "nowhere")
    demo = tmp_path / "demo"  # what 'selfattn demo' leaves: numbers and pictures, no model
    demo.mkdir()
    for name in ("metrics.json", "attention.png", "attention.html"):
        (demo / name).write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"RUN: .*demo holds no model to reload .*'selfattn demo' "
                                                r"folder, whose attention is drawn in .*attention\.png"):
        run_attention(demo)


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_unreadable_weights_name_the_file(run_copy, damage):
    weights = run_copy / "model.safetensors"
    raw = weights.read_bytes()
    weights.write_bytes({"empty": b"", "truncated": raw[:len(raw) // 2], "garbage": b"\x00" * 64}[damage])
    match = rf"{weights}: not a readable safetensors file \(.+\)"
    for load in (read_run, run_attention, lambda r: run_attention_stats(r, 2), lambda r: run_vectors(r, ["dog"])):
        with pytest.raises(ValueError, match=match):
            load(run_copy)


def _strip_config(weights):
    """The weights alone, as a run written before the config travelled inside them."""
    from selfattn.train.checkpoint import load_weights, save_weights

    save_weights(load_weights(weights), weights)


def test_corrupt_config_names_the_file(run_copy):
    (run_copy / "config.yaml").write_text("task: [pos\n", encoding="utf-8")
    read_run(run_copy)          # the config the weights were trained with travels inside them
    _strip_config(run_copy / "model.safetensors")
    with pytest.raises(ValueError, match=rf"{run_copy / 'config.yaml'}: not a YAML config"):
        read_run(run_copy)


def test_example_out_of_range_says_the_range(pos_run, tmp_path):
    n = len(run_attention(pos_run).task.build(run_attention(pos_run).cfg).test.examples)
    for bad in (999, -1, n):
        with pytest.raises(ValueError, match=rf"^--example: expected 0\.\.{n - 1} \(the run's test set has {n} "
                                             rf"examples\), got {bad}$"):
            run_attention(pos_run, example=bad)
    text = tmp_path / "two.txt"
    text.write_text("the dog sees a cat .\nevery book opens\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"--example: expected 0\.\.1 \(--input .*two\.txt has 2 sets\), got 2"):
        run_attention(pos_run, input=text, example=2)


def test_costs_without_results_name_the_folders_and_the_option(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--results: no benchmark results in .*a nor .*b; .*pass "
                                                r"--results DIR"):
        default_results([tmp_path / "a", tmp_path / "b"])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / FILES[0]).write_text("{}")
    assert default_results([tmp_path / "a", tmp_path / "b"]) == tmp_path / "b"
    with pytest.raises(ValueError, match=rf"{tmp_path / 'b' / FILES[0]}: not laid out as its benchmark "
                                         r"writes it \(KeyError: 'results'\)"):
        plot_costs(None, tmp_path / "b")
    (tmp_path / "b" / FILES[0]).write_text("{not json")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'b' / FILES[0]}: not a benchmark results file"):
        plot_costs(None, tmp_path / "b")


def test_costs_default_is_found_outside_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no benchmarks/results here: the checkout's, or a clear error
    try:
        folder = default_results()
    except FileNotFoundError as error:
        assert "pass --results DIR" in str(error)
    else:
        assert folder.is_absolute() and any((folder / f).is_file() for f in FILES)


def test_weights_of_another_model_name_the_file(run_copy, mlp_run):
    shutil.copy(mlp_run / "model.safetensors", run_copy / "model.safetensors")  # a baseline's weights
    _strip_config(run_copy / "model.safetensors")   # else they bring their own config along
    with pytest.raises(ValueError, match=rf"{run_copy / 'model.safetensors'}: the weights do not fit the "
                                         r"model its config describes"):
        read_run(run_copy)
