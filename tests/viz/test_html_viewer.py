"""The one-file attention viewer, driven in headless Chromium with Playwright: what a click
shows (colours read back from the page), the all-heads grid, the legend's pixels."""

from __future__ import annotations

import io
import re
import shutil

import pytest
import torch

from conftest import MOLECULES
from selfattn.viz.html import COLOUR_HIGH, COLOUR_LOW, attention_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")


def _example():
    torch.manual_seed(0)
    tokens = ["I", "saw", "a", "saw", "</script><b>x"]  # a hostile token must stay text
    layer0 = torch.softmax(torch.randn(2, 5, 5), -1)
    layer1 = torch.softmax(torch.randn(3, 5, 5), -1)
    layer1[1] = torch.eye(5)  # head 2 of layer 2: each token attends to itself
    return [layer0, layer1], tokens


def _rgb(w: float, vmax: float) -> tuple[int, int, int]:
    """The viewer's colour of weight ``w`` (white -> dark teal), as the page computes it."""
    t = max(0.0, min(1.0, w / vmax))
    return tuple(int(lo + (hi - lo) * t + 0.5) for lo, hi in zip(COLOUR_LOW, COLOUR_HIGH, strict=True))


def _css(text: str) -> tuple[int, int, int]:
    return tuple(int(v) for v in re.findall(r"\d+", text)[:3])


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def open_(path):
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        pages.append((page, errors))
        return page

    yield open_
    for page, errors in pages:
        assert errors == []  # no JavaScript error on any page
        page.close()


def test_page_is_self_contained_and_rejects_bad_shapes():
    weights, tokens = _example()
    page = attention_html(weights, tokens, title="demo <1>")
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert "</script><b>" not in page and "demo &lt;1&gt;" in page
    with pytest.raises(ValueError, match=r"weights\[0\]: expected \(heads, 4, 4\)"):
        attention_html(weights, tokens[:4])
    with pytest.raises(ValueError, match="weights: expected at least one layer"):
        attention_html([], tokens)
    with pytest.raises(ValueError, match=r"predicted: expected one label per query \(5\), got 2"):
        attention_html(weights, tokens, predicted=["a", "b"])


