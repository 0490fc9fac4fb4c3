"""Back-propagation by hand, in the lecture's order: nine exercises, each checked as soon as it is written.

The notebook ``experiments/exercises/backprop.ipynb`` asks for nine functions, one per cell, each with a blank to
fill and a check to run (:func:`check`); ``python -m experiments.exercises check my_backprop.py`` grades a file that
defines them (:func:`check_file`) and prints, per exercise, "passed", "not done" or what is wrong. A function whose
body still raises ``NotImplementedError`` (the blank) is "not done", never an error. Exercises 1–6 and 8 compare an
answer with the lecture's formula written out in NumPy's float64 (whatever JAX's settings), within a relative 1e-4
(``RTOL``); exercise 7 goes through :func:`jaxnet.gradcheck.check`; exercise 9's loss, in float64, must be within
1e-3 of the loss jaxnet's SGD reaches.

Conventions, the lecture's: a batch is N rows (``x`` of shape ``(N, d_0)``), ``W_i`` is ``(d_i, d_{i−1})`` and
``b_i`` is ``(d_i,)``, so a layer computes v = u Wᵀ + b row by row; the networks have tanh hidden layers and an
identity output, and the loss is L2 = 1/(2N)·Σ‖ŷ − y‖². The exercises, in order:

1. ``layer_forward(W, b, u, phi) -> (v, u_next)``: one layer, v = u Wᵀ + b and φ(v).
2. ``l2_loss(yhat, y)``: 1/(2N)·Σₙ‖ŷₙ − yₙ‖².
3. ``cross_entropy_loss(logits, labels)``: −1/N·Σₙ log softmax(ŷₙ)[labelₙ], finite for any logits.
4. ``output_signal(yhat, y)``: g_L = ∂L2/∂ŷ = (ŷ − y)/N for an identity output.
5. ``hidden_signal(g_next, W_next, v, phi_derivative)``: g_i = Φ'_i(v_i) W_{i+1}ᵀ g_{i+1}, row by row.
6. ``weight_gradients(g, u_prev) -> (dW, db)``: ∇W_i = Σₙ g_i u_{i−1}ᵀ and ∇b_i = Σₙ g_i.
7. ``backprop(params, x, y)``: every ``(dW_i, db_i)`` of a tanh network with the L2 loss, checked by
   :func:`jaxnet.gradcheck.check`, which names the layer and the mistake.
8. ``sgd_step(params, grads, lr)``: W_i − lr·∇W_i and b_i − lr·∇b_i.
9. ``train(params, x, y, lr, steps)``: ``steps`` full-batch gradient-descent steps with your ``backprop`` and
   ``sgd_step``, on the width sweep's network and data; it must end where jaxnet's own SGD ends.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import universal_approx
from jaxnet import gradcheck, mlp, train

# Float32 round-off of the reference against a student's float64 (or float32) NumPy: far below every mistake.
RTOL = 1e-4


@dataclasses.dataclass(frozen=True)
class Result:
    """One exercise's outcome: ``status`` is ``"passed"``, ``"not done"`` or ``"failed"``, ``message`` says why."""

    number: int
    name: str
    status: str
    message: str = ""

    def __str__(self) -> str:
        return f"exercise {self.number}, {self.name}: {self.status}" + (f": {self.message}" if self.message else "")

    __repr__ = __str__  # what a notebook cell shows

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _compare(name: str, got, expected, hint: str) -> str | None:
    """None when ``got`` is ``expected`` (shape, then values within RTOL); else what differs."""
    got = np.asarray(got)
    if np.iscomplexobj(got):  # float64 would drop the imaginary part, and a wrong one would pass
        return f"{name} holds complex numbers; expected real ones"
    got = got.astype(np.float64)
    if got.shape != np.shape(expected):
        return f"{name} has shape {got.shape}, expected {np.shape(expected)}" + (f" ({hint})" if hint else "")
    if not np.all(np.isfinite(got)):
        return f"{name} holds a NaN or an infinity"
    if not np.allclose(got, expected, rtol=RTOL, atol=RTOL * max(1.0, float(np.max(np.abs(expected))))):
        worst = np.unravel_index(int(np.argmax(np.abs(got - expected))), got.shape)
        return (f"{name} is wrong: at {tuple(int(i) for i in worst)} got {got[worst]:.6g}, expected "
                f"{np.asarray(expected)[worst]:.6g}" + (f" ({hint})" if hint else ""))
    return None


