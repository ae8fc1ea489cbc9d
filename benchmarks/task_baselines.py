"""The simplest strong baseline of each training preset, on the preset's own split.

Issue 15 ("Then re-measure"): beside each row of the results table, show the baseline a
user would try first, run on the SAME train / validation / test split the self-attention
model trains on. Every split here comes from the task's own data build
(``get_task(cfg["task"]).build(resolve_config(preset))``); where the baseline wants the raw
input (words, texts, SMILES) it is read back through each example's ``source`` (file and
row), and its label is checked against the example's ``y``. Hyper-parameters are chosen on
the validation split only; the model fitted on the training split with them is scored once
on the test split, with the metric the preset reports (``_HEADLINES`` in
``selfattn.train.cli``).

Baselines:

* ``pos``, ``pos-oanc`` (token accuracy): the most frequent training tag of each word
  (exact spelling; a word never seen in training gets the most frequent training tag);
  and the same plus a suffix rule for unknown words: the lower-cased word's tag if seen,
  else the most frequent tag of *rare* training words (seen once) with the same shape
  (capitalised / digits / hyphen / lower) and the same last ``k`` letters, backing off
  to shorter suffixes; ``k`` (1-4) chosen on validation.
* ``sentiment`` (accuracy): TF-IDF of word unigrams and bigrams (the task's own
  tokeniser) + logistic regression (scikit-learn), ``C`` (1-64) and raw or sublinear
  (1 + log) term frequencies chosen on validation.
* ``molecule-bbb`` (ROC-AUC), ``freesolv`` / ``solubility`` (RMSE): RDKit Morgan
  fingerprints (radius 2, 2048 bits) + a random forest (300 trees), ``max_features`` and
  ``min_samples_leaf`` chosen on validation.
* ``polblogs`` (node accuracy): logistic regression on each node's adjacency row (which
  blogs it links to / is linked from) over the same labelled train / validation / test
  nodes of the largest component, ``C`` chosen on validation.
* ``speaker`` (accuracy): the mean and standard deviation over an utterance's frames of
  each feature, standardised, + logistic regression, ``C`` chosen on validation (skipped
  with a note when the data cannot be built: espeak-ng missing).
* ``fashion-mnist`` (accuracy): logistic regression on the 784 pixels (the patches
  flattened; the preset's random flips are training-time augmentation and are not
  applied), ``C`` (0.1 or 1) chosen on validation; L-BFGS capped at 150 iterations to
  fit the time box (about 2 minutes a fit on the shared cores). ``--skip-slow`` leaves it out.

Everything runs on one thread (``n_jobs=1``, one torch thread) and is seeded
(``random_state=0``). Run: ``python benchmarks/task_baselines.py [PRESET ...]`` (all: about 9
CPU minutes, 20 wall minutes on the shared 2-core machine; B3DB's forests and
Fashion-MNIST take most of it). A run of some presets keeps the other presets' rows. Writes
``benchmarks/results/task_baselines.json`` (``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import re
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PRESETS = ("pos", "pos-oanc", "sentiment", "molecule-bbb", "freesolv", "solubility", "polblogs",
           "speaker", "fashion-mnist")
SLOW = ("fashion-mnist",)
SEED = 0


# -- choosing on validation ------------------------------------------------------------
def select_on_validation(grid: Iterable[dict[str, Any]], fit: Callable[[dict[str, Any]], Any],
                         score: Callable[[Any], float], higher_is_better: bool = True
                         ) -> tuple[dict[str, Any], Any, float, list[dict[str, Any]]]:
    """Fit each ``params`` of ``grid`` and score it on validation; the best (the first on ties),
    its fitted model, its validation score and every tried ``{"params", "validation"}``."""
    best = None
    tried = []
    for params in grid:
        model = fit(params)
        value = float(score(model))
        tried.append({"params": params, "validation": value})
        better = best is None or (value > best[2] if higher_is_better else value < best[2])
        if better:
            best = (params, model, value)
    if best is None:
        raise ValueError("grid: expected at least one set of hyper-parameters")
    return (*best, tried)


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"expected two equal, non-empty label arrays, got {y_true.shape} and {y_pred.shape}")
    return float((y_true == y_pred).mean())


def rmse(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    diff = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    return float(math.sqrt(np.mean(diff ** 2)))


# -- POS: most frequent tag per word ---------------------------------------------------
def _shape(word: str) -> str:
    if any(ch.isdigit() for ch in word):
        return "digit"
    if "-" in word:
        return "hyphen"
    if word[:1].isupper():
        return "cap"
    if not any(ch.isalpha() for ch in word):
        return "punct"
    return "lower"


def _argmax(counts: Counter) -> str:
    """The most frequent key; ties broken by the key's sort order (deterministic)."""
    return min(counts, key=lambda k: (-counts[k], k))


