"""The one-file attention viewer, driven in headless Chromium with Playwright."""

from __future__ import annotations

import shutil

import pytest
import torch

from selfattn.viz.html import attention_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _example():
    torch.manual_seed(0)
    tokens = ["I", "saw", "a", "saw", "</script><b>x"]  # a hostile token must stay text
    layer0 = torch.softmax(torch.randn(2, 5, 5), -1)
    layer1 = torch.softmax(torch.randn(3, 5, 5), -1)
    layer1[1] = torch.eye(5)  # head 1 of layer 1: each token attends to itself
    return [layer0, layer1], tokens


def test_page_is_self_contained_and_rejects_bad_shapes():
    weights, tokens = _example()
    page = attention_html(weights, tokens, title="demo <1>")
    assert "http://" not in page and "https://" not in page  # nothing fetched
    assert "</script><b>" not in page and "demo &lt;1&gt;" in page
    with pytest.raises(ValueError, match=r"weights\[0\]: expected \(heads, 4, 4\)"):
        attention_html(weights, tokens[:4])
    with pytest.raises(ValueError, match="weights: expected at least one layer"):
        attention_html([], tokens)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_viewer_in_headless_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    weights, tokens = _example()
    path = tmp_path / "attention.html"
    attention_html(weights, tokens, path=path)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        assert page.locator("button.head").count() == 2  # layer 0 has 2 heads
        assert page.locator("#status").inner_text() == "layer 0 / 2, head 0 / 2"
        before = page.evaluate("document.getElementById('map').toDataURL()")
        page.locator("button.head", has_text="1").click()
        after = page.evaluate("document.getElementById('map').toDataURL()")
        assert after != before  # switching head changes the picture
        page.select_option("#layer", "1")
        assert page.locator("button.head").count() == 3
        # Hover the cell (query 3, key 3) of layer 1, head 1 (the identity head).
        box = page.locator("#map").bounding_box()
        cell = page.evaluate("Math.max(6, Math.min(28, Math.floor(640 / 5)))")
        page.mouse.move(box["x"] + 90 + 3.5 * cell, box["y"] + 90 + 3.5 * cell)
        assert page.locator("#tip").inner_text() == "saw -> saw: 1.0000"
        assert page.locator("#status").inner_text() == "layer 1 / 2, head 1 / 3"
        assert errors == []
        browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_run_viewer_shows_the_runs_layers_and_heads(pos_run, tmp_path):
    """`selfattn viz attention RUN --html` on a trained run: its 2 layers and 2 heads, browsable."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from selfattn.viz.attention import draw_run_attention, run_attention

    ra = run_attention(pos_run, example=0)
    info = draw_run_attention(ra, tmp_path / "run.png", html=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((tmp_path / "run.html").as_uri())
        assert page.locator("#layer option").count() == len(ra.weights) == 2
        for layer in range(2):
            page.select_option("#layer", str(layer))
            assert page.locator("button.head").count() == ra.weights[layer].shape[0] == 2
        pictures = set()
        for head in ("0", "1"):
            page.locator("button.head", has_text=head).click()
            pictures.add(page.evaluate("document.getElementById('map').toDataURL()"))
        assert len(pictures) == 2  # the two heads of the last layer are drawn differently
        assert page.locator("#status").inner_text() == "layer 1 / 2, head 1 / 2"
        assert errors == []
        browser.close()
    assert info["html"] == str(tmp_path / "run.html")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_hostile_tokens_neither_blank_the_viewer_nor_become_markup(tmp_path):
    """'<!--<script>' in the JSON block once hid the page (no heads, no status)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    tokens = ["<!--<script>", "</script><b>x", "$\\foo$", "a&b", "\u2028"]
    weights = [torch.softmax(torch.randn(2, 5, 5), -1)]
    path = tmp_path / "hostile.html"
    attention_html(weights, tokens, path=path, title="<!--<script>")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        assert page.locator("button.head").count() == 2
        assert page.locator("#status").inner_text() == "layer 0 / 1, head 0 / 2"
        assert page.evaluate("JSON.parse(document.getElementById('data').textContent).key_tokens") == tokens
        assert page.locator("b").count() == 0 and page.locator("h2").inner_text() == "<!--<script>"
        assert errors == []
        browser.close()
