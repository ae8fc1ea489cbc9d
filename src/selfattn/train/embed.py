"""Sentence embeddings from a pretrained (or fine-tuned) encoder: ``selfattn embed``.

A sentence vector is the mean of the encoder's output vectors over the sentence's real
tokens, then scaled to unit length, the pooling sentence-transformers ships with
all-MiniLM-L6-v2 (``modules.json``: Transformer, mean Pooling, Normalize), so the vectors
equal ``SentenceTransformer(folder).encode(texts)`` (checked in the tests). Cosine
similarity of two sentences is then the dot product of their vectors.

Texts are sorted by token count and cut into batches of similar length; each batch runs
packed (``PretrainedEncoder.encode_packed``: no padding at all) and the mean is a
segment sum over the packed ``(N, d)`` rows. The result comes back in input order.

Shapes: ``texts`` a list of ``n`` strings -> ``(n, hidden)`` float32.
``selfattn embed RUN_OR_MODEL_DIR FILE [--out OUT.npy|.tsv]``: one vector per line of FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError

__all__ = ["SentenceSettings", "embed_texts", "load_sentence_encoder"]


class SentenceSettings(dict):
    """``max_len`` (tokens kept, the last one [SEP]), ``pooling`` (``mean`` | ``cls``),
    ``normalize`` (unit length), read from a sentence-transformers folder when it has them."""


def _settings(folder: Path, encoder: Any) -> SentenceSettings:
    out = SentenceSettings(max_len=encoder.max_length, pooling="mean", normalize=True)
    st = folder / "sentence_bert_config.json"
    if st.is_file():
        out["max_len"] = min(int(json.loads(st.read_text(encoding="utf-8"))["max_seq_length"]),
                             encoder.max_length)
    modules = folder / "modules.json"
    if modules.is_file():
        kinds = [m["type"].rsplit(".", 1)[-1] for m in json.loads(modules.read_text(encoding="utf-8"))]
        out["normalize"] = "Normalize" in kinds
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file():
        modes = {k for k, v in json.loads(pooling.read_text(encoding="utf-8")).items()
                 if k.startswith("pooling_mode_") and v is True}
        known = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
        if len(modes) != 1 or not modes <= set(known):
            raise ConfigError(f"{pooling}: expected one of {sorted(known)} set to true, got {sorted(modes)}")
        out["pooling"] = known[modes.pop()]
    return out


def load_sentence_encoder(source: str | Path) -> tuple[Any, SentenceSettings]:
    """``(PretrainedEncoder in eval mode, settings)`` from a run directory of a ``model.kind=
    pretrained`` run (its fine-tuned encoder), a checkpoint folder, or a name (``minilm``)."""
    from .tasks.pretrained_models import pretrained_folder

    path = Path(source)
    if (path / "config.yaml").is_file() and (path / "spec.json").is_file():
        from .loading import load_run

        cfg, *_, model = load_run(path)
        if cfg["model"]["kind"] != "pretrained":
            raise ConfigError(f"RUN_OR_MODEL_DIR: expected a run with model.kind=pretrained (a sentence "
                              f"encoder), {path} has model.kind={cfg['model']['kind']!r}")
        encoder, folder = model.encoder, pretrained_folder(cfg["model"]["pretrained"])
    else:
        from ..nn.pretrained import load_pretrained

        folder = pretrained_folder(source)
        encoder = load_pretrained(folder)
    if encoder.tokenizer is None:
        raise FileNotFoundError(f"RUN_OR_MODEL_DIR: expected tokenizer.json in {folder}, it is missing")
    return encoder.eval(), _settings(folder, encoder)


def embed_texts(source: Any, texts: list[str], *, batch_size: int = 64, max_len: int | None = None,
                normalize: bool | None = None, progress: bool | None = None) -> torch.Tensor:
    """``(len(texts), hidden)`` sentence vectors; ``source`` is a ``PretrainedEncoder``, a run
    or checkpoint folder or a name. ``max_len``/``normalize`` override the folder's settings;
    ``progress``: a bar on stderr (default: only when stderr is a terminal)."""
    if isinstance(source, torch.nn.Module):
        encoder, settings = source.eval(), SentenceSettings(max_len=source.max_length, pooling="mean",
                                                            normalize=True)
    else:
        encoder, settings = load_sentence_encoder(source)
    if batch_size < 1:
        raise ValueError(f"batch_size: expected at least 1, got {batch_size}")
    ids = encoder.encode_texts(list(texts), max_len or settings["max_len"])
    unit = settings["normalize"] if normalize is None else normalize
    out = torch.zeros(len(ids), encoder.width)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # batches of similar length
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        from tqdm import tqdm

        batches = tqdm(batches, desc="embed", unit="batch", file=sys.stderr)
    with torch.inference_mode():
        for rows in batches:
            lengths = torch.tensor([len(ids[i]) for i in rows])
            offsets = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
            h = encoder.encode_packed(torch.cat([ids[i] for i in rows]), offsets)
            if settings["pooling"] == "cls":
                pooled = h[offsets[:-1]]
            else:  # a segment mean over the packed rows
                seg = torch.repeat_interleave(torch.arange(len(rows)), lengths)
                sums = h.new_zeros(len(rows), h.shape[1]).index_add_(0, seg, h)
                pooled = sums / lengths[:, None].to(h.dtype)
            if unit:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[torch.tensor(rows)] = pooled.float()
    return out


_EMBED_HELP = """\
Sentence vectors from a pretrained (or fine-tuned) encoder: the mean of its output vectors
over each line's tokens, scaled to unit length, so the dot product of two vectors is the
cosine similarity of their sentences.