class MostFrequentTag:
    """Tag each word with its most frequent training tag.

    ``suffix=0``: a word never seen in training (exact spelling) gets the most frequent
    training tag. ``suffix=k``: an unknown word is looked up lower-cased, then by its shape
    and last ``k``, ``k - 1``, ..., 0 lower-cased letters among the training words seen
    once (rare words stand in for unseen ones), then gets the most frequent tag.
    """

    def __init__(self, suffix: int = 0) -> None:
        if suffix < 0:
            raise ValueError(f"suffix: expected a length >= 0, got {suffix}")
        self.suffix = int(suffix)

    def fit(self, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> MostFrequentTag:
        words: dict[str, Counter] = defaultdict(Counter)
        lower: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for sentence, sentence_tags in zip(sentences, tags, strict=True):
            if len(sentence) != len(sentence_tags):
                raise ValueError(f"expected one tag per word, got {len(sentence)} words and "
                                 f"{len(sentence_tags)} tags")
            for word, tag in zip(sentence, sentence_tags, strict=True):
                words[word][tag] += 1
                lower[word.lower()][tag] += 1
                overall[tag] += 1
        if not overall:
            raise ValueError("expected at least one tagged word to learn from")
        self.default = _argmax(overall)
        self.table = {w: _argmax(c) for w, c in words.items()}
        self.lower_table = {w: _argmax(c) for w, c in lower.items()}
        guesses: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for word, counts in words.items():
            if self.suffix and sum(counts.values()) == 1:
                low = word.lower()
                for k in range(self.suffix + 1):
                    guesses[(_shape(word), low[len(low) - k:] if k else "")][_argmax(counts)] += 1
        self.guesses = {key: _argmax(c) for key, c in guesses.items()}
        return self

    def tag_word(self, word: str) -> str:
        if word in self.table:
            return self.table[word]
        if not self.suffix:
            return self.default
        low = word.lower()
        if low in self.lower_table:
            return self.lower_table[low]
        for k in range(min(self.suffix, len(low)), -1, -1):
            key = (_shape(word), low[len(low) - k:] if k else "")
            if key in self.guesses:
                return self.guesses[key]
        return self.default

    def predict(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        return [[self.tag_word(w) for w in sentence] for sentence in sentences]

    def token_accuracy(self, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> float:
        predicted = [t for s in self.predict(sentences) for t in s]
        return accuracy([t for s in tags for t in s], predicted)


# -- sentiment: TF-IDF + logistic regression -------------------------------------------
def tfidf_logistic(C: float = 1.0, ngrams: tuple[int, int] = (1, 2), sublinear_tf: bool = False,
                   tokenizer: Callable | None = None):
    """A scikit-learn pipeline: TF-IDF of word n-grams (``tokenizer``: default the sentiment
    task's ``tokenize_words``; ``sublinear_tf``: 1 + log of the counts) + logistic regression
    with inverse regularisation ``C``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if tokenizer is None:
        from selfattn.data.sentiment import tokenize_words as tokenizer
    return make_pipeline(
        TfidfVectorizer(tokenizer=tokenizer, token_pattern=None, lowercase=False, ngram_range=ngrams,
                        sublinear_tf=sublinear_tf),
        LogisticRegression(C=C, max_iter=2000, random_state=SEED))


def fit_tfidf(train_texts: Sequence[str], train_y: Sequence, validation_texts: Sequence[str],
              validation_y: Sequence, Cs: Sequence[float] = (1, 2, 4, 8, 16, 32, 64),
              ngrams: tuple[int, int] = (1, 2), sublinear: Sequence[bool] = (False, True),
              tokenizer: Callable | None = None):
    """``select_on_validation`` over ``C`` and ``sublinear_tf``: (params, fitted pipeline,
    validation accuracy, tried)."""
    return select_on_validation(
        [{"C": c, "ngrams": list(ngrams), "sublinear_tf": s} for s in sublinear for c in Cs],
        lambda p: tfidf_logistic(p["C"], ngrams, p["sublinear_tf"], tokenizer).fit(list(train_texts),
                                                                                 list(train_y)),
        lambda m: accuracy(validation_y, m.predict(list(validation_texts))))


# -- reading each preset's split -------------------------------------------------------
def build_preset(preset: str):
    """The preset's config and its task's data build: the split the model trains on."""
    from selfattn.train.config import resolve_config
    from selfattn.train.tasks import get_task

    cfg = resolve_config(preset)
    return cfg, get_task(cfg["task"]).build(cfg)


def _labels(part) -> np.ndarray:
    return np.array([e.y.item() for e in part.examples])


def _sizes(data) -> dict[str, int]:
    return {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)}


def run_pos(preset: str) -> list[dict]:
    from selfattn.data import load_pos

    cfg, data = build_preset(preset)
    d = cfg["data"]
    corpus = load_pos(d["corpus"], d["path"], d["tagset"])
    classes = data.state["classes"]

    def words_and_tags(part):
        sentences, tags = [], []
        for e in part.examples:
            source, _, number = e.source.rpartition(":")
            if source != corpus.source:
                raise ValueError(f"{e.source}: expected a sentence of {corpus.source}")
            i = int(number) - 1
            tags_y = [classes[int(t)] for t in e.y]
            if tags_y != corpus.tags[i]:
                raise ValueError(f"{e.source}: the example's tags differ from the corpus's")
            sentences.append(corpus.sentences[i])
            tags.append(tags_y)
        return sentences, tags

    train, validation, test = (words_and_tags(p) for p in (data.train, data.validation, data.test))
    sizes = {**_sizes(data), **{f"{k}_tokens": sum(map(len, s[0])) for k, s in
                                (("train", train), ("validation", validation), ("test", test))}}
    known = {w for s in train[0] for w in s}
    unknown = sum(w not in known for s in test[0] for w in s) / sizes["test_tokens"]
    rows = []
    for name, grid in (("most-frequent-tag (unknown word: most frequent tag)", [{"suffix": 0}]),
                       ("most-frequent-tag + suffix rule for unknown words",
                        [{"suffix": k} for k in (1, 2, 3, 4)])):
        start = time.perf_counter()
        params, model, val, tried = select_on_validation(
            grid, lambda p: MostFrequentTag(p["suffix"]).fit(*train),
            lambda m: m.token_accuracy(*validation))
        rows.append({"baseline": name, "params": params, "metric": "token accuracy",
                     "validation": val, "test": model.token_accuracy(*test), "tried": tried,
                     "sizes": sizes, "test_unknown_word_fraction": round(unknown, 4),
                     "seconds": time.perf_counter() - start})
    return rows


def run_sentiment(preset: str) -> list[dict]:
    from selfattn.data.sentiment import load_rotten_tomatoes

    cfg, data = build_preset(preset)
    if cfg["data"]["source"] != "rotten-tomatoes":
        raise ValueError(f"{preset}: expected the rotten-tomatoes source, got {cfg['data']['source']!r}")
    texts = load_rotten_tomatoes(cfg["data"]["path"])
    text_of = dict(zip(texts.sources, texts.texts, strict=True))
    label_of = dict(zip(texts.sources, texts.labels, strict=True))

    def part(p):
        for e in p.examples:
            if label_of[e.source] != e.y.item():
                raise ValueError(f"{e.source}: the example's label differs from the file's")
        return [text_of[e.source] for e in p.examples], _labels(p)

    train, validation, test = (part(p) for p in (data.train, data.validation, data.test))
    start = time.perf_counter()
    params, model, val, tried = fit_tfidf(*train, *validation)
    return [{"baseline": "TF-IDF word uni+bigrams + logistic regression", "params": params,
             "metric": "accuracy", "validation": val, "test": accuracy(test[1], model.predict(test[0])),
             "tried": tried, "sizes": _sizes(data), "seconds": time.perf_counter() - start}]


def _molecules(data) -> list[list]:
    """The RDKit molecule of each example of the three splits, read back from its source
    (``file:row`` of a SMILES table, or ``file record N`` of an SDF file)."""
    from rdkit import Chem, RDLogger

    tables: dict[str, dict[int, str]] = {}
    sdf: dict[str, list] = {}
    out = []
    RDLogger.DisableLog("rdApp.*")
    try:
        for part in (data.train, data.validation, data.test):
            mols = []
            for e in part.examples:
                record = re.fullmatch(r"(.*) record (\d+)", e.source)
                if record:
                    file, number = record.group(1), int(record.group(2))
                    if file not in sdf:
                        sdf[file] = list(Chem.SDMolSupplier(file))
                    mol = sdf[file][number - 1]
                    if abs(float(mol.GetProp("SOL")) - e.y.item()) > 1e-4:
                        raise ValueError(f"{e.source}: the example's target differs from the file's")
                else:
                    file, _, number = e.source.rpartition(":")
                    if file not in tables:
                        with open(file, newline="", encoding="utf-8") as handle:
                            reader = csv.DictReader(handle, delimiter="\t" if file.endswith(".tsv") else ",")
                            column = next(c for c in reader.fieldnames if c.lower() == "smiles")
                            tables[file] = {n: row[column].strip() for n, row in enumerate(reader, start=2)}
                    mol = Chem.MolFromSmiles(tables[file][int(number)])
                if mol is None or mol.GetNumAtoms() != len(e):
                    raise ValueError(f"{e.source}: expected a molecule of {len(e)} atoms")
                mols.append(mol)
            out.append(mols)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return out


def morgan_fingerprints(mols: Sequence, radius: int = 2, bits: int = 2048) -> np.ndarray:
    """``(len(mols), bits)`` uint8 Morgan (ECFP4 for radius 2) bit vectors."""
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    return np.stack([generator.GetFingerprintAsNumPy(m).astype(np.uint8) for m in mols])


def run_molecule(preset: str) -> list[dict]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.metrics import roc_auc_score

    _, data = build_preset(preset)
    start = time.perf_counter()
    x_train, x_val, x_test = (morgan_fingerprints(m) for m in _molecules(data))
    y_train, y_val, y_test = (_labels(p) for p in (data.train, data.validation, data.test))
    classification = data.state.get("classes") is not None
    grid = [{"n_estimators": 300, "max_features": f, "min_samples_leaf": leaf}
            for f in ("sqrt", 0.1) for leaf in (1, 3)]
    if classification:
        if len(data.state["classes"]) != 2:
            raise ValueError(f"{preset}: expected two classes for ROC-AUC, got {data.state['classes']}")
        params, model, val, tried = select_on_validation(
            grid, lambda p: RandomForestClassifier(**p, n_jobs=1, random_state=SEED).fit(x_train, y_train),
            lambda m: roc_auc_score(y_val, m.predict_proba(x_val)[:, 1]))
        metric, test = "ROC-AUC", roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    else:
        params, model, val, tried = select_on_validation(
            grid, lambda p: RandomForestRegressor(**p, n_jobs=1, random_state=SEED).fit(x_train, y_train),
            lambda m: rmse(y_val, m.predict(x_val)), higher_is_better=False)
        metric, test = "RMSE", rmse(y_test, model.predict(x_test))
    return [{"baseline": "Morgan fingerprints (r=2, 2048 bits) + random forest", "params": params,
             "metric": metric, "validation": val, "test": float(test), "tried": tried,
             "sizes": _sizes(data), "seconds": time.perf_counter() - start}]


def _logistic_grid(x_train, y_train, x_val, y_val, Cs, scale: bool, max_iter: int = 1000):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(p):
        steps = [StandardScaler()] if scale else []
        with warnings.catch_warnings():  # a capped max_iter (Fashion-MNIST) is recorded, not warned
            warnings.simplefilter("ignore", ConvergenceWarning)
            return make_pipeline(*steps, LogisticRegression(C=p["C"], max_iter=max_iter, random_state=SEED)
                                 ).fit(x_train, y_train)

    return select_on_validation([{"C": c} for c in Cs], fit, lambda m: accuracy(y_val, m.predict(x_val)))


def run_polblogs(preset: str) -> list[dict]:
    _, data = build_preset(preset)
    start = time.perf_counter()
    graph = data.train.examples[0]
    n = len(graph)
    adjacency = np.zeros((n, n), dtype=np.float32)
    src, dst = graph.edge_index.numpy()
    adjacency[src, dst] = 1.0
    adjacency[dst, src] = 1.0  # links in either direction

    def nodes(part):
        y = part.examples[0].y.numpy()
        picked = np.flatnonzero(y != -100)
        return adjacency[picked], y[picked]

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (nodes(p) for p in
                                                            (data.train, data.validation, data.test))
    params, model, val, tried = _logistic_grid(x_train, y_train, x_val, y_val, (0.01, 0.1, 1, 10, 100), False)
    sizes = {"nodes": n, "train": len(y_train), "validation": len(y_val), "test": len(y_test)}
    return [{"baseline": "logistic regression on adjacency rows", "params": params, "metric": "node accuracy",
             "validation": val, "test": accuracy(y_test, model.predict(x_test)), "tried": tried,
             "sizes": sizes, "seconds": time.perf_counter() - start}]


def run_speaker(preset: str) -> list[dict]:
    _, data = build_preset(preset)
    start = time.perf_counter()

    def pooled(part):
        x = np.stack([np.concatenate([e.x.double().mean(0).numpy(), e.x.double().std(0).numpy()])
                      for e in part.examples])
        return x, _labels(part)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (pooled(p) for p in
                                                            (data.train, data.validation, data.test))
    params, model, val, tried = _logistic_grid(x_train, y_train, x_val, y_val, (0.01, 0.1, 1, 10), True)
    return [{"baseline": "mean+std of frame features + logistic regression", "params": params,
             "metric": "accuracy", "validation": val, "test": accuracy(y_test, model.predict(x_test)),
             "tried": tried, "sizes": _sizes(data), "seconds": time.perf_counter() - start}]


FASHION_CS, FASHION_MAX_ITER = (0.1, 1.0), 150


def run_fashion(preset: str) -> list[dict]:
    _, data = build_preset(preset)
    start = time.perf_counter()

    def pixels(part):
        return np.stack([e.x.reshape(-1).numpy() for e in part.examples]), _labels(part)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (pixels(p) for p in
                                                            (data.train, data.validation, data.test))
    params, model, val, tried = _logistic_grid(x_train, y_train, x_val, y_val, FASHION_CS, False,
                                               FASHION_MAX_ITER)
    params = {**params, "max_iter": FASHION_MAX_ITER}
    return [{"baseline": "logistic regression on pixels", "params": params, "metric": "accuracy",
             "validation": val, "test": accuracy(y_test, model.predict(x_test)), "tried": tried,
             "sizes": _sizes(data), "seconds": time.perf_counter() - start}]


RUNNERS: dict[str, Callable[[str], list[dict]]] = {
    "pos": run_pos, "pos-oanc": run_pos, "sentiment": run_sentiment, "molecule-bbb": run_molecule,
    "freesolv": run_molecule, "solubility": run_molecule, "polblogs": run_polblogs,
    "speaker": run_speaker, "fashion-mnist": run_fashion}


def _number(value: float, metric: str) -> str:
    if metric == "ROC-AUC":
        return f"{value:.4f}"
    if metric == "RMSE":
        return f"{value:.3f}"
    return f"{100 * value:.2f}%"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("presets", nargs="*", metavar="PRESET",
                        help=f"presets to run (default: all of {', '.join(PRESETS)})")
    parser.add_argument("--skip-slow", action="store_true", help=f"leave out {', '.join(SLOW)}")
    parser.add_argument("--out", type=Path, default=RESULTS / "task_baselines.json")
    args = parser.parse_args(argv)
    unknown = [p for p in args.presets if p not in RUNNERS]
    if unknown:
        parser.error(f"PRESET: expected some of {', '.join(PRESETS)}, got {', '.join(unknown)}")
    import sklearn
    import torch

    torch.set_num_threads(1)
    presets = [p for p in (args.presets or PRESETS) if not (args.skip_slow and p in SLOW)]
    given = list(argv) if argv is not None else sys.argv[1:]
    command = " ".join(["python", "benchmarks/task_baselines.py", *given])
    date = datetime.date.today().isoformat()
    rows, skipped = [], []
    for preset in presets:
        start = time.perf_counter()
        try:
            found = RUNNERS[preset](preset)
        except Exception as error:  # data not available here (espeak-ng missing): say so, go on
            if type(error).__name__ != "DataUnavailableError":
                raise
            skipped.append({"preset": preset, "reason": str(error)})
            print(f"{preset}: skipped ({error})", flush=True)
            continue
        total = time.perf_counter() - start
        for row in found:
            row.update(preset=preset, seconds=round(row["seconds"], 1), seconds_with_data=round(total, 1),
                       command=command, date=date)
            rows.append(row)
            val, test = (_number(row[k], row["metric"]) for k in ("validation", "test"))
            print(f"{preset:13s} {row['baseline']:55s} {row['metric']:15s} val {val:>8s} test {test:>8s}"
                  f"  {row['params']}  {row['seconds']} s", flush=True)
    result = {"description": __doc__.split("\n\n")[0], "command": command, "date": date, "seed": SEED,
              "versions": {"sklearn": sklearn.__version__, "torch": torch.__version__,
                           "rdkit": _rdkit_version(), "python": sys.version.split()[0]},
              "threads": 1, "rows": [{k: row[k] for k in ("preset", *sorted(set(row) - {"preset"}))}
                                     for row in rows], "skipped": skipped}
    if args.out.exists() and args.presets:  # a partial run keeps the other presets' rows
        old = json.loads(args.out.read_text(encoding="utf-8"))
        result["rows"] = [r for r in old.get("rows", []) if r["preset"] not in presets] + result["rows"]
        result["skipped"] = [s for s in old.get("skipped", []) if s["preset"] not in presets] + skipped
        order = {p: i for i, p in enumerate(PRESETS)}
        result["rows"].sort(key=lambda r: order[r["preset"]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def _rdkit_version() -> str:
    try:
        import rdkit
    except ImportError:
        return "missing"
    return rdkit.__version__


if __name__ == "__main__":
    sys.exit(main())
