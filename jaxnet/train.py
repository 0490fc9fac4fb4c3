"""Training with optax: a jitted update step, whole-epoch compiled training, ensembles and data parallelism.

* :func:`make_step` builds a pure, jitted ``step(params, opt_state, x, y) -> (params, opt_state, loss)`` for any
  ``optax.GradientTransformation``, with gradients from ``jax.grad`` or from the hand-written
  :func:`jaxnet.backprop.manual_grad`.
* :class:`Trainer` holds one network's training: it checks the network, loss and optimizer once, builds its
  compiled programs on first use and keeps them. ``trainer.init(params)`` gives a :class:`TrainState` and
  ``trainer.fit(state, x, y, epochs=..., key=...)`` trains it up to the final epoch ``epochs``. Each epoch is ONE
  compiled program (:mod:`jaxnet.program`): a ``lax.scan`` over the epoch's shuffled minibatches, so no Python runs
  between batches. Epoch e shuffles with ``fold_in(key, e)``, so the same key gives bit-identical parameters, and
  training continued from a state or resumed from a checkpoint equals one uninterrupted run. Between compiled
  calls of ``epochs_per_call`` epochs the host evaluates (:mod:`jaxnet.evaluation`), checks for divergence and runs
  the callbacks (:mod:`jaxnet.callbacks`: checkpoints, early stopping, logs, progress, TensorBoard).
* :func:`fit` is the one-call form: a fresh ``Trainer`` trained from ``params`` for ``epochs`` epochs.
* Ensembles: ``fit(..., ensemble=True)`` trains K networks stacked along a leading axis (see
  :func:`jaxnet.mlp.init_ensemble`), with ``jax.vmap`` in one program on accelerators and one member after another
  on a CPU, where that is faster (:func:`jaxnet.program.members_one_by_one`); per-member hyperparameters go through
  ``optax.inject_hyperparams``.
* Devices and processes: :func:`jaxnet.placement.make_mesh` builds a ``("members", "data")`` mesh. An ensemble's
  members are sharded over ``"members"``; the data sets and every minibatch over ``"data"`` (each device holds its
  rows only), with the parameters replicated along it and the gradient all-reduced by XLA. The same call runs on one
  device, many, or many processes (:mod:`jaxnet.distributed`), where only process 0 writes files.

The network is a :class:`jaxnet.mlp.Net` (or the ``activation=`` / ``output=`` keywords that build one), the loss a
name or a :class:`jaxnet.losses.Loss`. Data is checked once, where it enters (:mod:`jaxnet.datachecks`): shapes,
NaN or inf, labels in range.
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnet import callbacks as cb
from jaxnet import checkpoint, distributed, evaluation, losses, mlp, placement, program, stream
from jaxnet.datachecks import UnscaledInputWarning, check_data, check_input_scale, check_inputs  # noqa: F401

Array = jax.Array
GRADS = program.GRADS
make_epochs = program.make_epochs
make_evaluate = evaluation.make_evaluate


def make_step(optimizer: optax.GradientTransformation, net: mlp.Net | None = None, *, loss: str | losses.Loss,
              activation: mlp.ActivationSpec | None = None, output: str | None = None,
              grad: str = "autodiff"):
    """A jitted training step for one minibatch.

    Args:
      optimizer: any ``optax.GradientTransformation`` (``optax.sgd(0.1)``, ``optax.adam(1e-3)``, ...).
      net: the activations (:class:`jaxnet.mlp.Net`); or give ``activation`` / ``output`` names instead.
      loss: ``"mse"``, ``"mae"``, ``"cross_entropy"`` or any registered :class:`jaxnet.losses.Loss`.
      grad: ``"autodiff"`` (``jax.grad``) or ``"manual"`` (:func:`jaxnet.backprop.manual_grad`).

    Returns:
      ``step(params, opt_state, x, y, key=None) -> (params, opt_state, loss_value)``, pure and jitted; it compiles
      once per input shape and dtype. ``key`` draws the step's dropout, and a net with dropout needs one per step.

    Raises:
      ValueError: unknown names, or a softmax output before a loss that takes logits.

    >>> import jax, jax.numpy as jnp, optax
    >>> from jaxnet import mlp
    >>> params = mlp.init(jax.random.key(0), [2, 8, 1])
    >>> optimizer = optax.sgd(0.1)
    >>> step = make_step(optimizer, mlp.Net("tanh"), loss="mse")
    >>> params, opt_state, loss = step(params, optimizer.init(params), jnp.ones((4, 2)), jnp.zeros((4, 1)))
    """
    net = mlp.as_net(net, activation, output)
    return jax.jit(program.make_update(optimizer, net, losses.get(loss), grad))


class RestartedEpochsWarning(UserWarning):
    """``fit`` was given an optimizer state to continue from but not ``epochs_before``: its epochs are numbered
    from 1 again, and with the same key they repeat the earlier call's shuffles."""


def _check_metrics(metrics, loss: losses.Loss) -> tuple[tuple[str, Callable], ...]:
    """``metrics`` as ``(name, fn)`` pairs, after checking each name and function."""
    if metrics is None:
        return ()
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict {{name: fn(yhat, y) -> one value per example}}, got "
                        f"{type(metrics).__name__}")
    taken = {"loss", loss.metric}
    for name, fn in metrics.items():
        if not isinstance(name, str) or not name.isidentifier() or name in taken:
            raise ValueError(f"metrics: each name must be an identifier other than {sorted(t for t in taken if t)} "
                             f"(they name the recorded fields: eval_<name>), got {name!r}")
        if not callable(fn):
            raise TypeError(f"metrics[{name!r}] must be a function fn(yhat, y) -> one value per example, got "
                            f"{type(fn).__name__}")
    return tuple(metrics.items())


