"""Checkpoints: exact round trip, clear mismatch errors, atomic writes, no pickle."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nanograd_ad
from nanograd_ad import checkpoint as ckpt
from nanograd_ad.activations import ReLU
from nanograd_ad.callbacks import Checkpointing
from nanograd_ad.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    atomic_write,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from nanograd_ad.init import seed
from nanograd_ad.layers import Dense
from nanograd_ad.losses import SoftmaxCrossEntropy
from nanograd_ad.network import Sequential
from nanograd_ad.optim import SGD, Adam
from nanograd_ad.train import History, Trainer, fit

REPO = Path(__file__).resolve().parent.parent


def data(n=96, seed_=0):
    rng = np.random.default_rng(seed_)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x, y


def make_net(hidden=8, seed_=0):
    seed(seed_)
    return Sequential(Dense(4, hidden), ReLU(), Dense(hidden, 3))


def trained(tmp_path=None):
    """A net and Adam after two epochs, with their history."""
    net = make_net()
    optimizer = Adam(net.parameters(), lr=1e-2)
    trainer = Trainer(net, SoftmaxCrossEntropy(), optimizer, data(), batch_size=16, progress=False)
    trainer.fit(2)
    return net, optimizer, trainer.history


def step_all(net, optimizer, x, y):
    """One deterministic pass over fixed batches."""
    loss = SoftmaxCrossEntropy()
    for start in range(0, len(x), 16):
        loss.forward(net(x[start : start + 16]), y[start : start + 16])
        net.backward(loss.backward())
        optimizer.step()
        optimizer.zero_grad()


def test_round_trip_is_exact_and_training_continues_identically(tmp_path):
    net, optimizer, history = trained()
    history.record(1, "switch", mode="original")
    path = save_checkpoint(tmp_path / "run.npz", net, optimizer, history, metadata={"epoch": 1, "note": "x"})
    assert path == tmp_path / "run.npz"

    other = make_net(seed_=7)  # different weights, fresh optimizer state
    other_opt = Adam(other.parameters(), lr=0.5)
    info = load_checkpoint(path, other, other_opt)
    for name, value in net.state_dict().items():
        loaded = other.state_dict()[name]
        assert loaded.dtype == value.dtype
        np.testing.assert_array_equal(loaded, value)
    assert (other_opt.lr, other_opt.steps) == (optimizer.lr, optimizer.steps)
    for a, b in zip(optimizer.m + optimizer.v, other_opt.m + other_opt.v):
        np.testing.assert_array_equal(a, b)
    assert History.from_dict(info.history).to_dict() == history.to_dict()
    assert info.metadata == {"epoch": 1, "note": "x"}
    assert info.version == nanograd_ad.__version__
    assert "Dense" in info.architecture["description"]
    assert info.architecture["parameters"]["0.weight"] == [4, 8]

    x, y = data(64, seed_=3)
    step_all(net, optimizer, x, y)
    step_all(other, other_opt, x, y)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[name], value)


def test_sgd_momentum_state_round_trips(tmp_path):
    net = make_net()
    optimizer = SGD(net.parameters(), lr=0.1, momentum=0.9)
    fit(net, SoftmaxCrossEntropy(), optimizer, data(), 1, batch_size=32, progress=False)
    save_checkpoint(tmp_path / "sgd.npz", net, optimizer)
    other = make_net(seed_=3)
    other_opt = SGD(other.parameters(), lr=0.1, momentum=0.9)
    load_checkpoint(tmp_path / "sgd.npz", other, other_opt)
    for a, b in zip(optimizer.velocity, other_opt.velocity):
        np.testing.assert_array_equal(a, b)


def test_wrong_architecture_names_parameter_and_shapes(tmp_path):
    net, optimizer, history = trained()
    path = save_checkpoint(tmp_path / "run.npz", net, optimizer, history)
    wider = make_net(hidden=16)
    before = wider.state_dict()
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(path, wider)
    message = str(info.value)
    assert "'0.weight'" in message and "(4, 16)" in message and "(4, 8)" in message
    for name, value in wider.state_dict().items():  # untouched
        np.testing.assert_array_equal(value, before[name])
    deeper = Sequential(Dense(4, 8), ReLU(), Dense(8, 3), ReLU(), Dense(3, 3))
    with pytest.raises(CheckpointMismatchError, match=r"'4.weight'.*missing"):
        load_checkpoint(path, deeper)
    shallower = Sequential(Dense(4, 8))
    with pytest.raises(CheckpointMismatchError, match=r"unexpected parameters.*2.bias"):
        load_checkpoint(path, shallower)
    no_optimizer = save_checkpoint(tmp_path / "net_only.npz", net)
    with pytest.raises(CheckpointMismatchError, match="no optimizer state"):
        load_checkpoint(no_optimizer, make_net(), Adam(make_net().parameters()))


def assert_unchanged(path, reference_net):
    info = read_checkpoint(path)
    for name, value in reference_net.state_dict().items():
        np.testing.assert_array_equal(info.net_state[name], value)


def leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith(".tmp"))


def test_save_failing_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    net, optimizer, history = trained()
    path = save_checkpoint(tmp_path / "last.npz", net, optimizer, history)
    changed = make_net(seed_=5)

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")  # some bytes reach the temporary file
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, changed, optimizer, history)
    monkeypatch.undo()
    assert_unchanged(path, net)
    assert leftovers(tmp_path) == []


def test_replace_failing_keeps_the_old_file(tmp_path, monkeypatch):
    net, optimizer, history = trained()
    path = save_checkpoint(tmp_path / "last.npz", net, optimizer, history)

    def broken_replace(src, dst):
        raise OSError("interrupted before the rename")

    monkeypatch.setattr(ckpt.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename"):
        save_checkpoint(path, make_net(seed_=5), optimizer, history)
    monkeypatch.undo()
    assert_unchanged(path, net)
    assert leftovers(tmp_path) == []


def test_process_killed_mid_save_leaves_the_old_checkpoint_loadable(tmp_path):
    """SIGKILL in the middle of np.savez: no cleanup runs, the old file must still load."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        import numpy as np
        from nanograd_ad import checkpoint as ckpt
        from nanograd_ad.init import seed
        from nanograd_ad.layers import Dense
        from nanograd_ad.network import Sequential
        seed(0)
        net = Sequential(Dense(4, 8), Dense(8, 3))
        ckpt.save_checkpoint({str(tmp_path / "last.npz")!r}, net)
        real_savez = np.savez
        def dying_savez(file, **arrays):
            file.write(b"PK\\x03\\x04" + b"x" * 1000)
            file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        ckpt.np.savez = dying_savez
        seed(1)
        ckpt.save_checkpoint({str(tmp_path / "last.npz")!r}, Sequential(Dense(4, 8), Dense(8, 3)))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    seed(0)
    reference = Sequential(Dense(4, 8), Dense(8, 3))
    assert_unchanged(tmp_path / "last.npz", reference)
    assert len(leftovers(tmp_path)) == 1  # the killed write's temporary file, never the target
    # the next save of the same checkpoint removes the killed write's stale temporary file
    save_checkpoint(tmp_path / "last.npz", reference)
    assert leftovers(tmp_path) == []