@needs_chromium
def test_numbering_starts_at_one_and_the_legend_has_its_colours(open_page, tmp_path):
    weights, tokens = _example()
    path = tmp_path / "attention.html"
    attention_html(weights, tokens, path=path)
    page = open_page(path)
    assert page.locator("#layer option").all_inner_texts() == ["layer 1", "layer 2"]
    assert page.locator("button.head").all_inner_texts() == ["1", "2"]
    assert page.locator("#status").inner_text() == "layer 1 / 2, head 1 / 2"
    page.select_option("#layer", label="layer 2")
    page.locator("button.head", has_text="2").click()
    assert page.locator("#status").inner_text() == "layer 2 / 2, head 2 / 3"
    # The legend, as drawn on screen: white at its left end, dark teal at its right end.
    from PIL import Image

    shot = Image.open(io.BytesIO(page.locator("#legend-bar").screenshot())).convert("RGB")
    w, h = shot.size
    left, right, middle = shot.getpixel((2, h // 2)), shot.getpixel((w - 3, h // 2)), shot.getpixel((w // 2, h // 2))
    assert max(abs(a - b) for a, b in zip(left, COLOUR_LOW, strict=True)) <= 6
    assert max(abs(a - b) for a, b in zip(right, COLOUR_HIGH, strict=True)) <= 6
    assert all(hi - 6 <= m <= lo + 6 for m, lo, hi in zip(middle, COLOUR_LOW, COLOUR_HIGH, strict=True))
    assert page.locator("#legend-max").inner_text() == "1.000"  # the identity head's weight 1
    # The identity head on screen: dark cells on the diagonal only.
    box = page.locator("#map").bounding_box()
    cell = page.evaluate("Math.max(6, Math.min(28, Math.floor(640 / 5)))")
    shot = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
    for i in range(5):
        for j in range(5):
            pixel = shot.getpixel((int(90 + (j + 0.5) * cell), int(90 + (i + 0.5) * cell)))
            want = COLOUR_HIGH if i == j else COLOUR_LOW
            assert max(abs(a - b) for a, b in zip(pixel, want, strict=True)) <= 6, (i, j, pixel)
    page.mouse.move(box["x"] + 90 + 3.5 * cell, box["y"] + 90 + 3.5 * cell)
    assert page.locator("#tip").inner_text() == "saw -> saw: 1.0000"


@needs_chromium
def test_clicking_a_token_colours_the_tokens_it_attends_to(open_page, tmp_path):
    weights, tokens = _example()
    predicted = ["PRP", "VBD", "DT", "NN", "SYM"]
    path = tmp_path / "attention.html"
    attention_html(weights, tokens, path=path, predicted=predicted, truth=["PRP", "VBD", "DT", "NN", "NN"])
    page = open_page(path)
    page.locator("button.view", has_text="tokens").click()
    assert page.locator("#token-view").is_visible() and not page.locator("#map").is_visible()
    vmax = float(max(w.max() for w in weights))
    for layer, head, query in ((0, 0, 1), (0, 1, 4)):
        page.select_option("#layer", label=f"layer {layer + 1}")
        page.locator("button.head", has_text=str(head + 1)).click()
        page.locator("#queries .token").nth(query).click()
        assert page.locator("#queries .token.selected").count() == 1
        row = weights[layer][head, query].double().round(decimals=4)
        keys = page.locator("#keys .token")
        assert keys.count() == 5
        for j in range(5):
            shown = _css(keys.nth(j).evaluate("e => getComputedStyle(e).backgroundColor"))
            assert max(abs(a - b) for a, b in zip(shown, _rgb(float(row[j]), vmax), strict=True)) <= 1
        lines = page.locator("svg#lines line")
        assert lines.count() == 5
        opacity = [float(lines.nth(j).get_attribute("stroke-opacity")) for j in range(5)]
        assert opacity == pytest.approx([float(w) / vmax for w in row], abs=1e-4)
    # layer 2 head 2 attends to itself only: one line drawn, one key coloured
    page.select_option("#layer", label="layer 2")
    page.locator("button.head", has_text="2").click()
    page.locator("#queries .token").nth(3).click()
    visible = [float(x) for x in page.locator("svg#lines line").evaluate_all(
        "ls => ls.map(l => l.getAttribute('stroke-opacity'))")]
    assert [i for i, x in enumerate(visible) if x > 0.01] == [3]
    # a key clicked: who attends to it (the column), the identity again
    page.locator("#keys .token").nth(2).click()
    colours = [_css(c) for c in page.locator("#queries .token").evaluate_all(
        "ts => ts.map(t => getComputedStyle(t).backgroundColor)")]
    assert colours == [COLOUR_HIGH if i == 2 else COLOUR_LOW for i in range(5)]
    # the predicted label stands beside each query, red where it is wrong
    labels = page.locator("#queries .label")
    assert labels.all_inner_texts() == predicted
    assert _css(labels.nth(4).evaluate("e => getComputedStyle(e).color")) == (192, 57, 43)
    assert page.locator("#queries .label.wrong").count() == 1


@needs_chromium
def test_all_heads_view_draws_every_head_and_opens_one(open_page, tmp_path):
    weights, tokens = _example()
    path = tmp_path / "attention.html"
    attention_html(weights, tokens, path=path)
    page = open_page(path)
    page.locator("button.view", has_text="all heads").click()
    thumbs = page.locator("#grid canvas.thumb")
    assert thumbs.count() == 2 + 3 and all(thumbs.nth(i).is_visible() for i in range(5))
    assert page.locator("#grid figcaption").all_inner_texts() == [
        "layer 1 head 1", "layer 1 head 2", "layer 2 head 1", "layer 2 head 2", "layer 2 head 3"]
    assert page.locator("#status").inner_text() == "all 5 heads of 2 layers"
    assert not page.locator("#map").is_visible()
    # each thumbnail is its head: the identity head's pixels are dark on the diagonal only
    from PIL import Image

    shot = Image.open(io.BytesIO(thumbs.nth(3).screenshot())).convert("RGB")
    size = shot.size[0] / 5
    assert shot.getpixel((int(1.5 * size), int(1.5 * size))) != shot.getpixel((int(1.5 * size), int(3.5 * size)))
    thumbs.nth(3).click()  # layer 2 head 2 (the grid leaves an empty place after layer 1 head 2)
    assert page.locator("#map").is_visible()
    assert page.locator("#status").inner_text() == "layer 2 / 2, head 2 / 3"


@needs_chromium
def test_run_viewer_titles_the_sentence_and_draws_the_predicted_tags(pos_run, open_page, tmp_path):
    """`selfattn viz attention RUN --html` on a trained run: its 2 layers and 2 heads, the sentence."""
    from selfattn.viz.attention import draw_run_attention, run_attention

    ra = run_attention(pos_run, example=0)
    info = draw_run_attention(ra, tmp_path / "run.png", html=True)
    page = open_page(tmp_path / "run.html")
    assert page.locator("h2").inner_text() == "pos: " + " ".join(ra.tokens)
    assert str(pos_run.parent) not in page.locator("h2").inner_text()   # not the data file's path
    assert page.locator("#layer option").count() == len(ra.weights) == 2
    page.locator("button.view", has_text="tokens").click()
    assert page.locator("#queries .label").all_inner_texts() == info["predicted"]
    page.locator("button.view", has_text="all heads").click()
    assert page.locator("#grid canvas.thumb").count() == 4


@needs_chromium
def test_hostile_tokens_neither_blank_the_viewer_nor_become_markup(open_page, tmp_path):
    """'<!--<script>' in the JSON block once hid the page (no heads, no status)."""
    tokens = ["<!--<script>", "</script><b>x", "$\\foo$", "a&b", "\u2028"]
    weights = [torch.softmax(torch.randn(2, 5, 5), -1)]
    path = tmp_path / "hostile.html"
    attention_html(weights, tokens, path=path, title="<!--<script>", predicted=["</script>", "<!--", "a", "b", "c"])
    page = open_page(path)
    assert page.locator("button.head").count() == 2
    assert page.locator("#status").inner_text() == "layer 1 / 1, head 1 / 2"
    assert page.evaluate("JSON.parse(document.getElementById('data').textContent).key_tokens") == tokens
    assert page.locator("b").count() == 0 and page.locator("h2").inner_text() == "<!--<script>"
    page.locator("button.view", has_text="tokens").click()
    assert page.locator("#queries .label").all_inner_texts()[:2] == ["</script>", "<!--"]


def test_viewer_says_rows_fall_short_only_when_vectors_are_left_out(molecule_run, karate_run, tmp_path):
    from selfattn.viz.attention import draw_run_attention, run_attention

    ra = run_attention(molecule_run, example=1)
    draw_run_attention(ra, tmp_path / "mol.png", html=True)   # every atom drawn: rows sum to 1
    page = (tmp_path / "mol.html").read_text(encoding="utf-8")
    assert "rows sum to less than 1" not in page
    assert f"<h2 id=\"title\">molecule-bbb: {ra.text}</h2>" in page and ra.text in MOLECULES
    ra = run_attention(karate_run)
    info = draw_run_attention(ra, tmp_path / "karate.png", html=True, max_nodes=5)
    page = (tmp_path / "karate.html").read_text(encoding="utf-8")
    assert f"the 5 vectors drawn, of {len(ra.example)}: rows sum to less than 1" in page
    assert len(info["nodes"]) == 5
