"""Every CLI failure is one line on stderr that names the file, line, key or argument, with
exit code 1 (or 2 for a bad config), and no traceback unless --debug."""

from __future__ import annotations

import shutil

import pytest
from train_setup import TINY

from selfattn.cli import main


@pytest.fixture(scope="module")
def pos_run(data_files, tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "pos", *TINY, f"run.dir={run}", f"data.path={data_files['pos']}",
                 "trainer.max_epochs=1", "trainer.batch_size=8", "--quiet"]) == 0
    return run


def _one_line(capsys, code, argv, *expected):
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def _file(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("ragged.txt", b"the/DT dog\n", ":1"),
    ("empty.txt", b"", "empty.txt"),
    ("latin1.txt", b"caf\xe9/NN ./.\n", "latin1.txt"),
    ("conll.txt", b"1\tThe\tthe\tDET\tDT\n2\tdog\tdog\tNOUN\tNN\n", "conll.txt"),
    ("one.txt", b"the/DT dog/NN ./.\n", "split is empty"),
])
def test_bad_pos_files_are_one_line(name, content, expected, tmp_path, capsys):
    path = _file(tmp_path, name, content)
    _one_line(capsys, 1, ["train", "pos", *TINY, f"data.path={path}", f"run.dir={tmp_path / 'r'}"],
              expected)
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_a_molecule_table_without_the_column_is_one_line(tmp_path, capsys):
    path = _file(tmp_path, "mol.csv", b"smi,expt\nCCO,1.0\n")
    _one_line(capsys, 1, ["train", "freesolv", *TINY, f"data.path={path}", f"run.dir={tmp_path / 'r'}"],
              "mol.csv", "column")


def test_a_negative_window_is_a_config_error(capsys):
    _one_line(capsys, 2, ["train", "pos", "model.pattern=window", "model.window=-1"], "model.window")


@pytest.mark.parametrize("damage", ["truncate", "zero"])
def test_damaged_weights_name_the_file(pos_run, tmp_path, capsys, damage):
    run = tmp_path / "copy"
    shutil.copytree(pos_run, run)
    weights = run / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"")
    (tmp_path / "in.txt").write_text("the dog sees a cat .\n")
    for argv in (["eval", str(run)], ["predict", str(run), str(tmp_path / "in.txt")],
                 ["viz", "attention", str(run)]):
        _one_line(capsys, 1, argv, "model.safetensors")


def test_resume_of_a_truncated_checkpoint_names_it(pos_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(pos_run, run)
    last = run / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    _one_line(capsys, 1, ["train", "--resume", str(run), "trainer.max_epochs=2", "--quiet"],
              "last.safetensors")


def test_predict_on_text_that_is_not_utf8_names_the_line(pos_run, tmp_path, capsys):
    path = _file(tmp_path, "in.txt", b"the dog .\nun caf\xe9 .\n")
    _one_line(capsys, 1, ["predict", str(pos_run), str(path)], "in.txt", "line 2", "UTF-8")


def test_an_edited_config_cannot_change_the_figure(pos_run, tmp_path, capsys):
    import json

    assert main(["eval", str(pos_run)]) == 0
    before = json.loads(capsys.readouterr().out)
    run = tmp_path / "copy"
    shutil.copytree(pos_run, run)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("limit: null", "limit: 5"))
    assert main(["eval", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["test_acc"] == before["test_acc"]


def test_eval_on_data_that_changed_since_training_stops(pos_run, data_files, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(pos_run, run)
    changed = tmp_path / "changed.txt"
    lines = data_files["pos"].read_text().splitlines()
    changed.write_text("\n".join(reversed(lines)) + "\n")
    weights_cfg = run / "splits.json"
    assert weights_cfg.is_file()
    from selfattn.train.checkpoint import load_weights, save_weights, weights_metadata

    meta = weights_metadata(run / "model.safetensors")
    meta["config"] = meta["config"].replace(str(data_files["pos"]), str(changed))
    save_weights(load_weights(run / "model.safetensors"), run / "model.safetensors", meta)
    _one_line(capsys, 1, ["eval", str(run)], "differs from the one it was tested on")


def test_eval_on_another_file_with_a_label_map(pos_run, tmp_path, capsys):
    import json

    path = _file(tmp_path, "mine.txt", b"the/DT dog/NN sees/VBZ a/DT cat/NN !/EXCL\n")
    _one_line(capsys, 1, ["eval", str(pos_run), "--data", str(path)], "mine.txt:1", "'EXCL'",
              "data.label_map")
    assert main(["eval", str(pos_run), "--data", str(path), "data.label_map={EXCL: .}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sets"] == 1 and out["split"] == "all" and 0 <= out["test_acc"] <= 1
    assert (pos_run / "eval-mine.json").is_file()
    assert main(["eval", str(pos_run), "--data", str(path), "data.unknown_labels=ignore"]) == 0
    capsys.readouterr()
    _one_line(capsys, 2, ["eval", str(pos_run), "--data", "freesolv"], "--data", "'pos'")
    _one_line(capsys, 1, ["eval", str(pos_run), "--data", str(tmp_path / "nope.txt")], "nope.txt")


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(FileNotFoundError):
        main(["eval", "/no/such/run", "--debug"])


def test_a_node_list_with_a_non_integer_names_the_line(tmp_path):
    from selfattn.train.tasks import get_task

    path = _file(tmp_path, "nodes.txt", b"3\n17 x12\n")
    with pytest.raises(ValueError, match=rf"^{path}:2: expected a node number \(an integer\), got 'x12'$"):
        get_task("nodes").read_input(path, {}, {})
    empty = _file(tmp_path, "none.txt", b"\n")
    with pytest.raises(ValueError, match="no node numbers found"):
        get_task("nodes").read_input(empty, {}, {})