def evaluate(params, x, y, net: mlp.Net | None = None, *, loss: str | losses.Loss,
             activation: mlp.ActivationSpec | None = None, output: str | None = None, chunk_size: int = 1000,
             ensemble: bool = False, as_dict: bool | None = None):
    """Mean loss and metric (the accuracy for the cross-entropy) of ``params`` on ``(x, y)``, evaluated in compiled
    chunks of ``chunk_size`` examples.

    Returns:
      with ``as_dict=True``, ``{"loss": ..., "accuracy": ...}`` as :meth:`Trainer.evaluate` returns it (no metric
      for a loss without one); with ``as_dict=False``, the pair ``(mean loss, metric)`` (the metric NaN for a loss
      without one). An ensemble's values are arrays of K. The default, ``None``, gives the pair with a
      ``FutureWarning``: the next release returns the dict.

    Raises:
      ValueError: bad shapes, NaN or inf, labels out of range, or a softmax output before a loss on logits.
    """
    if as_dict is None:
        warnings.warn("train.evaluate returns the pair (loss, metric) now and the dict {'loss': ..., 'accuracy': ...} "
                      "of Trainer.evaluate from the next release; pass as_dict=True for the dict, or as_dict=False "
                      "to keep the pair", FutureWarning, stacklevel=2)
    net, loss = mlp.as_net(net, activation, output), losses.get(loss)
    first = jax.tree.map(lambda a: a[0], params) if ensemble else params
    mlp.check_params(first)
    x, y = np.asarray(x), np.asarray(y)
    check_data("evaluate", x, y, loss, first[0][0].shape[1], first[-1][0].shape[0])
    xp, yp, n, chunk_size = evaluation.pad(x, y, chunk_size)
    values = make_evaluate(net=net, loss=loss, chunk_size=chunk_size, ensemble=ensemble)(params, xp, yp, n)
    return evaluation.named(values, loss) if as_dict else values


def _set_hyperparams(opt_state, hyperparams: dict[str, Any], ensemble: bool, members: int | None):
    """A copy of ``opt_state`` with the per-member hyperparameters set (the caller's state is left as it was)."""
    if not ensemble or not hasattr(opt_state, "hyperparams"):
        raise ValueError("hyperparams needs ensemble=True and an optimizer built with optax.inject_hyperparams")
    opt_state = opt_state._replace(hyperparams=dict(opt_state.hyperparams))
    for name, value in hyperparams.items():
        if name not in opt_state.hyperparams:
            raise ValueError(f"unknown hyperparameter {name!r}; the optimizer has {sorted(opt_state.hyperparams)}")
        value = np.asarray(value).reshape(-1)
        if value.shape[0] != members:
            # An index past the end would be clamped on the device: a member would silently train with another's value.
            raise ValueError(f"hyperparams[{name!r}] has {value.shape[0]} values for an ensemble of {members} members; "
                             f"give one per member")
        opt_state.hyperparams[name] = jnp.asarray(value, opt_state.hyperparams[name].dtype)
    return opt_state


def _check_opt_state(opt_state, optimizer: optax.GradientTransformation, params, ensemble: bool) -> None:
    """Refuses an optimizer state that ``optimizer`` did not make for parameters of this shape (an Adam state given
    to SGD, say), before anything trains; compared by tree structure, shapes and dtypes, without computing."""
    init = jax.vmap(optimizer.init) if ensemble else optimizer.init
    expected = jax.eval_shape(init, params)
    given = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)), opt_state)
    structure: Any = jax.tree.structure(given)  # jaxlib's stub gives PyTreeDef no __eq__
    if structure != jax.tree.structure(expected):
        raise ValueError(f"opt_state does not belong to this optimizer: its structure is {structure}, "
                         f"the optimizer's is {jax.tree.structure(expected)}; pass the history.opt_state of a run "
                         f"with the same optimizer, or none to start afresh")
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(given), jax.tree.leaves(expected)):
        if (a.shape, a.dtype) != (b.shape, b.dtype):
            raise ValueError(f"opt_state{jax.tree_util.keystr(path)} is {a.dtype}{list(a.shape)}, the optimizer "
                             f"expects {b.dtype}{list(b.shape)} for these parameters")


def check_finite(values: np.ndarray, first_epoch: int, epochs: int, checkpoint_path) -> None:
    """Raises ``FloatingPointError`` naming the first epoch (1-based) whose mean training loss is NaN or inf."""
    bad = np.flatnonzero(~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1))
    if bad.size:
        kept = f"; the last good checkpoint is {checkpoint_path}" if checkpoint_path else ""
        raise FloatingPointError(f"training diverged: the loss became non-finite in epoch "
                                 f"{first_epoch + bad[0] + 1} (of {epochs}){kept}")


class History(list):
    """What :meth:`Trainer.fit` and :func:`fit` return beside the state: one dict per epoch (see ``fit``).

    Attributes:
      opt_state: the optimizer state after the last epoch.
    """

    opt_state: Any = None


