"""Strict JAX for the whole suite: an accidental broadcast of a bias or a target is an error, not a silent result.

Under ``make mutants`` (``MUTANT_UNDER_TEST`` names a mutant) the tests chosen for a mutant run in the order most
likely to stop early: the mutated module's own test files first, then the rest, each group fastest first (by the
durations the tool recorded). A killed mutant costs the tests up to its first failure, so the order decides most of
the run's time; a surviving one runs them all either way.
"""

import json
import os

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def traces(monkeypatch):
    """Registers a loss "counted_cross_entropy" that counts how often JAX traces it (Python runs only when tracing)."""
    from jaxnet import losses

    count = {"n": 0}

    def counted(logits, y):
        count["n"] += 1
        return losses.cross_entropy(logits, y)

    monkeypatch.setitem(losses.LOSSES, "counted_cross_entropy",
                        losses.get("cross_entropy")._replace(name="counted_cross_entropy", fn=counted))
    return count


def pytest_collection_modifyitems(config, items):
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if "__mutmut_" not in mutant:
        return
    try:  # written by the tool in its working directory, mutants/
        with open("mutmut-stats.json") as f:
            duration = json.load(f)["duration_by_test"]
    except (OSError, ValueError, KeyError):
        duration = {}
    # "jaxnet.losses.x_check_output__mutmut_7" -> test_losses*.py; "experiments.playground.fit.x_…" ->
    # test_playground*.py and test_fit*.py; a method "jaxnet.train.xǁTrainerǁ_loop__…" -> test_trainer*.py too.
    *packages, function = mutant.split("__mutmut_")[0].split(".")
    own = {"test_" + name for name in packages[1:]}
    if function.count("ǁ") == 2:
        own.add("test_" + function.split("ǁ")[1].lower())

    def mine(item):
        return os.path.basename(item.nodeid.split("::")[0]).startswith(tuple(own))

    items.sort(key=lambda item: (not mine(item), duration.get(item.nodeid, 1.0)))
