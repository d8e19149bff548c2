"""Datasets: the synthetic tasks, scikit-learn's digits, CIFAR-10/100, noise, batching.

Host-side code: everything here works on NumPy arrays (the training loop copies a
batch to the active backend). Every loader returns a :class:`Dataset` whose inputs are
float32 and whose shapes follow the library's notation (rows are samples; docs/architecture.md):

    dense inputs  x: (N, D)
    image inputs  x: (N, C, H, W)   (NCHW)
    class labels  y: (N,) int64      regression / MSE targets y: (N, 1) float32

Where the data come from:

* ``abs_task``     — y = |x|, x ~ U(−√3, √3)             (Hu, Zhang & Ge 2021, §III)
* ``compare_task`` — y = 1[v1 < v2], (v1, v2) ~ U(−√3, √3)² (Hu, Zhang & Ge 2021, §III)
* ``digits``       — the 8×8 digits bundled with scikit-learn (no download)
* ``load_cifar10`` / ``load_cifar100`` — the official "CIFAR python version" pickles,
  which you download yourself (see ``data/README.md``).

``load(name, data_dir=None, **kw)`` dispatches by name; CIFAR files are looked up in
``DEFAULT_DATA_DIR`` (the repository's ``data/`` folder, or ``$NANOGRAD_AD_DATA``).
"""

from __future__ import annotations

import math
import numbers
import os
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

__all__ = [
    "DATASET_NAMES",
    "DATA_DIR_ENV",
    "DEFAULT_DATA_DIR",
    "NOISE_KINDS",
    "Dataset",
    "abs_task",
    "add_noise",
    "batches",
    "binarize",
    "compare_task",
    "default_data_dir",
    "digits",
    "load",
    "load_cifar10",
    "load_cifar100",
    "standardize",
]

DATA_DIR_ENV = "NANOGRAD_AD_DATA"
DATASET_NAMES = ("digits", "cifar10", "cifar100", "abs", "compare")
NOISE_KINDS = ("gaussian", "uniform")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

_SQRT3 = math.sqrt(3.0)
_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_TEST = "test_batch"
_CIFAR100_FOLDER = "cifar-100-python"
_CIFAR100_TRAIN = "train"
_CIFAR100_TEST = "test"


def default_data_dir() -> Path:
    """The folder CIFAR files are looked up in: ``$NANOGRAD_AD_DATA`` if set; else, in a
    source checkout, the repository's top-level ``data/``; else (an installed package,
    which must never point into ``site-packages``) ``data/`` in the current directory.
    Read at call time."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    checkout = _source_checkout()
    if checkout is not None:
        return checkout / "data"
    return Path.cwd() / "data"


def _source_checkout() -> Path | None:
    """The repository root when the package runs from a source checkout, else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "nanograd_ad").is_dir() else None


DEFAULT_DATA_DIR: Path = default_data_dir()


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split as NumPy arrays.

    Attributes: ``x_train`` (N_train, ...) float32, ``y_train``, ``x_test``, ``y_test``;
    ``description`` (one human sentence: source, sizes, preprocessing); ``num_classes``
    (an int for classification with integer labels, ``None`` for regression / MSE
    targets); ``name`` (the key ``load`` knows it by).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str
    num_classes: int | None
    name: str

    @property
    def n_train(self) -> int:
        """Number of training samples N_train."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples N_test."""
        return int(self.x_test.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample input shape (no batch axis), e.g. (1, 8, 8) or (64,)."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={self.x_train.shape} {self.x_train.dtype}, "
            f"y_train={self.y_train.shape} {self.y_train.dtype}, x_test={self.x_test.shape}, "
            f"y_test={self.y_test.shape}, num_classes={self.num_classes})"
        )


# --------------------------------------------------------------------------- checks


