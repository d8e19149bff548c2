"""Datasets: CIFAR readers on tiny files in the official pickle format, synthetic tasks,
digits, noise, standardization and batching."""

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from nanograd_ad import datasets
from nanograd_ad.datasets import (
    DATASET_NAMES,
    Dataset,
    abs_task,
    add_noise,
    batches,
    compare_task,
    digits,
    load,
    load_cifar10,
    load_cifar100,
    standardize,
)

# ------------------------------------------------------------ CIFAR fixture files
#
# Every image gets a unique id g (0, 1, 2, … in file order across the batches). Its
# 3072-byte row encodes the layout: pixel (channel c, row r, column k) lives at
# index c·1024 + r·32 + k and holds (g + 3c + 5r + 7k) mod 256 — so a wrong reshape or a
# transposed plane changes the values the tests read back.

CIFAR10_TRAIN_LABELS = [
    [0, 1, 2, 0, 1, 3],  # data_batch_1: ids 0..5
    [1, 0, 9, 0, 2, 1],  # data_batch_2: ids 6..11
    [0, 5, 1, 4, 6, 7],  # data_batch_3: ids 12..17
    [8, 0, 1, 2, 3, 4],  # data_batch_4: ids 18..23
    [5, 6, 7, 8, 9, 0],  # data_batch_5: ids 24..29
]
CIFAR10_TEST_LABELS = [1, 0, 0, 1, 2, 1, 0, 3]  # test_batch: ids 100..107


def pixel_rows(ids):
    c, r, k = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    pattern = (3 * c + 5 * r + 7 * k).reshape(-1)  # index c·1024 + r·32 + k
    return np.stack([(g + pattern) % 256 for g in ids]).astype(np.uint8)


def expected_image(g):
    c, r, k = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return ((g + 3 * c + 5 * r + 7 * k) % 256).astype(np.float32) / np.float32(255.0)


def dump(path, batch):
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)  # the official files are Python-2 pickles


@pytest.fixture
def cifar10_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    g = 0
    for b, labels in enumerate(CIFAR10_TRAIN_LABELS, start=1):
        ids = list(range(g, g + len(labels)))
        g += len(labels)
        dump(
            folder / f"data_batch_{b}",
            {
                b"batch_label": f"training batch {b} of 5".encode(),
                b"labels": labels,
                b"data": pixel_rows(ids),
                b"filenames": [f"img_{i}.png".encode() for i in ids],
            },
        )
    test_ids = list(range(100, 100 + len(CIFAR10_TEST_LABELS)))
    dump(
        folder / "test_batch",
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": CIFAR10_TEST_LABELS,
            b"data": pixel_rows(test_ids),
            b"filenames": [f"test_{i}.png".encode() for i in test_ids],
        },
    )
    dump(folder / "batches.meta", {b"label_names": [b"airplane", b"automobile"], b"num_cases_per_batch": 6})
    return tmp_path


CIFAR100_TRAIN_FINE = [5, 99, 5, 0, 42, 99, 5]
CIFAR100_TRAIN_COARSE = [1, 19, 1, 0, 3, 19, 1]
CIFAR100_TEST_FINE = [99, 5, 0, 5]
CIFAR100_TEST_COARSE = [19, 1, 0, 1]


