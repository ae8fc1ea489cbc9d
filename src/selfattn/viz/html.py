"""A self-contained HTML viewer of attention: every layer and head, one file, no network.

``attention_html(weights, tokens)`` returns one HTML page (and writes it with ``path=``)
that embeds the weights as JSON and draws them with a few lines of JavaScript on a
canvas: pick a layer, click a head, hover a cell to read "query -> key: weight". Like
bertviz, but for any selfattn model and with nothing to install or fetch: the file opens
from disk in any browser.

``weights``: a list over layers of ``(heads, Lq, Lk)`` tensors for one example (what
``Encoder(..., return_weights=True)`` gives, indexed at one batch element and cut to its
length). ``tokens``: the ``Lk`` key labels (``query_tokens`` for the rows if they differ).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["attention_html", "script_safe_json"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.2em; color: #222; }}
#controls {{ display: flex; gap: .6em; align-items: center; flex-wrap: wrap; margin-bottom: .8em; }}
button.head {{ border: 1px solid #888; background: #f4f4f4; padding: .2em .6em; cursor: pointer; }}
button.head.active {{ background: #2a6; color: white; border-color: #2a6; }}
#tip {{ min-height: 1.4em; font-family: monospace; }}
canvas {{ border: 1px solid #ccc; }}
</style></head>
<body>
<h2>{title}</h2>
<div id="controls">
  <label>layer <select id="layer"></select></label>
  <span>head</span><span id="heads"></span>
  <span id="status"></span>
</div>
<div id="tip">hover a cell: query &rarr; key: weight</div>
<canvas id="map"></canvas>
<script id="data" type="application/json">{data}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const layerSel = document.getElementById("layer"), headsBox = document.getElementById("heads");
const canvas = document.getElementById("map"), ctx = canvas.getContext("2d");
const tip = document.getElementById("tip"), status = document.getElementById("status");
const nq = D.query_tokens.length, nk = D.key_tokens.length;
const cell = Math.max(6, Math.min(28, Math.floor(640 / Math.max(nq, nk, 1))));
const margin = 90;
let layer = 0, head = 0;
canvas.width = margin + nk * cell + 10; canvas.height = margin + nq * cell + 10;
D.layers.forEach((_, i) => layerSel.add(new Option(String(i), String(i))));
function colour(w) {{  // white -> dark green
  const t = Math.max(0, Math.min(1, w / D.vmax));
  return `rgb(${{Math.round(255 - 213 * t)}},${{Math.round(255 - 153 * t)}},${{Math.round(255 - 153 * t)}})`;
}}
function buttons() {{
  headsBox.replaceChildren();
  D.layers[layer].forEach((_, h) => {{
    const b = document.createElement("button");
    b.className = "head" + (h === head ? " active" : ""); b.textContent = String(h);
    b.dataset.head = String(h); b.onclick = () => {{ head = h; draw(); }};
    headsBox.appendChild(b);
  }});
}}
function draw() {{
  buttons();
  const W = D.layers[layer][head];
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) {{
    ctx.fillStyle = colour(W[i][j]); ctx.fillRect(margin + j * cell, margin + i * cell, cell, cell);
  }}
  ctx.fillStyle = "#222"; ctx.font = `${{Math.min(12, cell)}}px monospace`;
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  D.query_tokens.forEach((t, i) => ctx.fillText(t.slice(0, 10), margin - 4, margin + (i + .5) * cell));
  ctx.save(); ctx.textAlign = "left";
  D.key_tokens.forEach((t, j) => {{
    ctx.save(); ctx.translate(margin + (j + .5) * cell, margin - 4); ctx.rotate(-Math.PI / 2);
    ctx.fillText(t.slice(0, 10), 0, 0); ctx.restore();
  }});
  ctx.restore();
  status.textContent =
    `layer ${{layer}} / ${{D.layers.length}}, head ${{head}} / ${{D.layers[layer].length}}`;
}}
layerSel.onchange = () => {{
  layer = Number(layerSel.value); head = Math.min(head, D.layers[layer].length - 1); draw();
}};
canvas.onmousemove = (e) => {{
  const r = canvas.getBoundingClientRect();
  const j = Math.floor((e.clientX - r.left - margin) / cell);
  const i = Math.floor((e.clientY - r.top - margin) / cell);
  if (i >= 0 && i < nq && j >= 0 && j < nk) {{
    const w = D.layers[layer][head][i][j].toFixed(4);
    tip.textContent = `${{D.query_tokens[i]}} -> ${{D.key_tokens[j]}}: ${{w}}`;
  }}
}};
draw();
</script></body></html>
"""


# "</script" would end the <script> element early and "<!--" open an escaped state that
# hides the rest of the page; "&" and U+2028/9 go too (as Django's json_script does). JSON
# reads each escape back as the same character.
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                                 "\u2028": "\\u2028", "\u2029": "\\u2029"})


def script_safe_json(text: str) -> str:
    """JSON text that can sit inside a ``<script>`` element whatever its strings hold."""
    return text.translate(_SCRIPT_ESCAPES)


def attention_html(
    weights: Sequence[torch.Tensor],
    tokens: Sequence[str],
    *,
    query_tokens: Sequence[str] | None = None,
    title: str = "selfattn attention",
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
                       "query_tokens": [str(t) for t in query_tokens], "vmax": vmax})
    page = _PAGE.format(title=html.escape(title), data=script_safe_json(data))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(page, encoding="utf-8")
    return page