def _ratio_hint(got: float, expected: float, n: int, d: int) -> str:
    """Names the usual factor between a loss or signal and the right one."""
    ratio = got / expected if expected else np.inf
    factors = ((-1, "the sign is flipped"), (2, "the ½ of L2 is missing"), (n, "the 1/N is missing"),
               (2 * n, "the ½ and the 1/N are missing"),
               (1 / d, f"divided by N·d: average over the N examples only, summing the {d} outputs"),
               (1 / n, "divided by N twice"))
    for factor, words in factors:
        if np.isclose(ratio, factor, rtol=1e-3):
            return f"{words}: got {got:.6g}, expected {expected:.6g}"
    return f"got {got:.6g}, expected {expected:.6g}"


def check_layer_forward(fn: Callable) -> str | None:
    rng = _rng(1)
    W, b, u = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(5, 3))
    result = fn(W, b, u, np.tanh)
    if not isinstance(result, tuple) or len(result) != 2:
        return "return the pair (v, u_next)"
    v, u_next = result
    expected = u @ W.T + b
    if np.shape(v) == expected.shape and np.allclose(v, u @ W.T):
        return "v misses the bias: v = u Wᵀ + b"
    return (_compare("v", v, expected, "a batch is N rows: v = u Wᵀ + b, of shape (N, d_i)")
            or _compare("u_next", u_next, np.tanh(expected), "u_next = φ(v)"))


def check_l2_loss(fn: Callable) -> str | None:
    rng = _rng(2)
    yhat, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    got = float(np.asarray(fn(yhat, y)))
    expected = np.sum((yhat - y) ** 2) / (2 * len(y))  # the lecture's formula, in float64
    if not np.isclose(got, expected, rtol=RTOL):
        return "L2 = 1/(2N)·Σ‖ŷ − y‖²: " + _ratio_hint(got, expected, 6, 3)
    return None


def check_cross_entropy_loss(fn: Callable) -> str | None:
    rng = _rng(3)
    labels = rng.integers(0, 4, 7)
    for scale in (1.0, 1000.0):  # logits of 1,000 overflow exp(): log softmax must be v − logsumexp(v)
        logits = scale * rng.normal(size=(7, 4))
        got = float(np.asarray(fn(logits, labels)))
        top = logits.max(axis=1, keepdims=True)
        log_softmax = logits - top - np.log(np.sum(np.exp(logits - top), axis=1, keepdims=True))
        expected = -np.mean(log_softmax[np.arange(len(labels)), labels])  # in float64
        if not np.isfinite(got):
            return (f"not finite for logits of size {scale:g}: compute log softmax(v) as v − logsumexp(v), "
                    f"subtracting max(v) before exp")
        if not np.isclose(got, expected, rtol=RTOL):
            return "L = −1/N·Σ log softmax(ŷ)[label]: " + _ratio_hint(got, expected, 7, 4)
    return None


def check_output_signal(fn: Callable) -> str | None:
    rng = _rng(4)
    yhat, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    got, expected = fn(yhat, y), (yhat - y) / 5
    if np.shape(got) == expected.shape and not np.iscomplexobj(got) and np.all(np.isfinite(got)):
        ratio = float(np.sum(got * expected) / np.sum(expected * expected))
        if not np.allclose(got, expected, rtol=RTOL) and np.allclose(got, ratio * expected, rtol=RTOL):
            return "g_L = (ŷ − y)/N: " + _ratio_hint(ratio, 1.0, 5, 2).split(":")[0]
    return _compare("g_L", got, expected, "g_L = (ŷ − y)/N, one row per example")