def test_pickled_objects_are_refused(tmp_path):
    evil = tmp_path / "evil.npz"
    np.savez(evil, __meta__=np.array("{}"), payload=np.array([{"run": "code"}], dtype=object))
    with pytest.raises(CheckpointError, match="pickle"):
        read_checkpoint(evil)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a nanograd_ad checkpoint"):
        read_checkpoint(plain)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable"):
        read_checkpoint(junk)


def test_atomic_write_text_and_callable(tmp_path):
    target = tmp_path / "sub" / "r.json"
    atomic_write(target, json.dumps({"a": 1}))
    assert json.loads(target.read_text()) == {"a": 1}
    atomic_write(target, lambda handle: handle.write(b"{}"))
    assert target.read_text() == "{}"
    assert leftovers(target.parent) == []


def test_checkpointing_callback_saves_every_n_epochs_and_at_the_end(tmp_path):
    path = tmp_path / "ck.npz"
    saver = Checkpointing(path, every=2, metadata={"run": "a"})
    net = make_net()
    fit(net, SoftmaxCrossEntropy(), "adam", data(), 5, batch_size=32, callbacks=[saver], progress=False)
    assert saver.saved_epochs == [1, 3, 4]
    info = read_checkpoint(path)
    assert info.metadata == {"run": "a", "epoch": 4}
    assert len(info.history["epoch"]) == 5
    assert_unchanged(path, net)