examples:
  selfattn embed minilm sentences.txt --out vectors.npy
  cat sentences.txt | selfattn embed runs/sentiment-minilm - --out -
"""


def add_subparser(sub) -> None:
    """``selfattn embed RUN_OR_MODEL_DIR FILE``."""
    p = sub.add_parser("embed", help="sentence vectors (mean pooling, unit length) for each line of a file",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=_EMBED_HELP)
    p.add_argument("source", metavar="RUN_OR_MODEL_DIR",
                   help="a 'selfattn train' run with model.kind=pretrained, a checkpoint folder, or 'minilm'")
    p.add_argument("file", metavar="FILE",
                   help="text, one sentence per line (every line, empty ones too); - = stdin")
    p.add_argument("--out", help="OUT.npy (float32, one row per line; default FILE.npy) or OUT.tsv; "
                   "- = tsv on stdout")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-len", type=int, default=None, help="tokens kept per line (default: the model's)")
    p.add_argument("--no-normalize", action="store_true", help="keep the mean vectors' own lengths")
    p.set_defaults(func=_run)


def _run(args) -> int:
    if args.file == "-":
        text = sys.stdin.read()
    else:
        path = Path(args.file)
        if not path.is_file():
            raise FileNotFoundError(f"FILE: expected a text file, {path} does not exist")
        text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out = args.out or ("-" if args.file == "-" else args.file + ".npy")
    if not (out == "-" or out.endswith((".npy", ".tsv"))):
        raise ValueError(f"--out: expected a path ending in .npy or .tsv (or -), got {out!r}")
    vectors = embed_texts(args.source, lines, batch_size=args.batch_size, max_len=args.max_len,
                          normalize=False if args.no_normalize else None)
    if out.endswith(".npy"):
        import numpy as np

        np.save(out, vectors.numpy())
    else:
        rows = "".join("\t".join(f"{v:.7g}" for v in row) + "\n" for row in vectors.tolist())
        if out == "-":
            sys.stdout.write(rows)
        else:
            Path(out).write_text(rows, encoding="utf-8")
    if out != "-":
        print(f"{len(lines)} vectors of {vectors.shape[1]} -> {out}", file=sys.stderr)
    return 0
