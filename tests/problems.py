"""Small problems the engine's tests share: Gaussian blobs to classify, a smooth regression, their networks."""

import jax
import numpy as np

from jaxnet import mlp


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