@pytest.fixture
def cifar100_root(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, fine, coarse, first_id in [
        ("train", CIFAR100_TRAIN_FINE, CIFAR100_TRAIN_COARSE, 0),
        ("test", CIFAR100_TEST_FINE, CIFAR100_TEST_COARSE, 200),
    ]:
        ids = list(range(first_id, first_id + len(fine)))
        dump(
            folder / name,
            {
                b"filenames": [f"{name}_{i}.png".encode() for i in ids],
                b"batch_label": f"{name}ing batch 1 of 1".encode(),
                b"fine_labels": fine,
                b"coarse_labels": coarse,
                b"data": pixel_rows(ids),
            },
        )
    return tmp_path


def image_ids(x):
    """Recover each image's id from pixel (0, 0, 0), where the pattern adds 0."""
    return [int(v) for v in np.rint(x[:, 0, 0, 0] * 255).astype(int)]


def test_cifar10_reads_all_batches_in_file_order(cifar10_root):
    data = load_cifar10(cifar10_root)
    assert isinstance(data, Dataset) and data.name == "cifar10" and data.num_classes == 10
    assert data.x_train.shape == (30, 3, 32, 32) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (8, 3, 32, 32) and data.x_test.dtype == np.float32
    assert data.y_train.dtype == np.int64 and data.y_train.shape == (30,)
    np.testing.assert_array_equal(data.y_train, np.concatenate(CIFAR10_TRAIN_LABELS))
    np.testing.assert_array_equal(data.y_test, CIFAR10_TEST_LABELS)
    assert image_ids(data.x_train) == list(range(30))
    assert image_ids(data.x_test) == list(range(100, 108))
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0


def test_cifar10_pixel_layout_is_r_then_g_then_b_planes_row_major(cifar10_root):
    data = load_cifar10(cifar10_root)
    for i in (0, 7, 29):
        np.testing.assert_array_equal(data.x_train[i], expected_image(i))
    np.testing.assert_array_equal(data.x_test[3], expected_image(103))
    # spot checks straight from the definition: channel 1 (G), row 2, column 3
    assert data.x_train[0, 1, 2, 3] * 255 == pytest.approx(3 * 1 + 5 * 2 + 7 * 3)
    assert data.x_train[0, 2, 0, 1] * 255 == pytest.approx(3 * 2 + 7)


def test_cifar10_accepts_the_batches_folder_itself_and_str_paths(cifar10_root):
    direct = load_cifar10(str(cifar10_root / "cifar-10-batches-py"))
    parent = load_cifar10(cifar10_root)
    np.testing.assert_array_equal(direct.x_train, parent.x_train)
    np.testing.assert_array_equal(direct.y_test, parent.y_test)


def test_cifar10_class_subset_relabels_in_given_order(cifar10_root):
    data = load_cifar10(cifar10_root, classes=[2, 0])
    assert data.num_classes == 2
    labels = np.concatenate(CIFAR10_TRAIN_LABELS)
    kept = [g for g in range(30) if labels[g] in (2, 0)]
    assert image_ids(data.x_train) == kept  # still in file order
    np.testing.assert_array_equal(data.y_train, [0 if labels[g] == 2 else 1 for g in kept])
    assert image_ids(data.x_test) == [101, 102, 104, 106]
    np.testing.assert_array_equal(data.y_test, [1, 1, 0, 1])


def test_cifar10_first_n_per_class_keeps_the_first_images_in_file_order(cifar10_root):
    # Wang §4.2: classes 0 and 1, the first N training / first M test images of each
    data = load_cifar10(cifar10_root, classes=[0, 1], first_n_per_class=3, test_first_n_per_class=2)
    # class 0 sits at ids 0, 3, 7, 9, 12, 19, 29; class 1 at ids 1, 4, 6, 11, 14, 20
    assert image_ids(data.x_train) == [0, 1, 3, 4, 6, 7]
    np.testing.assert_array_equal(data.y_train, [0, 1, 0, 1, 1, 0])
    # test: class 1 at ids 100, 103, 105; class 0 at 101, 102, 106
    assert image_ids(data.x_test) == [100, 101, 102, 103]
    np.testing.assert_array_equal(data.y_test, [1, 0, 0, 1])
    assert "first 3 train / 2 test" in data.description


def test_cifar10_first_n_without_class_subset(cifar10_root):
    data = load_cifar10(cifar10_root, first_n_per_class=1)
    assert sorted(data.y_train.tolist()) == list(range(10))
    # each class's first occurrence, kept in file order
    labels = np.concatenate(CIFAR10_TRAIN_LABELS)
    firsts = sorted(int(np.flatnonzero(labels == c)[0]) for c in range(10))
    assert image_ids(data.x_train) == firsts
    np.testing.assert_array_equal(data.y_test, CIFAR10_TEST_LABELS)  # no test limit: all


def test_cifar10_asking_for_more_images_than_exist_is_an_error(cifar10_root):
    with pytest.raises(ValueError, match=r"first 5 images of class 2.*only 3"):
        load_cifar10(cifar10_root, classes=[2], first_n_per_class=5)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        (dict(classes=[10]), ValueError, "classes"),
        (dict(classes=[]), ValueError, "classes"),
        (dict(classes=[1, 1]), ValueError, "distinct"),
        (dict(classes="01"), TypeError, "classes"),
        (dict(first_n_per_class=0), ValueError, "first_n_per_class"),
        (dict(test_first_n_per_class=2.5), TypeError, "test_first_n_per_class"),
    ],
)
def test_cifar10_argument_checks(cifar10_root, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        load_cifar10(cifar10_root, **kwargs)


def test_cifar_missing_folder_error_lists_expected_files_and_where_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10(tmp_path / "nowhere")
    message = str(info.value)
    for name in [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ]:
        assert f"cifar-10-batches-py/{name}" in message
    assert str((tmp_path / "nowhere").resolve()) in message
    assert "CIFAR python version" in message and "cs.toronto.edu" in message
    assert "--data-dir" in message


def test_cifar_incomplete_folder_is_reported(cifar10_root):
    (cifar10_root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        load_cifar10(cifar10_root)


def test_cifar100_missing_folder_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_cifar100(tmp_path)
    assert "cifar-100-python/train" in str(info.value) and "cifar-100-python/test" in str(info.value)


def test_cifar_file_with_wrong_content_is_reported(cifar10_root):
    dump(cifar10_root / "cifar-10-batches-py" / "test_batch", {b"pixels": 1})
    with pytest.raises(ValueError, match=r"test_batch.*b'data'"):
        load_cifar10(cifar10_root)


def test_cifar100_fine_and_coarse_labels(cifar100_root):
    fine = load_cifar100(cifar100_root)
    assert fine.num_classes == 100 and fine.name == "cifar100"
    assert fine.x_train.shape == (7, 3, 32, 32) and fine.x_train.dtype == np.float32
    np.testing.assert_array_equal(fine.y_train, CIFAR100_TRAIN_FINE)
    np.testing.assert_array_equal(fine.y_test, CIFAR100_TEST_FINE)
    np.testing.assert_array_equal(fine.x_test[2], expected_image(202))
    coarse = load_cifar100(cifar100_root / "cifar-100-python", label_mode="coarse")
    assert coarse.num_classes == 20
    np.testing.assert_array_equal(coarse.y_train, CIFAR100_TRAIN_COARSE)
    np.testing.assert_array_equal(coarse.y_test, CIFAR100_TEST_COARSE)


def test_cifar100_subset_and_first_n(cifar100_root):
    data = load_cifar100(cifar100_root, classes=[99, 5], first_n_per_class=2, test_first_n_per_class=1)
    assert data.num_classes == 2
    assert image_ids(data.x_train) == [0, 1, 2, 5]
    np.testing.assert_array_equal(data.y_train, [1, 0, 1, 0])
    assert image_ids(data.x_test) == [200, 201]
    np.testing.assert_array_equal(data.y_test, [0, 1])
    with pytest.raises(ValueError, match=r"label_mode.*'coarse', 'fine'"):
        load_cifar100(cifar100_root, label_mode="medium")
    with pytest.raises(ValueError, match="classes"):
        load_cifar100(cifar100_root, classes=[20], label_mode="coarse")


# ---------------------------------------------------------------- load dispatch


def test_load_dispatches_by_name(cifar10_root, cifar100_root):
    assert load("abs", n_train=10, n_test=5).x_train.shape == (10, 1)
    assert load("compare", n_train=10, n_test=5).x_test.shape == (5, 2)
    assert load("digits", image=False).x_train.shape[1] == 64
    assert load("cifar10", data_dir=cifar10_root, classes=[0, 1]).num_classes == 2
    assert load("cifar100", data_dir=cifar100_root).num_classes == 100


def test_load_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as info:
        load("mnist")
    for name in DATASET_NAMES:
        assert repr(name) in str(info.value)
    assert set(DATASET_NAMES) == {"digits", "cifar10", "cifar100", "abs", "compare"}


def test_default_data_dir_is_the_repository_data_folder_or_the_env_var(monkeypatch, cifar10_root):
    monkeypatch.delenv("NANOGRAD_AD_DATA", raising=False)
    repo_data = Path(datasets.__file__).resolve().parent.parent / "data"
    assert datasets.default_data_dir() == repo_data
    monkeypatch.setenv("NANOGRAD_AD_DATA", str(cifar10_root))
    assert datasets.default_data_dir() == cifar10_root
    assert load("cifar10").n_train == 30  # found through the environment variable


# -------------------------------------------------------------- synthetic tasks


def test_abs_task():
    data = abs_task(seed=3)
    assert data.name == "abs" and data.num_classes is None
    assert data.x_train.shape == (3000, 1) and data.x_test.shape == (1000, 1)
    assert data.y_train.shape == (3000, 1)
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        assert array.dtype == np.float32
    bound = math.sqrt(3)
    assert -bound <= data.x_train.min() < -1.6 and 1.6 < data.x_train.max() <= bound
    np.testing.assert_array_equal(data.y_train, np.abs(data.x_train))
    np.testing.assert_array_equal(data.y_test, np.abs(data.x_test))
    # U(−√3, √3): mean 0, variance 1
    assert abs(data.x_train.mean()) < 0.06 and abs(data.x_train.var() - 1) < 0.06


def test_abs_task_is_deterministic_per_seed():
    a, b, c = abs_task(seed=1), abs_task(seed=1), abs_task(seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.x_train[:1000], a.x_test)


def test_compare_task():
    data = compare_task(seed=0)
    assert data.name == "compare" and data.num_classes is None
    assert data.x_train.shape == (3000, 2) and data.x_test.shape == (500, 2)
    assert data.y_train.shape == (3000, 1) and data.y_test.shape == (500, 1)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.float32
    assert np.abs(data.x_train).max() <= math.sqrt(3)
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        expected = np.array([[1.0 if v1 < v2 else 0.0] for v1, v2 in x], dtype=np.float32)
        np.testing.assert_array_equal(y, expected)
    assert set(np.unique(data.y_train)) == {0.0, 1.0}
    assert 0.45 < data.y_train.mean() < 0.55


@pytest.mark.parametrize("func", [abs_task, compare_task])
@pytest.mark.parametrize(
    "kwargs, error",
    [(dict(n_train=0), ValueError), (dict(n_test=2.0), TypeError), (dict(seed=-1), ValueError)],
)
def test_synthetic_argument_checks(func, kwargs, error):
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        func(**kwargs)


# ----------------------------------------------------------------------- digits


def test_digits_images_and_stratified_split():
    data = digits()
    assert data.name == "digits" and data.num_classes == 10
    assert data.n_train + data.n_test == 1797
    assert data.x_train.shape[1:] == (1, 8, 8) and data.input_shape == (1, 8, 8)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    # every class appears in the test set in proportion ≈ 1/4
    counts_test = np.bincount(data.y_test, minlength=10)
    counts_all = counts_test + np.bincount(data.y_train, minlength=10)
    np.testing.assert_array_equal(counts_test, np.round(0.25 * counts_all).astype(int))


def test_digits_matches_sklearn_pixels_over_16():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    flat = digits(image=False, test_fraction=0.5, seed=4)
    assert flat.x_train.shape[1:] == (64,)
    x = np.concatenate([flat.x_train, flat.x_test])
    y = np.concatenate([flat.y_train, flat.y_test])
    lookup = {row.tobytes(): label for row, label in zip((bunch.data / 16).astype(np.float32), bunch.target)}
    assert all(lookup[row.tobytes()] == label for row, label in zip(x, y))


def test_digits_split_depends_on_seed_only():
    a, b, c = digits(seed=0), digits(seed=0), digits(seed=1)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_test, c.x_test)


def test_digits_class_filter_relabels_in_given_order():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data = digits(classes=[5, 3], image=False)
    assert data.num_classes == 2
    assert set(np.unique(data.y_train)) == {0, 1}
    assert data.n_train + data.n_test == int(np.isin(bunch.target, [3, 5]).sum())
    lookup = {row.tobytes(): label for row, label in zip((bunch.data / 16).astype(np.float32), bunch.target)}
    for row, label in zip(data.x_train, data.y_train):
        assert lookup[row.tobytes()] == (5 if label == 0 else 3)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        (dict(test_fraction=0.0), ValueError, "test_fraction"),
        (dict(test_fraction=1.0), ValueError, "test_fraction"),
        (dict(classes=[10]), ValueError, "classes"),
        (dict(seed=-3), ValueError, "seed"),
    ],
)
def test_digits_argument_checks(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        digits(**kwargs)


# -------------------------------------------------------------------- add_noise


def test_gaussian_noise_level_is_the_standard_deviation():
    x = np.full((200, 1000), 2.0, dtype=np.float32)
    noisy = add_noise(x, "gaussian", 0.5, np.random.default_rng(0))
    assert noisy.dtype == np.float32 and noisy.shape == x.shape
    noise = noisy - x
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.5) < 0.005
    assert np.all(x == 2.0), "the input must not be modified"


