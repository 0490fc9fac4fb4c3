"""Guards against a known compiler defect: jaxlib 0.10.2 on CPU miscompiles a vmapped matrix-vector product followed
by a reduction at some sizes (jax-ml/jax#39103: at 32,769 float32 rows the reproducer's last row came out as
1,071,645,696 instead of 1,073,741,824, a relative error of 2e-3, while eager was right). That is jaxnet's core
pattern, so every compiled path is compared with the same computation run eagerly (op by op) at the sizes where
it was seen, in float32 and float64.

Tolerances: jit may fuse and reorder sums, so float32 agrees to a few ulps of the values (rtol 2e-5 on sums of a
few hundred thousand terms), float64 to rtol 1e-11; the defect's error is 100× larger than the float32 bound.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnet import backprop, evaluation, losses, mlp, program, train

pytestmark = pytest.mark.slow  # tens of thousands of rows, compiled and eager

SIZES = [16_385, 32_769]
DTYPES = [jnp.float32, jnp.float64]
TOL = {jnp.float32: dict(rtol=2e-5, atol=1e-6), jnp.float64: dict(rtol=1e-11, atol=1e-13)}
NET = mlp.Net("tanh")


def problem(n, dtype, loss):
    keys = jax.random.split(jax.random.key(n), 3)
    params = mlp.init(keys[0], [8, 16, 4], dtype=dtype)
    x = jax.random.normal(keys[1], (n, 8), dtype)
    if losses.get(loss).integer_labels:
        y = jax.random.randint(keys[2], (n,), 0, 4)
    else:
        y = jax.random.normal(keys[2], (n, 4), dtype)
    return params, x, y


def grid(fn):
    return pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])(
        pytest.mark.parametrize("n", SIZES)(fn))


@grid
def test_apply(n, dtype):
    with jax.enable_x64(dtype == jnp.float64):
        params, x, _ = problem(n, dtype, "mse")
        chex.assert_trees_all_close(jax.jit(mlp.apply, static_argnums=2)(params, x, NET), mlp.apply(params, x, NET),
                                    **TOL[dtype])
        one = jax.vmap(mlp.apply, in_axes=(None, 0, None))  # the one-example definition, vmapped: the bug's shape
        chex.assert_trees_all_close(jax.jit(one, static_argnums=2)(params, x, NET), one(params, x, NET),
                                    **TOL[dtype])


@grid
@pytest.mark.parametrize("loss", list(losses.LOSSES))
def test_losses_and_their_signals(n, dtype, loss):
    with jax.enable_x64(dtype == jnp.float64):
        params, x, y = problem(n, dtype, loss)
        yhat = mlp.apply(params, x, NET)
        for fn in (losses.get(loss).fn, losses.get(loss).signal):
            chex.assert_trees_all_close(jax.jit(fn)(yhat, y), fn(yhat, y), **TOL[dtype])
        per_example = jax.vmap(losses.get(loss).fn)  # as the evaluation computes it
        chex.assert_trees_all_close(jax.jit(per_example)(yhat, y), per_example(yhat, y), **TOL[dtype])


@grid
@pytest.mark.parametrize("grad", program.GRADS)
def test_gradients_one_training_step_and_the_evaluation(n, dtype, grad):
    with jax.enable_x64(dtype == jnp.float64):
        params, x, y = problem(n, dtype, "cross_entropy")
        if grad == "manual":
            eager = backprop.manual_grad(params, x, y, NET, loss="cross_entropy")
            jitted = jax.jit(backprop.manual_grad, static_argnums=3, static_argnames="loss")(params, x, y, NET,
                                                                                            loss="cross_entropy")
            chex.assert_trees_all_close(jitted, eager, **TOL[dtype])
        optimizer = optax.adam(1e-3)
        update = program.make_update(optimizer, NET, losses.get("cross_entropy"), grad)
        state = optimizer.init(params)
        chex.assert_trees_all_close(jax.jit(update)(params, state, x, y), update(params, state, x, y), **TOL[dtype])
        xp, yp, count, chunk = evaluation.pad(np.asarray(x), np.asarray(y), 4096)
        value, accuracy = train.make_evaluate(NET, loss="cross_entropy", chunk_size=chunk)(params, xp, yp, count)
        logits = mlp.apply(params, x, NET)
        chex.assert_trees_all_close(value, losses.cross_entropy(logits, y), **TOL[dtype])
        assert round(float(accuracy) * n) == int(jnp.sum(jnp.argmax(logits, axis=-1) == y))  # counts, exactly
