"""Strict JAX for the whole suite: an accidental broadcast of a bias or a target is an error, not a silent result."""

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    return jax.random.key(0)