def _check_int(func: str, name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{func}: {name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{func}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_optional_int(func: str, name: str, value, minimum: int) -> int | None:
    return None if value is None else _check_int(func, name, value, minimum)


def _as_rng(func: str, rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{func}: rng must be a numpy.random.Generator or an int seed, got {rng!r}")


def _check_classes(func: str, classes, num_classes: int) -> list[int] | None:
    """Validate a class subset: a non-empty sequence of distinct ints in [0, num_classes)."""
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not isinstance(classes, (Sequence, np.ndarray)):
        raise TypeError(f"{func}: classes must be a sequence of class indices like [0, 1], got {classes!r}")
    chosen = list(classes)
    if not chosen:
        raise ValueError(f"{func}: classes must name at least one class, got {classes!r}")
    for c in chosen:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= int(c) < num_classes:
            raise ValueError(
                f"{func}: classes must hold ints in [0, {num_classes - 1}], got {c!r} in {classes!r}"
            )
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"{func}: classes must be distinct, got {classes!r}")
    return [int(c) for c in chosen]


# ------------------------------------------------------------------ synthetic tasks


def abs_task(n_train: int = 3000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """The |x| approximation task of Hu, Zhang & Ge 2021 (§III.A).

        x ~ U(−√3, √3)  (zero mean, unit variance),   y = |x|

    Returns x_train (n_train, 1) float32, y_train (n_train, 1) float32, and likewise
    for the test set. Train and test are drawn in that order from ``default_rng(seed)``.
    """
    n_train = _check_int("abs_task", "n_train", n_train, 1)
    n_test = _check_int("abs_task", "n_test", n_test, 1)
    rng = np.random.default_rng(_check_int("abs_task", "seed", seed, 0))
    x_train = rng.uniform(-_SQRT3, _SQRT3, size=(n_train, 1)).astype(np.float32)
    x_test = rng.uniform(-_SQRT3, _SQRT3, size=(n_test, 1)).astype(np.float32)
    return Dataset(
        x_train=x_train,
        y_train=np.abs(x_train),
        x_test=x_test,
        y_test=np.abs(x_test),
        description=(
            f"y = |x|, x ~ U(-sqrt3, sqrt3); {n_train} train / {n_test} test points, "
            f"float32, seed {seed} (AD paper, ReLU approximation)"
        ),
        num_classes=None,
        name="abs",
    )


def compare_task(n_train: int = 3000, n_test: int = 500, seed: int = 0) -> Dataset:
    """The comparison task of Hu, Zhang & Ge 2021's sigmoid experiments (§III.B).

        (v1, v2) ~ U(−√3, √3)²,   y = 1.0 if v1 < v2 else 0.0

    Returns x (N, 2) float32 with columns (v1, v2) and y (N, 1) float32 — an MSE target
    for a sigmoid output, so ``num_classes`` is ``None``.
    """
    n_train = _check_int("compare_task", "n_train", n_train, 1)
    n_test = _check_int("compare_task", "n_test", n_test, 1)
    rng = np.random.default_rng(_check_int("compare_task", "seed", seed, 0))
    x_train = rng.uniform(-_SQRT3, _SQRT3, size=(n_train, 2)).astype(np.float32)
    x_test = rng.uniform(-_SQRT3, _SQRT3, size=(n_test, 2)).astype(np.float32)

    def target(x: np.ndarray) -> np.ndarray:
        return (x[:, 0] < x[:, 1]).astype(np.float32)[:, None]

    return Dataset(
        x_train=x_train,
        y_train=target(x_train),
        x_test=x_test,
        y_test=target(x_test),
        description=(
            f"y = 1 if v1 < v2 else 0, (v1, v2) ~ U(-sqrt3, sqrt3)^2; {n_train} train / "
            f"{n_test} test pairs, float32, seed {seed} (AD paper, sigmoid comparison)"
        ),
        num_classes=None,
        name="compare",
    )


# --------------------------------------------------------------------------- digits


def _stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per class, shuffle that class's indices and send round(fraction · count) to test
    (at least one, at most count − 1). Returns sorted (train_idx, test_idx)."""
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = min(max(round(test_fraction * idx.size), 1), idx.size - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def digits(
    test_fraction: float = 0.25,
    seed: int = 0,
    image: bool = True,
    classes: Sequence[int] | None = None,
) -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes, no download).

        x = pixel / 16 ∈ [0, 1]:  (N, 1, 8, 8) float32 if ``image`` else (N, 64)
        y: (N,) int64 class labels

    The split is stratified: per class, ``round(test_fraction · count)`` images chosen by
    ``default_rng(seed)`` go to the test set. ``classes=[3, 5]`` keeps only those classes
    and relabels them 0..k−1 in the order given (3 → 0, 5 → 1).
    Needs scikit-learn: ``pip install "nanograd_ad[data]"``.
    """
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, numbers.Real)
        or not (0.0 < test_fraction < 1.0)
    ):
        raise ValueError(f"digits: test_fraction must be a float in (0, 1), got {test_fraction!r}")
    seed = _check_int("digits", "seed", seed, 0)
    chosen = _check_classes("digits", classes, 10)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "digits() needs scikit-learn (it ships the 8x8 digits); install it with "
            '`pip install "nanograd_ad[data]"`'
        ) from err

    bunch = load_digits()
    pixels = np.asarray(bunch.data, dtype=np.float64)  # (1797, 64), values 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    if chosen is not None:
        keep = np.isin(labels, chosen)
        pixels, labels = pixels[keep], labels[keep]
        relabel = np.full(10, -1, dtype=np.int64)
        relabel[chosen] = np.arange(len(chosen))
        labels = relabel[labels]
    x = (pixels / 16.0).astype(np.float32)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    train_idx, test_idx = _stratified_split(labels, float(test_fraction), np.random.default_rng(seed))
    num_classes = 10 if chosen is None else len(chosen)
    which = "all 10 classes" if chosen is None else f"classes {chosen} relabelled 0..{num_classes - 1}"
    return Dataset(
        x_train=x[train_idx],
        y_train=labels[train_idx],
        x_test=x[test_idx],
        y_test=labels[test_idx],
        description=(
            f"scikit-learn 8x8 digits, {which}, pixels/16 in [0, 1], shape "
            f"{'(N, 1, 8, 8)' if image else '(N, 64)'}; stratified split {train_idx.size} train / "
            f"{test_idx.size} test (test_fraction {test_fraction}, seed {seed})"
        ),
        num_classes=num_classes,
        name="digits",
    )


