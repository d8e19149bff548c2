"""The "simple data augmentation" of the PN paper: random crops of padded images and flips.

Bu, Jiang, Lu & Zhang 2026 (§4.1), after Krizhevsky et al. 2012: "random horizontal
reflections and random extracting 32 × 32 patches from the padded images". For each
image x (C, H, W), independently:

    x_pad = x with ``padding`` zero pixels on every side          (C, H + 2p, W + 2p)
    x'    = x_pad[:, dy : dy + H, dx : dx + W],   dy, dx ~ U{0, …, 2p}
    x'    = x'[:, :, ::-1]  with probability ½

**Reading: the paper does not give the padding; 4 pixels is the common CIFAR choice.**
Applied after standardization, a zero pad is the per-channel training mean.

``random_crop_flip`` works on a whole array at once (host NumPy, one slice per offset
pair, no per-image loop); :class:`Augment` is a training callback that hands the
trainer a fresh augmented copy of the training images at the start of every epoch, so
each image gets a new crop and flip per epoch — the training loop is unchanged and the
test set is never augmented.
"""

from __future__ import annotations

import numpy as np

from .callbacks import Callback

__all__ = ["Augment", "random_crop_flip"]


def random_crop_flip(
    x: np.ndarray, rng: np.random.Generator, padding: int = 4, flip: bool = True
) -> np.ndarray:
    """A random (H, W) crop of each zero-padded image, mirrored left–right with probability ½.

    x: (N, C, H, W) host array → a new array of the same shape and dtype. ``padding``
    p ≥ 0 pixels (p = 0 leaves only the flips); offsets dy, dx ~ U{0, …, 2p} per image.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(
            f"random_crop_flip: x must be a NumPy array (N, C, H, W), got "
            f"{type(x).__name__} of shape {getattr(x, 'shape', None)}"
        )
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"random_crop_flip: padding must be an int >= 0, got {padding!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"random_crop_flip: rng must be a numpy Generator, got {type(rng).__name__}")
    n, _, h, w = x.shape
    p = padding
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dy = rng.integers(0, 2 * p + 1, n)
    dx = rng.integers(0, 2 * p + 1, n)
    out = np.empty_like(x)
    for oy in range(2 * p + 1):
        for ox in range(2 * p + 1):
            rows = np.flatnonzero((dy == oy) & (dx == ox))
            if rows.size:
                out[rows] = padded[rows, :, oy : oy + h, ox : ox + w]
    if flip:
        mirrored = np.flatnonzero(rng.random(n) < 0.5)
        out[mirrored] = out[mirrored, :, :, ::-1]
    return out


class Augment(Callback):
    """Each epoch, train on ``random_crop_flip`` of the original training images.

        trainer = Trainer(..., callbacks=[Augment(padding=4, seed=0)])

    Its own generator (``seed``) draws the crops and flips, so the batch order of the
    trainer's ``rng`` is the same with and without augmentation. The original images
    are restored when training ends.
    """

    def __init__(self, padding: int = 4, flip: bool = True, seed: int = 0):
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"Augment: padding must be an int >= 0, got {padding!r}")
        self.padding, self.flip = padding, flip
        self.rng = np.random.default_rng(seed)
        self.original: np.ndarray | None = None

    def on_train_begin(self, trainer) -> None:
        self.original = trainer.x_train
        if not isinstance(self.original, np.ndarray) or self.original.ndim != 4:
            raise ValueError(
                f"Augment: training images must be a host array (N, C, H, W), got shape "
                f"{getattr(self.original, 'shape', None)}"
            )

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        if self.original is None:
            raise RuntimeError("Augment: on_epoch_begin before on_train_begin (no training images yet)")
        trainer.x_train = random_crop_flip(self.original, self.rng, self.padding, self.flip)

    def on_train_end(self, trainer) -> None:
        if self.original is not None:
            trainer.x_train = self.original

    def __repr__(self):
        return f"Augment(padding={self.padding}, flip={self.flip})"
