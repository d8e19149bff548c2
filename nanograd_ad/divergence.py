"""When training diverges: find the layer and pass where NaN/Inf first appeared, and say so.

`train.Trainer` checks each batch's loss (and, with ``check_gradients``, the gradients
before the update). On a non-finite value it runs the failing batch again with
``net.check_finite = True``, so the network's `network.NonFiniteError` names the first
layer and pass with NaN/Inf, and raises `TrainingDiverged` with that diagnosis.
"""

from __future__ import annotations

from typing import Any

from . import backend

__all__ = ["TrainingDiverged", "diagnose", "gradients_finite", "locate_nonfinite", "nonfinite_count"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN/Inf. Names the epoch, batch and (when found) the layer and pass."""

    def __init__(
        self, message, *, epoch, batch, layer_index=None, layer_name=None, pass_name=None, history=None
    ):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.layer_index = layer_index
        self.layer_name = layer_name
        self.pass_name = pass_name
        self.history = history


def nonfinite_count(net):
    """The number of NaN/Inf entries in ``net``'s gradients, as a 0-d device array (no read)."""
    xp = backend.xp
    bad = xp.zeros((), dtype=xp.float64)
    for p in net.parameters():
        bad = bad + xp.count_nonzero(~xp.isfinite(p.grad))
    return bad


def gradients_finite(net) -> bool:
    """One device reduction and one read: are all of ``net``'s gradients free of NaN/Inf?"""
    return int(nonfinite_count(net)) == 0


def locate_nonfinite(net, loss, xb, yb):
    """Re-run a failing batch with ``net.check_finite = True``; the core's
    `NonFiniteError` names the first layer and pass with NaN/Inf (None if not found).
    The gradients are zero afterwards."""
    from .network import NonFiniteError

    previous = getattr(net, "check_finite", False)
    net.check_finite = True
    net.zero_grad()  # backward accumulates: start the re-run from clean gradients
    try:
        pred = net(xb)
        loss.forward(pred, yb)
        net.backward(loss.backward())
    except NonFiniteError as err:
        return err
    finally:
        net.check_finite = previous
        net.zero_grad()
    return None


def diagnose(net, loss, xb, yb, *, epoch: int, batch: int, value: float, what: str = "loss"):
    """(message, info) for a non-finite ``what`` ("loss" or "gradient") at (epoch, batch):
    where NaN/Inf first appears, and which parameters are non-finite already."""
    error = locate_nonfinite(net, loss, xb, yb)
    bad_params = [name for name, p in net.named_parameters() if not bool(backend.xp.isfinite(p.data).all())]
    if what == "loss":
        where = f"loss is {value} at epoch {epoch}, batch {batch}"
    else:
        where = f"non-finite gradients at epoch {epoch}, batch {batch} (loss {value:.6g}); no update was made"
    info: dict[str, Any] = {"batch": batch, "loss": str(value), "found_in": what}
    if error is not None:
        info.update(layer_index=error.layer_index, layer_name=error.layer_name, pass_name=error.pass_name)
        where += (
            f"; non-finite values first appear in layer {error.layer_index} ({error.layer_name}) "
            f"during the {error.pass_name} pass"
        )
    elif what == "loss":
        where += "; every layer's output is finite, so the loss itself overflowed"
    if bad_params:
        info["nonfinite_parameters"] = bad_params
        where += (
            f"; parameters {bad_params} are already non-finite "
            "(an earlier update produced them: lower the lr or clip the gradients)"
        )
    return "training diverged: " + where, info