def check_hidden_signal(fn: Callable) -> str | None:
    rng = _rng(5)
    g_next, W_next, v = rng.normal(size=(6, 3)), rng.normal(size=(3, 4)), rng.normal(size=(6, 4))
    derivative = lambda v: 1 - np.tanh(v) ** 2
    got = fn(g_next, W_next, v, derivative)
    back = g_next @ W_next
    real = np.shape(got) == back.shape and not np.iscomplexobj(got)
    if real and np.allclose(got, back, rtol=RTOL):
        return "Φ'(v) is missing: g_i = Φ'_i(v_i) W_{i+1}ᵀ g_{i+1}"
    if real and np.allclose(got, derivative(np.tanh(v)) * back, rtol=RTOL):
        return "Φ' is taken at u_i = φ(v_i), not at v_i (the lecture's erratum 1)"
    return _compare("g_i", got, derivative(v) * back, "row by row, g_i = Φ'(v_i) ⊙ (g_{i+1} W_{i+1}), (N, d_i)")


def check_weight_gradients(fn: Callable) -> str | None:
    rng = _rng(6)
    g, u_prev = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    result = fn(g, u_prev)
    if not isinstance(result, tuple) or len(result) != 2:
        return "return the pair (dW, db)"
    dW, db = result
    if np.shape(dW) == (4, 3):
        return "∇W is transposed: ∇W_i = Σₙ g_i u_{i−1}ᵀ has shape (d_i, d_{i−1}), like W_i"
    if np.shape(db) == (3,) and np.allclose(db, g.mean(axis=0), rtol=RTOL):
        return "∇b is the mean over the batch: ∇b_i = Σₙ g_i (the loss's 1/N is already in g)"
    return _compare("∇W", dW, g.T @ u_prev, "∇W_i = Σₙ g_i u_{i−1}ᵀ") or _compare("∇b", db, g.sum(axis=0),
                                                                                    "∇b_i = Σₙ g_i")


