"""The PN paper's augmentation: random crops of zero-padded images and horizontal flips."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad.augment import Augment, random_crop_flip
from nanograd_ad.train import Trainer


def naive_crop_flip(x, seed, padding):
    """One image at a time, drawing the offsets and flips in the order random_crop_flip does."""
    rng = np.random.default_rng(seed)
    n, _, h, w = x.shape
    dy, dx = rng.integers(0, 2 * padding + 1, n), rng.integers(0, 2 * padding + 1, n)
    flips = rng.random(n) < 0.5
    out = np.empty_like(x)
    for i in range(n):
        padded = np.zeros((x.shape[1], h + 2 * padding, w + 2 * padding), x.dtype)
        padded[:, padding : padding + h, padding : padding + w] = x[i]
        crop = padded[:, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out[i] = crop[:, :, ::-1] if flips[i] else crop
    return out


def test_crop_flip_equals_the_per_image_loop():
    x = np.random.default_rng(1).normal(size=(64, 3, 6, 5)).astype(np.float32)
    out = random_crop_flip(x, np.random.default_rng(7), padding=2)
    np.testing.assert_array_equal(out, naive_crop_flip(x, 7, 2))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not np.array_equal(out, x)
    # zero padding: some crops reach into the border, whose pixels are exactly 0
    assert np.count_nonzero(out == 0) > 0 and np.count_nonzero(x == 0) == 0


def test_no_padding_and_no_flip_is_the_identity_and_flips_alone_mirror():
    x = np.arange(2 * 1 * 3 * 4, dtype=np.float32).reshape(2, 1, 3, 4)
    np.testing.assert_array_equal(random_crop_flip(x, np.random.default_rng(0), 0, flip=False), x)
    flipped = random_crop_flip(np.tile(x, (50, 1, 1, 1)), np.random.default_rng(0), 0)
    mirrored = [np.array_equal(f, x[i % 2][:, :, ::-1]) for i, f in enumerate(flipped)]
    same = [np.array_equal(f, x[i % 2]) for i, f in enumerate(flipped)]
    assert all(m or s for m, s in zip(mirrored, same)) and 20 < sum(mirrored) < 80


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"x must be a NumPy array \(N, C, H, W\)"):
        random_crop_flip(np.zeros((2, 3)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="padding must be an int >= 0, got -1"):
        random_crop_flip(np.zeros((1, 1, 2, 2)), np.random.default_rng(0), padding=-1)
    with pytest.raises(ValueError, match="Augment: padding"):
        Augment(padding=1.5)


def test_augment_callback_gives_fresh_crops_each_epoch_and_restores_the_images():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 1, 4, 4)).astype(np.float32)
    y = np.arange(20) % 3
    seen = []

    class Record(ng.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(trainer.x_train.copy())

    net = ng.Sequential(ng.Flatten(), ng.Dense(16, 3))
    trainer = Trainer(
        net,
        ng.SoftmaxCrossEntropy(),
        ng.SGD(net.parameters(), lr=0.1),
        (x, y),
        batch_size=5,
        callbacks=[Augment(padding=1, seed=3), Record()],
        progress=False,
    )
    trainer.fit(3)
    assert len(seen) == 3 and not np.array_equal(seen[0], seen[1])
    np.testing.assert_array_equal(seen[0], random_crop_flip(x, np.random.default_rng(3), 1))
    assert trainer.x_train is x


def test_an_epoch_before_training_begins_is_refused():
    with pytest.raises(RuntimeError, match="Augment: on_epoch_begin before on_train_begin"):
        Augment().on_epoch_begin(None, 0)
