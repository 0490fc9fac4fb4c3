"""jaxnet: feed-forward neural networks as pure JAX functions, following the lecture on feed-forward networks.

Modules, in the order they import each other: :mod:`jaxnet.activations` and :mod:`jaxnet.losses` (φ and L with
their derivatives), :mod:`jaxnet.mlp` (init / forward / apply), :mod:`jaxnet.perceptron`, :mod:`jaxnet.backprop`
(hand-written gradients), :mod:`jaxnet.train` and :mod:`jaxnet.checkpoint` (optax training), :mod:`jaxnet.data`
(MNIST loading; imports tensorflow-datasets only when asked to).
"""

__version__ = "0.1.0"

from jaxnet import activations, backprop, checkpoint, data, losses, mlp, perceptron, train

__all__ = ["activations", "backprop", "checkpoint", "data", "losses", "mlp", "perceptron", "train"]
