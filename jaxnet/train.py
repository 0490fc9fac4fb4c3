"""Training with optax: a jitted update step, whole-epoch compiled training, ensembles and data parallelism.

* :func:`make_step` builds a pure, jitted ``step(params, opt_state, x, y) -> (params, opt_state, loss)`` for any
  ``optax.GradientTransformation``, with gradients from ``jax.grad`` or from the hand-written
  :func:`jaxnet.backprop.manual_grad`.
* :func:`fit` trains for some epochs. Each epoch is ONE compiled program (:mod:`jaxnet.program`): a ``lax.scan``
  over the epoch's shuffled minibatches, so no Python runs between batches. Shuffling comes from the explicit key
  (epoch e uses ``fold_in(key, e)``), so the same key gives bit-identical parameters, and a run resumed from a
  checkpoint continues exactly where it stopped. Between compiled chunks of ``epochs_per_call`` epochs the host
  (:mod:`jaxnet.loop`) evaluates (:mod:`jaxnet.evaluation`), shows progress, logs, checks for divergence and
  checkpoints.
* Ensembles: ``fit(..., ensemble=True)`` trains K networks stacked along a leading axis (see :func:`init_ensemble`),
  with ``jax.vmap`` in one program on accelerators and one member after another on a CPU, where that is faster
  (:func:`jaxnet.program.members_one_by_one`); per-member hyperparameters go through ``optax.inject_hyperparams``.
* Devices and processes: :func:`make_mesh` builds a ``("members", "data")`` mesh. An ensemble's members are sharded
  over ``"members"``; the data sets and every minibatch over ``"data"`` (each device holds its rows only), with
  the parameters replicated along it and the gradient all-reduced by XLA. The same call runs on one device, many,
  or many processes (:mod:`jaxnet.distributed`), where only process 0 writes files.

The network is a :class:`jaxnet.mlp.Net` (or the ``activation=`` / ``output=`` keywords that build one), the loss a
name or a :class:`jaxnet.losses.Loss`. Data is checked once, here, where it enters: shapes, NaN or inf, labels in
range.
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnet import checkpoint, distributed, evaluation, loop, losses, mlp, program

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
      ``step(params, opt_state, x, y) -> (params, opt_state, loss_value)``, pure and jitted; it compiles once per
      input shape and dtype.

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


def make_mesh(*, members: int = 1, data: int | None = None, devices: Sequence | None = None) -> Mesh:
    """A device mesh with axes ``("members", "data")`` for :func:`fit`.

    An ensemble's members are spread over ``"members"`` (each device trains only its own members: no gradient
    traffic between them) and every minibatch is split over ``"data"`` (gradients all-reduced). A single network
    uses ``"data"`` only (``members=1``).

    Args:
      members: devices along the members axis; the ensemble size must be a multiple of it.
      data: devices along the data axis; default all the devices ``members`` leaves.
      devices: the devices, default ``jax.devices()`` (those of every process in a multi-process run).

    Raises:
      ValueError: if ``members × data`` is not the number of devices; the message names the numbers.

    >>> dict(make_mesh(devices=jax.devices()[:1]).shape)
    {'members': 1, 'data': 1}
    """
    devices = list(jax.devices() if devices is None else devices)
    if members < 1 or len(devices) % members:
        raise ValueError(f"members={members} must divide the {len(devices)} devices")
    data = len(devices) // members if data is None else data
    if members * data != len(devices):
        raise ValueError(f"a mesh of members={members} × data={data} needs {members * data} devices, "
                         f"got {len(devices)}")
    return Mesh(np.array(devices, dtype=object).reshape(members, data), ("members", "data"))


def _resolve_mesh(mesh: Mesh | None, devices: Sequence | None, ensemble: bool, members: int | None):
    """The mesh ``fit`` trains on (``None`` for one device), checked against the ensemble's size."""
    if mesh is not None and devices is not None:
        raise ValueError("give either mesh= or devices= (a data-only mesh), not both")
    if mesh is None:
        mesh = make_mesh(devices=devices)
    if set(mesh.axis_names) != {"members", "data"}:
        raise ValueError(f"the mesh must have the axes ('members', 'data') (see train.make_mesh), got "
                         f"{mesh.axis_names}")
    m = mesh.shape["members"]
    if m > 1 and not ensemble:
        raise ValueError(f"the mesh spreads members over {m} devices, but a single network has no members; use "
                         f"make_mesh(members=1)")
    if ensemble and members % m:
        raise ValueError(f"the ensemble's {members} members do not divide over the mesh's {m} member devices")
    return None if mesh.size == 1 else mesh


