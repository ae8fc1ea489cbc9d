"""Every script under examples/ runs, as a user runs it, on tiny data, and says something true.

Each example is started as ``python examples/NAME.py`` with ``SELFATTN_EXAMPLE_SIZE=tiny``
(one thread) and prints its results as one JSON line last; the tests read that line.
The data are written here (a tagged corpus, a SMILES CSV, an edge list, a random BERT),
so nothing is fetched.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, cwd: Path) -> dict:
    env = {**os.environ, "SELFATTN_EXAMPLE_SIZE": "tiny", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_example_is_tested():
    tested = {"pos_tagger_own_data.py", "molecule_property_csv.py", "graph_nodes_edge_list.py",
              "pretrained_attention.py", "swap_attention_variants.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_pos_tagger_on_your_own_file(tmp_path):
    rng = random.Random(3)
    lines = []
    for _ in range(200):
        words = [(rng.choice(["some", "the", "no"]), "DT"), (rng.choice(["bird", "fish", "tree"]), "NN"),
                 (rng.choice(["eats", "hides", "wants"]), "VBZ"), (rng.choice(["some", "the", "no"]), "DT"),
                 (rng.choice(["bird", "fish", "tree"]), "NN"), (".", ".")]
        lines.append(" ".join(f"{w}/{t}" for w, t in words))
    corpus = tmp_path / "mine.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = run_example("pos_tagger_own_data.py", "--data", str(corpus), "--out", str(tmp_path / "pos"),
                      "Some bird eats the fish.", cwd=tmp_path)
    assert out["test_acc"] >= 0.95
    # raw text through the Treebank tokenizer: "fish." is two tokens, each with its tag and score
    [tagged] = out["tagged"]
    assert [w for w, _, _ in tagged] == ["Some", "bird", "eats", "the", "fish", "."]
    assert [t for _, t, _ in tagged] == ["DT", "NN", "VBZ", "DT", "NN", "."]
    assert all(0.5 < s <= 1 for _, _, s in tagged)
    assert (Path(out["run"]) / "model.safetensors").is_file()


def test_molecule_property_from_a_csv_beats_the_mean(tmp_path):
    pytest.importorskip("rdkit")
    smiles = ["C", "CC", "CCC", "CCCC", "CCCCC", "CCCCCC", "CO", "CCO", "CCCO", "CCCCO", "CCCCCO", "OCCO",
              "c1ccccc1", "Cc1ccccc1", "CCc1ccccc1", "Oc1ccccc1", "CC(C)C", "CC(C)CO", "CN", "CCN", "CCCN",
              "CC(=O)O", "CCC(=O)O", "CC(C)(C)C", "ClCCl", "CCCl", "CCCCl", "CCBr", "CC=C", "C=CC=C"]
    rows = ["name;SMILES;value"] + [f"m{i};{s};{-0.5 * s.count('C') - 2.0 * s.count('O'):.2f}"
                                    for i, s in enumerate(smiles * 3)] + ["bad;C1CC;0.0"]
    table = tmp_path / "mine.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = run_example("molecule_property_csv.py", "--csv", str(table), "--smiles-column", "SMILES",
                      "--target-column", "value", "--delimiter", ";", cwd=tmp_path)
    assert out["molecules"] == 90 and out["skipped"] == 1 and out["test"] == 9
    assert out["test_rmse"] < 0.6 * out["mean_baseline_rmse"]


def test_graph_nodes_from_an_edge_list(tmp_path):
    # two communities of 12, dense inside, joined by one edge; the label is the community
    rng = random.Random(0)
    edges = [(u, v) for c in (0, 12) for u in range(c, c + 12) for v in range(u + 1, c + 12) if rng.random() < 0.5]
    edges.append((0, 12))
    (tmp_path / "edges.txt").write_text("# u v\n" + "".join(f"{u} {v}\n" for u, v in edges), encoding="utf-8")
    (tmp_path / "labels.txt").write_text("".join("left\n" if i < 12 else "right\n" for i in range(24)),
                                         encoding="utf-8")
    out = run_example("graph_nodes_edge_list.py", "--edges", "edges.txt", "--labels", "labels.txt",
                      "--out", "out", cwd=tmp_path)
    assert out["nodes"] == 24 and out["edges"] == len(edges) and out["classes"] == ["left", "right"]
    assert out["test_acc_edges"] == 1.0 and out["test_acc_edges"] > out["test_acc_majority"]


def _tiny_bert(folder: Path) -> Path:
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = ["the", "cat", "sat", "on", "mat", "because", "it", "was", "tired", "."]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    transformers.BertModel(config).save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def test_pretrained_attention_shows_the_models_own_weights(tmp_path):
    transformers = pytest.importorskip("transformers")
    bert = _tiny_bert(tmp_path / "bert")
    figure = tmp_path / "att.png"
    out = run_example("pretrained_attention.py", "--model", str(bert), "--layer", "2", "--head", "2",
                      "--out", str(figure), "The cat sat on the mat because it was tired.", cwd=tmp_path)
    assert out["tokens"] == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "because", "it", "was", "tired",
                             ".", "[SEP]"]
    assert (out["layers"], out["heads"], out["layer"], out["head"]) == (2, 2, 2, 2)
    assert all(abs(s - 1) < 1e-4 for s in out["row_sums"])
    assert figure.stat().st_size > 10_000 and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the weights shown are transformers' own attention probabilities for that layer and head
    reference = transformers.AutoModel.from_pretrained(bert, attn_implementation="eager").eval()
    ids = torch.tensor([[2, *[4 + ["the", "cat", "sat", "on", "mat", "because", "it", "was", "tired", "."].index(t)
                              for t in out["tokens"][1:-1]], 3]])
    with torch.no_grad():
        probs = reference(input_ids=ids, output_attentions=True).attentions[1][0, 1]
    for i, (query, key, value, sink) in enumerate(out["strongest"], start=1):
        words = probs[i, 1:-1]
        assert query == out["tokens"][i] and key == out["tokens"][1 + int(words.argmax())]
        assert abs(value - float(words.max())) < 2e-3 and abs(sink - float(probs[i, 0] + probs[i, -1])) < 2e-3


def test_swapping_attention_variants(tmp_path):
    out = run_example("swap_attention_variants.py", "--variants", "full", "linear", "performer", cwd=tmp_path)
    rows = {r["attention"]: r for r in out["variants"]}
    assert list(rows) == ["full", "linear", "performer"] and out["steps"] == 30
    for r in rows.values():
        assert r["last_loss"] < r["first_loss"] and r["step_ms"] > 0 and 0 <= r["accuracy"] <= 1
    # full attention already beats what any per-vector model can reach
    assert rows["full"]["accuracy"] > out["per_vector_ceiling"]


NOTEBOOKS = EXAMPLES / "notebooks"


def test_every_notebook_is_tested_and_kept_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    assert {p.name for p in NOTEBOOKS.glob("*.ipynb")} == {"quickstart.ipynb"}
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), path.name


def test_quickstart_notebook_trains_predicts_and_draws(tmp_path, monkeypatch):
    """Executed cell by cell in a fresh kernel, as Jupyter runs it (nbclient, one thread)."""
    import base64

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    printed = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream" and o.name == "stdout")
               for c in code]
    summary = json.loads(printed[-1].strip().splitlines()[-1])
    assert summary["test_acc"] >= 0.9
    assert [t for _, t in summary["tagged"]] == ["DT", "NN", "VBZ", "DT", "NN", "."]
    assert [w for w, _ in summary["tagged"]] == ["Every", "bird", "sees", "the", "cat", "."]
    assert summary["tokens"] == ["A", "dog", "finds", "every", "house", "."]
    assert (summary["layers"], summary["heads"], summary["rows_sum_to_one"]) == (1, [2], True)
    # the scores: a probability per token, the chosen tag first of its top 2
    rows = [line.split() for line in printed[2].splitlines()[:6]]
    assert [r[1] for r in rows] == ["DT", "NN", "VBZ", "DT", "NN", "."]
    assert all(0.25 < float(r[2]) <= 1 for r in rows)
    # the attention map is shown in the notebook, as a PNG
    [figure] = [o for o in code[-1].outputs if "image/png" in o.get("data", {})]
    assert base64.b64decode(figure["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
