"""Task U: full-batch steps per second of the universal-approximation network (1-width-1, tanh, Adam, 300 points):
plain JAX (the network written out row-stacked in one ``lax.scan``), a jaxnet ``Trainer`` on one network and on an
ensemble, and the vmapped ensemble program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import timing
from jaxnet import mlp, program, train


def weight_gradient_dot_ratio(width: int, members: int, n: int = 300, reps: int = 50) -> float:
    """Time of the vmapped first-layer weight gradient gᵀx (g: members × n × width, x shared) over that of
    ``members`` separate ones: the matmul a vmapped ensemble of 1-input networks adds."""
    g = jax.random.normal(jax.random.key(0), (members, n, width))
    x = jnp.linspace(0, 1, n)[:, None]
    one = jax.jit(lambda g, x: g.T @ x)
    many = jax.jit(jax.vmap(lambda g, x: g.T @ x, in_axes=(0, None)))
    many_s = min(timing.seconds(many, lambda: (g, x), reps=reps))
    one_s = min(timing.seconds(one, lambda: (g[0], x), reps=reps))
    return many_s / (members * one_s)


def plain_jax_scan(optimizer, steps: int):
    """The peer of Task U: the 1-width-1 tanh network written out row-stacked in plain JAX, ``steps`` full-batch
    steps in one ``lax.scan``, data passed as arguments (the way jaxnet gets it)."""
    def loss(params, x, y):
        (W1, b1), (W2, b2) = params
        yhat = jnp.tanh(x @ W1.T + b1[None, :]) @ W2.T + b2[None, :]
        return 0.5 * jnp.sum((yhat - y) ** 2) / x.shape[0]

    def run(params, state, x, y):
        def step(carry, _):
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params, x, y)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), value

        return jax.lax.scan(step, (params, state), None, length=steps)

    return jax.jit(run)


def task_u(widths, steps: dict, members: int = 8):
    """Steps per second: plain JAX; a jaxnet ``Trainer`` on one network; on an ensemble of ``members`` (on a CPU one
    member after another, see ``jaxnet.program.members_one_by_one``); and the vmapped ensemble program.
    ``steps[width]`` steps per timed call: enough that a call lasts a good fraction of a second, so that what
    ``Trainer.fit`` does once per call (checks, copies, placing the data) is weighed against the steps as in real
    use. Each figure is the faster of two calls after one that compiles."""
    x = np.linspace(0, 1, 300, dtype=np.float32)[:, None]
    y = (np.sin(20 * x) * np.sin(10 * x) + x / 10).astype(np.float32)
    xs, ys, key = jnp.asarray(x), jnp.asarray(y), jax.random.key(0)
    optimizer = optax.adam(1e-3)
    net = mlp.Net("tanh")
    vmapped = program.make_epochs(optimizer, net, loss="mse", batch_size=300, ensemble=True)

    def best(fn, params) -> float:
        fresh = lambda: (jax.tree.map(jnp.array, params),)  # the programs donate their inputs
        return min(timing.seconds(fn, fresh, reps=2))

    def measure(width: int, steps: int) -> dict:
        plain = plain_jax_scan(optimizer, steps)
        one, stacked = mlp.init(key, [1, width, 1]), mlp.init_ensemble(key, members, [1, width, 1])
        trainers = {ensemble: train.Trainer(net, loss="mse", optimizer=optimizer, batch_size=300, ensemble=ensemble,
                                            epochs_per_call=steps) for ensemble in (False, True)}

        def fit(params, ensemble):
            trainer = trainers[ensemble]
            return trainer.fit(trainer.init(params), x, y, epochs=steps, key=key, verbose=False)[0].params

        t_plain = best(lambda p: plain(p, optimizer.init(p), xs, ys), one)
        t_fit = best(lambda p: fit(p, False), one)
        t_ensemble = best(lambda p: fit(p, True), stacked)
        t_vmapped = best(lambda p: vmapped(p, jax.vmap(optimizer.init)(p), xs, ys, key, jnp.arange(steps)), stacked)
        return {"width": width, "steps": steps, "plain_steps_per_s": steps / t_plain,
                "fit_steps_per_s": steps / t_fit, "fit_over_plain": t_plain / t_fit,
                "ensemble_member_steps_per_s": members * steps / t_ensemble,
                "ensemble_over_plain": members * t_plain / t_ensemble,
                "vmapped_member_steps_per_s": members * steps / t_vmapped,
                "vmapped_over_plain": members * t_plain / t_vmapped,
                "dot_ratio": weight_gradient_dot_ratio(width, members)}

    return [measure(width, steps[width]) for width in widths]
