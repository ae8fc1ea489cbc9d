"""A self-contained HTML viewer of attention: every layer and head, one file, no network.

``attention_html(weights, tokens)`` returns one HTML page (and writes it with ``path=``)
that embeds the weights as JSON and draws them with a little JavaScript. Three views, as
bertviz users expect, but for any selfattn model and with nothing to install or fetch
(the file opens from disk in any browser):

* **matrix**: one head's weights as a heat map (rows: queries, columns: keys); pick the
  layer and the head, hover a cell to read "query -> key: weight";
* **tokens** (click a token): the queries in a column on the left, the keys on the right;
  click a query and a line goes to every key it attends to, as thick and as dark as the
  weight, and each key takes the weight's colour; click a key to see who attends to it.
  The predicted label of each query stands beside it (red where it is wrong);
* **all heads**: every (layer, head) as a small heat map; click one to open it.

A colour legend (white = 0 to dark teal = the page's largest weight) explains the
colours of every view. Layers and heads are numbered from 1, as in the PNG figures.

``weights``: a list over layers of ``(heads, Lq, Lk)`` tensors for one example (what
``Encoder(..., return_weights=True)`` gives, indexed at one batch element and cut to its
length). ``tokens``: the ``Lk`` key labels (``query_tokens`` for the rows if they differ);
``predicted`` / ``truth``: a label per query (``None``: unknown). The JSON block escapes
``<``, ``>``, ``&`` and U+2028/9, so no token can end the script or hide the page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["COLOUR_HIGH", "COLOUR_LOW", "attention_html", "script_safe_json"]

COLOUR_LOW = (255, 255, 255)   # weight 0
COLOUR_HIGH = (42, 102, 102)   # the page's largest weight

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.2em; color: #222; }
h2 { margin: 0 0 .2em 0; font-size: 1.25em; white-space: pre-line; }
#subtitle { color: #555; margin-bottom: .8em; white-space: pre-line; }
#controls { display: flex; gap: .6em; align-items: center; flex-wrap: wrap; margin-bottom: .6em; }
button { border: 1px solid #888; background: #f4f4f4; padding: .2em .6em; cursor: pointer; font: inherit; }
button.active { background: #2a6666; color: white; border-color: #2a6666; }
#legend { display: flex; gap: .4em; align-items: center; margin-bottom: .6em; font-size: 12px; }
#legend canvas { border: 1px solid #aaa; }
#tip { min-height: 1.4em; font-family: monospace; }
canvas#map { border: 1px solid #ccc; }
#token-view { position: relative; display: flex; gap: 0; font-family: monospace; }
#token-view .column { display: flex; flex-direction: column; z-index: 1; }
#token-view .token { padding: 1px 6px; margin: 1px 0; height: 18px; line-height: 18px; cursor: pointer;
  border-radius: 3px; white-space: nowrap; }
#token-view .token.selected { outline: 2px solid #c06000; }
#token-view .label { color: #2a6666; margin-left: .5em; }
#token-view .label.wrong { color: #c0392b; }
#queries .token { text-align: right; }
svg#lines { width: 200px; flex: none; }
#grid { display: grid; gap: 10px; }
#grid figure { margin: 0; text-align: center; font-size: 12px; cursor: pointer; }
#grid canvas { border: 1px solid #ccc; display: block; }
.hidden { display: none !important; }
"""

