"""selfattn.data.registry: generated data sets whose generator is given by name.

The registry names the ASR corpora's generators ``"selfattn.data.asr:..."`` instead of
importing them (data.asr reads OANC sentences through data.pos, which fetches through the
registry: importing it would close a cycle); the names must resolve, and fetch must run them.
"""

from __future__ import annotations

import pytest

from selfattn.data.registry import REGISTRY, DatasetEntry, fetch, generator, is_cached


def made_here(folder):
    (folder / "made.txt").write_text("yes")


def test_every_named_generator_resolves_to_a_function():
    named = {name: e for name, e in REGISTRY.items() if isinstance(e.generate, str)}
    assert {"espeak-asr", "espeak-asr-all"} <= set(named)
    from selfattn.data import asr

    assert generator(named["espeak-asr"]) is asr.generate_default_corpus
    assert generator(named["espeak-asr-all"]) is asr.generate_full_corpus
    for entry in named.values():
        assert entry.source[0] == "generated" and callable(generator(entry))


def test_fetch_imports_and_runs_a_named_generator(tmp_cache, monkeypatch):
    monkeypatch.setitem(REGISTRY, "test-named", DatasetEntry(
        name="test-named", task="t", size="1", licence="none", source=("generated", "test"),
        generate=f"{__name__}:made_here"))
    assert not is_cached("test-named")
    folder = fetch("test-named")
    assert (folder / "made.txt").read_text() == "yes" and is_cached("test-named")


@pytest.mark.parametrize(("name", "message"), [
    ("no_colon_here", r"test-bad: generate: expected a function or 'package.module:function'"),
    (f"{__name__}:no_such_function", r"test-bad: generate: .* has no function 'no_such_function'"),
])
def test_a_bad_generator_name_is_refused_in_one_line(name, message):
    entry = DatasetEntry(name="test-bad", task="t", size="1", licence="none",
                         source=("generated", "test"), generate=name)
    with pytest.raises(ValueError, match=message):
        generator(entry)

