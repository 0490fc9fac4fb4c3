"""The playground's first tab: the width sweep's fit of f(x) = sin 20x · sin 10x + x/10, streamed while it trains.

One network of the experiment (:mod:`universal_approx`: N = 300 points of [0, 1], the hidden layer at rate ``lr``
and the readout at ``1 / width``, Adam with a cosine decay, full-batch steps) is trained by :func:`jaxnet.train.fit`
in chunks: each chunk is one compiled call of ``steps / UPDATES`` steps, continued from the last chunk's parameters
and optimizer state (so the schedule runs on), and after each the fit and its errors are reported. The chunks of a
run reuse one compiled program, and so does the next run with the same width and settings (jaxnet's programs are
cached on their arguments). Nothing here knows about web pages: :func:`stream` yields :class:`Snapshot` s.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli, universal_approx
from experiments.cli import Range
from jaxnet import mlp, train

UPDATES = 20  # reports per run, after the initial network's
# A run's cost grows with width × steps; this bound keeps the longest run near make demo's width 10,000 for one
# seed at 2,000 steps (the measured worst case is in docs/playground.md).
MAX_WORK = 20_000_000
TEXT_FIELDS = ("activation", "init")

# The tab's default settings are make demo's (experiments/universal_approx.py) for one seed, so its test RMSE over the
# widths is make demo's table: `python -m experiments.universal_approx` on a 2-core AMD EPYC CPU (jax 0.12.0.1),
# 2026-12-05, mean of 3 seeds (docs/experiments.md has the seeds and the timings).
MEASURED_CURVE = {10: 0.1859, 100: 0.0035, 1000: 0.0037, 10_000: 0.0034}


#: Fields whose name on the page is not their name in code.
LABELS = {"lr": "learning rate"}


def label(name: str) -> str:
    """A field's name as the page shows it."""
    return LABELS.get(name, name.replace("_", " "))


def form_number(name: str, value, whole: bool) -> float | int:
    """A number from a form or a client: a float, an int or a number's text; ``ValueError`` naming the field for
    an empty box, text, NaN, an infinity or (``whole``) a fraction, which is never rounded."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{label(name)} is empty or not a number; give it a value")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{label(name)} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{label(name)} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{label(name)} must be a finite number, got {value}")
    if whole:
        if not float(value).is_integer():
            raise ValueError(f"{label(name)} must be a whole number, got {value:g}")
        # A whole number past float's exact integers (1e308, say) stays a float: refused by its range, it is then
        # written 1e+308, not as the 309 digits of int(1e308).
        return int(value) if abs(value) < 2**53 else float(value)
    return value


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """One run of the tab; each numeric field's valid range is in its annotation (the page says it on a bad value).

    The defaults are make demo's (``universal_approx.Config``) for one seed.
    """

    width: Annotated[int, Range(10, 10_000)] = 1000  # hidden units
    activation: Literal["tanh", "sigmoid", "relu"] = "tanh"  # hidden activation
    init: Literal["spread", "fan-in"] = "spread"  # the experiment's spread transitions, or lecun's fan-in normal
    lr: Annotated[float, Range(0, 1, low_open=True)] = 5e-3  # the hidden layer's rate (the readout's is 1 / width)
    steps: Annotated[int, Range(1, 20_000)] = 1000  # full-batch Adam steps
    seed: Annotated[int, Range(0, 2**31 - 1)] = 0  # initialisation

    def __post_init__(self):
        cli.check(self, label)
        if self.width * self.steps > MAX_WORK:
            raise ValueError(f"width × steps must be at most {MAX_WORK:,} (a run's time grows with both), got "
                             f"{self.width:,} × {self.steps:,}; width {self.width:,} can run up to "
                             f"{MAX_WORK // self.width:,} steps")

    @classmethod
    def from_form(cls, **values) -> FitSettings:
        """Settings from a form's or a client's values, where numbers may arrive as floats (``1000.0``), text or
        ``None`` (an empty box).

        Raises:
          ValueError: naming the field, for an empty box, text, NaN, an infinity, a fraction where a whole number
            belongs (never rounded), or a value out of its range.
        """
        whole = {"width", "steps", "seed"}
        numeric = {name: form_number(name, value, name in whole) for name, value in values.items()
                   if name not in TEXT_FIELDS}
        return cls(**{**values, **numeric})

    def experiment(self) -> universal_approx.Config:
        """The experiment's configuration of this run: one seed of one width (make demo's slope and schedule)."""
        return universal_approx.Config(widths=(self.width,), activation=self.activation, lr=self.lr, steps=self.steps,
                                       seeds=1, seed=self.seed, plots=False, verbose=False)


class Snapshot(NamedTuple):
    """The state of a run after ``step`` of its ``steps`` steps (step 0: the initial network)."""

    step: int
    steps: int
    x_test: np.ndarray  # (T,) the dense test points
    prediction: np.ndarray  # (T,) the network's output there
    train_rmse: float
    test_rmse: float
    curve: list[tuple[int, float, float]]  # (step, train RMSE, test RMSE) of every report so far
    seconds: float  # since the run started
    # (UNITS_SHOWN, T): the hidden units of largest contribution a_k φ(w_k x + c_k) to the output, each at the
    # test points (a_k: its readout weight), largest first; with the output bias b (the last field), the sum of all
    # the width's contributions is ``prediction``.
    units: np.ndarray
    output_bias: float


#: Hidden units whose contributions the page can show (the narrowest width has 10).
UNITS_SHOWN = 10


TEST_BLOCK = 1000  # test points evaluated at a time


def _measure(params, x, y, x_test, y_test, net):
    """(train RMSE, the test points' predictions, test RMSE, the largest units' contributions) in one compiled call.

    The test points go through in blocks of :data:`TEST_BLOCK`: all 10,000 at once through width 10,000 would hold a
    400 MB hidden layer (10,000² float32 numbers); a block's is 40 MB. The units are ranked by their largest
    |a_k φ(w_k x + c_k)| over the test points' interval, which lies at one of its ends (each φ here is monotone), so
    ranking all 10,000 units looks at two points each.
    """
    rmse = lambda prediction, target: jnp.sqrt(jnp.mean((prediction - target) ** 2))
    n = x_test.shape[0]
    block = TEST_BLOCK if n % TEST_BLOCK == 0 else n
    blocks = x_test.reshape(n // block, block, x_test.shape[1])
    prediction = jax.lax.map(lambda xs: mlp.apply(params, xs, net), blocks).reshape(n, -1)
    (W1, c), (a, _) = params
    phi = net.layers(2)[0].fn
    ends = jnp.stack([x_test.min(), x_test.max()])
    size = jnp.abs(a[0]) * jnp.abs(phi(W1[:, :1] * ends[None, :] + c[:, None])).max(axis=1)
    top = jax.lax.top_k(size, UNITS_SHOWN)[1]
    units = a[0, top, None] * phi(W1[top, :1] * x_test[:, 0][None, :] + c[top, None])
    return rmse(mlp.apply(params, x, net), y), prediction, rmse(prediction, y_test), units


@functools.lru_cache(maxsize=16)
def measure_for(width: int, activation: str) -> Callable:
    """The compiled :func:`_measure` of one width and activation. The last 16 are kept, as :func:`trainer_for` keeps
    its Trainers: one jit per entry, so an evicted entry takes its compiled program with it, and runs at ever new
    widths cannot grow the server's memory without bound."""
    return jax.jit(functools.partial(_measure, net=mlp.Net(activation)))