_SCRIPT = r"""
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const $ = (id) => document.getElementById(id);
const nq = D.query_tokens.length, nk = D.key_tokens.length, L = D.layers.length;
const LOW = D.colours.low, HIGH = D.colours.high;
let layer = 0, head = 0, view = "matrix", picked = {side: "query", index: 0};
function colour(w) {  // white (0) -> dark teal (the page's largest weight), as in the legend
  const t = Math.max(0, Math.min(1, w / D.vmax));
  const c = LOW.map((lo, i) => Math.round(lo + (HIGH[i] - lo) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}
function legend() {
  const c = $("legend-bar"), g = c.getContext("2d");
  for (let x = 0; x < c.width; x++) {
    g.fillStyle = colour(D.vmax * x / (c.width - 1)); g.fillRect(x, 0, 1, c.height);
  }
  $("legend-max").textContent = D.vmax.toFixed(3);
}
const cell = Math.max(6, Math.min(28, Math.floor(640 / Math.max(nq, nk, 1))));
const margin = 90;
function heatmap(canvas, W, size, withLabels) {
  const m = withLabels ? margin : 0;
  canvas.width = m + nk * size + (withLabels ? 10 : 0); canvas.height = m + nq * size + (withLabels ? 10 : 0);
  const g = canvas.getContext("2d");
  for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) {
    g.fillStyle = colour(W[i][j]); g.fillRect(m + j * size, m + i * size, size, size);
  }
  if (!withLabels) return;
  g.fillStyle = "#222"; g.font = `${Math.min(12, size)}px monospace`; g.textBaseline = "middle";
  g.textAlign = "right";
  D.query_tokens.forEach((t, i) => g.fillText(t.slice(0, 10), m - 4, m + (i + .5) * size));
  g.textAlign = "left";
  D.key_tokens.forEach((t, j) => {
    g.save(); g.translate(m + (j + .5) * size, m - 4); g.rotate(-Math.PI / 2);
    g.fillText(t.slice(0, 10), 0, 0); g.restore();
  });
}
function buttons() {
  $("heads").replaceChildren();
  D.layers[layer].forEach((_, h) => {
    const b = document.createElement("button");
    b.className = "head" + (h === head ? " active" : ""); b.textContent = String(h + 1);
    b.dataset.head = String(h); b.onclick = () => { head = h; draw(); };
    $("heads").appendChild(b);
  });
  document.querySelectorAll("button.view").forEach(
    (b) => b.classList.toggle("active", b.dataset.view === view));
}
function tokenColumn(box, names, side) {
  box.replaceChildren();
  names.forEach((t, i) => {
    const s = document.createElement("div");
    s.className = "token"; s.dataset.index = String(i); s.dataset.side = side; s.textContent = t;
    if (side === "query" && D.predicted) {
      const lab = document.createElement("span");
      const wrong = D.truth && D.truth[i] !== null && D.truth[i] !== D.predicted[i];
      lab.className = "label" + (wrong ? " wrong" : ""); lab.textContent = D.predicted[i];
      if (wrong) lab.title = `true: ${D.truth[i]}`;
      if (D.predicted[i] !== "") s.appendChild(lab);
    }
    s.onclick = () => { picked = {side, index: i}; draw(); };
    box.appendChild(s);
  });
}
function tokens() {
  const W = D.layers[layer][head], q = $("queries"), k = $("keys"), svg = $("lines");
  tokenColumn(q, D.query_tokens, "query"); tokenColumn(k, D.key_tokens, "key");
  const from = picked.side === "query" ? q : k, to = picked.side === "query" ? k : q;
  const i = Math.min(picked.index, from.children.length - 1);
  from.children[i].classList.add("selected");
  const h = Math.max(q.offsetHeight, k.offsetHeight);
  svg.setAttribute("height", String(h)); svg.replaceChildren();
  const y = (el) => el.offsetTop + el.offsetHeight / 2;
  Array.from(to.children).forEach((el, j) => {
    const w = picked.side === "query" ? W[i][j] : W[j][i];
    el.style.backgroundColor = colour(w); el.style.color = w / D.vmax > 0.6 ? "white" : "#222";
    el.title = `weight ${w.toFixed(4)}`;
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    const [a, b] = picked.side === "query" ? [from.children[i], el] : [el, from.children[i]];
    line.setAttribute("x1", "0"); line.setAttribute("x2", "200");
    line.setAttribute("y1", String(y(a))); line.setAttribute("y2", String(y(b)));
    line.setAttribute("stroke", colour(D.vmax)); line.setAttribute("stroke-opacity", String(w / D.vmax));
    line.setAttribute("stroke-width", String(0.5 + 4 * w / D.vmax)); line.dataset.weight = String(w);
    svg.appendChild(line);
  });
}
function grid() {
  const box = $("grid"), size = Math.max(2, Math.min(24, Math.floor(160 / Math.max(nq, nk, 1))));
  const heads = Math.max(...D.layers.map((x) => x.length));
  box.style.gridTemplateColumns = `repeat(${heads}, max-content)`; box.replaceChildren();
  D.layers.forEach((heads_, l) => {
    for (let h = 0; h < heads; h++) {
      const f = document.createElement("figure");
      if (h < heads_.length) {
        const c = document.createElement("canvas"); c.className = "thumb";
        c.dataset.layer = String(l); c.dataset.head = String(h); heatmap(c, heads_[h], size, false);
        const cap = document.createElement("figcaption"); cap.textContent = `layer ${l + 1} head ${h + 1}`;
        f.append(c, cap); f.onclick = () => { layer = l; head = h; view = "matrix"; draw(); };
      }
      box.appendChild(f);
    }
  });
}
function draw() {
  if ($("layer").value !== String(layer + 1)) $("layer").value = String(layer + 1);
  buttons();
  $("matrix-view").classList.toggle("hidden", view !== "matrix");
  $("token-view").classList.toggle("hidden", view !== "tokens");
  $("grid").classList.toggle("hidden", view !== "grid");
  if (view === "matrix") heatmap($("map"), D.layers[layer][head], cell, true);
  if (view === "tokens") tokens();
  if (view === "grid") grid();
  $("status").textContent = view === "grid" ? `all ${D.layers.flat().length} heads of ${L} layers` :
    `layer ${layer + 1} / ${L}, head ${head + 1} / ${D.layers[layer].length}`;
}
D.layers.forEach((_, i) => $("layer").add(new Option(`layer ${i + 1}`, String(i + 1))));
$("layer").onchange = () => {
  layer = Number($("layer").value) - 1; head = Math.min(head, D.layers[layer].length - 1);
  if (view === "grid") view = "matrix";
  draw();
};
document.querySelectorAll("button.view").forEach((b) => {
  b.onclick = () => { view = b.dataset.view; draw(); };
});
$("map").onmousemove = (e) => {
  const r = $("map").getBoundingClientRect();
  const j = Math.floor((e.clientX - r.left - margin) / cell);
  const i = Math.floor((e.clientY - r.top - margin) / cell);
  if (i >= 0 && i < nq && j >= 0 && j < nk) {
    const w = D.layers[layer][head][i][j].toFixed(4);
    $("tip").textContent = `${D.query_tokens[i]} -> ${D.key_tokens[j]}: ${w}`;
  }
};
legend();
draw();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style></head>
<body>
<h2 id="title">{title}</h2>
<div id="subtitle">{subtitle}</div>
<div id="controls">
  <span>view</span>
  <button class="view" data-view="matrix">matrix</button>
  <button class="view" data-view="tokens">tokens (click one)</button>
  <button class="view" data-view="grid">all heads</button>
  <label><select id="layer"></select></label>
  <span>head</span><span id="heads"></span>
  <span id="status"></span>
</div>
<div id="legend"><span>attention weight</span><span>0</span>
  <canvas id="legend-bar" width="200" height="14"></canvas><span id="legend-max"></span></div>
<div id="matrix-view"><div id="tip">hover a cell: query &rarr; key: weight</div>
  <canvas id="map"></canvas></div>
<div id="token-view" class="hidden"><div class="column" id="queries"></div><svg id="lines"></svg>
  <div class="column" id="keys"></div></div>
<div id="grid" class="hidden"></div>
<script id="data" type="application/json">{data}</script>
<script>{script}</script></body></html>
"""


