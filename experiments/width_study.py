"""What a width can represent, what the data allow and what training reaches: the sweep's error taken apart.

The width sweep (:mod:`experiments.universal_approx`) measures one number per width, the trained network's test
RMSE, and past about a hundred units it stops falling. This study says why, on the sweep's own network,
initialisation, recipe and ensembles. For every width and seed it gives four test RMSEs on the dense test points:

1. ``representable_rmse``: the network's *initial* hidden layer with the best output layer for it (least squares,
   with the bias), fitted on a dense grid of the interval and judged on the test points. It bounds what width n can
   represent with these units; training the hidden layer can only do better.
2. ``data_rmse``: the same features, the best output layer fitted on the N training points only.
3. ``trained_rmse``: the trained network (the sweep's number).
4. ``readout_rmse_after_training``: the trained hidden layer with its output layer solved again on the training
   points: what the last layer's optimisation left on the table.

and, at a few widths, the trained RMSE after more steps (each a fresh run with its own cosine schedule), to show
whether the floor moves with the budget. The error splits as in Michaud, Liu & Tegmark, "Precision Machine
Learning" (2023): from the architecture (1), the data (2 against 1) and the optimisation (3 and 4 against 2).

Least squares is solved in float64 by NumPy's SVD-based ``lstsq`` (LAPACK ``gelsd``; not the normal equations,
which square the features' condition number). A width's features span only a few hundred dimensions to float64
precision, whatever the width (their numerical rank is recorded), so the fit grid of ``fit_points`` points, far above
that rank, cannot be interpolated. The solve costs about m·n·min(m, n) for m points and n units: in ``make study``
on 2 cores every readout of the ten widths, three seeds and three kinds together took 25 s of its 95 s (its "least
squares" line).

Run ``python -m experiments.width_study --help`` for the flags (``make study``); ``main(Config(...))`` returns the
results, also written to ``runs/width_study/results.json`` with the figures ``error_by_width.png`` and
``error_by_steps.png``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Annotated, Literal

import jax
import numpy as np

if __name__ == "__main__" and not __package__:  # run as a file: import the package from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from experiments import cli, stopwatch, universal_approx  # noqa: E402
from experiments.cli import Range  # noqa: E402

# The hidden activations the sweep offers, in float64 NumPy: the same functions as jaxnet's (ReLU with 0 at 0).
HIDDEN: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh, "sigmoid": lambda v: 0.5 * (1.0 + np.tanh(0.5 * v)), "relu": lambda v: np.where(v >= 0, v, 0.0)}


@dataclasses.dataclass(frozen=True)
class Config:
    # The sweep's fields keep the sweep's meaning and defaults (experiments.universal_approx.Config).
    Width = Annotated[int, Range(1, 100_000)]
    widths: tuple[Width, ...] = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)  # hidden widths, a log grid
    n: Annotated[int, Range(2, 1_000_000)] = 300  # training points, evenly spaced over the domain
    test_points: Annotated[int, Range(2, 1_000_000)] = 10000  # dense test points over the domain
    fit_points: Annotated[int, Range(2, 100_000)] = 2000  # the dense grid the representable readout is fitted on
    domain: Annotated[tuple[float, float], Range(-1000, 1000)] = (0.0, 1.0)  # the interval [a, b] fitted on
    activation: Literal["tanh", "sigmoid", "relu"] = "tanh"  # hidden activation
    lr: Annotated[float, Range(0, 1, low_open=True)] = 5e-3  # learning rate of the hidden layer (W1, b1)
    lr_out: Annotated[float, Range(0, 100, low_open=True)] = 1.0  # the output layer's (w2, b2) rate: lr_out / width
    steps: Annotated[int, Range(1, 1_000_000)] = 1000  # full-batch Adam steps (cosine schedule) at every width
    slope: Annotated[float, Range(0, 1_000, low_open=True)] = 50.0  # |w_i| of every hidden unit at initialisation
    seeds: Annotated[int, Range(1, 1_000)] = 3  # networks per width, trained as one ensemble
    seed: Annotated[int, Range(0, 2**31 - 1)] = 0  # base PRNG seed
    budget_widths: tuple[Annotated[int, Range(1, 100_000)], ...] = (100, 1000, 10000)  # widths trained for longer
    budget_steps: tuple[Annotated[int, Range(1, 1_000_000)], ...] = (1000, 4000, 16000)  # their step counts
    budget_seeds: Annotated[int, Range(1, 1_000)] = 1  # networks per width and step count (16,000 steps cost)
    out: str = "runs/width_study"  # output directory
    plots: bool = True  # write error_by_width.png and error_by_steps.png (needs matplotlib)
    verbose: bool = False  # progress bars

    def __post_init__(self):
        cli.check(self)
        if not self.domain[0] < self.domain[1]:
            raise ValueError(f"--domain must be an interval a < b, got {self.domain}")

    def sweep(self, **changes) -> universal_approx.Config:
        """The sweep's config with this study's recipe (Adam, cosine schedule), changed by ``changes``."""
        fields = dict(widths=self.widths, n=self.n, test_points=self.test_points, domain=self.domain,
                      activation=self.activation, optimizer="adam", lr=self.lr, lr_out=self.lr_out, schedule="cosine",
                      steps=self.steps, slope=self.slope, seeds=self.seeds, seed=self.seed, out=self.out, plots=False,
                      verbose=self.verbose)
        return universal_approx.Config(**{**fields, **changes})


def parse_args(argv=None) -> Config:
    """The command line, one flag per :class:`Config` field (``--help`` lists them with their comments)."""
    return cli.parse(Config, argv, description=__doc__.split("\n\n")[0])


def hidden_features(params, x, *, activation: str = "tanh") -> np.ndarray:
    """The hidden layer of ``[(W1, b1), (w2, b2)]`` on inputs ``x`` (m, d_0), in float64, with a column of ones for
    the output bias: ``(m, width + 1)``."""
    (W1, b1), _ = params
    W1, b1, x = (np.asarray(a, np.float64) for a in (W1, b1, x))
    u = HIDDEN[activation](x @ W1.T + b1)
    return np.concatenate([u, np.ones((u.shape[0], 1))], axis=1)


def _solve_readout(params, x_fit, y_fit, activation: str) -> tuple[np.ndarray, int]:
    """The least-squares output layer (bias last) of ``params``'s hidden layer on ``(x_fit, y_fit)``, and the
    features' numerical rank (singular values above float64 round-off, ``lstsq``'s default cut-off)."""
    features = hidden_features(params, x_fit, activation=activation)
    coefficients, _, rank, _ = np.linalg.lstsq(features, np.asarray(y_fit))  # in float64, the features' dtype
    return coefficients, int(rank)


def _rmse_of_readout(params, coefficients, x_test, y_test, activation: str, block: int = 1000) -> float:
    """The test RMSE of the hidden layer with the output layer ``coefficients``, 1,000 test points at a time (a
    width-10,000 layer on 10,000 points at once would be 800 MB of float64)."""
    x_test, y_test = np.asarray(x_test), np.asarray(y_test)  # subtracted from float64 features' outputs
    squares = sum(float(np.sum((hidden_features(params, x_test[i:i + block], activation=activation) @ coefficients
                                - y_test[i:i + block]) ** 2)) for i in range(0, len(x_test), block))
    return float(np.sqrt(squares / y_test.size))


def readout_rmse(params, x_fit, y_fit, x_test, y_test, *, activation: str = "tanh") -> float:
    """Test RMSE of ``params``'s hidden layer with the best output layer for it.

    Args:
      params: a one-hidden-layer network ``[(W1 (width, d_0), b1 (width,)), (w2 (d_L, width), b2 (d_L,))]`` (the
        output layer is not used: it is solved for).
      x_fit, y_fit: the points the output layer (weights and bias) is fitted on, ``(m, d_0)`` and ``(m, d_L)``.
      x_test, y_test: the points it is judged on.
      activation: the hidden layer's, one of ``"tanh"``, ``"sigmoid"``, ``"relu"``.

    Returns:
      The root mean squared error on ``(x_test, y_test)``, over every point and output. Solved in float64 by an
      SVD-based least squares (the minimum-norm solution where the features are rank-deficient).
    """
    if activation not in HIDDEN:
        raise ValueError(f"activation must be one of {sorted(HIDDEN)}, got {activation!r}")
    coefficients, _ = _solve_readout(params, x_fit, y_fit, activation)
    return _rmse_of_readout(params, coefficients, x_test, y_test, activation)


def loglog_slope(widths, errors) -> float:
    """The slope of the least-squares line through ``(log width, log error)``: −2 for an error ∝ width^(−2)."""
    slope, _ = np.polyfit(np.log(np.asarray(widths, np.float64)), np.log(np.asarray(errors, np.float64)), 1)
    return float(slope)


def fit_grid(points: int, domain) -> np.ndarray:
    """``points`` midpoints of equal cells of the domain, ``(points, 1)`` float64: inside it, and (for any other
    count) off the evenly spaced training and test points."""
    a, b = domain
    return (a + (b - a) * (np.arange(points) + 0.5) / points)[:, None]


def study_width(config: Config, width: int, data: dict) -> dict:
    """The four RMSEs (one value per seed), the features' rank and the seconds spent, for one width."""
    tic = time.perf_counter()
    initial = jax.tree.map(np.asarray, universal_approx.initial_params(config.sweep(), width))
    trained = universal_approx.fit_width(config.sweep(), width, data["x"], data["y"], data["x_test"], data["y_test"])
    train_seconds = time.perf_counter() - tic
    tic = time.perf_counter()
    members = lambda params: [jax.tree.map(lambda a, k=k: np.asarray(a[k]), params) for k in range(config.seeds)]
    result: dict = {"representable_rmse": [], "data_rmse": [], "trained_rmse": trained["test_rmse"],
                    "readout_rmse_after_training": [], "representable_rank": []}
    for start, end in zip(members(initial), members(trained["_params"])):
        coefficients, rank = _solve_readout(start, data["x_fit"], data["y_fit"], config.activation)
        result["representable_rmse"].append(
            _rmse_of_readout(start, coefficients, data["x_test"], data["y_test64"], config.activation))
        result["representable_rank"].append(rank)
        if rank >= config.fit_points // 2:
            raise ValueError(f"width {width}'s features have rank {rank}, too close to the {config.fit_points} fit "
                             f"points to tell representation from interpolation; raise --fit-points")
        for name, params in (("data_rmse", start), ("readout_rmse_after_training", end)):
            result[name].append(readout_rmse(params, data["x"], data["y64"], data["x_test"], data["y_test64"],
                                             activation=config.activation))
    result["seconds"] = {"training": train_seconds, "compilation": trained["compile_seconds"],
                         "readouts": time.perf_counter() - tic}
    return result


