"""Tokens and titles from data are drawn as written: no mathtext, no HTML that escapes its block.

``$\\foo$`` stopped `viz attention` with a mathtext parse error; ``<!--<script>`` in the
one-file viewer's JSON opened an escaped script state that blanked the page.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import torch

from selfattn.viz.attention import draw_run_attention, run_attention
from selfattn.viz.graph import graph_attention_figure
from selfattn.viz.html import attention_html, script_safe_json
from selfattn.viz.image import image_attention_figure
from selfattn.viz.maps import attention_heatmaps, panel_axes

HOSTILE = ["$\\foo$", "<!--<script>", "</script>", "a&b", "\u2028x\u2029", "$x$", "\\$y"]


def test_hostile_tokens_of_a_users_sentence_draw_as_written(pos_run, tmp_path):
    text = tmp_path / "hostile.txt"
    # word/TAG tokens are kept as written (raw text would go through the Treebank tokenizer)
    text.write_text("the/DT $\\foo$/NN <!--<script>/NN </script>/NN dog/NN $x$/NN ./.\n", encoding="utf-8")
    ra = run_attention(pos_run, input=text)
    assert ra.tokens == ["the", "$\\foo$", "<!--<script>", "</script>", "dog", "$x$", "."]
    info = draw_run_attention(ra, tmp_path / "maps.png", html=True)
    assert (tmp_path / "maps.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "maps.html").read_text(encoding="utf-8")
    assert json.loads(_script_block(page))["key_tokens"] == ra.tokens
    assert info["html"] == str(tmp_path / "maps.html")


def test_heatmap_ticks_and_title_keep_dollars(tmp_path):
    n = len(HOSTILE)
    fig = attention_heatmaps([torch.softmax(torch.randn(2, n, n), -1)], HOSTILE, title="$\\alpha$ file.txt",
                             path=tmp_path / "maps.png")  # savefig parses every Text
    first, second = panel_axes(fig)   # one layer: both panels name the keys, the first the queries
    for ticks in (first.get_xticklabels(), first.get_yticklabels(), second.get_xticklabels()):
        assert [t.get_text() for t in ticks] == HOSTILE
        assert not any(t.get_parse_math() for t in ticks)
    assert fig.get_suptitle() == "$\\alpha$ file.txt"


def test_graph_and_image_labels_keep_dollars(tmp_path):
    n = 4
    w = [torch.softmax(torch.randn(1, n, n), -1)]
    edges = torch.tensor([[0, 1, 2, 1, 2, 3], [1, 2, 3, 0, 1, 2]])
    pos = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    fig = graph_attention_figure(w, edges, pos, labels=["$\\foo$", "$a$", "b", "c"], classes=[0, 1, 0, 1],
                                 class_names=["$\\bar$", "$y$"], title="$\\foo$", path=tmp_path / "g.png")
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["$\\bar$", "$y$"]
    drawn = [t.get_text() for ax in panel_axes(fig) for t in ax.texts]
    assert drawn == ["$\\foo$", "$a$", "b", "c"]
    image_attention_figure([torch.softmax(torch.randn(1, 4, 4), -1)], np.zeros((4, 4)), (2, 2), 0,
                           title="$\\foo$.npy", path=tmp_path / "i.png")
    assert (tmp_path / "g.png").is_file() and (tmp_path / "i.png").is_file()


class _Scripts(HTMLParser):
    """The text of each <script> element as a browser's tokenizer ends it (at '</script')."""

    def __init__(self):
        super().__init__()
        self.open, self.scripts = False, []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.open = True
            self.scripts.append((dict(attrs), ""))

    def handle_endtag(self, tag):
        self.open = self.open and tag != "script"

    def handle_data(self, data):
        if self.open:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def _script_block(page: str) -> str:
    parser = _Scripts()
    parser.feed(page)
    (block,) = [text for attrs, text in parser.scripts if attrs.get("id") == "data"]
    return block


def test_viewer_json_cannot_leave_its_script_block():
    n = len(HOSTILE)
    page = attention_html([torch.softmax(torch.randn(1, n, n), -1)], HOSTILE, title="<!--<script> & $x$")
    block = _script_block(page)
    # no '<' at all: neither '</script' (ends the element) nor '<!--' (hides the page) can form
    assert "<" not in block and ">" not in block and "&" not in block
    assert "\u2028" not in block and "\u2029" not in block
    data = json.loads(block)  # what JSON.parse reads back: the tokens, unchanged
    assert data["key_tokens"] == data["query_tokens"] == HOSTILE
    assert "<title>&lt;!--&lt;script&gt; &amp; $x$</title>" in page
    assert page.count("</script>") == 2  # the data block's and the program's, nothing else
    text = json.dumps(HOSTILE)
    assert json.loads(script_safe_json(text)) == HOSTILE