# "</script" would end the <script> element early and "<!--" open an escaped state that
# hides the rest of the page; "&" and U+2028/9 go too (as Django's json_script does). JSON
# reads each escape back as the same character.
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                                 "\u2028": "\\u2028", "\u2029": "\\u2029"})


def script_safe_json(text: str) -> str:
    """JSON text that can sit inside a ``<script>`` element whatever its strings hold."""
    return text.translate(_SCRIPT_ESCAPES)


def _labels(name: str, values: Sequence | None, n: int) -> list | None:
    if values is None:
        return None
    if len(values) != n:
        raise ValueError(f"{name}: expected one label per query ({n}), got {len(values)}")
    return [None if v is None else str(v) for v in values]


def attention_html(
    weights: Sequence[torch.Tensor],
    tokens: Sequence[str],
    *,
    query_tokens: Sequence[str] | None = None,
    title: str = "selfattn attention",
    subtitle: str = "",
    predicted: Sequence[str] | None = None,
    truth: Sequence[str | None] | None = None,
    path: str | Path | None = None,
    digits: int = 4,
) -> str:
    """The viewer page for one example; written to ``path`` if given. See the module docstring."""
    if not weights:
        raise ValueError("weights: expected at least one layer, got an empty sequence")
    query_tokens = list(tokens) if query_tokens is None else list(query_tokens)
    layers = []
    for i, w in enumerate(weights):
        if not isinstance(w, torch.Tensor) or w.dim() != 3:
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"weights[{i}]: expected a (heads, Lq, Lk) tensor, got {shape}")
        if w.shape[1:] != (len(query_tokens), len(tokens)):
            raise ValueError(
                f"weights[{i}]: expected (heads, {len(query_tokens)}, {len(tokens)}) to match the "
                f"query and key tokens, got {tuple(w.shape)}")
        layers.append(w.detach().double().cpu().round(decimals=digits).tolist())
    vmax = max((float(w.detach().max()) for w in weights if w.numel()), default=1.0) or 1.0
    data = json.dumps({"layers": layers, "key_tokens": [str(t) for t in tokens],
                       "query_tokens": [str(t) for t in query_tokens], "vmax": vmax,
                       "predicted": _labels("predicted", predicted, len(query_tokens)),
                       "truth": _labels("truth", truth, len(query_tokens)),
                       "colours": {"low": list(COLOUR_LOW), "high": list(COLOUR_HIGH)}})
    page = _PAGE.format(title=html.escape(title), subtitle=html.escape(subtitle), style=_STYLE,
                        data=script_safe_json(data), script=_SCRIPT)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(page, encoding="utf-8")
    return page