def init_ensemble(key: Array, members: int, sizes: Sequence[int], *, init: str = "he", dtype=jnp.float32):
    """K independently initialised networks stacked along a new leading axis (``W_i`` becomes ``(K, d_i, d_{i-1})``).

    Member k is exactly ``mlp.init(jax.random.split(key, K)[k], sizes, ...)``.
    """
    return jax.vmap(lambda k: mlp.init(k, sizes, init=init, dtype=dtype))(jax.random.split(key, members))


def check_data(name: str, x: np.ndarray, y: np.ndarray, loss: losses.Loss, d_in: int, d_out: int) -> None:
    """The value checks on data, done once where it enters (the losses themselves never inspect values).

    Raises:
      ValueError: naming ``name`` and the problem: shapes, NaN or inf (with the first bad row), labels out of range.
    """
    if x.ndim != 2 or x.shape[1] != d_in:
        raise ValueError(f"{name}: x must have shape (N, {d_in}) for this network, got {x.shape}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: x has {x.shape[0]} examples but y has {y.shape[0]} (shape {y.shape})")
    if not np.issubdtype(x.dtype, np.integer):
        bad_rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
        if bad_rows.size:
            raise ValueError(f"{name}: x has NaN or inf in {bad_rows.size} rows, the first at row {bad_rows[0]}")
    if np.issubdtype(y.dtype, np.integer):
        if not loss.integer_labels or y.ndim != 1:
            raise ValueError(f"{name}: integer targets of shape {y.shape} need a loss that takes integer labels "
                             f"(such as 'cross_entropy') and shape (N,)")
        if y.min() < 0 or y.max() >= d_out:
            raise ValueError(f"{name}: labels must lie in [0, {d_out}), got min {y.min()}, max {y.max()}")
        return
    if y.shape != (x.shape[0], d_out):
        raise ValueError(f"{name}: y must have shape ({x.shape[0]}, {d_out}) like the network's output, got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError(f"{name}: y contains NaN or inf")


class UnscaledInputWarning(UserWarning):
    """Integer inputs such as pixels 0–255 enter a network that does not scale them."""


def check_input_scale(name: str, x: np.ndarray, net: mlp.Net, *, stacklevel: int = 3) -> None:
    """Warns (:class:`UnscaledInputWarning`) when integer inputs with values above 1 meet a network with the default
    ``input_shift=0, input_scale=1``: raw pixels train markedly worse than scaled ones, without any error."""
    if np.issubdtype(x.dtype, np.integer) and (net.input_shift, net.input_scale) == (0.0, 1.0) and x.size:
        top = int(x.max())
        if top > 1:
            scale = 255.0 if x.dtype == np.uint8 else float(top)
            warnings.warn(
                f"{name}: x is {x.dtype} with values up to {top} and enters the network unscaled; build the network "
                f"with mlp.Net(..., input_scale={scale}) (the data stays {x.dtype} on "
                f"the device), or pass float inputs in [0, 1] (data.load_mnist's default)",
                UnscaledInputWarning, stacklevel=stacklevel)


def evaluate(params, x, y, net: mlp.Net | None = None, *, loss: str | losses.Loss,
             activation: mlp.ActivationSpec | None = None, output: str | None = None, chunk_size: int = 1000,
             ensemble: bool = False) -> tuple[Array, Array]:
    """Mean loss and metric (the accuracy for the cross-entropy; NaN for a loss without one) of ``params`` on
    ``(x, y)``, evaluated in compiled chunks of ``chunk_size`` examples.

    Raises:
      ValueError: bad shapes, NaN or inf, labels out of range, or a softmax output before a loss on logits.
    """
    net, loss = mlp.as_net(net, activation, output), losses.get(loss)
    first = jax.tree.map(lambda a: a[0], params) if ensemble else params
    mlp.check_params(first)
    x, y = np.asarray(x), np.asarray(y)
    check_data("evaluate", x, y, loss, first[0][0].shape[1], first[-1][0].shape[0])
    xp, yp, n, chunk_size = evaluation.pad(x, y, chunk_size)
    return make_evaluate(net=net, loss=loss, chunk_size=chunk_size, ensemble=ensemble)(params, xp, yp, n)


def _place(array: np.ndarray, sharding):
    """Puts a host array on the devices of ``sharding``; in a multi-host run each process supplies its own shards."""
    if sharding is None:
        return jnp.asarray(array)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def _set_hyperparams(opt_state, hyperparams: dict[str, Any], ensemble: bool, members: int | None):
    if not ensemble or not hasattr(opt_state, "hyperparams"):
        raise ValueError("hyperparams needs ensemble=True and an optimizer built with optax.inject_hyperparams")
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


class History(list):
    """What :func:`fit` returns beside the parameters: one dict per epoch, plus the state to continue from.

    Attributes:
      opt_state: the optimizer state after the last epoch; pass it as ``fit(..., opt_state=history.opt_state)`` to
        continue training in a second call (its step count keeps the learning-rate schedule going).
    """

    opt_state: Any = None


def fit(params, x, y, net: mlp.Net | None = None, *, optimizer: optax.GradientTransformation, epochs: int,
        batch_size: int, key: Array, loss: str | losses.Loss, activation: mlp.ActivationSpec | None = None,
        output: str | None = None, grad: str = "autodiff", opt_state=None,
        eval_data: tuple[Any, Any] | None = None, eval_chunk_size: int = 1000, epochs_per_call: int = 1,
        ensemble: bool = False, hyperparams: dict[str, Any] | None = None, devices: Sequence | None = None,
        mesh: Mesh | None = None, checkpoint_path: str | os.PathLike | None = None, resume: bool | str = False,
        log_path: str | os.PathLike | None = None, meta: dict[str, Any] | None = None,
        verbose: bool = True) -> tuple[Any, History]:
    """Trains ``params`` on ``(x, y)`` by minibatch optimisation; returns ``(params, history)``.

    Args:
      params: a list of ``(W, b)``; for ``ensemble=True`` every leaf has a leading member axis K.
      x: inputs ``(N, d_0)``; integer inputs (``uint8`` images) stay integer on the device and are converted to the
        parameters' dtype inside the compiled step.
      y: targets ``(N, d_L)``, or integer labels ``(N,)`` for a loss that takes them (the cross-entropy).
      net: the activations (:class:`jaxnet.mlp.Net`); or give ``activation`` / ``output`` names instead.
      optimizer: any ``optax.GradientTransformation``.
      epochs: the total number of epochs (a resumed run continues up to this number).
      batch_size: minibatch size; ``N // batch_size`` steps per epoch, the last partial batch dropped. Full-batch
        gradient descent is ``batch_size=N``. On several devices it, and N, must be multiples of the number of
        data shards.
      key: PRNG key for the shuffling; the same key gives the same run.
      loss, grad: as for :func:`make_step`.
      opt_state: the optimizer state to start from (``history.opt_state`` of an earlier call); default a fresh
        ``optimizer.init(params)``.
      eval_data: optional ``(x_eval, y_eval)``, evaluated after every compiled call in chunks of ``eval_chunk_size``.
      epochs_per_call: epochs compiled into one program between host-side work (evaluation, progress, logs,
        checkpoints, the divergence check). Raise it for tiny epochs such as full-batch steps.
      ensemble: train K stacked networks: with ``jax.vmap`` in one program on accelerators and meshes, one member
        after another on a CPU (:func:`jaxnet.program.members_one_by_one`).
      hyperparams: for ensembles, per-member optimizer hyperparameters as ``{name: array (K,)}``; the optimizer must
        be built with ``optax.inject_hyperparams``.
      devices: the devices to shard the batch over (a data-only mesh); default all of ``jax.devices()``.
      mesh: instead of ``devices``, a mesh from :func:`make_mesh`: the ensemble's members are sharded over its
        ``"members"`` axis, the training and evaluation sets and every minibatch over its ``"data"`` axis. Each
        device holds only its shard of the data; in a multi-process run each process supplies only its own
        devices' shards, and only process 0 writes the log and the checkpoint.
      checkpoint_path: if given, the state is saved there (atomically) after every compiled call.
      resume: ``False`` (the default): start fresh, overwriting ``checkpoint_path`` and ``log_path``. ``True``:
        resume from ``checkpoint_path``, and fail if it does not exist. ``"auto"``: resume if it exists (the setting
        for a job that is restarted after preemption). A resumed run ends with exactly the parameters of an
        uninterrupted one.
      log_path: if given, one JSON line of metrics per epoch is written there.
      meta: extra JSON facts for the checkpoint header.
      verbose: show a progress bar (only when stderr is a terminal).

    Returns:
      ``(params, history)``. ``history`` is a :class:`History`, a list with one dict per epoch: ``epoch``,
      ``train_loss`` (mean minibatch loss; a list of K for ensembles), ``seconds`` (the wall time of its compiled
      call divided by the epochs in it; the first call includes compilation) and, with ``eval_data``,
      ``eval_loss`` and ``eval_accuracy`` (for a loss with the accuracy metric; measured at the end of each call).
      ``history.opt_state`` is the final optimizer state.

    Warns:
      UnscaledInputWarning: integer inputs above 1 (raw pixels) with the network's default input scaling.

    Raises:
      ValueError: bad shapes, non-finite data, labels out of range, a batch size that does not suit the devices,
        an ``opt_state`` the optimizer did not make, a hyperparameter without one value per member,
        a softmax output before a loss on logits, a corrupt checkpoint.
      FloatingPointError: the training loss became NaN or inf; the message names the epoch, and the last good
        checkpoint (if any) is left in place.
    """
    net, loss = mlp.as_net(net, activation, output), losses.get(loss)
    if not isinstance(epochs, int) or epochs < 0 or not isinstance(epochs_per_call, int) or epochs_per_call < 1:
        raise ValueError(f"epochs must be an int >= 0 and epochs_per_call >= 1, got {epochs} and {epochs_per_call}")
    first = jax.tree.map(lambda a: a[0], params) if ensemble else params
    mlp.check_params(first)
    net.names(len(first))
    d_in, d_out = first[0][0].shape[1], first[-1][0].shape[0]
    x_host, y_host = np.asarray(x), np.asarray(y)
    check_data("training data", x_host, y_host, loss, d_in, d_out)
    check_input_scale("training data", x_host, net)
    if not 1 <= batch_size <= x_host.shape[0]:
        raise ValueError(f"batch_size must be between 1 and the {x_host.shape[0]} training examples, got {batch_size}")
    members = jax.tree.leaves(params)[0].shape[0] if ensemble else None
    mesh = _resolve_mesh(mesh, devices, ensemble, members)
    shards = 1 if mesh is None else mesh.shape["data"]
    if batch_size % shards:
        raise ValueError(f"batch_size {batch_size} must be a multiple of the {shards} devices it is sharded over")
    if x_host.shape[0] % shards:
        raise ValueError(f"the {x_host.shape[0]} training examples must divide over the {shards} data shards")
    rows = None if mesh is None else NamedSharding(mesh, PartitionSpec("data"))
    state_sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("members" if ensemble else None))
    if ensemble and program.members_one_by_one(mesh):
        single = program.make_epochs(optimizer, net, loss=loss, grad=grad, batch_size=batch_size, mesh=mesh)
        run: Any = functools.partial(program.run_members, single)
    else:  # building the program checks the network, the loss and grad before any data is placed
        run = program.make_epochs(optimizer, net, loss=loss, grad=grad, batch_size=batch_size, ensemble=ensemble,
                                  mesh=mesh)

    # A private copy: the compiled program donates (reuses) its input buffers, and the caller keeps its own. On a
    # mesh it goes through the host, to be placed shard by shard below; on one device it stays there.
    private = distributed.to_host if mesh is not None else (lambda tree: jax.tree.map(jnp.array, tree))
    params = private(params)
    if opt_state is None:
        opt_state = jax.vmap(optimizer.init)(params) if ensemble else optimizer.init(params)
    else:
        _check_opt_state(opt_state, optimizer, params, ensemble)
        opt_state = private(opt_state)
    if hyperparams:
        opt_state = _set_hyperparams(opt_state, hyperparams, ensemble, members)
    start, history = 0, History()
    if loop.should_resume(checkpoint_path, resume):
        params, opt_state, start, records = loop.restore(checkpoint_path, params=params, opt_state=opt_state, key=key)
        history.extend(records)
    writer = distributed.is_writer()  # one process writes files; all of them read
    log_path = log_path if writer else None
    loop.start_log(log_path, fresh=start == 0)
    if state_sharding is not None:
        params, opt_state = jax.tree.map(lambda a: _place(np.asarray(a), state_sharding), (params, opt_state))
    xs, ys = _place(x_host, rows), _place(y_host, rows)
    evaluate_fn = _evaluator(eval_data, net, loss, eval_chunk_size, ensemble, rows, shards, d_in, d_out)
    meta = {"sizes": [d_in] + [int(W.shape[-2]) for W, _ in first], "activation": net.activation,
            "output": net.output, "input_shift": net.input_shift, "input_scale": net.input_scale,
            "loss": loss.name, "dtype": str(first[0][0].dtype), **(meta or {})}

    progress = loop.Progress(epochs, start, verbose)
    try:
        for first_epoch in range(start, epochs, epochs_per_call):
            epoch_ids = np.arange(first_epoch, min(first_epoch + epochs_per_call, epochs))
            tic = time.perf_counter()
            params, opt_state, values = run(params, opt_state, xs, ys, key, jnp.asarray(epoch_ids))
            values = distributed.to_host(values)  # waits for the compiled call to finish
            seconds = (time.perf_counter() - tic) / len(epoch_ids)
            loop.check_finite(values, first_epoch, epochs, checkpoint_path)
            # Plain Python numbers, converted in one go: a full-batch run has one record per step.
            records = [{"epoch": e + 1, "train_loss": v, "seconds": seconds}
                       for e, v in zip(epoch_ids.tolist(), values.tolist())]
            if evaluate_fn is not None:
                records[-1].update(evaluate_fn(params))
            history.extend(records)
            loop.append_log(log_path, records)
            if checkpoint_path is not None:
                state = distributed.to_host((params, opt_state))  # every process takes part; one writes
                if writer:
                    checkpoint.save(checkpoint_path, params=state[0], opt_state=state[1],
                                    epoch=int(epoch_ids[-1]) + 1, key=key, meta={**meta, "history": list(history)})
            progress.update(len(epoch_ids), records[-1])
    finally:
        progress.close()
    history.opt_state = opt_state
    return params, history


def _evaluator(eval_data, net, loss, chunk_size, ensemble, sharding, shards, d_in, d_out):
    """``params -> {"eval_loss": ..., "eval_accuracy": ...}`` on ``eval_data`` checked, padded and placed once
    (sharded by rows over ``shards`` data shards)."""
    if eval_data is None:
        return None
    x_eval, y_eval = np.asarray(eval_data[0]), np.asarray(eval_data[1])
    check_data("eval_data", x_eval, y_eval, loss, d_in, d_out)
    check_input_scale("eval_data", x_eval, net, stacklevel=4)  # the caller of fit
    x_eval, y_eval, n_eval, chunk = evaluation.pad(x_eval, y_eval, chunk_size, multiple_of=shards)
    x_eval, y_eval = _place(x_eval, sharding), _place(y_eval, sharding)
    fn = make_evaluate(net=net, loss=loss, chunk_size=chunk, ensemble=ensemble)

    def evaluate_fn(params):
        value, metric = distributed.to_host(fn(params, x_eval, y_eval, n_eval))
        record = {"eval_loss": value.tolist()}
        if loss.metric is not None:
            record[f"eval_{loss.metric}"] = metric.tolist()
        return record

    return evaluate_fn