def check_backprop(fn: Callable) -> str | None:
    rng = _rng(7)
    # Non-zero biases, so that a forward pass without them shows.
    params = [(W, jnp.asarray(0.5 * rng.normal(size=b.shape), jnp.float32))
              for W, b in mlp.init(jax.random.key(7), [2, 5, 5, 3], init="glorot")]
    x, y = rng.normal(size=(6, 2)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    report = gradcheck.check(fn, params, x, y, mlp.Net("tanh"), loss="mse")
    return None if report.ok else str(report)


def check_sgd_step(fn: Callable) -> str | None:
    rng = _rng(8)
    params = [(rng.normal(size=(3, 2)), rng.normal(size=3)), (rng.normal(size=(1, 3)), rng.normal(size=1))]
    grads = [(rng.normal(size=(3, 2)), rng.normal(size=3)), (rng.normal(size=(1, 3)), rng.normal(size=1))]
    got = fn(params, grads, 0.1)
    if not isinstance(got, (list, tuple)) or len(got) != 2:
        return "return a list of (W_i, b_i), one pair per layer"
    for i, ((W, b), (dW, db), pair) in enumerate(zip(params, grads, got), start=1):
        if np.allclose(np.asarray(pair[0]), W + 0.1 * dW):
            return f"layer {i}: W + lr·∇W climbs the loss; a step of gradient descent is W − lr·∇W"
        message = _compare(f"W{i}", pair[0], W - 0.1 * dW, "W − lr·∇W") or _compare(f"b{i}", pair[1], b - 0.1 * db,
                                                                                   "b − lr·∇b")
        if message:
            return message
    return None



class TrainSetting(NamedTuple):
    """Exercise 9's run: the width sweep's network and data at a size that trains in a second (300 points)."""

    width: int = 20  # hidden tanh units, spread over [0, 1] as the sweep starts them
    slope: float = 30.0  # their initial slope
    lr: float = 0.2  # plain gradient descent's rate (0.5 diverges from this start)
    steps: int = 500  # full-batch steps: the loss falls from 0.119 to 0.0051


TRAIN = TrainSetting()


def check_train(fn: Callable) -> str | None:
    x, y = universal_approx.sample(300)
    params = jax.tree.map(np.asarray, universal_approx.init_spread(jax.random.key(0), TRAIN.width, slope=TRAIN.slope))
    got = fn(params, x, y, TRAIN.lr, TRAIN.steps)
    expected, _ = train.fit(params, x, y, optimizer=optax.sgd(TRAIN.lr), loss="mse", net=mlp.Net("tanh"),
                            epochs=TRAIN.steps, batch_size=len(x), key=jax.random.key(0), verbose=False,
                            epochs_per_call=TRAIN.steps)
    def loss(p) -> float:  # L2 of the tanh network, written out in float64
        (W1, b1), (W2, b2) = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in p]
        yhat = np.tanh(x @ W1.T + b1) @ W2.T + b2
        return float(np.sum((yhat - y) ** 2) / (2 * len(y)))

    start, want = loss(params), loss(expected)
    try:
        reached = loss(got)
    except (TypeError, ValueError) as e:
        return f"return the trained params, a list of (W_i, b_i) like params ({e})"
    if not np.isfinite(reached) or reached >= start:
        return f"the loss went from {start:.4g} to {reached:.4g}: it must fall (check the step's sign and rate)"
    if not np.isclose(reached, want, rtol=1e-3):
        return (f"after {TRAIN.steps} steps at lr {TRAIN.lr} the loss is {reached:.6g}; jaxnet's SGD reaches "
                f"{want:.6g} from the same start (one full-batch step per iteration, your backprop and sgd_step)")
    return None


EXERCISES: tuple[tuple[str, Callable[[Callable], str | None]], ...] = (
    ("layer_forward", check_layer_forward),
    ("l2_loss", check_l2_loss),
    ("cross_entropy_loss", check_cross_entropy_loss),
    ("output_signal", check_output_signal),
    ("hidden_signal", check_hidden_signal),
    ("weight_gradients", check_weight_gradients),
    ("backprop", check_backprop),
    ("sgd_step", check_sgd_step),
    ("train", check_train),
)
NAMES = tuple(name for name, _ in EXERCISES)


def check(name: str, fn: Callable | None) -> Result:
    """Runs exercise ``name``'s check on ``fn``: "passed", "not done" (no function, or its body still raises
    ``NotImplementedError``) or "failed" with what is wrong (an exception it raises included)."""
    if name not in NAMES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are {list(NAMES)}")
    number = NAMES.index(name) + 1
    if fn is None:
        return Result(number, name, "not done", f"define {name}")
    if not callable(fn):
        return Result(number, name, "failed", f"{name} must be a function, got {type(fn).__name__}")
    try:
        # A student's overflow is reported by the check's own words (a NaN, a loss that does not fall), not as
        # NumPy's warning.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            message = dict(EXERCISES)[name](fn)
    except NotImplementedError:
        return Result(number, name, "not done")
    except Exception as e:  # the student's code failing is a result to report, not a crash of the grader
        return Result(number, name, "failed", f"raised {type(e).__name__}: {e}")
    return Result(number, name, "failed", message) if message else Result(number, name, "passed")


def check_file(path: str) -> list[Result]:
    """Imports the Python file at ``path`` and checks every exercise it defines (missing ones are "not done")."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    # Named by its file, as `import my_backprop` would name it (a student's file may read its own __name__).
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [check(name, getattr(module, name, None)) for name in NAMES]
