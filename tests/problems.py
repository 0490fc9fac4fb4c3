"""Small problems the engine's tests share: Gaussian blobs to classify, a smooth regression, their networks, and a
run of a fresh Trainer on them."""

import jax
import numpy as np
import optax

from jaxnet import mlp, train


def blobs(n=203, d=4, k=3, seed=0):
    """A learnable classification problem: k Gaussian clusters in d dimensions (n not a multiple of the batch)."""
    rng = np.random.RandomState(seed)
    centres = rng.randn(k, d) * 3
    labels = rng.randint(0, k, n)
    return (centres[labels] + rng.randn(n, d)).astype(np.float32), labels.astype(np.int32)


def small_params(seed=0, sizes=(4, 16, 3)):
    """A 4-16-3 network (for :func:`blobs`) by default."""
    return mlp.init(jax.random.key(seed), list(sizes))


def regression(n=16, d_in=3, d_out=2, seed=0):
    """``n`` examples of a smooth map ``R^d_in -> R^d_out`` (tanh of a random linear map)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in)).astype(np.float32)
    return x, np.tanh(x @ rng.normal(size=(d_in, d_out))).astype(np.float32)


def trained(params, x, y, *, net=None, epochs=3, key=None, eval_data=None, opt_state=None, callbacks=(),
            optimizer=None, **trainer_kwargs):
    """``(state, history)`` of a fresh Trainer (by default a ReLU net, the cross-entropy, SGD at 0.1, minibatches of
    32) trained from ``params`` (and ``opt_state``) for ``epochs``, with key 1 by default."""
    trainer = train.Trainer(mlp.Net("relu") if net is None else net,
                            **{"loss": "cross_entropy", "batch_size": 32, **trainer_kwargs},
                            optimizer=optax.sgd(0.1) if optimizer is None else optimizer)
    return trainer.fit(trainer.init(params, opt_state), x, y, epochs=epochs,
                       key=jax.random.key(1) if key is None else key, eval_data=eval_data, callbacks=callbacks,
                       verbose=False)
