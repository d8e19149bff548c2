"""Atomic, pickle-free checkpoints: network + optimizer + history in one `.npz`.

A checkpoint is a NumPy `.npz` archive (a zip of `.npy` arrays):

    net/<name>        one array per entry of ``net.state_dict()``  (e.g. ``net/0.weight``)
    optim/<path>      every array found in ``optimizer.state_dict()``
    __meta__          a 0-d unicode array holding JSON: format (1) and library version,
                      architecture (``net.describe()``, each layer's class name and the
                      parameter shapes), the optimizer state
                      with its arrays replaced by references, the training history and
                      any user metadata

It is read back with ``np.load(path, allow_pickle=False)``: a checkpoint that came
from somewhere else can hold only plain arrays and text, never objects that run code
when they are loaded.

The write is atomic: the archive goes to a temporary file in the same directory, is
flushed and fsync'ed, and only then replaces the target with ``os.replace`` (atomic on
POSIX and Windows). A save interrupted at any point leaves the previous checkpoint
as it was.

    save_checkpoint("run/last.npz", net, optimizer, history, metadata={"epoch": 3})
    info = load_checkpoint("run/last.npz", net, optimizer)   # info.history, info.metadata
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
    "atomic_write",
    "library_version",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

FORMAT_VERSION = 1
_META_KEY = "__meta__"


class CheckpointError(ValueError):
    """A file is not a readable nanograd_ad checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint does not fit the network (or optimizer) it is loaded into."""


def library_version() -> str:
    """The nanograd_ad version (``nanograd_ad.__version__``)."""
    return __version__


# --------------------------------------------------------------------------- atomic write


def atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], Any] | bytes | str) -> Path:
    """Write a file so that readers see either the old content or the complete new one.

    ``write`` is bytes, text (UTF-8) or a function that writes to a binary file object.
    Steps: temporary file in the target's directory → write → flush → fsync →
    ``os.replace(tmp, path)`` → fsync the directory. On any error the temporary file is
    removed and the old file is untouched. After a successful replace, temporary files
    of the same target left by a write that was killed (no cleanup ran) are removed.
    """
    path = check_target("atomic_write", path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(write):
                write(handle)
            elif isinstance(write, str):
                handle.write(write.encode("utf-8"))
            else:
                handle.write(write)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _default_file_mode())  # mkstemp makes it 0600; like open() instead
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)
    for stale in directory.glob(f".{glob_escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
    return path


def check_target(owner: str, path, directory_error: type[Exception] = IsADirectoryError) -> Path:
    """Refuse a path a file cannot be written to: empty, or an existing directory
    (``directory_error`` is raised for that, naming it). Returns it as a Path."""
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValueError(f"{owner}: path must be a file name, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise directory_error(
            f"{owner}: path {path} is a directory; give a file name inside it, e.g. {path / 'last.npz'}"
        )
    return path


def glob_escape(name: str) -> str:
    """``name`` with the glob metacharacters ``*?[`` taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _default_file_mode() -> int:
    """0o666 less the process umask: the mode ``open(path, "w")`` (and a saved plot) gets."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# ----------------------------------------------------------- nested state <-> arrays + JSON


def _host(value):
    """A host (NumPy) copy of a backend array; other values pass through."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__cuda_array_interface__") or type(value).__module__.startswith("cupy"):
        from . import backend

        return np.asarray(backend.to_numpy(value))
    return value


