"""``selfattn train sagan``: a Self-Attention GAN on Fashion-MNIST (``selfattn.nn.sagan``).

Images: the 28x28 training images padded to ``(B, 1, 32, 32)`` and scaled to ``[-1, 1]``
(:func:`to_gan_images`). ``model.kind: transformer`` is SAGAN (a
:class:`~selfattn.nn.SelfAttention2d` block on the 16x16 maps of generator and
discriminator), ``cnn2d`` the same GAN without it; both spectrally normalised, hinge loss,
TTUR (Adam betas ``(0, 0.9)``; generator at ``optim.lr``, discriminator at ``model.ttur``
times that). ``model.width`` (channels of the last generator block), ``model.latent``.
An epoch is ``data.train`` training images drawn afresh (seeded by ``seed + epoch``);
``data.test_limit`` keeps the first test images only (quick runs).

After each epoch: ``samples-epochK.png`` (64 images of fixed latents) and the FID of
``data.fid_samples`` generated images against as many test images, in the 128-d features
of a Fashion-MNIST classifier trained first on ``data.classifier_images`` training images
(``selfattn.nn.fid``: scipy's ``sqrtm``; its test accuracy and the FID of real training vs
test images, the floor, are in ``results.json``). At the end: ``model.safetensors`` (the
last generator ``g.*`` and discriminator ``d.*``, the config in its metadata), ``fid.png``
(FID over epochs) and, with attention, ``attention.png``: for query pixels of generated
images, which pixels of the 16x16 map they attend to.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from .base import Task

__all__ = ["SaganTask", "draw_pixel_attention", "sample_grid", "to_gan_images"]


def to_gan_images(images) -> torch.Tensor:
    """``(N, 28, 28)`` uint8 -> ``(N, 1, 32, 32)`` float in ``[-1, 1]`` (2 pixels of black padding)."""
    x = torch.as_tensor(images).float().div(127.5).sub(1.0)
    return torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)[:, None]


def sample_grid(images: torch.Tensor, path: Path, rows: int = 8) -> Path:
    """Up to ``rows * rows`` images ``(N, 1, 32, 32)`` in ``[-1, 1]`` as one grey PNG grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(images), rows * rows)
    canvas = torch.ones((rows * 33 + 1, rows * 33 + 1))
    for i in range(n):
        r, c = divmod(i, rows)
        canvas[1 + 33 * r:33 + 33 * r, 1 + 33 * c:33 + 33 * c] = (images[i, 0] + 1) / 2
    plt.imsave(path, canvas.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
    return path


@torch.no_grad()
def draw_pixel_attention(gen, z: torch.Tensor, path: Path,
                         queries: tuple[tuple[int, int], ...] = ((4, 4), (8, 8), (12, 10))) -> Path:
    """Generated images (32x32) and, for each query pixel of the 16x16 map (marked on the
    image at its 2x position), its attention weights over the whole map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gen.eval()
    images, weights = gen(z, return_weights=True)
    fig, axes = plt.subplots(len(z), 1 + len(queries), figsize=(2 * (1 + len(queries)), 2 * len(z)),
                             squeeze=False)
    for r in range(len(z)):
        axes[r, 0].imshow(images[r, 0].numpy(), cmap="gray", vmin=-1, vmax=1)
        for c, (y, x) in enumerate(queries, start=1):
            axes[r, 0].plot(2 * x + 0.5, 2 * y + 0.5, "o", ms=4, color=f"C{c}")
            axes[r, c].imshow(weights[r, y * 16 + x].reshape(16, 16).numpy(), cmap="viridis")
            axes[r, c].plot(x, y, "o", ms=4, color=f"C{c}")
            axes[r, c].set_title(f"query ({y}, {x})", fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fid_plot(fids: list[float], floor: float, path: Path, label: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(fids) + 1), fids, marker="o", label=label)
    ax.axhline(floor, color="grey", ls="--", label="training vs test images")
    ax.set_xlabel("epoch")
    ax.set_ylabel("FID (Fashion-MNIST classifier features)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


class SaganTask(Task):
    data_format = ("A folder of Fashion-MNIST-style IDX files (train-images-idx3-ubyte.gz, t10k-images-"
                   "idx3-ubyte.gz and their labels, gzip or plain).")
    name = "sagan"
    kind = "set"
    # the trainer / optim / model keys its own loop (fit, build_model) reads; config refuses any
    # other key of those sections changed from its default instead of ignoring it
    loop_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "trainer": ("max_epochs", "batch_size", "max_time_s"),
        "optim": ("lr",),
        "model": ("kind", "width", "pattern", "latent", "ttur"),
    }
    modality = "images"
    patterns = ("none", "grid")  # "grid" lets the config check accept model.kind=cnn2d (the plain GAN)
    model_kinds = ("transformer", "cnn2d")
    data_defaults: ClassVar[dict[str, Any]] = {"path": None, "train": 6400, "fid_samples": 2000,
                                               "classifier_images": 60000, "classifier_epochs": 2,
                                               "test_limit": None}
    model_defaults: ClassVar[dict[str, Any]] = {"latent": 64, "ttur": 4.0}
    unit = "image"

    def check_data(self, d: dict) -> None:
        for key in ("train", "fid_samples", "classifier_images", "classifier_epochs"):
            if not isinstance(d[key], int) or d[key] < 1:
                raise ConfigError(f"data.{key}: expected a positive integer, got {d[key]!r}")
        if d["fid_samples"] < 2:
            raise ConfigError(f"data.fid_samples: expected at least 2 images (a covariance), got "
                              f"{d['fid_samples']!r}")

    def build_models(self, cfg: dict):
        from ...nn.sagan import Discriminator, Generator

        m = cfg["model"]
        if m["pattern"] != "none":
            raise ConfigError(f"model.pattern: expected 'none' (SAGAN attends over the whole 16x16 map), "
                              f"got {m['pattern']!r}")
        attention = m["kind"] == "transformer"
        return (Generator(int(m["latent"]), int(m["width"]), attention=attention),
                Discriminator(int(m["width"]), attention=attention))

    def fit(self, cfg: dict, folder: Path, log=print) -> dict:
        from ...data.canvas import fashion_mnist_arrays
        from ...nn.fid import features, frechet_distance, gaussian, train_classifier
        from ...nn.sagan import make_optimizers, sagan_step
        from ..callbacks import atomic_write_text
        from ..checkpoint import save_weights

        started = time.perf_counter()
        d, o, t, m = cfg["data"], cfg["optim"], cfg["trainer"], cfg["model"]
        seed = int(cfg["seed"])
        train_images, train_labels = fashion_mnist_arrays("train", d["path"])
        test_images, test_labels = fashion_mnist_arrays("test", d["path"])
        if d["test_limit"] is not None:  # quick runs and tests: fewer test images to score
            test_images, test_labels = test_images[:int(d["test_limit"])], test_labels[:int(d["test_limit"])]
        real, test = to_gan_images(train_images), to_gan_images(test_images)
        pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
        cls_idx = pick[:d["classifier_images"]]
        classifier = train_classifier(real[cls_idx], torch.as_tensor(train_labels).long()[cls_idx],
                                      epochs=d["classifier_epochs"], seed=seed)
        with torch.no_grad():
            acc = (torch.cat([classifier(test[i:i + 1000]).argmax(1) for i in range(0, len(test), 1000)])
                   == torch.as_tensor(test_labels).long()).float().mean().item()
        n_fid = min(d["fid_samples"], len(test))
        ref = gaussian(features(classifier, test[:n_fid]))
        floor = frechet_distance(*gaussian(features(classifier, real[pick[-n_fid:]])), *ref)
        log(f"FID features: classifier test accuracy {acc:.4f}; FID of {n_fid} training vs test images "
            f"{floor:.2f} ({time.perf_counter() - started:.1f} s)")
        torch.manual_seed(seed)
        gen, disc = self.build_models(cfg)
        lr = float(o["lr"])
        opt_g, opt_d = make_optimizers(gen, disc, lr_g=lr, lr_d=lr * float(m["ttur"]))
        z_fixed = torch.randn(max(n_fid, 64), int(m["latent"]),
                              generator=torch.Generator().manual_seed(seed + 1))
        noise = torch.Generator().manual_seed(seed + 2)
        bs, epochs, limit = int(t["batch_size"] or 64), int(t["max_epochs"]), t["max_time_s"]
        rows, step = [], 0
        for epoch in range(epochs):
            gen.train()
            disc.train()
            shuffle = torch.Generator().manual_seed(seed + epoch)
            order = torch.randperm(len(real), generator=shuffle)[:d["train"]]
            sums = {"loss_d": 0.0, "loss_g": 0.0, "d_real": 0.0, "d_fake": 0.0}
            steps = 0
            for i in range(0, len(order) - bs + 1, bs):
                out = sagan_step(gen, disc, opt_g, opt_d, real[order[i:i + bs]], generator=noise)
                for k in sums:
                    sums[k] += out[k]
                steps += 1
            step += steps
            gen.eval()
            with torch.no_grad():
                fake = torch.cat([gen(z_fixed[i:min(i + 500, n_fid)]) for i in range(0, n_fid, 500)])
            fid = frechet_distance(*gaussian(features(classifier, fake)), *ref)
            sample_grid(fake[:64], folder / f"samples-epoch{epoch + 1}.png")
            row = {"epoch": epoch, "step": step, "wall_s": round(time.perf_counter() - started, 1),
                   **{k: round(v / max(1, steps), 4) for k, v in sums.items()}, "fid": round(fid, 3)}
            if gen.attention is not None:
                row["gamma_g"] = round(float(gen.attention.gamma.detach()), 4)
            rows.append(row)
            log(" ".join(f"{k}={v}" for k, v in row.items()))
            with open(folder / "metrics.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            atomic_write_text(folder / "metrics.json", json.dumps(rows, indent=1))
            if limit and time.perf_counter() - started > float(limit):
                log(f"trainer.max_time_s={limit} reached after epoch {epoch}")
                break
        import yaml

        state = {**{f"g.{k}": v for k, v in gen.state_dict().items()},
                 **{f"d.{k}": v for k, v in disc.state_dict().items()}}
        save_weights(state, folder / "model.safetensors", {"config": yaml.safe_dump(cfg, sort_keys=False)})
        fids = [r["fid"] for r in rows]
        results = {"test_fid": fids[-1], "best_fid": min(fids), "fid": fids, "task": cfg["task"],
                   "preset": cfg["preset"], "unit": self.unit, "seed": seed, "run_dir": str(folder),
                   "attention": gen.attention is not None, "monitor": "fid", "best_val": min(fids),
                   "classifier_test_accuracy": round(acc, 4),
                   "fid_train_vs_test": round(floor, 3), "fid_samples": n_fid, "epochs": len(rows),
                   "steps": step, "wall_s": round(time.perf_counter() - started, 1),
                   "parameters": {"generator": sum(p.numel() for p in gen.parameters()),
                                  "discriminator": sum(p.numel() for p in disc.parameters())},
                   "torch_threads": torch.get_num_threads()}
        if cfg["run"]["plots"]:
            plots = {"fid": str(_fid_plot(fids, floor, folder / "fid.png",
                                          "SAGAN" if gen.attention is not None else "GAN, no attention"))}
            if gen.attention is not None:
                plots["attention"] = str(draw_pixel_attention(gen, z_fixed[:4], folder / "attention.png"))
            results["plots"] = plots
        atomic_write_text(folder / "results.json", json.dumps(results, indent=1, default=str))
        log(f"FID after {len(rows)} epochs: {fids[-1]:.2f} (best {min(fids):.2f})")
        return results
