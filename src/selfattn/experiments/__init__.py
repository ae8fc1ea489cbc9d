"""The lecture's claims as experiments: each writes a results JSON and a PNG.

``EXPERIMENTS`` maps a name to its ``run(out_dir, scale, seed) -> dict`` function.
"""

from . import attention_is_a_cnn

EXPERIMENTS = {
    "attention-is-a-cnn": attention_is_a_cnn.run,
}

__all__ = ["EXPERIMENTS"]
