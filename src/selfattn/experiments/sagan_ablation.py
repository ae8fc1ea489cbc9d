"""Self-attention in a GAN (the lecture's slide on SAGAN): the same GAN with and without it.

Two GANs of ``selfattn.nn.sagan`` (spectral norm, hinge loss, TTUR) train on Fashion-MNIST
(28x28 padded to 32x32, scaled to ``[-1, 1]``) from the same seed, differing only in the
:class:`~selfattn.nn.SelfAttention2d` block on the 16x16 maps of generator and
discriminator. After each epoch each generator draws ``fid_samples`` images from a fixed
set of latent vectors; their FID against as many test images is measured in the features
of a Fashion-MNIST classifier (``selfattn.nn.fid``: a small CNN trained here on the training
images, its test accuracy in the JSON), and a sample grid is saved
(``samples-<model>-epoch<k>.png``). ``figure.png`` plots FID over epochs;
``attention.png`` shows, for a few query pixels of generated images, which pixels of the
16x16 map they attend to in the final generator.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..bench.results import write_json
from ..train.tasks.sagan import draw_pixel_attention, sample_grid, to_gan_images
from ._runs import check_scale, torch_threads

__all__ = ["SCALES", "run", "to_gan_images"]

NAME = "sagan-ablation"

SCALES: dict[str, dict[str, Any]] = {
    "tiny": {"train": 128, "epochs": 2, "batch": 32, "width": 8, "latent": 16, "fid_samples": 100,
             "classifier_images": 256, "classifier_epochs": 1},
    # small: sized for the 2-core CPU (one step of the width-32 GAN took 5 s there; width 16, 2.5 s)
    "small": {"train": 6400, "epochs": 5, "batch": 64, "width": 16, "latent": 64, "fid_samples": 2000,
              "classifier_images": 60000, "classifier_epochs": 2},
    "full": {"train": 60000, "epochs": 20, "batch": 64, "width": 32, "latent": 64, "fid_samples": 5000,
             "classifier_images": 60000, "classifier_epochs": 3},
}


def run(out_dir: str | Path = "runs/experiments/sagan-ablation", scale: str = "small", seed: int = 0,
        data_path: str | Path | None = None) -> dict:
    """Train both GANs at ``scale`` (``tiny`` for tests, ``small``, ``full``); writes ``results.json``,
    ``figure.png``, ``attention.png`` and the sample grids; returns the results."""
    check_scale(scale, SCALES)
    with torch_threads(1):
        return _run(Path(out_dir), scale, seed, data_path)


def _run(out: Path, scale: str, seed: int, data_path) -> dict:
    from ..data.canvas import fashion_mnist_arrays
    from ..nn.fid import features, frechet_distance, gaussian, train_classifier
    from ..nn.sagan import Discriminator, Generator, make_optimizers, sagan_step

    s = SCALES[scale]
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = fashion_mnist_arrays("train", data_path)
    test_images, test_labels = fashion_mnist_arrays("test", data_path)
    real = to_gan_images(train_images)
    labels = torch.as_tensor(train_labels).long()
    test = to_gan_images(test_images)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(real), generator=g)
    cls_idx = pick[:s["classifier_images"]]
    classifier = train_classifier(real[cls_idx], labels[cls_idx], epochs=s["classifier_epochs"], seed=seed)
    with torch.no_grad():
        acc = (classifier(test).argmax(1) == torch.as_tensor(test_labels).long()).float().mean().item()
    n_fid = min(s["fid_samples"], len(test))
    ref = gaussian(features(classifier, test[:n_fid]))
    data = real[pick[:s["train"]]]
    z_fixed = torch.randn(max(n_fid, 64), s["latent"], generator=torch.Generator().manual_seed(seed + 1))
    curves: dict[str, list[float]] = {}
    gens = {}
    times = {}
    for name, attention in (("attention", True), ("no-attention", False)):
        torch.manual_seed(seed)
        gen = Generator(s["latent"], s["width"], attention=attention)
        disc = Discriminator(s["width"], attention=attention)
        opt_g, opt_d = make_optimizers(gen, disc)
        order_g = torch.Generator().manual_seed(seed)
        noise = torch.Generator().manual_seed(seed + 2)
        fids, t0 = [], time.perf_counter()
        for epoch in range(s["epochs"]):
            gen.train()
            disc.train()
            order = torch.randperm(len(data), generator=order_g)
            for i in range(0, len(data) - s["batch"] + 1, s["batch"]):
                sagan_step(gen, disc, opt_g, opt_d, data[order[i:i + s["batch"]]], generator=noise)
            gen.eval()
            with torch.no_grad():
                fake = torch.cat([gen(z_fixed[i:i + 500]) for i in range(0, n_fid, 500)])
            fids.append(round(frechet_distance(*gaussian(features(classifier, fake)), *ref), 3))
            sample_grid(fake[:64], out / f"samples-{name}-epoch{epoch + 1}.png")
        curves[name], gens[name], times[name] = fids, gen, round(time.perf_counter() - t0, 1)
    with torch.no_grad():
        fid_train = frechet_distance(*gaussian(features(classifier, real[pick[-n_fid:]])), *ref)
    result = {
        "experiment": NAME,
        "claim": "self-attention in generator and discriminator (SAGAN) lowers FID against the same GAN "
                 "without it",
        "setup": {"scale": scale, "seed": seed, **s, "image": [32, 32],
                  "fid_features": "128-d penultimate ReLU layer of selfattn.nn.fid.FashionClassifier, "
                                  f"trained on {len(cls_idx)} training images for "
                                  f"{s['classifier_epochs']} epochs",
                  "fid_reference": f"{n_fid} test images", "loss": "hinge",
                  "ttur": {"lr_g": 1e-4, "lr_d": 4e-4},
                  "attention_at": "16x16 maps of G and D"},
        "classifier_test_accuracy": round(acc, 4),
        "fid_train_vs_test": round(fid_train, 3),
        "fid": curves,
        "final_fid": {k: v[-1] for k, v in curves.items()},
        "best_fid": {k: min(v) for k, v in curves.items()},
        "attention_helps": curves["attention"][-1] < curves["no-attention"][-1],
        "gamma": {"generator": float(gens["attention"].attention.gamma.detach())},
        "train_s": times,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    write_json(out / "results.json", result)
    _plot(curves, fid_train, out / "figure.png")
    draw_pixel_attention(gens["attention"], z_fixed[:4], out / "attention.png")
    result["figure"] = str(out / "figure.png")
    return result


def _plot(curves: dict[str, list[float]], floor: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, fids in curves.items():
        ax.plot(range(1, len(fids) + 1), fids, marker="o", label=name)
    ax.axhline(floor, color="grey", ls="--", label="training vs test images")
    ax.set_xlabel("epoch")
    ax.set_ylabel("FID (Fashion-MNIST classifier features)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
