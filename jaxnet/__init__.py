"""jaxnet: feed-forward neural networks as pure JAX functions, following the lecture on feed-forward networks.

Modules, in the order they import each other: :mod:`jaxnet.activations` and :mod:`jaxnet.losses` (φ and L with
their derivatives), :mod:`jaxnet.mlp` (init / forward / apply), :mod:`jaxnet.perceptron`, :mod:`jaxnet.backprop`
(hand-written gradients), :mod:`jaxnet.gradcheck` (a student's back-propagation checked, its mistake named), then
the training engine: :mod:`jaxnet.program` (the compiled step and epochs), :mod:`jaxnet.evaluation`,
:mod:`jaxnet.stream` (training data gathered by the host), :mod:`jaxnet.datachecks` (the checks on data where it
enters), :mod:`jaxnet.distributed` (multi-process runs) and :mod:`jaxnet.placement` (the device mesh and what each
device holds), :mod:`jaxnet.checkpoint` (files and the resume policy), :mod:`jaxnet.callbacks` (what runs between
compiled calls: checkpoints, early stopping, logs, the progress bar, TensorBoard) and :mod:`jaxnet.train`
(``Trainer``, ``fit``, ``make_step``, ``evaluate``), and :mod:`jaxnet.data` (MNIST loading; imports
tensorflow-datasets only when asked to). :mod:`jaxnet.loop` is deprecated: its helpers moved to where they are used.
"""

from importlib import metadata as _metadata

try:  # one version number: pyproject.toml's, as the installed distribution records it
    __version__ = _metadata.version("jaxnet-lecture")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

from jaxnet import (
    activations,
    backprop,
    callbacks,
    checkpoint,
    data,
    datachecks,
    distributed,
    evaluation,
    gradcheck,
    loop,  # noqa: F401  (deprecated; kept importable as jaxnet.loop for one release)
    losses,
    mlp,
    perceptron,
    placement,
    program,
    stream,
    train,
)
from jaxnet.mlp import Net

__all__ = ["Net", "activations", "backprop", "callbacks", "checkpoint", "data", "datachecks", "distributed",
           "evaluation", "gradcheck", "losses", "mlp", "perceptron", "placement", "program", "stream", "train"]