def test_uniform_noise_is_bounded_by_level():
    x = np.zeros((200, 1000), dtype=np.float32)
    noise = add_noise(x, kind="uniform", level=0.3, rng=1)
    assert noise.min() >= -0.3 and noise.max() <= 0.3
    assert noise.min() < -0.299 and noise.max() > 0.299
    assert abs(noise.mean()) < 0.003 and abs(noise.std() - 0.3 / math.sqrt(3)) < 0.002


def test_noise_is_reproducible_and_level_zero_is_identity():
    x = np.linspace(-1, 1, 50, dtype=np.float32).reshape(5, 10)
    np.testing.assert_array_equal(add_noise(x, "gaussian", 0.1, 7), add_noise(x, "gaussian", 0.1, 7))
    np.testing.assert_array_equal(add_noise(x, "uniform", 0.0, 0), x)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        (dict(kind="salt", level=0.1, rng=0), ValueError, r"\['gaussian', 'uniform'\].*'salt'"),
        (dict(kind="gaussian", level=-0.1, rng=0), ValueError, "level.*-0.1"),
        (dict(kind="gaussian", rng=0), TypeError, "level"),
        (dict(kind="gaussian", level=0.1), TypeError, "rng"),
        (dict(kind="gaussian", level=0.1, rng="seed"), TypeError, "rng"),
    ],
)
def test_noise_argument_checks(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        add_noise(np.zeros(3, dtype=np.float32), **kwargs)


# ------------------------------------------------------------------ standardize


def test_standardize_images_per_channel_with_train_stats():
    rng = np.random.default_rng(0)
    means = np.array([1.0, -2.0, 5.0]).reshape(1, 3, 1, 1)
    stds = np.array([0.5, 3.0, 10.0]).reshape(1, 3, 1, 1)
    x_train = (means + stds * rng.standard_normal((64, 3, 6, 6))).astype(np.float32)
    x_test = (means + stds * rng.standard_normal((16, 3, 6, 6))).astype(np.float32)
    train_std, test_std, mean, std = standardize(x_train, x_test)
    assert mean.shape == (1, 3, 1, 1) and std.shape == (1, 3, 1, 1)
    assert train_std.dtype == np.float32 and test_std.dtype == np.float32
    np.testing.assert_allclose(train_std.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(train_std.std(axis=(0, 2, 3)), 1, atol=1e-5)
    np.testing.assert_allclose(test_std, (x_test - mean) / std, rtol=1e-5, atol=1e-6)
    assert not np.allclose(test_std.mean(axis=(0, 2, 3)), 0, atol=1e-5)  # test stats not used
    assert x_train.mean() > 1.0, "inputs must not be modified"


def test_standardize_features_and_constant_columns():
    x = np.array([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]])
    train_std, test_std, mean, std = standardize(x)
    assert test_std is None and mean.shape == (1, 2)
    np.testing.assert_allclose(train_std[:, 0], [-math.sqrt(1.5), 0, math.sqrt(1.5)])
    np.testing.assert_array_equal(train_std[:, 1], 0.0)  # a constant column is only centred
    assert np.all(np.isfinite(train_std)) and std[0, 1] == 1.0
    with pytest.raises(ValueError, match="x_test"):
        standardize(x, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x_train"):
        standardize(np.zeros(5))


# ---------------------------------------------------------------------- batches


@pytest.mark.parametrize("n, batch_size", [(0, 3), (1, 1), (10, 3), (12, 4), (7, 50)])
def test_batches_cover_every_index_exactly_once(n, batch_size):
    parts = list(batches(n, batch_size, np.random.default_rng(0)))
    assert len(parts) == math.ceil(n / batch_size)
    assert all(len(p) == batch_size for p in parts[:-1])
    if parts:
        assert len(parts[-1]) == n - batch_size * (len(parts) - 1)
    joined = np.concatenate(parts) if parts else np.array([], dtype=int)
    np.testing.assert_array_equal(np.sort(joined), np.arange(n))


def test_batches_shuffle_and_order():
    plain = np.concatenate(list(batches(20, 6, None, shuffle=False)))
    np.testing.assert_array_equal(plain, np.arange(20))
    first = np.concatenate(list(batches(20, 6, 5)))
    again = np.concatenate(list(batches(20, 6, np.random.default_rng(5))))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, np.arange(20))


@pytest.mark.parametrize(
    "args, error, fragment",
    [
        ((10, 0, 0), ValueError, "batch_size.*0"),
        ((10, -2, 0), ValueError, "batch_size.*-2"),
        ((10, 2.0, 0), TypeError, "batch_size.*2.0"),
        ((-1, 2, 0), ValueError, "n .*-1"),
        ((10, 2, None), TypeError, "rng"),
    ],
)
def test_batches_argument_checks_raise_when_called(args, error, fragment):
    with pytest.raises(error, match=fragment):
        batches(*args)  # no iteration needed: checked eagerly


def test_binarize_is_high_above_the_threshold_and_zero_elsewhere():
    from nanograd_ad.datasets import binarize

    x = np.array([[0.1, 0.5, 0.6], [0.9, -1.0, 0.5000001]])
    np.testing.assert_array_equal(binarize(x), [[0, 0, 1], [1, 0, 1]])
    out = binarize(x.astype(np.float32), threshold=0.0, high=100.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[100, 100, 100], [100, 0, 100]])
    assert binarize(np.array([[0, 200]], dtype=np.uint8), 127).dtype == np.float32
    with pytest.raises(ValueError, match="high must be > 0"):
        binarize(x, high=0.0)
    with pytest.raises(ValueError, match="threshold must be a finite float"):
        binarize(x, threshold=float("nan"))