# ---------------------------------------------------------------------------- CIFAR


def _find_cifar_folder(data_dir, folder: str, files: Sequence[str], func: str) -> Path:
    """Return the folder holding ``files``: ``data_dir/folder`` or ``data_dir`` itself."""
    if data_dir is None:
        data_dir = default_data_dir()
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"{func}: data_dir must be a path (str or Path), got {data_dir!r}")
    root = Path(data_dir).expanduser()
    candidates = [root / folder, root] if root.name != folder else [root]
    for candidate in candidates:
        if all((candidate / f).is_file() for f in files):
            return candidate
    searched = " and ".join(str(c.resolve()) for c in candidates)
    expected = "\n".join(f"  {folder}/{f}" for f in files)
    raise FileNotFoundError(
        f"{func}: could not find the CIFAR files; searched {searched}.\n"
        f"Expected these files (the official 'CIFAR python version', from {CIFAR_URL}, "
        f"unpacked):\n{expected}\n"
        f"Put the unpacked '{folder}' folder in {root}, or pass --data-dir PATH naming the "
        f"folder that contains '{folder}' (or that folder itself). Without --data-dir "
        f"${DATA_DIR_ENV} is searched when it is set, else "
        + ("the repository's data/ folder." if _source_checkout() else "data/ in the current folder.")
    )