def initial_params(settings: FitSettings) -> mlp.Params:
    """The network before training: the experiment's first seed for this width (spread), or lecun's fan-in normal."""
    config = settings.experiment()
    key = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), settings.width), config.seeds)[0]
    if settings.init == "spread":
        return universal_approx.init_spread(key, settings.width, domain=config.domain, slope=config.slope)
    return mlp.init(key, [1, settings.width, 1], init="lecun")


@functools.lru_cache(maxsize=16)
def trainer_for(settings: FitSettings) -> train.Trainer:
    """The Trainer of runs with these settings (their seed and initialisation do not change the program), kept so
    that the same run asked for again, by any user, reuses its compiled programs; one chunk is one compiled call."""
    config = settings.experiment()
    return train.Trainer(mlp.Net(settings.activation), loss="mse", batch_size=config.n,
                         optimizer=universal_approx.make_optimizer(config, settings.width),
                         epochs_per_call=math.ceil(settings.steps / UPDATES))


def stream(settings: FitSettings) -> Iterator[Snapshot]:
    """Trains one network, yielding a :class:`Snapshot` before the first step and after every chunk.

    The run is exactly the experiment's for one seed (``universal_approx.fit_width`` with ``seeds=1``), cut into
    chunks; stop it by no longer asking for snapshots.
    """
    tic = time.perf_counter()
    config = settings.experiment()
    x, y = universal_approx.sample(config.n, config.domain)
    x_test, y_test = universal_approx.sample(config.test_points, config.domain)
    trainer = trainer_for(dataclasses.replace(settings, seed=0, init="spread"))
    key = jax.random.key(config.seed)
    state, step, curve = trainer.init(initial_params(settings)), 0, []
    params = state.params
    while True:
        measured = measure_for(settings.width, settings.activation)(params, x, y, x_test, y_test)
        train_rmse, prediction, test_rmse = float(measured[0]), np.asarray(measured[1]), float(measured[2])
        if not (math.isfinite(train_rmse) and math.isfinite(test_rmse) and np.isfinite(prediction).all()):
            raise ValueError(f"the run diverged by step {step:,}: its error is no longer a finite number; lower the "
                             f"learning rate (it was {settings.lr:g})")
        curve.append((step, train_rmse, test_rmse))
        yield Snapshot(step, settings.steps, x_test[:, 0], prediction[:, 0], train_rmse, test_rmse,
                       list(curve), time.perf_counter() - tic, np.asarray(measured[3]), float(params[1][1][0]))
        if step == settings.steps:
            return
        step = min(step + trainer.epochs_per_call, settings.steps)
        state, _ = trainer.fit(state, x, y, epochs=step, key=key, verbose=False)
        params = state.params
