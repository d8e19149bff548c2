"""How the error travels between layers: the feedback seam of ``Sequential.backward``.

For each layer i, from the top, the network runs::

    delta = rule.before_layer(i, layer, delta)   # the error about to enter layer i
    delta = layer.backward(delta)                # layer i takes its gradients, passes down
    delta = rule.after_layer(i, layer, delta)    # the error leaving layer i downwards

The plain rule changes nothing — that is ordinary backpropagation. A rule that scales
the error *before* a Dense layer scales that layer's own gradients; one that scales it
*after* scales only what the layers below receive. Pseudo-normalization (PN) and
gradient amplification are rules of this kind (``pseudo_normalization.PseudoNormalize``,
``amplify.Amplify``); no layer is changed for them.
"""

from __future__ import annotations

__all__ = ["FeedbackRule"]


class FeedbackRule:
    """The identity rule; subclasses override what they need."""

    def bind(self, net) -> None:
        """Called when attached to a network: validate it, raising ``ValueError`` naming the layer."""
        self.net = net

    def before_layer(self, index: int, layer, delta):
        """Return the error that enters layer ``index`` (default: unchanged)."""
        return delta

    def after_layer(self, index: int, layer, delta):
        """Return the error that layer ``index`` passes down (default: unchanged).

        ``delta`` is ``None`` below the bottom layer of ``net.backward(..., input_grad=False)``
        (no error for the input was computed); a rule then returns ``None``, but still sees
        the layer and its gradients."""
        return delta

    def __repr__(self):
        return f"{type(self).__name__}()"