def _numpy_globals() -> dict[tuple[str, str], object]:
    """The globals an official CIFAR batch (or a NumPy array pickled by Python 3) names."""
    core = getattr(np, "_core", None) or np.core  # NumPy 2 renamed numpy.core to numpy._core
    import _codecs

    found: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    # Python 3 writes bytes into a protocol-2 pickle as _codecs.encode(text, "latin1"): a pure
    # text → bytes conversion (no code runs), needed for protocol-2 files written by Python 3
    found[("_codecs", "encode")] = _codecs.encode
    # ... and an empty bytes value as bytes(): builtins.bytes ("__builtin__" in protocol 2)
    found[("builtins", "bytes")] = found[("__builtin__", "bytes")] = bytes
    for module in ("numpy.core", "numpy._core"):
        found[(f"{module}.multiarray", "_reconstruct")] = core.multiarray._reconstruct  # array
        found[(f"{module}.multiarray", "scalar")] = core.multiarray.scalar  # NumPy scalars
        found[(f"{module}.numeric", "_frombuffer")] = core.numeric._frombuffer  # protocol 5
    return found


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that can build NumPy arrays, dtypes and scalars (and bytes) and nothing else.

    A pickle may name any importable callable (``os.system``...) and unpickling calls it;
    the official batches need only NumPy's array reconstruction, so every other global is
    refused before it is looked up.
    """

    allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        found = self.allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"refusing to load the global '{module}.{name}': a CIFAR batch holds only NumPy "
                "arrays, lists, numbers and bytes (a crafted file could run code this way)"
            )
        return found


def _read_batch(path: Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One official pickle: b"data" (N, 3072) uint8 and N integer labels in [0, num_classes)
    under ``label_key``.

    Read with `_CifarUnpickler` (NumPy globals only); a corrupt, truncated or empty file,
    one that names any other global, or one whose contents differ from the official files
    (pixels of another dtype, labels that are not integers in range) raises ``ValueError``
    naming the file, the key and the dtype or first bad value — nothing is cast or dropped.
    """
    try:
        with open(path, "rb") as f:
            batch = _CifarUnpickler(f, encoding="bytes").load()
    except OSError:
        raise
    except Exception as err:  # EOFError, UnpicklingError, ValueError, ... from a bad file
        raise ValueError(
            f"{path}: cannot read this CIFAR batch (corrupt, truncated or not an official "
            f"CIFAR python batch): {type(err).__name__}: {err}"
        ) from err
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(
            f"{path}: not an official CIFAR python batch (expected keys b'data' and "
            f"{label_key!r}, found {keys})"
        )
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        found = f"dtype {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(
            f"{path}: b'data' must be uint8 pixels 0..255 (N, 3072), as in the official files, got {found}"
        )
    labels = _read_labels(path, batch[label_key], label_key, num_classes)
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(
            f"{path}: expected b'data' of shape (N, 3072) and N labels, got data "
            f"{data.shape} and labels {labels.shape}"
        )
    return data, labels


def _read_labels(path: Path, labels, label_key: bytes, num_classes: int) -> np.ndarray:
    """The labels as int64, refused unless every one is an integer in [0, num_classes)."""
    expected = f"{path}: {label_key!r} must be integers in [0, {num_classes})"
    if isinstance(labels, np.ndarray):
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{expected}, got an array of dtype {labels.dtype}")
        values = labels.reshape(-1).tolist()
    elif isinstance(labels, (list, tuple)):
        values = list(labels)
    else:
        raise ValueError(f"{expected}, got {type(labels).__name__}")
    for i, value in enumerate(values):
        integer = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if not integer or not 0 <= value < num_classes:
            raise ValueError(f"{expected}; entry {i} is {value!r} ({type(value).__name__})")
    return np.asarray(labels, dtype=np.int64)


