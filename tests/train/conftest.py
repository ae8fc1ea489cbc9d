"""Tiny data files in each task's own format, and a helper that trains on them.

Every task reads the same file format from ``data.path`` as from its cached real data
set, so the tests train on these few-kilobyte files offline, in seconds.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest


def _pos_lines(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    det, adj = ["the", "a", "every"], ["red", "big", "old", "quiet"]
    noun, verb = ["dog", "cat", "house", "river", "book"], ["sees", "likes", "finds", "opens"]
    lines = []
    for _ in range(n):
        words = [(rng.choice(det), "DT")] + [(rng.choice(adj), "JJ")] * rng.randint(0, 1)
        words += [(rng.choice(noun), "NN"), (rng.choice(verb), "VBZ"), (rng.choice(det), "DT"),
                  (rng.choice(noun), "NN"), (".", ".")]
        lines.append(" ".join(f"{w}/{t}" for w, t in words))
    return lines


@pytest.fixture(scope="session")
def data_files(tmp_path_factory) -> dict[str, Path]:
    """One small file (or folder) per task, written once per test session."""
    import soundfile

    root = tmp_path_factory.mktemp("data")
    files: dict[str, Path] = {}
    files["pos"] = root / "tagged.txt"
    files["pos"].write_text("\n".join(_pos_lines(80)) + "\n", encoding="utf-8")

    rng = random.Random(1)
    rows = ["category,text"]
    for i in range(120):
        fresh = i % 2 == 0
        words = rng.sample(["great", "moving", "fine", "superb"] if fresh else ["dull", "awful", "bad", "flat"], 2)
        rows.append(f"{'fresh' if fresh else 'rotten'},\"the film is {words[0]} and {words[1]}\"")
    rows.append("plot,\"a man walks into a bar\"")
    files["sentiment"] = root / "rt.csv"
    files["sentiment"].write_text("\n".join(rows) + "\n", encoding="utf-8")

    rate = 16000
    speakers = root / "speakers"
    speakers.mkdir()
    manifest = ["file\tvoice\tspeed\tpitch\ttext"]
    for i in range(24):
        voice, pitch = ("low", 180.0) if i % 2 else ("high", 700.0)
        t = np.arange(int(rate * 0.25)) / rate
        wave = 0.3 * np.sin(2 * math.pi * pitch * (1 + 0.01 * i) * t) + 0.01 * np.random.default_rng(i).normal(size=t.size)
        soundfile.write(speakers / f"{i:05d}.wav", wave.astype(np.float32), rate)
        manifest.append(f"{i:05d}.wav\t{voice}\t150\t50\tsome words")
    (speakers / "manifest.tsv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    files["speaker"] = speakers

    diar = root / "diarization"
    diar.mkdir()
    t = np.arange(rate * 8) / rate
    wave = np.where((t // 1.0) % 2 == 0, np.sin(2 * math.pi * 220 * t), np.sin(2 * math.pi * 880 * t)) * 0.3
    soundfile.write(diar / "sample.wav", wave.astype(np.float32), rate)
    turns = [f"SPEAKER sample 1 {s:.1f} 1.0 <NA> <NA> {'A' if s % 2 == 0 else 'B'} <NA> <NA>" for s in range(8)]
    (diar / "sample.rttm").write_text("\n".join(turns) + "\n", encoding="utf-8")
    files["diarization"] = diar

    mols = ["C", "CC", "CCC", "CCCC", "CCCCC", "CCCCCC", "CO", "CCO", "CCCO", "CCCCO", "CCCCCO", "OCCO",
            "c1ccccc1", "Cc1ccccc1", "CCc1ccccc1", "Oc1ccccc1", "CC(C)C", "CC(C)CO", "CN", "CCN", "CCCN",
            "CC(=O)O", "CCC(=O)O", "CC(C)(C)C", "ClCCl", "CCCl", "CCCCl", "CCBr", "CC=C", "C=CC=C"]
    freesolv = ["iupac,smiles,expt"] + [f"m{i},{s},{-0.5 * s.count('C') - 2.0 * s.count('O'):.2f}"
                                        for i, s in enumerate(mols * 2)]
    files["freesolv"] = root / "freesolv.csv"
    files["freesolv"].write_text("\n".join(freesolv) + "\n", encoding="utf-8")
    b3db = ["NO.\tSMILES\tBBB+/BBB-"] + [f"{i}\t{s}\t{'BBB-' if 'O' in s else 'BBB+'}"
                                          for i, s in enumerate(mols * 2)]
    files["b3db"] = root / "b3db.tsv"
    files["b3db"].write_text("\n".join(b3db) + "\n", encoding="utf-8")

    colors = [("red", "roja"), ("white", "blanca"), ("old", "vieja"), ("small", "pequeña")]
    things = [("house", "casa"), ("door", "puerta"), ("table", "mesa")]
    pairs = ["reference\tenglish\tspanish"]
    for i in range(90):
        (ce, cs), (te, ts) = colors[i % 4], things[(i // 4) % 3]
        pairs.append(f"v{i}\tthe {ce} {te}.\tla {ts} {cs}.")
    files["translate"] = root / "pairs.tsv"
    files["translate"].write_text("\n".join(pairs) + "\n", encoding="utf-8")
    return files