def study_steps(config: Config, data: dict) -> dict:
    """``{width: {steps: [trained test RMSE per seed]}}`` for the budget widths and step counts, and the seconds."""
    tic = time.perf_counter()
    by_width: dict = {}
    for width in config.budget_widths:
        by_width[width] = {}
        for steps in config.budget_steps:
            sweep = config.sweep(steps=steps, seeds=config.budget_seeds)
            trained = universal_approx.fit_width(sweep, width, data["x"], data["y"], data["x_test"], data["y_test"])
            by_width[width][steps] = trained["test_rmse"]
    return {"rmse": by_width, "seconds": time.perf_counter() - tic}


CURVES = ("representable_rmse", "data_rmse", "trained_rmse", "readout_rmse_after_training")


# pragma: no mutate block (the table, the figures and the command line)
def markdown_table(widths: dict) -> str:
    rows = ["| width | representable | data (N points) | trained | readout after training | rank |",
            "|---:|---:|---:|---:|---:|---:|"]
    for width, r in widths.items():
        means = " | ".join(f"{np.mean(r[name]):.2e}" for name in CURVES)
        rows.append(f"| {width:,} | {means} | {int(np.median(r['representable_rank']))} |")
    return "\n".join(rows)


def plot(config: Config, result: dict) -> None:
    """``error_by_width.png``: the four curves (mean, and the seeds' range shaded) on log-log axes with n^(−2) and
    n^(−1/2) drawn through the first representable point; ``error_by_steps.png``: trained RMSE against steps."""
    from matplotlib.figure import Figure

    widths = np.array(list(result["widths"]), np.float64)
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    labels = {"representable_rmse": "representable (initial features, dense fit)",
              "data_rmse": f"data allow (initial features, N = {config.n})", "trained_rmse": "trained",
              "readout_rmse_after_training": "trained features, readout solved"}
    for name in CURVES:
        values = np.array([result["widths"][w][name] for w in result["widths"]])
        line, = ax.plot(widths, values.mean(axis=1), marker="o", ms=3, label=labels[name])
        ax.fill_between(widths, values.min(axis=1), values.max(axis=1), color=line.get_color(), alpha=0.2)
    anchor = np.mean(result["widths"][int(widths[0])]["representable_rmse"])
    for power, style in ((-2.0, ":"), (-0.5, "--")):
        ax.plot(widths, anchor * (widths / widths[0]) ** power, "k" + style, lw=0.8, label=f"n^({power:g})")
    ax.set(xscale="log", yscale="log", xlabel="hidden width n", ylabel="test RMSE",
           title=f"{config.activation}, slope {config.slope:g}, {config.steps} steps, {config.seeds} seeds")
    ax.set_ylim(bottom=max(1e-12, ax.get_ylim()[0]))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(config.out, "error_by_width.png"), dpi=110)

    fig = Figure(figsize=(4.8, 3.6))
    ax = fig.subplots()
    for width, by_steps in result["steps"].items():
        steps = list(by_steps)
        ax.plot(steps, [np.mean(by_steps[s]) for s in steps], marker="o", label=f"width {width:,}")
    ax.set(xscale="log", yscale="log", xlabel="Adam steps (cosine schedule over the run)", ylabel="trained test RMSE",
           title="does the floor move with the budget?")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(config.out, "error_by_steps.png"), dpi=110)