def _flatten(value, prefix: str, arrays: dict[str, np.ndarray]):
    """Replace every array in a nested structure by ``{"__array__": key}``; fill ``arrays``."""
    value = _host(value)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise CheckpointError(
                f"cannot save object array at {prefix!r}: checkpoints hold plain arrays only"
            )
        arrays[prefix] = value
        return {"__array__": prefix}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {"__dict__": [[str(k), _flatten(v, f"{prefix}/{k}", arrays)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_flatten(v, f"{prefix}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_flatten(v, f"{prefix}/{i}", arrays) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"cannot save value of type {type(value).__name__} at {prefix!r}")


def _unflatten(node, arrays):
    """Inverse of `_flatten`."""
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__tuple__" in node:
            return tuple(_unflatten(v, arrays) for v in node["__tuple__"])
        if "__dict__" in node:
            return {k: _unflatten(v, arrays) for k, v in node["__dict__"]}
        return {k: _unflatten(v, arrays) for k, v in node.items()}
    if isinstance(node, list):
        return [_unflatten(v, arrays) for v in node]
    return node


def _json_default(value):
    value = _host(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# ------------------------------------------------------------------------------ save / load


@dataclass
class Checkpoint:
    """What `read_checkpoint` finds in a file (all host NumPy arrays)."""

    net_state: dict[str, np.ndarray]
    optimizer_state: dict | None
    history: dict | None
    metadata: dict = field(default_factory=dict)
    version: str = "unknown"
    architecture: dict = field(default_factory=dict)
    optimizer_class: str | None = None


def save_checkpoint(path, net, optimizer=None, history=None, metadata: dict | None = None) -> Path:
    """Save ``net.state_dict()``, ``optimizer.state_dict()`` and ``history`` atomically.

    ``history`` is a `nanograd_ad.train.History` or a plain dict; ``metadata`` is any
    JSON-serializable dict (epoch, config, ...). The file is written exactly at ``path``
    (no suffix is added). Returns the path.
    """
    check_target("save_checkpoint", path)
    arrays: dict[str, np.ndarray] = {}
    net_state = net.state_dict()
    for name, value in net_state.items():
        arrays[f"net/{name}"] = np.asarray(_host(value))
    optimizer_state = None
    if optimizer is not None:
        optimizer_state = _flatten(optimizer.state_dict(), "optim", arrays)
    if history is not None and hasattr(history, "to_dict"):
        history = history.to_dict()
    describe = getattr(net, "describe", None)
    meta = {
        "format": FORMAT_VERSION,
        "version": library_version(),
        "architecture": {
            "description": describe() if callable(describe) else repr(net),
            "layers": _layer_kinds_of(net),
            "parameters": {name: list(np.shape(v)) for name, v in net_state.items()},
        },
        "optimizer": None
        if optimizer is None
        else {"class": type(optimizer).__name__, "state": optimizer_state},
        "history": history,
        "metadata": metadata or {},
    }
    arrays[_META_KEY] = np.array(json.dumps(meta, default=_json_default))

    def write(handle) -> None:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # NumPy's stub: a key could be allow_pickle

    return atomic_write(path, write)


def read_checkpoint(path) -> Checkpoint:
    """Read a checkpoint without loading it anywhere (``allow_pickle=False``)."""
    path = Path(path)
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise CheckpointError(f"{path}: not a readable .npz checkpoint (not a zip archive)")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                try:
                    arrays[key] = archive[key]
                except ValueError as err:
                    if "allow_pickle" in str(err):  # object arrays need pickle: refused
                        raise CheckpointError(
                            f"{path}: refusing to load entry {key!r} (it holds pickled objects; "
                            f"checkpoints are plain arrays): {err}"
                        ) from err
                    raise CheckpointError(f"{path}: entry {key!r} is corrupt: {err}") from err
                except Exception as err:
                    raise CheckpointError(f"{path}: entry {key!r} is corrupt: {err}") from err
    except (FileNotFoundError, CheckpointError):
        raise
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint: {err}") from err
    if _META_KEY not in arrays:
        raise CheckpointError(f"{path}: not a nanograd_ad checkpoint (no {_META_KEY} entry)")
    try:
        meta = json.loads(str(arrays.pop(_META_KEY)))
        if not isinstance(meta, dict):
            raise TypeError(f"expected a JSON object, found {type(meta).__name__}")
        found_format = meta.get("format")
        if isinstance(found_format, bool) or found_format != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: entry {_META_KEY!r} gives checkpoint format {found_format!r}; this "
                f"nanograd_ad reads format {FORMAT_VERSION} (the file names version {meta.get('version')!r})"
            )
        if not isinstance(meta.get("version", "unknown"), str):
            raise CheckpointError(
                f"{path}: entry {_META_KEY!r}: version must be a string, found {meta['version']!r}"
            )
        net_state = {key[len("net/") :]: value for key, value in arrays.items() if key.startswith("net/")}
        optimizer_state = optimizer_class = None
        if meta.get("optimizer") is not None:
            optimizer_class = meta["optimizer"].get("class")
            optimizer_state = _unflatten(meta["optimizer"]["state"], arrays)
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(
            f"{path}: entry {_META_KEY!r} is corrupt ({type(err).__name__}: {err})"
        ) from err
    return Checkpoint(
        net_state=net_state,
        optimizer_state=optimizer_state,
        history=meta.get("history"),
        metadata=meta.get("metadata") or {},
        version=meta.get("version", "unknown"),
        architecture=meta.get("architecture") or {},
        optimizer_class=optimizer_class,
    )


def check_compatible(net, net_state: dict[str, np.ndarray], source: str = "checkpoint") -> None:
    """Raise `CheckpointMismatchError` naming the first parameter whose name or shape differs."""
    expected = {name: tuple(np.shape(v)) for name, v in net.state_dict().items()}
    found = {name: tuple(np.shape(v)) for name, v in net_state.items()}
    for name, shape in expected.items():
        if name not in found:
            raise CheckpointMismatchError(
                f"{source} does not fit this network: parameter {name!r} (shape {shape}) is missing "
                f"from the {source}, which has {sorted(found)}"
            )
        if found[name] != shape:
            raise CheckpointMismatchError(
                f"{source} does not fit this network: parameter {name!r} expected shape {shape}, "
                f"found {found[name]} in the {source}"
            )
    unexpected = sorted(set(found) - set(expected))
    if unexpected:
        raise CheckpointMismatchError(
            f"{source} does not fit this network: unexpected parameters {unexpected} "
            f"(this network has {sorted(expected)})"
        )


def _layer_kinds_of(net) -> dict[str, str] | None:
    """``{"0": "Dense", "1": "ReLU", "3.branch.0": "Conv2D", …}``: each layer's class name.

    The class *name*, so a fast-wing subclass (``nanograd_ad.fast``'s ``Dense`` is a subclass
    of the reference ``Dense``, under the same name) counts as the same layer. None for a
    network without :meth:`~nanograd_ad.network.Sequential.walk`.
    """
    walk = getattr(net, "walk", None)
    return {name: type(layer).__name__ for name, layer in walk()} if callable(walk) else None


def _stored_layer_kinds(architecture: dict) -> dict[str, str] | None:
    """The layer kinds a checkpoint stored; for one written before they were stored, read from
    the first word of each row of its ``describe()`` table (None when that cannot be read)."""
    kinds = architecture.get("layers")
    if isinstance(kinds, dict):
        return {str(k): str(v) for k, v in kinds.items()}
    description = architecture.get("description")
    if not isinstance(description, str):
        return None
    found = {}
    for row in description.splitlines()[1:]:
        match = re.match(r"(\d+(?:\.\w+\.\d+)*)\s+([A-Za-z_]\w*)\(", row)
        if match:
            found[match.group(1)] = match.group(2)
    return found or None


def check_layer_kinds(net, architecture: dict, source: str = "checkpoint") -> None:
    """Refuse a checkpoint whose layers are of other kinds than ``net``'s at the same positions
    (a ReLU network's weights in a Tanh network of the same shapes), naming the first one."""
    ours, theirs = _layer_kinds_of(net), _stored_layer_kinds(architecture)
    if ours is None or theirs is None:
        return
    hint = "to load the weights anyway: net.load_state_dict(read_checkpoint(path).net_state)"
    for name, kind in ours.items():
        if name in theirs and theirs[name] != kind:
            raise CheckpointMismatchError(
                f"{source} does not fit this network: layer {name} is {theirs[name]} in the checkpoint "
                f"but {kind} here; {hint}"
            )
    if isinstance(architecture.get("layers"), dict) and set(ours) != set(theirs):  # (stored, not read)
        raise CheckpointMismatchError(
            f"{source} does not fit this network: it has {len(theirs)} layers, this network "
            f"{len(ours)} (layers {sorted(set(ours) ^ set(theirs))} are in only one of them); {hint}"
        )


def load_checkpoint(path, net, optimizer=None) -> Checkpoint:
    """Load a checkpoint into ``net`` (and ``optimizer`` if given); return what was read.

    Everything is checked before anything is changed: the parameter names and shapes, the
    kind of each layer (a checkpoint of a ReLU network does not load into a Tanh network;
    a fast-wing class and its reference class are the same kind; the derivative a layer
    uses does not count), every value (real and finite) and the optimizer's state. A
    checkpoint that does not fit raises `CheckpointMismatchError` naming the first entry
    that differs, with what was expected and found, and leaves ``net`` and ``optimizer``
    untouched. The history comes back as a dict in ``.history`` (``History.from_dict``
    rebuilds the object).
    """
    checkpoint = read_checkpoint(path)
    source = f"checkpoint {Path(path).name}"
    check_compatible(net, checkpoint.net_state, source=source)
    check_layer_kinds(net, checkpoint.architecture, source=source)
    optimizer_values = None
    if optimizer is not None:
        if checkpoint.optimizer_state is None:
            raise CheckpointMismatchError(f"{source} holds no optimizer state")
        own_class = type(optimizer).__name__
        if checkpoint.optimizer_class not in (None, own_class):
            raise CheckpointMismatchError(
                f"{source} holds {checkpoint.optimizer_class} optimizer state; refusing to load it "
                f"into {own_class} (its learning rate and buffers mean something else)"
            )
        try:
            optimizer_values = optimizer.check_state(checkpoint.optimizer_state)
        except (TypeError, ValueError) as err:
            raise CheckpointMismatchError(f"{source}: {err}") from err
    net.load_state_dict(checkpoint.net_state)  # checks every value before writing any
    if optimizer is not None:
        optimizer._apply_state(optimizer_values)
    return checkpoint
