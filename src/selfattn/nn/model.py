"""Models from a config: input vectors -> encoder (self-attention or a baseline) -> head.

The lecture's pipeline for one task [4-8]: each input becomes a vector (a learned word
embedding, a projection of feature vectors), an encoder turns the set of ``n`` vectors
into ``n`` vectors that each saw the whole set (stacked self-attention layers), and a
head reads the answer: a label per vector or one label per set.

``build_model(model_cfg, spec)`` is the one factory; ``spec`` describes the data:
``{"input": {"kind": "tokens", "vocab_sizes": [V, ...]} | {"kind": "features", "dim": D},
"task": "vector" | "set", "outputs": k, "max_len": L}``. The attention variant
(``selfattn.nn.variants.build_attention``), positional scheme
(``selfattn.positional.build_positional``) and attention pattern are each chosen by name
in ``attention_module`` / ``positional_module`` / ``pattern_mask`` below.

Shapes: ``x (B, L)`` or ``(B, L, F)`` int token ids (``F`` fields, summed embeddings), or
``(B, L, D)`` float features; ``mask (B, L)`` bool, ``True`` = real vector. Outputs:
``(B, L, k)`` per vector or ``(B, k)`` per set.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .attention import MultiHeadAttention
from .baselines import BASELINES, build_baseline
from .char_encoder import CharWordEncoder
from .encoder import EncoderLayer, run_layers
from .heads import SetHead, VectorHead
from .variants import needs_max_len

__all__ = ["PATTERNS", "AttentionEncoder", "InputEmbedding", "SetModel", "attention_module",
           "build_model", "packed_pattern_object", "packing_blocker", "pattern_mask", "pattern_object",
           "positional_module"]

PATTERNS = ("none", "window", "graph", "grid")


# -- the three named choices: one place to point at the registries ---------------------
def attention_module(name: str, width: int, heads: int, dropout: float,
                     options: dict[str, Any]) -> nn.Module:
    """The self-attention module ``name`` (``"full"`` = ``MultiHeadAttention``)."""
    from .variants import ATTENTION_VARIANTS, build_attention

    cls = ATTENTION_VARIANTS.get(name)
    supports_dropout = cls is None or getattr(cls, "supports", {}).get("dropout", True)
    kwargs = dict(options)
    if supports_dropout:
        kwargs.setdefault("dropout", dropout)
    return build_attention(name, width, heads, **kwargs)


def positional_module(name: str, width: int, heads: int, options: dict[str, Any]) -> nn.Module:
    """The positional scheme ``name`` (``.where`` says inputs or attention)."""
    from ..positional import build_positional

    return build_positional(name, d_model=width, num_heads=heads, **options)


def pattern_mask(pattern: str, length: int, *, window: int = 8, edge_index: torch.Tensor | None = None,
                 batch_size: int = 1, grids: torch.Tensor | None = None,
                 device: torch.device | None = None) -> torch.Tensor | None:
    """Dense bool mask (``True`` = may attend) for a pattern over padded sets of ``length``.

    The slow, obvious form of :func:`pattern_object`: models use it where their attention
    takes no pattern (the efficient variants) or a ``[CLS]`` vector is put in front.

    ``window``: ``|i - j| <= window``, ``(L, L)``. ``graph``: node ``i`` attends to itself
    and to every ``j`` with an edge ``j -> i``; ``edge_index (2, E)`` numbers node ``i`` of
    set ``b`` as ``b * L + i`` (``selfattn.data.collate``'s padded convention); gives
    ``(B, 1, L, L)``. ``grid``: cells within ``window`` rows and columns of each other on
    the sets' common ``grids[0]`` = (height, width) grid, ``(L, L)``.
    """
    if pattern == "none":
        return None
    pos = torch.arange(length, device=device)
    if pattern == "window":
        from ..patterns import WindowPattern

        return WindowPattern(left=window).dense_mask(length, length, device=device)
    if pattern == "grid":
        from ..patterns import Neighborhood2DPattern

        if grids is None:
            raise ValueError("grids: the 'grid' pattern needs each set's (height, width)")
        h, w = (int(v) for v in grids[0])
        if h * w != length or not bool((grids == grids[0]).all()):
            raise ValueError(f"grids: expected one grid of {length} cells for the whole batch, "
                             f"got {grids.tolist()}")
        cells = Neighborhood2DPattern(h, w, 2 * window + 1, border="clip")
        return cells.dense_mask(length, length, device=device)
    if pattern == "graph":
        if edge_index is None:
            raise ValueError("edge_index: the 'graph' pattern needs the batch's edges")
        mask = torch.zeros(batch_size, length, length, dtype=torch.bool, device=device)
        src, dst = edge_index[0], edge_index[1]
        mask[src // length, dst % length, src % length] = True
        mask[:, pos, pos] = True
        return mask[:, None]
    raise ValueError(f"pattern: expected one of {list(PATTERNS)}, got {pattern!r}")


def pattern_object(pattern: str, length: int, *, window: int = 8, edge_index: torch.Tensor | None = None,
                   batch_size: int = 1, grids: torch.Tensor | None = None) -> Any:
    """The ``selfattn.patterns`` object for a pattern over padded sets of ``length``.

    The same sets of allowed pairs as :func:`pattern_mask`, handed to ``MultiHeadAttention``
    so the dispatcher runs the exact sparse kernel where it is faster (O(L * w) for windows
    and grids, O(E) for graphs). ``graph``: one ``GraphPattern`` over all ``batch_size *
    length`` nodes of the batch (node ``i`` of set ``b`` is ``b * length + i``, with a self
    loop each), for the batch flattened into one set; see ``AttentionEncoder``.
    """
    if pattern == "none":
        return None
    if pattern == "window":
        from ..patterns import WindowPattern

        return WindowPattern(left=window)
    if pattern == "grid":
        from ..patterns import Neighborhood2DPattern

        if grids is None:
            raise ValueError("grids: the 'grid' pattern needs each set's (height, width)")
        h, w = (int(v) for v in grids[0])
        if h * w != length or not bool((grids == grids[0]).all()):
            raise ValueError(f"grids: expected one grid of {length} cells for the whole batch, "
                             f"got {grids.tolist()}")
        return Neighborhood2DPattern(h, w, 2 * window + 1, border="clip")
    if pattern == "graph":
        from ..patterns import GraphPattern

        if edge_index is None:
            raise ValueError("edge_index: the 'graph' pattern needs the batch's edges")
        nodes = batch_size * length
        loops = torch.arange(nodes, device=edge_index.device).expand(2, nodes)
        return GraphPattern(torch.cat([edge_index, loops], 1), nodes, duplicates="merge")
    raise ValueError(f"pattern: expected one of {list(PATTERNS)}, got {pattern!r}")


def packed_pattern_object(pattern: str, offsets: torch.Tensor, length: int, *, window: int = 8,
                          edge_index: torch.Tensor | None = None, grids: torch.Tensor | None = None) -> Any:
    """:func:`pattern_object` for the packed batch ``offsets`` (sets padded to ``length`` before).

    Windows and grids are the same objects (``MultiHeadAttention`` applies them inside each
    packed set); a graph is one ``GraphPattern`` over the ``N`` packed nodes, node ``i`` of set
    ``b`` renumbered from ``b * length + i`` to ``offsets[b] + i``, with a self loop each.
    """
    if pattern != "graph":
        return pattern_object(pattern, length, window=window, grids=grids)
    from ..patterns import GraphPattern

    if edge_index is None:
        raise ValueError("edge_index: the 'graph' pattern needs the batch's edges")
    nodes = int(offsets[-1])
    starts = offsets.to(edge_index.device)
    edges = starts[edge_index // length] + edge_index % length
    loops = torch.arange(nodes, device=edge_index.device).expand(2, nodes)
    return GraphPattern(torch.cat([edges, loops], 1), nodes, duplicates="merge")


def packing_blocker(cfg: dict[str, Any], task: str = "set") -> str | None:
    """Why a model config (``task`` = ``"vector"`` or ``"set"``) cannot run packed, or None.

    Packed = the encoder sees only the real vectors, ``(N, d)`` with offsets, and attention
    runs per set through ``varlen_attention`` (or the pattern's packed kernel). Pretrained
    encoders pack inside themselves; the baselines and the approximate variants (which pad
    every set again inside each layer) have no packed path; a ``[CLS]`` vector in front
    (``pooling=first``) attends to every vector, outside the pattern of a windowed set.
    """
    kind = cfg.get("kind", "transformer")
    if kind == "pretrained":
        return None
    if kind != "transformer":
        return f"model.kind={kind!r} has no packed path (transformer and pretrained only)"
    attention = cfg.get("attention", "full")
    if attention not in ("full", "mha"):
        return (f"model.attention={attention!r} is an approximate variant, which pads every set again "
                f"inside each layer; only full attention runs packed")
    if task == "set" and cfg.get("pooling") == "first" and cfg.get("pattern", "none") != "none":
        return (f"model.pattern={cfg.get('pattern')!r} with model.pooling='first': the [CLS] vector in "
                f"front attends to every vector (a dense mask, not the pattern)")
    return None


# -- modules ------------------------------------------------------------------------
class InputEmbedding(nn.Module):
    """Token ids -> sum of one embedding per field; or features -> a linear projection.

    ``spec["frozen_fields"] = {"f": dim}`` makes field ``f`` a fixed ``dim``-wide table
    (pretrained vectors, copied in by the task) followed by a learned projection to the
    model width. ``spec["chars"] = {"vocab": V, "length": C}``: the last ``C`` columns of
    ``x`` are each word's character ids, read by a :class:`CharWordEncoder` whose vector is
    added to the fields'. Float features are standardised with the ``mean``/``std`` buffers
    (set from the training data; saved with the weights).
    """

    def __init__(self, spec: dict[str, Any], dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.kind = spec["kind"]
        if self.kind == "tokens":
            frozen = {int(k): int(v) for k, v in (spec.get("frozen_fields") or {}).items()}
            self.tables = nn.ModuleList()
            self.projections = nn.ModuleDict()
            for f, v in enumerate(spec["vocab_sizes"]):
                table = nn.Embedding(v, frozen.get(f, dim), padding_idx=0)
                nn.init.normal_(table.weight, std=dim ** -0.5)
                with torch.no_grad():
                    table.weight[0].zero_()
                if f in frozen:
                    table.weight.requires_grad_(False)
                    self.projections[str(f)] = nn.Linear(frozen[f], dim, bias=False)
                self.tables.append(table)
            chars = spec.get("chars") or {}
            self.char_length = int(chars.get("length", 0))
            self.chars = CharWordEncoder(int(chars["vocab"]), dim) if self.char_length else None
        elif self.kind == "features":
            d_in = int(spec["dim"])
            self.register_buffer("mean", torch.zeros(d_in))
            self.register_buffer("std", torch.ones(d_in))
            self.proj = nn.Linear(d_in, dim)
        else:
            raise ValueError(f"spec['input']['kind']: expected 'tokens' or 'features', got {self.kind!r}")
        self.drop = nn.Dropout(dropout)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "tokens":
            if x.is_floating_point():
                raise TypeError(f"x: expected int token ids (B, L[, fields]), got {x.dtype}")
            fields = x[..., None] if x.dim() == 2 else x
            if fields.shape[-1] != len(self.tables) + self.char_length:
                chars = f" + {self.char_length} character columns" if self.char_length else ""
                raise ValueError(f"x: expected {len(self.tables)} token fields{chars}, "
                                 f"got shape {tuple(x.shape)}")
            h = 0
            for i, table in enumerate(self.tables):
                e = table(fields[..., i])
                h = h + (self.projections[str(i)](e) if str(i) in self.projections else e)
            if self.chars is not None:
                h = h + self.chars(fields[..., len(self.tables):])
        else:
            h = self.proj((x - self.mean) / self.std)
        return self.drop(h)


class AttentionEncoder(nn.Module):
    """Positions + ``depth`` self-attention layers (any variant, any positional scheme).

    ``forward(h (B, L, d), mask (B, L), attn_mask=None, return_weights=False)``; an input
    positional encoding is added first (padded slots excluded), an attention one is inside
    every layer. Returns ``(B, L, d)`` and optionally each layer's ``(B, H, L, L)`` weights.
    """

    def __init__(self, width: int, depth: int, heads: int, *, ff: int = 0, dropout: float = 0.1,
                 norm: str = "pre", attention: str = "full", attention_options: dict | None = None,
                 positional: str = "sinusoidal", positional_options: dict | None = None,
                 activation: str = "gelu") -> None:
        super().__init__()
        if norm not in ("pre", "post"):
            raise ValueError(f"norm: expected 'pre' or 'post', got {norm!r}")
        pos = positional_module(positional, width, heads, positional_options or {})
        if pos.where == "attention" and attention not in ("full", "mha"):
            raise ValueError(f"positional: {positional!r} works inside full attention only, got "
                             f"attention={attention!r}; use an input encoding (e.g. 'sinusoidal')")
        self.inputs = pos if pos.where == "inputs" else None
        self.layers = nn.ModuleList()
        for _ in range(depth):
            layer = EncoderLayer(width, heads, dim_feedforward=ff or 4 * width, dropout=dropout,
                                 activation=activation, norm_first=norm == "pre")
            layer.self_attn = attention_module(attention, width, heads, dropout, attention_options or {})
            if pos.where == "attention":
                scheme = copy.deepcopy(pos)
                for key, value in scheme.attention_kwargs(heads, width // heads).items():
                    setattr(layer.self_attn, key, value)
                layer.self_attn = scheme.attention_module(layer.self_attn)
            self.layers.append(layer)
        self.norm = nn.LayerNorm(width) if norm == "pre" else nn.Identity()

    @property
    def takes_patterns(self) -> bool:
        """Whether every layer attends through ``MultiHeadAttention`` (which takes ``pattern=``)."""
        return all(isinstance(layer.self_attn, MultiHeadAttention) for layer in self.layers)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None, return_weights: bool = False, *,
                pattern: Any = None, flatten: bool = False, **_):
        """``pattern``: a ``selfattn.patterns`` object for every layer. ``flatten``: the batch
        runs as one set of ``B * L`` vectors (a graph pattern over the whole batch keeps the
        sets apart; relative positions inside a set are unchanged); weights come back per set."""
        lengths = None if mask is None else mask.sum(1)
        if self.inputs is not None:
            h = self.inputs(h, lengths=lengths)
        b, length = h.shape[:2]
        if flatten:
            h = h.reshape(1, b * length, h.shape[2])
            mask = None if mask is None else mask.reshape(1, b * length)
        kw: dict[str, Any] = {}
        if mask is not None:
            kw["key_mask"] = mask
        if attn_mask is not None:
            kw["mask"] = attn_mask
        if pattern is not None:
            kw["pattern"] = pattern
        h, weights = run_layers(self.layers, h, return_weights, **kw)
        h = self.norm(h)
        if flatten:
            h = h.reshape(b, length, h.shape[2])
            # each set's own (H, L, L) block of the (1, H, B*L, B*L) weights
            weights = [torch.stack([w[0, :, i * length:(i + 1) * length, i * length:(i + 1) * length]
                                    for i in range(b)]) for w in weights]
        return (h, weights) if return_weights else h

    def forward_packed(self, h: torch.Tensor, offsets: torch.Tensor, *, pattern: Any = None,
                       flatten: bool = False) -> torch.Tensor:
        """Packed ``h (N, d)`` with set ``offsets (B + 1,)`` -> ``(N, d)``: input positions restart
        in every set, each layer attends per set (``varlen_attention``, or ``pattern``'s packed
        kernel: a window or grid inside each set). ``flatten``: the layers see one set of ``N``
        vectors (a graph pattern over the packed nodes keeps the sets apart; relative positions
        inside a set are unchanged)."""
        if self.inputs is not None:
            h = self.inputs(h, offsets)
        if flatten:
            offsets = offsets.new_tensor([0, h.shape[0]])
        kw: dict[str, Any] = {"offsets": offsets}
        if pattern is not None:
            kw["pattern"] = pattern
        for layer in self.layers:
            h = layer(h, **kw)
        return self.norm(h)


class SetModel(nn.Module):
    """embedding -> encoder -> head, for per-vector (``task="vector"``) or per-set outputs.

    ``forward(x, mask, edge_index=None, grids=None, return_weights=False)``. With
    ``cls=True`` a learned vector is put in front of every set (read by ``first`` pooling).
    Regression outputs are de-standardised with the ``target_mean``/``target_std`` buffers.

    ``packed=True`` (``trainer.packed``): the padding is removed once after the embeddings,
    the encoder runs on the ``(N, d)`` real vectors (:meth:`AttentionEncoder.forward_packed`)
    and the result is padded once for the head (a per-vector head runs packed and only its
    outputs are padded; padded slots hold zeros). The same values on real vectors as the
    padded path, which is kept for ``return_weights=True`` (the attention maps of reports)
    and for ``sparse=False``.
    """

    def __init__(self, embed: nn.Module, encoder: nn.Module, head: nn.Module, task: str,
                 width: int, pattern: str = "none", window: int = 8, cls: bool = False,
                 outputs: int = 1, packed: bool = False) -> None:
        super().__init__()
        if packed and not isinstance(encoder, AttentionEncoder):
            raise ValueError(f"packed: expected an AttentionEncoder to run packed, got "
                             f"{type(encoder).__name__}")
        self.packed = packed
        self.embed, self.encoder, self.head = embed, encoder, head
        self.task, self.pattern, self.window = task, pattern, window
        # patterns go to the attention as pattern objects (sparse kernels where faster); False:
        # as dense masks, the slow twin the tests compare with
        self.sparse = True
        self.cls = nn.Parameter(torch.randn(width) * width ** -0.5) if cls else None
        self.register_buffer("target_mean", torch.zeros(outputs))
        self.register_buffer("target_std", torch.ones(outputs))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *,
                edge_index: torch.Tensor | None = None, grids: torch.Tensor | None = None,
                return_weights: bool = False):
        h = self.embed(x)
        b, length = h.shape[:2]
        if mask is None:
            mask = torch.ones(b, length, dtype=torch.bool, device=h.device)
        if self.packed and self.sparse and not return_weights:
            return self._forward_packed(h, mask, edge_index, grids)
        attn_mask, extra = None, {}
        if (self.sparse and self.cls is None and self.pattern != "none"
                and getattr(self.encoder, "takes_patterns", False)):
            extra = {"pattern": pattern_object(self.pattern, length, window=self.window,
                                               edge_index=edge_index, batch_size=b, grids=grids),
                     "flatten": self.pattern == "graph"}
        else:
            attn_mask = pattern_mask(self.pattern, length, window=self.window, edge_index=edge_index,
                                     batch_size=b, grids=grids, device=h.device)
        if self.cls is not None:
            h = torch.cat([self.cls.to(h.dtype).expand(b, 1, -1), h], 1)
            mask = torch.cat([mask.new_ones(b, 1), mask], 1)
            if attn_mask is not None:
                attn_mask = nn.functional.pad(attn_mask, (1, 0, 1, 0), value=True)
        res = self.encoder(h, mask=mask, attn_mask=attn_mask, grids=grids, return_weights=return_weights,
                           **extra)
        h, weights = res if return_weights else (res, None)
        if self.task == "vector":
            out = self.head(h[:, 1:] if self.cls is not None else h)
        else:
            out = self.head(h, mask)
        return (out, weights) if return_weights else out

    def _forward_packed(self, h: torch.Tensor, mask: torch.Tensor, edge_index: torch.Tensor | None,
                        grids: torch.Tensor | None) -> torch.Tensor:
        from ..varlen import pack, pad

        b, length = h.shape[:2]
        pattern = None
        if self.cls is not None:
            h = torch.cat([self.cls.to(h.dtype).expand(b, 1, -1), h], 1)
            mask = torch.cat([mask.new_ones(b, 1), mask], 1)
        values, offsets = pack(h, mask=mask)
        if self.pattern != "none":
            pattern = packed_pattern_object(self.pattern, offsets, length, window=self.window,
                                            edge_index=edge_index, grids=grids)
        out = self.encoder.forward_packed(values, offsets, pattern=pattern, flatten=self.pattern == "graph")
        if self.task == "vector":
            return pad(self.head(out), offsets, max_len=length)[0]
        return self.head(pad(out, offsets, max_len=h.shape[1])[0], mask)

    def denormalize(self, out: torch.Tensor) -> torch.Tensor:
        """Regression outputs in the target's own units."""
        return out * self.target_std + self.target_mean


def build_model(cfg: dict[str, Any], spec: dict[str, Any]) -> SetModel:
    """A :class:`SetModel` from a model config (see ``selfattn.train.config``) and a data spec."""
    kind, width = cfg["kind"], int(cfg["width"])
    dropout = float(cfg.get("dropout", 0.1))
    task, outputs = spec["task"], int(spec["outputs"])
    cls = task == "set" and cfg.get("pooling") == "first"
    if kind == "pretrained":
        from .pretrained import load_pretrained

        encoder = load_pretrained(cfg["pretrained"])
        embed: nn.Module = nn.Identity()
        width = encoder.width
        cls = False  # the tokenizer already puts [CLS] first
    else:
        embed = InputEmbedding(spec["input"], width, dropout)
        if kind == "transformer":
            options = dict(cfg.get("attention_options") or {})
            if isinstance(cfg.get("attention"), str) and needs_max_len(cfg["attention"]):
                options.setdefault("max_len", int(spec.get("max_len", 512)) + int(cls))
            encoder = AttentionEncoder(
                width, int(cfg["depth"]), int(cfg["heads"]), ff=int(cfg.get("ff") or 0), dropout=dropout,
                norm=cfg.get("norm", "pre"), attention=cfg.get("attention", "full"),
                attention_options=options, positional=cfg.get("positional", "sinusoidal"),
                positional_options=cfg.get("positional_options") or {})
        elif kind in BASELINES:
            encoder = build_baseline(kind, width, width, depth=int(cfg["depth"]), dropout=dropout,
                                     window=int(cfg.get("window", 2)), kernel=int(cfg.get("conv_kernel", 3)),
                                     bidirectional=bool(cfg.get("bidirectional", True)))
        else:
            raise ValueError(f"model.kind: expected one of {['transformer', 'pretrained', *BASELINES]}, "
                             f"got {kind!r}")
    if task == "vector":
        head: nn.Module = VectorHead(width, outputs, int(cfg.get("head_hidden", 0)), dropout)
    elif task == "set":
        head = SetHead(width, outputs, cfg.get("pooling", "mean"), int(cfg.get("head_hidden", 0)), dropout)
    else:
        raise ValueError(f"spec['task']: expected 'vector' or 'set' (seq2seq: selfattn.nn.seq2seq), "
                         f"got {task!r}")
    pattern = cfg.get("pattern", "none") if kind == "transformer" else "none"
    packed = bool(cfg.get("packed", False))
    if packed:
        reason = packing_blocker(cfg, task)
        if reason:
            raise ValueError(f"packed: {reason}")
    return SetModel(embed, encoder, head, task, width, pattern, int(cfg.get("window", 8)), cls, outputs,
                    packed=packed and kind == "transformer")