def main(config: Config, watch: stopwatch.Stopwatch | None = None) -> dict:
    """Runs the study, writes ``results.json`` (and the figures) to ``config.out``, returns the results.

    Returns:
      The results, whose ``widths`` maps each width to the four RMSEs of the module's docstring and
      ``representable_rank``, each a list of one value per seed; ``steps`` maps each budget width to
      ``{steps: [RMSE per seed]}``; ``slope`` holds the log-log slopes of the mean ``representable`` and
      ``trained`` curves over all the widths, and ``slope_per_seed`` the same per seed; ``table`` is the printed
      table and ``seconds`` where the time went.
    """
    watch = watch or stopwatch.Stopwatch()
    os.makedirs(config.out, exist_ok=True)
    with watch.phase("data"):
        x, y = universal_approx.sample(config.n, config.domain)
        x_test, y_test = universal_approx.sample(config.test_points, config.domain)
        x_fit = fit_grid(config.fit_points, config.domain)
        # The readouts are judged against f in float64 at the same points: float32 targets carry round-off of
        # about 3e-8, more than the best readouts' error.
        data = {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "x_fit": x_fit,
                "y_fit": universal_approx.target(x_fit), "y64": universal_approx.target(x.astype(np.float64)),
                "y_test64": universal_approx.target(x_test.astype(np.float64))}
    widths = {}
    for width in config.widths:
        tic = time.perf_counter()
        widths[width] = study_width(config, width, data)
        seconds = widths[width].pop("seconds")
        watch.add("compilation", seconds["compilation"])
        watch.add("training", seconds["training"] - seconds["compilation"])
        watch.add("least squares", seconds["readouts"])
        watch.add("other", time.perf_counter() - tic - seconds["training"] - seconds["readouts"])
        watch.skip()
    steps = study_steps(config, data)
    watch.add("longer runs", steps["seconds"])
    watch.skip()
    per_seed = {name: [loglog_slope(config.widths, [widths[w][f"{name}_rmse"][k] for w in config.widths])
                       for k in range(config.seeds)] for name in ("representable", "trained")}
    result = {"config": dataclasses.asdict(config), "device": jax.devices()[0].device_kind, "widths": widths,
              "steps": steps["rmse"],
              "slope": {name: loglog_slope(config.widths, [np.mean(widths[w][f"{name}_rmse"]) for w in config.widths])
                        for name in ("representable", "trained")},
              "slope_per_seed": per_seed}
    with watch.phase("files"), open(os.path.join(config.out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    if config.plots:
        with watch.phase("figures"):
            plot(config, result)
    result["table"] = markdown_table(widths)
    result["seconds"] = {**watch.seconds, "total": watch.total()}
    return result


if __name__ == "__main__":
    watch = stopwatch.Stopwatch(started_before=stopwatch.process_age())
    watch.add("start-up and imports", watch.total())
    config = parse_args()
    result = main(config, watch)
    print(result["table"])
    slopes = ", ".join(f"{name} {value:.2f} (seeds {min(result['slope_per_seed'][name]):.2f} to "
                       f"{max(result['slope_per_seed'][name]):.2f})" for name, value in result["slope"].items())
    print(f"\nlog-log slopes over widths {config.widths[0]:,}–{config.widths[-1]:,}: {slopes}")
    for width, by_steps in result["steps"].items():
        print(f"width {width:,}, trained RMSE by steps: "
              + ", ".join(f"{s:,}: {np.mean(v):.2e}" for s, v in by_steps.items()))
    print(f"results in {config.out}/")
    print(watch.report())
