"""Where an image classifier's cells attend (``image-conv`` runs' ``attention.png``).

For each shown image: the image, then for a few of its ``7 x 7`` stem cells (marked) the
last self-attention layer's weights from that cell over all cells (mean over heads),
upsampled to the image and drawn over it: the lecture's point that one attention layer
already sees the whole image, where a 3x3 convolution sees its neighbours.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["draw_cell_attention"]


def draw_cell_attention(model, x: torch.Tensor, images: torch.Tensor, path: Path,
                        cells: tuple[tuple[int, int], ...] = ((1, 3), (3, 3), (5, 3)),
                        classes: tuple[str, ...] | None = None) -> Path:
    """``x``: the model's (standardised) input ``(B, 1, H, W)``; ``images``: the same images in
    ``[0, 1]`` to draw. One row per image: the image, then one panel per query cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        logits, weights = model(x, return_weights=True)
    h, w = model.grid
    size = images.shape[-1]
    last = weights[-1].mean(1)                                       # (B, L, L)
    fig, axes = plt.subplots(len(x), len(cells) + 1, figsize=(1.9 * (len(cells) + 1), 2.0 * len(x)),
                             squeeze=False)
    for b in range(len(x)):
        axes[b, 0].imshow(images[b, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        guess = int(logits[b].argmax())
        axes[b, 0].set_title(f"predicted: {classes[guess] if classes else guess}", fontsize=7,
                             parse_math=False)
        for j, (r, c) in enumerate(cells):
            ax = axes[b, j + 1]
            m = last[b, r * w + c].reshape(1, 1, h, w)
            m = F.interpolate(m, size=(size, size), mode="nearest")[0, 0]
            ax.imshow(images[b, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.imshow(m.numpy(), cmap="magma", alpha=0.6)
            cell = size / h
            ax.add_patch(plt.Rectangle((c * cell - .5, r * cell - .5), cell, cell, fill=False, color="cyan"))
            ax.set_title(f"cell ({r},{c})", fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