class TrainState(NamedTuple):
    """Everything training changes, as a pytree: the parameters, the optimizer state and the epochs done.

    Attributes:
      params: a list of ``(W, b)`` (every leaf with a leading member axis for an ensemble).
      opt_state: the optimizer's state for ``params``.
      epoch: how many epochs have been trained (the next one is ``epoch + 1``).
      lr_scale: multiplies every update inside the compiled step, after the optimizer (for optax's optimizers, the
        learning rate); :class:`jaxnet.callbacks.ReduceLROnPlateau` lowers it. A traced number: changing it compiles
        nothing, and 1 (the default) changes no bit of a run.
    """

    params: Any
    opt_state: Any
    epoch: int = 0
    lr_scale: float = 1.0


class Trainer:
    """Trains one network (or one stacked ensemble) with one optimizer, and holds its compiled programs.

    Compilation, in one sentence: a Trainer compiles its epoch program on the first :meth:`fit` for each shape and
    dtype of ``(params, x, y)`` and each number of epochs in a compiled call (the last call is shorter when
    ``epochs_per_call`` does not divide the epochs), and its evaluation once per evaluation-set size; a second
    ``fit`` with the same shapes compiles nothing, and a new Trainer always compiles afresh.

    Everything that does not depend on the data is checked here, once: the network, the loss and the gradient
    (``ValueError`` for a softmax output before a loss on logits, or a pair the hand-written gradient does not
    cover), the batch size, the mesh.

    Args:
      net: the activations, a :class:`jaxnet.mlp.Net`.
      loss: ``"mse"``, ``"mae"``, ``"cross_entropy"`` or any registered :class:`jaxnet.losses.Loss`.
      optimizer: any ``optax.GradientTransformation``; the step passes ``value=`` (the minibatch loss) to its
        ``update``, so transforms that watch the loss (``optax.contrib.reduce_on_plateau``) work.
      batch_size: minibatch size; ``N // batch_size`` steps per epoch, the last partial batch dropped. Full-batch
        gradient descent is ``batch_size=N``. On several devices it, and N, must be multiples of the data shards.
      grad: ``"autodiff"`` (``jax.grad``) or ``"manual"`` (:func:`jaxnet.backprop.manual_grad`).
      ensemble: train K networks stacked along a leading axis (:func:`jaxnet.mlp.init_ensemble`): with ``jax.vmap``
        in one program on accelerators and meshes, one member after another on a CPU
        (:func:`jaxnet.program.members_one_by_one`).
      hyperparams: for ensembles, per-member optimizer hyperparameters ``{name: array (K,)}``, set by
        :meth:`init`; the optimizer must be built with ``optax.inject_hyperparams``.
      mesh: a mesh from :func:`jaxnet.placement.make_mesh`: members sharded over ``"members"``, data and minibatches
        over ``"data"`` (each device holds only its rows; in a multi-process run each process supplies only its
        devices' rows).
      devices: instead of ``mesh``, the devices to shard the batch over; default all of ``jax.devices()``.
      epochs_per_call: epochs compiled into one call between host-side work (evaluation, callbacks, the divergence
        check). Raise it for tiny epochs such as full-batch steps.
      eval_chunk_size: ``eval_data`` is evaluated in compiled chunks of this many rows.
      unroll: steps per iteration of the epoch's ``lax.scan`` over minibatches (``lax.scan``'s ``unroll``): the
        same steps and numbers, fewer loop iterations. On a CPU it changes little (``benchmarks/RESULTS.md``); on
        GPUs, where each iteration of a loop can wait on the host, unrolling can hide that.
      metrics: ``{name: fn(yhat, y) -> one value per example}``, evaluated with the loss; each set's record holds
        the mean over the set (``eval_<name>``, or ``<set>_<name>`` for named sets).
      steps_per_call: stream the training set instead of placing it on the device (:mod:`jaxnet.stream`): it stays
        where it is (a NumPy array, a memmap, any array-like with ``shape``, ``dtype`` and integer-array indexing),
        the host gathers the next K minibatches of the epoch's permutation while the device runs the previous K,
        and evaluation sets are read in chunks. The parameters equal the whole-epoch program's bit for bit. One
        device only, and minibatches (``batch_size`` below N).

    >>> import jax, optax
    >>> from jaxnet import mlp
    >>> trainer = Trainer(mlp.Net("tanh"), loss="mse", optimizer=optax.sgd(0.1), batch_size=4)
    >>> x = jax.random.normal(jax.random.key(1), (8, 2)); y = x[:, :1] * x[:, 1:]
    >>> state = trainer.init(mlp.init(jax.random.key(0), [2, 8, 1]))
    >>> state, history = trainer.fit(state, x, y, epochs=3, key=jax.random.key(2), verbose=False)
    >>> state.epoch, len(history)
    (3, 3)
    """

    def __init__(self, net: mlp.Net, *, loss: str | losses.Loss, optimizer: optax.GradientTransformation,
                 batch_size: int, grad: str = "autodiff", ensemble: bool = False,
                 hyperparams: dict[str, Any] | None = None, mesh: Mesh | None = None, devices: Sequence | None = None,
                 epochs_per_call: int = 1, eval_chunk_size: int = 1000, unroll: int = 1,
                 metrics: dict[str, Callable] | None = None, steps_per_call: int | None = None):
        if not isinstance(net, mlp.Net):
            raise TypeError(f"net must be a jaxnet.mlp.Net, got {type(net).__name__} {net!r}")
        self.net, self.loss, self.optimizer, self.grad = net, losses.get(loss), optimizer, grad
        program.value_and_grad(net, self.loss, grad)  # checks the output, the loss and grad now, not at the first step
        for name, value in (("batch_size", batch_size), ("epochs_per_call", epochs_per_call),
                            ("eval_chunk_size", eval_chunk_size), ("unroll", unroll),
                            ("steps_per_call", 1 if steps_per_call is None else steps_per_call)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if hyperparams and not ensemble:
            raise ValueError("hyperparams needs ensemble=True and an optimizer built with optax.inject_hyperparams")
        self.batch_size, self.epochs_per_call, self.eval_chunk_size = batch_size, epochs_per_call, eval_chunk_size
        self.unroll = int(unroll)
        self.metrics = _check_metrics(metrics, self.loss)
        self.ensemble, self.hyperparams = ensemble, dict(hyperparams or {})
        self.mesh = placement.resolve_mesh(mesh, devices, ensemble)
        self.one_by_one = ensemble and program.members_one_by_one(self.mesh)
        self.steps_per_call = None if steps_per_call is None else int(steps_per_call)
        if self.steps_per_call is not None and (mesh is not None or devices is not None):
            raise ValueError("steps_per_call streams the training set to one device; leave out mesh and devices "
                             "(or steps_per_call, to shard a set that fits on the devices)")
        if ensemble and not self.one_by_one and net.compute_dtype is not None and jax.default_backend() == "cpu":
            # XLA's CPU backend (jax 0.12) fails such a program at run time ("Unsupported element type for
            # DotThunk::Execute: BF16 x BF16 = F32"); the members-in-turn program runs, and is the faster one there.
            raise ValueError(f"a vmapped ensemble (here: on a mesh) cannot train with compute_dtype="
                             f"{net.compute_dtype!r} on XLA's CPU backend, which does not run its batched "
                             f"low-precision products; on a CPU leave out the mesh (members then train one after "
                             f"another) or the compute dtype")
        self._epochs: Any = None  # the compiled epochs, built at the first fit
        self._evaluates: dict[int, Any] = {}  # compiled evaluations, by chunk size
        self._predicts: dict[int, Any] = {}  # compiled predictions, by chunk size

    def __repr__(self) -> str:
        strategy = ("one by one" if self.one_by_one else "vmapped") if self.ensemble else "single network"
        mesh = "one device" if self.mesh is None else dict(self.mesh.shape)
        return (f"Trainer({self.net!r}, loss={self.loss.name!r}, batch_size={self.batch_size}, grad={self.grad!r}, "
                f"ensemble={strategy!r}, mesh={mesh})")

    @property
    def _shards(self) -> int:
        return 1 if self.mesh is None else self.mesh.shape["data"]

    def _first(self, params):
        """Member 0 of an ensemble (the network itself otherwise), after checking the parameters and the members."""
        if self.ensemble:
            mlp.check_params(jax.tree.map(lambda a: a[0], params))
            members = jax.tree.leaves(params)[0].shape[0]
            if self.mesh is not None and members % self.mesh.shape["members"]:
                raise ValueError(f"the ensemble's {members} members do not divide over the mesh's "
                                 f"{self.mesh.shape['members']} member devices")
            params = jax.tree.map(lambda a: a[0], params)
        mlp.check_params(params)
        self.net.names(len(params))
        return params

    def init(self, params, opt_state=None) -> TrainState:
        """The state to train ``params`` from, at epoch 0: with a fresh optimizer state, or with ``opt_state`` (an
        earlier run's ``history.opt_state``) to continue from; the per-member ``hyperparams`` set in either.
        ``opt_state`` is left as it is.

        Raises:
          ValueError: parameters that are not a list of ``(W, b)`` that chain, an ensemble that does not divide over
            the mesh, an unknown hyperparameter or one without a value per member, or an ``opt_state`` this
            optimizer did not make for these parameters (naming the first leaf that differs).
        """
        self._first(params)
        if opt_state is None:
            opt_state = jax.vmap(self.optimizer.init)(params) if self.ensemble else self.optimizer.init(params)
        else:
            _check_opt_state(opt_state, self.optimizer, params, self.ensemble)
        if self.hyperparams:
            members = jax.tree.leaves(params)[0].shape[0]
            opt_state = _set_hyperparams(opt_state, self.hyperparams, self.ensemble, members)
        return TrainState(params, opt_state, 0)

    def _program(self):
        if self._epochs is None and self.steps_per_call is not None:
            steps = program.make_steps(self.optimizer, self.net, loss=self.loss, grad=self.grad,
                                       ensemble=self.ensemble and not self.one_by_one, unroll=self.unroll)
            self._epochs = functools.partial(program.run_members, steps) if self.one_by_one else steps
        if self._epochs is None:
            common = dict(loss=self.loss, grad=self.grad, batch_size=self.batch_size, mesh=self.mesh,
                          unroll=self.unroll)
            if self.one_by_one:
                self._epochs = functools.partial(program.run_members,
                                                 program.make_epochs(self.optimizer, self.net, **common))
            else:
                self._epochs = program.make_epochs(self.optimizer, self.net, ensemble=self.ensemble, **common)
        return self._epochs

    def evaluate(self, params, x, y) -> dict[str, Any]:
        """``{"loss": mean loss, "accuracy": ..., <metric>: ...}`` of ``params`` on ``(x, y)`` (the accuracy only for
        a loss with that metric, such as the cross-entropy; one entry per metric of ``metrics``), evaluated in
        compiled chunks of ``eval_chunk_size`` rows; an ensemble's values are arrays of K. Never drops units or
        changes ``params``.

        Raises:
          ValueError: bad shapes, NaN or inf, labels out of range, an empty set.
        """
        first = self._first(params)
        x, y = np.asarray(x), np.asarray(y)
        check_data("evaluate", x, y, self.loss, first[0][0].shape[1], first[-1][0].shape[0])
        xp, yp, n, chunk = evaluation.pad(x, y, self.eval_chunk_size)
        return self._named(self._evaluate_program(chunk)(params, xp, yp, n))

    def _named(self, values) -> dict[str, Any]:
        return evaluation.named(values, self.loss, self.metrics)

    def predict(self, params, x) -> Array:
        """The network's outputs ŷ for inputs ``x`` ``(N, d_0)``: ``(N, d_L)``, or ``(K, N, d_L)`` for an ensemble;
        computed in compiled chunks of ``eval_chunk_size`` rows (one program for any N), equal to
        :func:`jaxnet.mlp.apply` to float32 round-off (the same products, on fewer rows at a time).

        Raises:
          ValueError: ``x`` does not fit the network, or is not finite.
        """
        first = self._first(params)
        x = np.asarray(x)
        check_inputs("predict", x, first[0][0].shape[1])
        xp, _, n, chunk = evaluation.pad(x, None, self.eval_chunk_size)
        if chunk not in self._predicts:
            self._predicts[chunk] = evaluation.make_predict(self.net, chunk, self.ensemble)
        out = self._predicts[chunk](params, xp)
        return out[..., :n, :]

    def _evaluate_program(self, chunk: int):
        if chunk not in self._evaluates:
            self._evaluates[chunk] = make_evaluate(net=self.net, loss=self.loss, chunk_size=chunk,
                                                   ensemble=self.ensemble, one_by_one=self.one_by_one,
                                                   metrics=self.metrics)
        return self._evaluates[chunk]

    def fit(self, state: TrainState, x, y, *, epochs: int, key: Array, eval_data: tuple[Any, Any] | None = None,
            callbacks: Sequence = (), verbose: bool = True) -> tuple[TrainState, History]:
        """Trains from ``state.epoch`` until ``epochs`` epochs are done in all; returns ``(state, history)``.

        ``epochs`` is the final epoch, as in Keras: the same command run again after a preemption (with a resuming
        :class:`jaxnet.callbacks.Checkpoint`) ends where an uninterrupted run ends. Epoch e always shuffles with
        ``fold_in(key, e)``, so ``fit(state, epochs=2)`` followed by ``fit(that, epochs=5)`` with the same key gives
        the parameters of one ``fit(state, epochs=5)``, bit for bit. ``state`` itself is left as it is (the compiled
        program works on a private copy).

        Args:
          state: from :meth:`init`, or an earlier ``fit``.
          x: inputs ``(N, d_0)``; integer inputs (``uint8`` images) stay integer on the device and are converted to
            the parameters' dtype inside the compiled step.
          y: targets ``(N, d_L)``, or integer labels ``(N,)`` for a loss that takes them (the cross-entropy).
          epochs: the final epoch (≥ ``state.epoch``).
          key: PRNG key for the shuffling; the same key gives the same run.
          eval_data: optional ``(x_eval, y_eval)``, evaluated after every compiled call (never dropping units), or a
            dict of named pairs ``{"val": (x, y), "test": ...}``, each recorded under its name.
          callbacks: objects of the :mod:`jaxnet.callbacks` protocol, called in this order between compiled calls.
          verbose: add a :class:`jaxnet.callbacks.Progress` bar (shown only when stderr is a terminal) unless one is
            among ``callbacks``.

        Returns:
          ``(state, history)``. ``history`` (:class:`History`) has one dict per epoch trained by this call (plus a
          resumed checkpoint's): ``epoch``, ``train_loss`` (mean minibatch loss; a list of K for ensembles),
          ``seconds`` (its compiled call's wall time divided by its epochs; the first includes compilation),
          ``lr_scale`` (the scale the epoch trained with) and, on each call's last epoch with ``eval_data``,
          ``eval_loss``, ``eval_accuracy`` and ``eval_<metric>`` (``<name>_loss``, … for named sets).

        Warns:
          UnscaledInputWarning: integer inputs above 1 (raw pixels) with the network's default input scaling.

        Raises:
          ValueError: ``state.epoch`` past ``epochs`` (naming both), bad shapes, non-finite data, labels out of
            range, a batch size that does not suit the devices, an ``opt_state`` the optimizer did not make, a
            callback's bad setting (before anything trains).
          FloatingPointError: the training loss became NaN or inf; the message names the epoch and the last
            checkpoint (if any), which is left in place.
        """
        return self._fit(state, x, y, epochs=epochs, key=key, eval_data=eval_data, callbacks=callbacks,
                         verbose=verbose)

    def _fit(self, state, x, y, *, epochs, key, eval_data, callbacks, verbose, stacklevel: int = 4):
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be an int >= 0 (the final epoch), got {epochs!r}")
        if not isinstance(state, TrainState):
            raise TypeError(f"state must be a train.TrainState (from Trainer.init), got {type(state).__name__}")
        first = self._first(state.params)
        d_in, d_out = first[0][0].shape[1], first[-1][0].shape[0]
        # Streamed, the set stays where it is (a memmap on disk); otherwise it goes to the device whole.
        x_host, y_host = (x, y) if self.steps_per_call is not None else (np.asarray(x), np.asarray(y))
        check_data("training data", x_host, y_host, self.loss, d_in, d_out)
        check_input_scale("training data", x_host, self.net, stacklevel=stacklevel)
        if not 1 <= self.batch_size <= x_host.shape[0]:
            raise ValueError(f"batch_size must be between 1 and the {x_host.shape[0]} training examples, got "
                             f"{self.batch_size}")
        if self.steps_per_call is not None and self.batch_size == x_host.shape[0]:
            raise ValueError(f"steps_per_call streams minibatches, but batch_size is all {x_host.shape[0]} examples "
                             f"(full-batch training, one step per epoch): leave steps_per_call out")
        shards = self._shards
        if self.batch_size % shards:
            raise ValueError(f"batch_size {self.batch_size} must be a multiple of the {shards} devices it is sharded "
                             f"over")
        if x_host.shape[0] % shards:
            raise ValueError(f"the {x_host.shape[0]} training examples must divide over the {shards} data shards")
        _check_opt_state(state.opt_state, self.optimizer, state.params, self.ensemble)
        rows = None if self.mesh is None else NamedSharding(self.mesh, PartitionSpec("data"))
        evaluate_fn = self._evaluator(eval_data, rows, d_in, d_out, stacklevel + 1)
        recorded = ("epoch", "train_loss", "seconds", "lr_scale") + (() if evaluate_fn is None else evaluate_fn.fields)
        meta: dict[str, Any] = {
            "sizes": [d_in] + [int(W.shape[-2]) for W, _ in first], "activation": self.net.activation,
            "output": self.net.output, "input_shift": self.net.input_shift, "input_scale": self.net.input_scale,
            "loss": self.loss.name, "dtype": str(first[0][0].dtype)}
        if self.net.drops:
            meta["dropout"] = self.net.dropout
        if self.net.compute_dtype is not None:
            meta["compute_dtype"] = self.net.compute_dtype
        history = History()
        callbacks = list(callbacks)
        cb.check_hooks(callbacks)
        if verbose and not any(isinstance(c, cb.Progress) for c in callbacks):
            callbacks.append(cb.Progress())
        run = cb.Run(epochs=int(epochs), key=key, recorded=recorded, history=history, meta=meta,
                     writer=distributed.is_writer(), callbacks=callbacks)
        started: list = []  # the callbacks whose on_fit_start ran: each gets its on_fit_end, whatever happens
        try:
            for c in callbacks:
                started.append(c)
                begun = cb.call(c, "on_fit_start", run, state)
                state = state if begun is None else begun
            for c in callbacks:  # a resumed checkpoint's callback states, now that each callback has started
                saved = run.resumed_states.get(cb.state_key(callbacks, c))
                if saved is not None and hasattr(c, "load_state_dict"):
                    c.load_state_dict(saved)
            if state.epoch > epochs:
                raise ValueError(f"the state has already trained {state.epoch} epochs, past epochs={epochs} (the "
                                 f"final epoch, not a number more); pass epochs >= {state.epoch}")
            if not run.stopped:  # a run a callback had stopped, resumed, trains nothing more
                state = self._loop(state, x_host, y_host, rows, key, int(epochs), evaluate_fn, run, callbacks)
            run.completed = True
        finally:
            for c in started:
                ended = cb.call(c, "on_fit_end", run, state)
                state = state if ended is None else ended
        history.opt_state = state.opt_state
        return state, history

    def _loop(self, state, x_host, y_host, rows, key, epochs, evaluate_fn, run, callbacks):
        """The loop over compiled calls; returns the last state (also when a callback stops it early)."""
        # A private copy: the compiled program donates (reuses) its input buffers, and the caller keeps its own. On a
        # mesh it goes through the host, to be placed shard by shard; on one device it stays there.
        if self.mesh is None:
            params, opt_state = jax.tree.map(jnp.array, (state.params, state.opt_state))
        else:
            params, opt_state = placement.place_state(distributed.to_host((state.params, state.opt_state)),
                                                      self.mesh, self.ensemble)
        state = TrainState(params, opt_state, int(state.epoch), float(state.lr_scale))
        if self.steps_per_call is None:
            xs, ys = placement.place(x_host, rows), placement.place(y_host, rows)
            run_epochs = self._program()
        else:
            streamer = stream.Streamer(x_host, y_host, self.batch_size, self.steps_per_call, self.net)
            run_epochs = functools.partial(streamer.run, self._program())
            xs = ys = None
        # Checkpoints of the last state see the call after every other callback, so that what they save holds the
        # others' states for this call (as Lightning orders its ModelCheckpoint last).
        first, last = [c for c in callbacks if not cb.saves_last(c)], [c for c in callbacks if cb.saves_last(c)]
        for first_epoch in range(state.epoch, epochs, self.epochs_per_call):
            epoch_ids = np.arange(first_epoch, min(first_epoch + self.epochs_per_call, epochs))
            tic = time.perf_counter()
            scale = jnp.asarray(state.lr_scale, jnp.float32)
            if xs is None:  # streamed
                params, opt_state, values = run_epochs(state.params, state.opt_state, key, epoch_ids, scale)
            else:
                params, opt_state, values = run_epochs(state.params, state.opt_state, xs, ys, key,
                                                       jnp.asarray(epoch_ids), scale)
            values = distributed.to_host(values)  # waits for the compiled call to finish
            seconds = (time.perf_counter() - tic) / len(epoch_ids)
            check_finite(values, first_epoch, epochs, run.saved_path)
            state = TrainState(params, opt_state, int(epoch_ids[-1]) + 1, state.lr_scale)
            # Plain Python numbers, converted in one go: a full-batch run has one record per step.
            records = [{"epoch": e + 1, "train_loss": v, "seconds": seconds, "lr_scale": state.lr_scale}
                       for e, v in zip(epoch_ids.tolist(), values.tolist())]
            if evaluate_fn is not None:
                records[-1].update(evaluate_fn(params))
            run.history.extend(records)
            stop = False
            for c in first:
                answer = cb.call(c, "on_epochs_end", run, state, records)
                if isinstance(answer, TrainState):  # a callback's new state (ReduceLROnPlateau's scale)
                    state = answer
                else:
                    stop = bool(answer) or stop
            run.stopped = stop  # before the checkpoints save: a finished run, resumed, trains no more
            for c in last:
                cb.call(c, "on_epochs_end", run, state, records)
            if stop:
                break
        return state

    def _evaluator(self, eval_data, sharding, d_in, d_out, stacklevel):
        """``params -> {"eval_loss": ..., "eval_accuracy": ..., "eval_<metric>": ...}`` on ``eval_data`` checked,
        padded and placed once (sharded by rows over the data shards); its ``fields`` name what it records. A dict
        of named sets records ``<name>_loss``, ``<name>_accuracy``, ``<name>_<metric>`` for each."""
        if eval_data is None:
            return None
        if isinstance(eval_data, dict):
            if not eval_data:
                raise ValueError("eval_data is an empty dict; give it named (x, y) pairs, or leave it out")
            sets = dict(eval_data)
            for name in sets:
                if not isinstance(name, str) or not name.isidentifier():
                    raise ValueError(f"eval_data's names must be identifiers (they prefix the recorded fields: "
                                     f"<name>_loss), got {name!r}")
        else:
            sets = {"eval": eval_data}
        evaluators = {}
        for name, pair in sets.items():  # a loop, not a comprehension: the warning's stack depth is the same on 3.11
            evaluators[name] = self._one_evaluator(name, pair, sharding, d_in, d_out, stacklevel + 1)

        def evaluate_fn(params):
            record: dict[str, Any] = {}
            for name, one in evaluators.items():
                record.update({f"{name}_{field}": value.tolist()
                               for field, value in self._named(distributed.to_host(one(params))).items()})
            return record

        fields = ["loss"] + ([self.loss.metric] if self.loss.metric is not None else []) + [n for n, _ in self.metrics]
        evaluate_fn.fields = tuple(f"{name}_{field}" for name in sets for field in fields)
        return evaluate_fn

    def _one_evaluator(self, name, pair, sharding, d_in, d_out, stacklevel):
        """``params -> the evaluation program's values`` on one set, checked, padded and placed once."""
        label = "eval_data" if name == "eval" else f"eval_data[{name!r}]"
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"{label} must be an (x, y) pair, got {type(pair).__name__}")
        streamed = self.steps_per_call is not None
        x_eval, y_eval = pair if streamed else (np.asarray(pair[0]), np.asarray(pair[1]))
        check_data(label, x_eval, y_eval, self.loss, d_in, d_out)
        check_input_scale(label, x_eval, self.net, stacklevel=stacklevel)
        if streamed:  # read a chunk at a time from wherever the set is
            return lambda params: stream.evaluate_in_chunks(self._evaluate_program, params, x_eval, y_eval,
                                                            self.eval_chunk_size, evaluation.pad)
        x_eval, y_eval, n_eval, chunk = evaluation.pad(x_eval, y_eval, self.eval_chunk_size, multiple_of=self._shards)
        x_eval, y_eval = placement.place(x_eval, sharding), placement.place(y_eval, sharding)
        fn = self._evaluate_program(chunk)
        return lambda params: fn(params, x_eval, y_eval, n_eval)


