"""The compiled training program: the update step, and whole epochs as one ``lax.scan``.

Everything here is traced and compiled; nothing here touches the host (no printing, files or clocks). The network is
a :class:`jaxnet.mlp.Net`, the loss a :class:`jaxnet.losses.Loss`, the gradient ``"autodiff"`` (``jax.grad``) or
``"manual"`` (:func:`jaxnet.backprop.value_and_manual_grad`).

Nothing here is cached: each ``make_*`` call returns a new jitted function, which compiles on its first call for
each shape and dtype of its arguments and never again. Whoever holds it (:class:`jaxnet.train.Trainer`) decides
how long the compiled program lives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnet import backprop, losses, mlp

GRADS = ("autodiff", "manual")


def value_and_grad(net: mlp.Net, loss: losses.Loss, grad: str) -> Callable:
    """``(params, x, y) -> (loss value, grads)`` by ``jax.grad`` or by the hand-written back-propagation.

    Raises:
      ValueError: for an unknown ``grad``, a softmax output before a loss on logits, or a pair ``manual_grad``
        cannot differentiate; at construction, not at the first step.
    """
    losses.check_output(loss, net.output)
    if grad == "autodiff":
        def objective(params, x, y, key=None):
            return loss.fn(mlp.apply(params, x, net, key=key), y)

        return jax.value_and_grad(objective)
    if grad == "manual":
        backprop.check_supported(loss, net.output)
        return functools.partial(backprop.value_and_manual_grad, net=net, loss=loss)
    raise ValueError(f"unknown grad {grad!r}; valid values are {list(GRADS)}")


def make_update(optimizer: optax.GradientTransformation, net: mlp.Net, loss: losses.Loss, grad: str) -> Callable:
    """The pure (un-jitted) update ``(params, opt_state, x, y, key=None, scale=None) -> (params, opt_state, loss
    value)``.

    Integer inputs (images stored as ``uint8``, say) are converted inside it (:meth:`jaxnet.mlp.Net.input`), so a
    training set can sit on the device once in its compact form. ``key`` draws the step's dropout
    (:func:`jaxnet.mlp.dropout_scales`); a net with dropout refuses to step without one. ``scale`` (a scalar array)
    multiplies every update after the optimizer (for optax's optimizers, the learning rate); 1 changes no bit.
    """
    value_and_grad_fn = value_and_grad(net, loss, grad)
    extra_args = optax.with_extra_args_support(optimizer)

    def update(params, opt_state, x, y, key=None, scale=None):
        if key is None and net.drops:
            raise ValueError(f"the net drops units (dropout={net.dropout}), so each training step needs its own "
                             f"key: step(params, opt_state, x, y, key)")
        value, grads = value_and_grad_fn(params, x, y, key=key)
        # value= lets transforms that watch the loss (optax.contrib.reduce_on_plateau) see it; every optax
        # transform accepts it, and a hand-written one is wrapped to ignore it.
        updates, opt_state = extra_args.update(grads, opt_state, params, value=value)
        if scale is not None:  # the plateau's scale (callbacks.ReduceLROnPlateau): a traced number, so no recompiling
            updates = jax.tree.map(lambda u: u * scale.astype(u.dtype), updates)
        return optax.apply_updates(params, updates), opt_state, value

    return update


def make_steps(optimizer, net: mlp.Net, *, loss: str | losses.Loss, grad: str = "autodiff", ensemble: bool = False,
               unroll: int = 1) -> Callable:
    """The compiled program behind streamed training (``Trainer(..., steps_per_call=K)``): ``steps(params, opt_state,
    xb, yb, step_keys, scale) -> (params, opt_state, values)``.

    It runs one update per given minibatch, ``xb`` ``(K, B, d_0)`` and ``yb`` ``(K, B, …)`` gathered by the host,
    as one ``lax.scan``: the steps of :func:`make_epochs`'s epoch, whose minibatches it gathers itself, with the
    same update. ``step_keys`` ``(K,)`` draw a dropout net's units (``None`` without dropout); ``values`` are the K
    minibatch losses, ``(K,)`` or ``(K, E)`` for a vmapped ensemble of E. Each call returns a new program, which
    donates ``params`` and ``opt_state`` as :func:`make_epochs`'s does.
    """
    update = make_update(optimizer, net, losses.get(loss), grad)
    if ensemble:
        update = jax.vmap(update, in_axes=(0, 0, None, None, None, None), out_axes=(0, 0, 0))

    def steps(params, opt_state, xb, yb, step_keys, scale):
        scale = jnp.asarray(scale)

        def one_batch(carry, batch):
            x, y, key = batch
            params, opt_state, value = update(*carry, x, y, key, scale)
            return (params, opt_state), value

        (params, opt_state), values = jax.lax.scan(one_batch, (params, opt_state), (xb, yb, step_keys),
                                                   unroll=unroll)
        return params, opt_state, values

    return jax.jit(steps, donate_argnums=(0, 1))


def members_one_by_one(mesh: Mesh | None) -> bool:
    """Whether an ensemble trains its members one after another (True) or side by side with ``jax.vmap``.

    On XLA's CPU backend the vmapped ensemble is at best as fast and often much slower: the batched
    weight-gradient products it creates run 2.4–6.9× slower than separate ones, and an ensemble of 8 of the
    1-width-1 network reached 0.38 and 0.31 of one network's steps per second at widths 1,000 and 10,000, while
    members trained in turn reached 1.01 and 0.95 (``make bench``, Task U, in ``benchmarks/RESULTS.md``). So a CPU
    trains members in sequence, each with the single-network program (compiled once); accelerators, and ensembles
    sharded over a mesh, use ``vmap``.
    """
    return mesh is None and jax.default_backend() == "cpu"


def run_members(run: Callable, params, opt_state, *args):
    """``run`` (a single-network program) applied to each member of a stacked ensemble in turn; results stacked.

    Returns ``(params, opt_state, values)`` like the vmapped program: every leaf with the member axis first, and
    values ``(E, K)``.
    """
    results = [run(jax.tree.map(lambda a, k=k: a[k], params), jax.tree.map(lambda a, k=k: a[k], opt_state), *args)
               for k in range(jax.tree.leaves(params)[0].shape[0])]
    stack = lambda *leaves: jnp.stack(leaves)
    params = jax.tree.map(stack, *[r[0] for r in results])
    opt_state = jax.tree.map(stack, *[r[1] for r in results])
    return params, opt_state, jnp.stack([r[2] for r in results], axis=1)


def make_epochs(optimizer, net: mlp.Net | None = None, *, loss: str | losses.Loss, grad: str = "autodiff",
                batch_size: int, ensemble: bool = False, mesh: Mesh | None = None,
                activation: mlp.ActivationSpec | None = None, output: str | None = None, unroll: int = 1) -> Callable:
    """The compiled program behind :func:`jaxnet.train.fit`: ``epochs(params, opt_state, x, y, key, epoch_ids,
    scale=1.0)``.

    It runs one epoch per entry of ``epoch_ids`` (a ``lax.scan``), and each epoch is a ``lax.scan`` over
    ``N // batch_size`` minibatches of a fresh permutation drawn from ``fold_in(key, epoch)``. The last partial
    batch is DROPPED (a different permutation each epoch means every example is still seen), so every step has the
    same shape and the program compiles once. An ensemble is vmapped over its members; but see
    :func:`members_one_by_one`. With ``batch_size = N`` (full-batch gradient descent) nothing is shuffled: every
    step sees the whole set, in order. A net with dropout draws step s's units from ``split(fold_in(fold_in(key,
    epoch), 1), steps)[s]``: a function of the key and the epoch alone, so continued and resumed runs stay exact
    (an ensemble's members share them, as they share the order of the examples). Returns ``(params, opt_state,
    losses)`` with the mean minibatch loss of each epoch, ``(E,)`` or ``(E, K)`` for an ensemble of K. ``scale``
    multiplies every update (:func:`make_update`; a number, traced, so a new value compiles nothing). ``unroll``
    is the minibatch scan's (the same steps, ``unroll`` to a loop iteration). Each call returns a new program: hold
    it to reuse what it compiled. The program donates ``params`` and ``opt_state``: it writes its results into their
    buffers, so the arrays passed in are deleted (pass copies to keep them).
    """
    net, loss = mlp.engine_net("program.make_epochs", net, activation, output), losses.get(loss)
    update = make_update(optimizer, net, loss, grad)
    if ensemble:
        update = jax.vmap(update, in_axes=(0, 0, None, None, None, None))
    # On a mesh, each minibatch is split over the "data" axis: (batches, batch, ...) sharded on its second axis.
    batches_sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec(None, "data"))

    def one_batch(carry, batch, scale):
        params, opt_state, value = update(*carry, *batch, scale)
        return (params, opt_state), value

    def dropout_keys(epoch_key, steps):
        # Only a net that drops units draws them, so a net without dropout runs the very same program as before.
        return jax.random.split(jax.random.fold_in(epoch_key, 1), steps) if net.drops else None

    def one_epoch(carry, epoch_id, x, y, key, scale):
        epoch_key = jax.random.fold_in(key, epoch_id)
        if batch_size == x.shape[0]:  # full-batch gradient descent: the order of the examples does not matter
            step_keys = dropout_keys(epoch_key, 1)
            return one_batch(carry, (x, y, None if step_keys is None else step_keys[0]), scale)
        n_batches = x.shape[0] // batch_size
        order = jax.random.permutation(epoch_key, x.shape[0])
        order = order[: n_batches * batch_size].reshape(n_batches, batch_size)
        step_keys = dropout_keys(epoch_key, n_batches)
        if batches_sharding is None:  # one device: gather each minibatch when its step needs it
            carry, values = jax.lax.scan(lambda c, step: one_batch(c, (x[step[0]], y[step[0]], step[1]), scale),
                                         carry, (order, step_keys), unroll=unroll)
        else:
            # The set is sharded over "data" by rows; the epoch's shuffled batches are gathered once per epoch into
            # that layout (every device receives its part of every batch), not once per step.
            batches = [jax.lax.with_sharding_constraint(a[order], batches_sharding) for a in (x, y)]
            carry, values = jax.lax.scan(lambda c, batch: one_batch(c, batch, scale), carry, (*batches, step_keys),
                                         unroll=unroll)
        return carry, jnp.mean(values, axis=0)

    def epochs(params, opt_state, x, y, key, epoch_ids, scale=1.0):
        scale = jnp.asarray(scale)
        (params, opt_state), values = jax.lax.scan(
            lambda carry, e: one_epoch(carry, e, x, y, key, scale), (params, opt_state), epoch_ids)
        return params, opt_state, values

    return jax.jit(epochs, donate_argnums=(0, 1))
