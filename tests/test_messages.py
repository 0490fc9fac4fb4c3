"""What jaxnet says when it warns or refuses, each sentence whole, as recorded in ``tests/snapshots/messages.json``.

The behaviour tests check the words that matter in a message (what it names, the numbers, the fix), so a message
can be reworded without touching them. Its wording is read here, once, in one reviewed file: a change to what a
user reads is a change to that file, seen in its diff (``JAXNET_UPDATE_SNAPSHOTS=1`` rewrites it; see
``tests/snapshots.py``).
"""

import warnings

import jax
import numpy as np
import optax

from jaxnet import evaluation, mlp, program, train

import snapshots
from problems import blobs, small_params


def said(call) -> str:
    """Every warning ``call`` gives and the error it raises, as ``Kind: message`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
            raised = []
        except Exception as e:  # noqa: BLE001  (the message is what is recorded)
            raised = [f"{type(e).__name__}: {e}"]
    return "\n".join([f"{w.category.__name__}: {w.message}" for w in caught] + raised)


def _continued_without_epochs_before():
    x, y = blobs(n=16)
    kwargs = dict(optimizer=optax.sgd(0.1), batch_size=8, key=jax.random.key(0), verbose=False, loss="cross_entropy")
    params, history = train.fit(small_params(), x, y, epochs=1, **kwargs)
    train.fit(params, x, y, epochs=1, opt_state=history.opt_state, **kwargs)


def _evaluate_as_a_pair():
    x, y = blobs(n=16)
    train.evaluate(small_params(), x, y, mlp.Net("relu"), loss="cross_entropy")


def _fit_with(**kwargs):
    def call():
        x, y = blobs(n=16)
        trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.sgd(0.1), batch_size=8,
                                **kwargs.pop("trainer", {}))
        trainer.fit(trainer.init(small_params()), x, y, epochs=1, key=jax.random.key(0), verbose=False, **kwargs)
    return call


CASES = {
    "fit: a continued run's epochs restart at 1": _continued_without_epochs_before,
    "evaluate: the pair it returns now": _evaluate_as_a_pair,
    "Trainer: hyperparameters of a single network": lambda: train.Trainer(
        mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.1), batch_size=8, hyperparams={"learning_rate": [0.1]}),
    "program.make_epochs: the activation keywords": lambda: program.make_epochs(
        optax.sgd(0.1), activation="tanh", loss="mse", batch_size=4),
    "evaluation.make_evaluate: the activation keywords": lambda: evaluation.make_evaluate(
        activation="tanh", loss="mse", chunk_size=8),
    "Trainer.fit: evaluation data that is no pair": _fit_with(eval_data=np.zeros((2, 4), np.float32)),
    "Trainer.fit: a named evaluation set that is no pair": _fit_with(eval_data={"held": np.zeros((2, 4))}),
}


def test_what_jaxnet_says_is_the_text_recorded():
    told = {name: said(call) for name, call in CASES.items()}
    assert all(told.values()), [name for name, text in told.items() if not text]  # each case says something
    assert told == snapshots.recorded_json("messages.json", told)