#: fit's keywords that moved to callbacks, and what replaces each.
MOVED = {"checkpoint_path": "callbacks=[callbacks.Checkpoint(path, resume=...)]",
         "resume": "callbacks=[callbacks.Checkpoint(path, resume=...)]",
         "log_path": "callbacks=[callbacks.JsonLog(path)]",
         "meta": "callbacks=[callbacks.Checkpoint(path, meta=...)]"}


def fit(params, x, y, net: mlp.Net | None = None, *, optimizer: optax.GradientTransformation, epochs: int,
        batch_size: int, key: Array, loss: str | losses.Loss, activation: mlp.ActivationSpec | None = None,
        output: str | None = None, grad: str = "autodiff", opt_state=None,
        eval_data: tuple[Any, Any] | None = None, eval_chunk_size: int = 1000, epochs_per_call: int = 1,
        unroll: int = 1, ensemble: bool = False, hyperparams: dict[str, Any] | None = None,
        devices: Sequence | None = None, mesh: Mesh | None = None, callbacks: Sequence = (),
        checkpoint_path: str | os.PathLike | None = None, resume: bool | str = False,
        log_path: str | os.PathLike | None = None, meta: dict[str, Any] | None = None,
        verbose: bool = True, epochs_before: int | None = None) -> tuple[Any, History]:
    """Trains ``params`` on ``(x, y)`` in one call; returns ``(params, history)``.

    The one-call form of :class:`Trainer`: it builds one (so it compiles afresh each call; hold a ``Trainer`` to
    reuse its programs), starts from ``params`` (and ``opt_state``, default a fresh one) at epoch 0, and trains
    ``epochs`` epochs. The arguments are :class:`Trainer`'s and :meth:`Trainer.fit`'s, plus:

    Args:
      net: the activations (:class:`jaxnet.mlp.Net`); or give ``activation`` / ``output`` names instead.
      opt_state: the optimizer state to start from (``history.opt_state`` of an earlier call; its step count keeps
        a learning-rate schedule going); default a fresh ``optimizer.init(params)``.
      epochs_before: the epochs the run trained before this call (default 0): this call's epochs are numbered from
        ``epochs_before + 1`` and shuffle as those epochs of one longer run would, so with the same key two calls
        of 2 epochs (the second with ``opt_state=history.opt_state, epochs_before=2``) train as one call of 4.
        ``epochs`` is still the number of epochs this call trains.
      checkpoint_path, resume, meta: deprecated: pass ``callbacks=[callbacks.Checkpoint(path, resume=...,
        meta=...)]``.
      log_path: deprecated: pass ``callbacks=[callbacks.JsonLog(path)]``.

    Returns:
      ``(params, history)``; ``history.opt_state`` is the final optimizer state.

    Warns:
      DeprecationWarning: for each keyword that moved to a callback, naming its replacement.
      UnscaledInputWarning: integer inputs above 1 (raw pixels) with the network's default input scaling.
      RestartedEpochsWarning: an ``opt_state`` (a continued run) without ``epochs_before``: the epochs are numbered
        from 1 again, so with the earlier call's key they repeat its shuffles.

    Raises:
      ValueError: as :class:`Trainer` and :meth:`Trainer.fit`, for an ``opt_state`` the optimizer did not make, and
        for an ``epochs_before`` that is not an int ≥ 0.
      FloatingPointError: the training loss became NaN or inf.
    """
    given = {"checkpoint_path": checkpoint_path is not None, "resume": resume is not False,
             "log_path": log_path is not None, "meta": meta is not None}
    for name in (n for n, g in given.items() if g):
        warnings.warn(f"fit's {name}= is deprecated and will be removed in the next release; pass "
                      f"{MOVED[name]} instead", DeprecationWarning, stacklevel=2)
    # epochs counts this call's epochs here (the final epoch is epochs_before + epochs); the Trainer checks the rest.
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0 (the epochs this call trains), got {epochs!r}")
    if epochs_before is None:
        if opt_state is not None:
            warnings.warn("fit(opt_state=...) numbers this call's epochs from 1, as a new run's: with the key of the "
                          "run the state comes from, its first epochs shuffle as that run's did; pass "
                          "epochs_before=<the epochs trained before> to continue the numbering (epochs_before=0 "
                          "starts afresh without this warning)", RestartedEpochsWarning, stacklevel=2)
        epochs_before = 0
    if isinstance(epochs_before, bool) or not isinstance(epochs_before, (int, np.integer)) or epochs_before < 0:
        raise ValueError(f"epochs_before must be an int >= 0 (the epochs trained before this call), got "
                         f"{epochs_before!r}")
    trainer = Trainer(mlp.as_net(net, activation, output), loss=loss, optimizer=optimizer, batch_size=batch_size,
                      grad=grad, ensemble=ensemble, hyperparams=hyperparams, mesh=mesh, devices=devices,
                      epochs_per_call=epochs_per_call, eval_chunk_size=eval_chunk_size, unroll=unroll)
    moved: list = []
    if checkpoint_path is not None:
        moved.append(cb.Checkpoint(checkpoint_path, resume=resume, meta=meta))
    else:
        checkpoint.should_resume(None, resume)  # refuses resume=True without a path, and unknown values
    if log_path is not None:
        moved.append(cb.JsonLog(log_path))
    state = trainer.init(params, opt_state)._replace(epoch=int(epochs_before))
    # Trainer.fit's body, one frame nearer the caller, so that its warnings point at the caller's line.
    state, history = trainer._fit(state, x, y, epochs=int(epochs_before) + epochs, key=key, eval_data=eval_data,
                                  callbacks=moved + list(callbacks), verbose=verbose)
    return state.params, history


# Names that moved, kept working one release with a DeprecationWarning that names the new home.
_MOVED_NAMES = {"init_ensemble": ("mlp", mlp), "make_mesh": ("placement", placement)}


def __getattr__(name: str):
    if name in _MOVED_NAMES:
        home, module = _MOVED_NAMES[name]
        warnings.warn(f"jaxnet.train.{name} moved to jaxnet.{home}.{name}; the old name will be removed in the next "
                      f"release", DeprecationWarning, stacklevel=2)
        return getattr(module, name)
    raise AttributeError(f"module 'jaxnet.train' has no attribute {name!r}")
