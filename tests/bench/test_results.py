"""selfattn.bench.results: what is written reads back the same."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.bench.results import fmt_mib, fmt_ms, save, save_results, write_json

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=5), lambda c: st.lists(c, max_size=3)
                    | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=10)


@settings(max_examples=30, deadline=None)
@given(JSON)
def test_write_json_round_trips(tmp_path_factory, payload):
    path = write_json(tmp_path_factory.mktemp("w") / "deep" / "x.json", payload)
    text = path.read_text()
    assert text.endswith("\n")
    assert json.loads(text) == payload


def test_save_adds_the_load_at_the_end_only_to_an_environment(tmp_path):
    path = save("b", {"environment": {"threads": 1}, "rows": [1, 2]}, tmp_path / "results")
    assert path == tmp_path / "results" / "b.json"
    back = json.loads(path.read_text())
    assert back["rows"] == [1, 2] and back["environment"]["threads"] == 1
    assert len(back["environment"]["load_average_at_end"]) == 3
    back = json.loads(save("c", {"machine": {"threads": 1}}, tmp_path).read_text())
    assert back == {"machine": {"threads": 1}}  # no environment: nothing added


def test_save_results_writes_json_and_the_plotted_figure(tmp_path):
    seen = []

    def plot(result, path):
        seen.append(result["x"])
        path.write_bytes(b"PNG")

    out = save_results({"x": 3}, tmp_path / "run", plot)
    assert seen == [3]
    assert out["figure"] == str(tmp_path / "run" / "figure.png")
    assert (tmp_path / "run" / "figure.png").read_bytes() == b"PNG"
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == {"x": 3}  # before "figure"


def test_table_formats():
    assert fmt_ms(None) == "-" and fmt_mib(None) == "-"
    assert fmt_ms(0.0125).strip() == "12.5"
    assert fmt_mib(3 * 2**20).strip() == "3.0"