def _select(
    data: np.ndarray,
    labels: np.ndarray,
    classes: list[int] | None,
    first_n: int | None,
    num_classes: int,
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``classes`` (relabelled 0..k−1 in the given order) and, per class, the first
    ``first_n`` samples in file order; the kept samples stay in file order."""
    chosen = list(range(num_classes)) if classes is None else classes
    keep = np.zeros(labels.shape[0], dtype=bool)
    for c in chosen:
        idx = np.flatnonzero(labels == c)
        if first_n is not None:
            if idx.size < first_n:
                raise ValueError(
                    f"{where}: asked for the first {first_n} images of class {c}, "
                    f"but the files hold only {idx.size}"
                )
            idx = idx[:first_n]
        keep[idx] = True
    relabel = np.full(num_classes, -1, dtype=np.int64)
    relabel[chosen] = np.arange(len(chosen))
    return data[keep], relabel[labels[keep]]


def _to_images(data: np.ndarray) -> np.ndarray:
    """(N, 3072) uint8 rows — R plane, G plane, B plane, each 32×32 row-major — to
    (N, 3, 32, 32) float32 in [0, 1]."""
    return (data.reshape(-1, 3, 32, 32).astype(np.float32)) / np.float32(255.0)


def _cifar(
    func: str,
    name: str,
    folder: str,
    train_files: Sequence[str],
    test_file: str,
    label_key: bytes,
    num_classes: int,
    data_dir,
    classes,
    first_n_per_class,
    test_first_n_per_class,
    what: str,
) -> Dataset:
    chosen = _check_classes(func, classes, num_classes)
    first_n = _check_optional_int(func, "first_n_per_class", first_n_per_class, 1)
    test_first_n = _check_optional_int(func, "test_first_n_per_class", test_first_n_per_class, 1)
    where = _find_cifar_folder(data_dir, folder, [*train_files, test_file], func)
    parts = [_read_batch(where / f, label_key, num_classes) for f in train_files]
    train_data = np.concatenate([p[0] for p in parts])
    train_labels = np.concatenate([p[1] for p in parts])
    test_data, test_labels = _read_batch(where / test_file, label_key, num_classes)
    train_data, train_labels = _select(
        train_data, train_labels, chosen, first_n, num_classes, f"{func} (training set)"
    )
    test_data, test_labels = _select(
        test_data, test_labels, chosen, test_first_n, num_classes, f"{func} (test set)"
    )
    k = num_classes if chosen is None else len(chosen)
    which = f"all {num_classes} {what}" if chosen is None else f"{what} {chosen} relabelled 0..{k - 1}"
    per_class = ""
    if first_n is not None or test_first_n is not None:
        per_class = (
            f", first {first_n or 'all'} train / {test_first_n or 'all'} test images per class in file order"
        )
    return Dataset(
        x_train=_to_images(train_data),
        y_train=train_labels,
        x_test=_to_images(test_data),
        y_test=test_labels,
        description=(
            f"{name.upper()} from {where}: {which}{per_class}; {train_labels.size} train / "
            f"{test_labels.size} test images (N, 3, 32, 32) float32 in [0, 1]"
        ),
        num_classes=k,
        name=name,
    )


def load_cifar10(
    data_dir: str | os.PathLike | None,
    classes: Sequence[int] | None = None,
    first_n_per_class: int | None = None,
    test_first_n_per_class: int | None = None,
) -> Dataset:
    """CIFAR-10 from the official python pickles (``cifar-10-batches-py/``).

    Reads ``data_batch_1`` … ``data_batch_5`` (training, 50000) and ``test_batch``
    (10000); each holds b"data" (N, 3072) uint8 — a row is the R plane, then G, then B,
    each 32×32 row-major — and b"labels". Returns x (N, 3, 32, 32) float32 = pixel/255,
    y (N,) int64.

    ``data_dir`` is the folder containing ``cifar-10-batches-py`` or that folder itself
    (``None``: :func:`default_data_dir`). ``classes=[0, 1]`` keeps those classes and
    relabels them 0..k−1 in the order given. ``first_n_per_class=800`` keeps, per class,
    the first 800 training images of that class in file order (``test_first_n_per_class``
    likewise for the test set) — the ICS experiment (Wang, §4.2) uses classes [0, 1], 800 and 1000.
    """
    return _cifar(
        "load_cifar10",
        "cifar10",
        _CIFAR10_FOLDER,
        _CIFAR10_TRAIN,
        _CIFAR10_TEST,
        b"labels",
        10,
        data_dir,
        classes,
        first_n_per_class,
        test_first_n_per_class,
        "classes",
    )


def load_cifar100(
    data_dir: str | os.PathLike | None,
    classes: Sequence[int] | None = None,
    first_n_per_class: int | None = None,
    test_first_n_per_class: int | None = None,
    label_mode: str = "fine",
) -> Dataset:
    """CIFAR-100 from the official python pickles (``cifar-100-python/train`` and ``test``).

    Same layout as :func:`load_cifar10` (b"data" (N, 3072) uint8, R/G/B planes), with
    labels b"fine_labels" (100 classes, ``label_mode="fine"``) or b"coarse_labels"
    (20 superclasses, ``label_mode="coarse"``). ``classes`` and the per-class limits
    refer to the chosen label mode.
    """
    modes = {"fine": (b"fine_labels", 100), "coarse": (b"coarse_labels", 20)}
    if label_mode not in modes:
        raise ValueError(f"load_cifar100: label_mode must be one of {sorted(modes)}, got {label_mode!r}")
    label_key, num_classes = modes[label_mode]
    return _cifar(
        "load_cifar100",
        "cifar100",
        _CIFAR100_FOLDER,
        (_CIFAR100_TRAIN,),
        _CIFAR100_TEST,
        label_key,
        num_classes,
        data_dir,
        classes,
        first_n_per_class,
        test_first_n_per_class,
        f"{label_mode} classes",
    )


# ------------------------------------------------------------------ preprocessing


@overload
def standardize(
    x_train: np.ndarray, x_test: np.ndarray, eps: float = 1e-8
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...


@overload
def standardize(
    x_train: np.ndarray, x_test: None = None, eps: float = 1e-8
) -> tuple[np.ndarray, None, np.ndarray, np.ndarray]: ...


def standardize(
    x_train: np.ndarray, x_test: np.ndarray | None = None, eps: float = 1e-8
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Standardize with statistics of the training set only.

        x̂ = (x − μ) / σ,   μ, σ per channel (axis 1) over all other axes of x_train

    For (N, C, H, W) the stats are per channel, shape (1, C, 1, 1); for (N, D) per
    feature, shape (1, D). A σ below ``eps`` (a constant pixel, e.g. a digits border) is
    replaced by 1, so that feature is only centred. Returns
    ``(x_train_std, x_test_std, mean, std)`` — new arrays in x_train's float dtype;
    ``x_test_std`` is ``None`` when ``x_test`` is.
    """
    x_train = np.asarray(x_train)
    if x_train.ndim < 2 or x_train.shape[0] < 1:
        raise ValueError(
            f"standardize: x_train must be (N, D) or (N, C, ...) with N >= 1, got shape {x_train.shape}"
        )
    dtype = x_train.dtype if np.issubdtype(x_train.dtype, np.floating) else np.float32
    axes = (0, *range(2, x_train.ndim))
    mean = x_train.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = x_train.std(axis=axes, keepdims=True, dtype=np.float64)
    std = np.where(std < eps, 1.0, std)

    def apply(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(dtype)

    x_test_std = None
    if x_test is not None:
        x_test = np.asarray(x_test)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise ValueError(
                f"standardize: x_test per-sample shape {x_test.shape[1:]} differs from "
                f"x_train's {x_train.shape[1:]}"
            )
        x_test_std = apply(x_test)
    return apply(x_train), x_test_std, mean.astype(dtype), std.astype(dtype)


def add_noise(
    x: np.ndarray,
    kind: str = "gaussian",
    level: float | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Return a noisy copy of x — the noise test of Bu, Jiang, Lu & Zhang 2026 (§4).

        gaussian:  x + ε,  ε ~ N(0, level²)
        uniform:   x + ε,  ε ~ U(−level, level)

    ``level`` ≥ 0 is required; ``rng`` is a ``numpy.random.Generator`` or an int seed.
    The result has x's shape and (floating) dtype; x is not modified.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"add_noise: kind must be one of {list(NOISE_KINDS)}, got {kind!r}")
    if level is None:
        raise TypeError("add_noise: level is required (the noise scale, a float >= 0)")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not math.isfinite(level):
        raise TypeError(f"add_noise: level must be a finite float >= 0, got {level!r}")
    if level < 0:
        raise ValueError(f"add_noise: level must be >= 0, got {level!r}")
    if rng is None:
        raise TypeError("add_noise: rng is required (a numpy.random.Generator or an int seed)")
    rng = _as_rng("add_noise", rng)
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    if kind == "gaussian":
        noise = rng.normal(0.0, float(level), size=x.shape)
    else:
        noise = rng.uniform(-float(level), float(level), size=x.shape)
    return (x + noise).astype(dtype)


def binarize(x: np.ndarray, threshold: float = 0.5, high: float = 1.0) -> np.ndarray:
    """x_b = high · 1[x > threshold], elementwise (every channel on its own).

    The input step of Wang's ICS experiment (§4.1: the input layer "performing binarization
    operations to the original images", each of R, G, B; its data then have maximum 100):
    ``binarize(x, 0.5, 100.0)`` on pixels in [0, 1] is that reading (`ics.paper_input`).
    Returns a new array of x's floating dtype (float32 for integer x); x is not modified.
    """
    for name, value in (("threshold", threshold), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"binarize: {name} must be a finite float, got {value!r}")
    if high <= 0:
        raise ValueError(f"binarize: high must be > 0 (the value of a set pixel), got {high!r}")
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    return np.where(x > threshold, high, 0.0).astype(dtype)


# ------------------------------------------------------------------------ dispatch


def load(name: str, data_dir: str | os.PathLike | None = None, **kw) -> Dataset:
    """Load a dataset by name: ``"digits"``, ``"cifar10"``, ``"cifar100"``, ``"abs"``,
    ``"compare"``; keyword arguments go to the loader. ``data_dir`` is used by the CIFAR
    loaders only (``None``: :func:`default_data_dir`, read when called)."""
    if name not in DATASET_NAMES:
        raise ValueError(f"load: unknown dataset {name!r}; known names: {list(DATASET_NAMES)}")
    if name == "abs":
        return abs_task(**kw)
    if name == "compare":
        return compare_task(**kw)
    if name == "digits":
        return digits(**kw)
    if data_dir is None:
        data_dir = default_data_dir()
    if name == "cifar10":
        return load_cifar10(data_dir, **kw)
    return load_cifar100(data_dir, **kw)


def batches(
    n: int,
    batch_size: int,
    rng: np.random.Generator | int | None = None,
    shuffle: bool = True,
) -> Iterator[np.ndarray]:
    """Yield index arrays that cover range(n) exactly once per pass.

    ``ceil(n / batch_size)`` batches; the last one is partial when batch_size does not
    divide n. With ``shuffle`` the order is ``rng.permutation(n)`` (``rng``: a
    ``numpy.random.Generator`` or an int seed, required); without it, 0..n−1 in order.

        for idx in batches(len(x), 50, rng):
            loss = step(x[idx], y[idx])
    """
    # Arguments are checked here, when batches() is called, not at the first next().
    n = _check_int("batches", "n", n, 0)
    batch_size = _check_int("batches", "batch_size", batch_size, 1)
    if shuffle:
        if rng is None:
            raise TypeError("batches: shuffle=True needs rng (a numpy.random.Generator or an int seed)")
        order = _as_rng("batches", rng).permutation(n)
    else:
        order = np.arange(n)
    return (order[start : start + batch_size] for start in range(0, n, batch_size))
