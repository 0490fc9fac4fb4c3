"""The lecture's representation example (section 1.2): one hidden layer of growing width fits a wiggly 1-D function.

f(x) = sin(20x)·sin(10x) + x/10 is sampled at N = 300 evenly spaced points of [0, 1] (the unit interval of the
universal approximation theorem). A network ŷ = w₂ᵀ φ(W₁x + b₁) + b₂ with one hidden layer of width 10, 1,000 and
10,000 is trained on them, all of W₁, b₁, w₂, b₂, by full-batch gradient descent (Adam) on the MSE; several seeds
per width train as one ensemble (``train.fit(..., ensemble=True)``). The fit is judged on 10,000 dense test points.

Why the defaults are what they are (the usual fan-in initialisation makes wide networks fit *worse*):

* Activation tanh: the theorem asks for a bounded, monotone, non-constant φ, which tanh is (ReLU also works,
  ``--activation relu``, but with the same 1,000 steps and initialisation its global ramps leave a test RMSE near
  0.18 at widths 1,000 and 10,000, against tanh's 0.0035).
* Transition points spread over the domain: hidden unit i starts as tanh(wᵢ(x − cᵢ)) with cᵢ ~ U(domain),
  bᵢ = −wᵢcᵢ, and wᵢ = ±s with a random sign. With fan-in initialisation (slopes wᵢ of magnitude ≲ 1 for a 1-D
  input) every unit is nearly linear on [0, 1] and a wide layer has few useful features; spread units tile the interval.
* Slope s = 50: the target's fastest component is cos 30x (sin 20x·sin 10x = ½[cos 10x − cos 30x]), so a
  transition must be at least as sharp as ~1/30 to draw the finest detail f has; starting a little sharper lets
  1,000 steps get there. After 1,000 steps at width 1,000 (rate 5e-3) the test RMSE is 0.0060 from s = 30, 0.0043
  from 40, 0.0037 from 50 and 0.0037 from 60.
* Output layer initialised to zero and trained with learning rate ``lr_out / width``: ŷ sums ``width`` terms
  wᵢuᵢ and Adam moves every wᵢ by about its learning rate each step, so a readout rate of 1/width keeps the step in
  ŷ independent of the width (the readout rule of the maximal-update parametrisation). With the readout at the
  hidden rate instead (``--lr-out`` = lr × width), width 1,000 ends at test RMSE 0.0049 instead of 0.0037, and
  width 10,000 after 250 steps at 0.064 instead of 0.024.
* Hidden learning rate 5e-3 with a cosine decay over 1,000 steps: a transition point moves by at most lr/s = 1e-4
  per step, a thirtieth of the spacing between training points, and the decay lets the last steps settle (from
  s = 30, 1,000 steps at 1e-2 end at 0.0089 for width 1,000 and at 2e-2 at 0.018; from s = 50, 7e-3 gives 0.0035,
  about the same). The earlier recipe, 2,000 steps at
  1e-2 from s = 30 (``--steps 2000 --lr 0.01 --slope 30``), reaches 0.0029 and 0.0027 in twice the time.

Run ``python experiments/universal_approx.py --help`` for the flags; ``main(Config(...))`` returns the metrics.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet import distributed, mlp, train

if __name__ == "__main__" and not __package__:  # run as a file: import the package from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from experiments import cli, stopwatch  # noqa: E402
from experiments.cli import Range  # noqa: E402


# pragma: no mutate start (make mutants mutates this experiment's recipe: target to fit_width)
@dataclasses.dataclass(frozen=True)
class Config:
    # Each numeric field's valid range is written once, in its annotation: the command line, main(Config(...)) and
    # --help all use it.
    # The lecture's widths 10, 1,000 and 10,000, and 100, where the error meets the floor its training sets.
    widths: tuple[Annotated[int, Range(1, 100_000)], ...] = (10, 100, 1000, 10000)  # hidden-layer widths to sweep
    n: Annotated[int, Range(2, 1_000_000)] = 300  # training points, evenly spaced over the domain
    test_points: Annotated[int, Range(2, 1_000_000)] = 10000  # dense test points over the domain
    domain: Annotated[tuple[float, float], Range(-1000, 1000)] = (0.0, 1.0)  # the interval [a, b] fitted on
    activation: Literal["tanh", "sigmoid", "relu"] = "tanh"  # hidden activation
    optimizer: Literal["adam", "sgd", "momentum", "rmsprop"] = "adam"  # momentum is sgd with momentum 0.9
    lr: Annotated[float, Range(0, 1, low_open=True)] = 5e-3  # learning rate of the hidden layer (W1, b1)
    lr_out: Annotated[float, Range(0, 100, low_open=True)] = 1.0  # the output layer's (w2, b2) rate: lr_out / width
    schedule: Literal["cosine", "constant"] = "cosine"  # cosine decays to 0 over the run
    steps: Annotated[int, Range(1, 1_000_000)] = 1000  # full-batch gradient steps
    slope: Annotated[float, Range(0, 1_000, low_open=True)] = 50.0  # |w_i| of every hidden unit at initialisation
    seeds: Annotated[int, Range(1, 1_000)] = 3  # networks per width, trained as one ensemble
    seed: Annotated[int, Range(0, 2**31 - 1)] = 0  # base PRNG seed
    out: str = "runs/universal_approx"  # output directory
    plots: bool = True  # write fits.png and error_vs_width.png (needs matplotlib)
    distributed: bool = False  # join a multi-process run (jax.distributed; detects SLURM and Open MPI by itself)
    coordinator: str | None = None  # host:port of process 0 without a cluster manager (implies --distributed)
    num_processes: Annotated[int, Range(1)] | None = None  # processes in the run, ditto (implies --distributed)
    process_id: Annotated[int, Range(0)] | None = None  # this process's rank, ditto (implies --distributed)
    verbose: bool = True  # progress bars

    def __post_init__(self):
        cli.check(self)
        cli.check_processes(self)
        if not self.domain[0] < self.domain[1]:
            raise ValueError(f"--domain must be an interval a < b, got {self.domain}")

# pragma: no mutate end


def target(x):
    """f(x) = sin(20x)·sin(10x) + x/10, the lecture's function."""
    return np.sin(20 * x) * np.sin(10 * x) + x / 10


def sample(n: int, domain=(0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` evenly spaced points x_i of the domain, end points included, and y_i = f(x_i): float32 ``(n, 1)`` each."""
    x = np.linspace(domain[0], domain[1], n, dtype=np.float32)[:, None]
    return x, target(x)


def init_spread(key, width: int, *, domain=(0.0, 1.0), slope: float = 30.0, dtype=jnp.float32) -> mlp.Params:
    """A 1-width-1 network whose hidden transitions cᵢ ~ U(domain) tile the domain; zero output layer.

    Returns ``[(W1 (width, 1), b1 (width,)), (w2 (1, width), b2 (1,))]`` with W1 = ±slope, b1 = −W1·c.
    """
    k_centre, k_sign = jax.random.split(key)
    centres = jax.random.uniform(k_centre, (width,), dtype, *domain)
    w = slope * jax.random.rademacher(k_sign, (width,), dtype)
    return [(w[:, None], -w * centres), (jnp.zeros((1, width), dtype), jnp.zeros((1,), dtype))]


def make_optimizer(config: Config, width: int) -> optax.GradientTransformation:
    """The chosen optax optimizer, with rate ``lr`` on the hidden layer and ``lr_out / width`` on the output layer."""
    def build(lr):
        if config.schedule == "cosine":
            lr = optax.cosine_decay_schedule(lr, config.steps)
        optimizers = {"adam": optax.adam, "sgd": optax.sgd, "rmsprop": optax.rmsprop,
                      "momentum": lambda lr: optax.sgd(lr, momentum=0.9)}
        return optimizers[config.optimizer](lr)

    labels = [("hidden", "hidden"), ("output", "output")]
    return optax.multi_transform({"hidden": build(config.lr), "output": build(config.lr_out / width)}, labels)


def initial_params(config: Config, width: int) -> mlp.Params:
    """The ``config.seeds`` networks of one width as the sweep starts them, stacked (the seed axis first)."""
    keys = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), width), config.seeds)
    # One compiled program (an eager vmap would start one per operation).
    return jax.jit(jax.vmap(lambda k: init_spread(k, width, domain=config.domain, slope=config.slope)))(keys)


def fit_width(config: Config, width: int, x, y, x_test, y_test) -> dict:
    """Trains ``config.seeds`` networks of one width as an ensemble, from :func:`initial_params`; returns their
    errors, the test predictions (``_test_pred``) and the trained parameters (``_params``, with the seed axis
    first)."""
    params = initial_params(config, width)
    tic = time.perf_counter()
    params, history = train.fit(
        params, x, y, optimizer=make_optimizer(config, width), epochs=config.steps, batch_size=len(x),
        net=mlp.Net(config.activation), key=jax.random.key(config.seed), loss="mse", ensemble=True,
        epochs_per_call=max(1, config.steps // 10), verbose=config.verbose)
    seconds = time.perf_counter() - tic
    compile_seconds, _ = stopwatch.training_split(history)
    tic = time.perf_counter()
    params = distributed.to_host(params)  # every process gets the whole ensemble
    predict = jax.jit(jax.vmap(lambda p, x: mlp.apply(p, x, mlp.Net(config.activation)), in_axes=(0, None)))
    train_pred, test_pred = np.asarray(predict(params, x)), np.asarray(predict(params, x_test))
    eval_seconds = time.perf_counter() - tic
    train_mse = np.mean((train_pred - y) ** 2, axis=(1, 2))
    test_rmse = np.sqrt(np.mean((test_pred - y_test) ** 2, axis=(1, 2)))
    return {"width": width, "train_mse": train_mse.tolist(), "test_rmse": test_rmse.tolist(),
            "test_rmse_mean": float(test_rmse.mean()), "test_rmse_min": float(test_rmse.min()),
            "test_rmse_max": float(test_rmse.max()), "steps": config.steps, "seconds": seconds,
            "compile_seconds": compile_seconds, "eval_seconds": eval_seconds,
            "final_loss": history[-1]["train_loss"], "_test_pred": test_pred, "_params": params}


# pragma: no mutate block (the rest: the table, the figures and the command line)
def markdown_table(results: list[dict]) -> str:
    rows = ["| width | test RMSE (mean) | test RMSE per seed | train MSE (mean) | steps | seconds |",
            "|---:|---:|---|---:|---:|---:|"]
    for r in results:
        per_seed = ", ".join(f"{v:.4f}" for v in r["test_rmse"])
        rows.append(f"| {r['width']:,} | {r['test_rmse_mean']:.4f} | {per_seed} | {np.mean(r['train_mse']):.2e} "
                    f"| {r['steps']} | {r['seconds']:.1f} |")
    return "\n".join(rows)


def plot(config: Config, results, x, y, x_test, y_test) -> None:
    """Saves ``fits.png`` (each width's fits over the target and the training points, as in the lecture's
    figures) and ``error_vs_width.png`` (test RMSE against width, one point per seed) in ``config.out``."""
    # Figures made without pyplot: no backend is chosen or changed, so a notebook that calls this keeps its own.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * (len(results) + 1), 3.4))
    axes = fig.subplots(1, len(results) + 1, sharey=True)
    axes[0].plot(x[:, 0], y[:, 0], ".", ms=3, color="k")
    axes[0].set_title(f"training set (N = {config.n})")
    for ax, r in zip(axes[1:], results):
        ax.plot(x_test[:, 0], y_test[:, 0], color="0.6", lw=3, label="f(x)")
        for k, pred in enumerate(r["_test_pred"]):
            ax.plot(x_test[:, 0], pred[:, 0], lw=1, label="fit" if k == 0 else None)
        ax.set_title(f"width {r['width']:,}: test RMSE {r['test_rmse_mean']:.3g}")
    for ax in axes:
        ax.set_xlabel("x")
    axes[1].legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(os.path.join(config.out, "fits.png"), dpi=110)

    fig = Figure(figsize=(4.5, 3.4))
    ax = fig.subplots()
    widths = [r["width"] for r in results]
    mean = np.array([r["test_rmse_mean"] for r in results])
    spread = np.array([[m - r["test_rmse_min"], r["test_rmse_max"] - m] for m, r in zip(mean, results)]).T
    ax.errorbar(widths, mean, yerr=spread, marker="o", capsize=4)
    for r in results:
        ax.plot([r["width"]] * len(r["test_rmse"]), r["test_rmse"], "k.", ms=3)
    ax.set(xscale="log", yscale="log", xlabel="hidden width", ylabel="test RMSE",
           title=f"{config.activation}, {config.steps} steps, {config.seeds} seeds")
    fig.tight_layout()
    fig.savefig(os.path.join(config.out, "error_vs_width.png"), dpi=110)


def main(config: Config, watch: stopwatch.Stopwatch | None = None) -> dict:
    """Runs the sweep, writes ``results.json`` (and the figures) to ``config.out`` (process 0 only in a
    multi-process run), returns the metrics, whose ``"seconds"`` says where the time went."""
    watch = watch or stopwatch.Stopwatch()
    if config.distributed:  # first, before anything starts JAX
        distributed.initialize(config.coordinator, config.num_processes, config.process_id)
    os.makedirs(config.out, exist_ok=True)
    with watch.phase("data"):
        x, y = sample(config.n, config.domain)
        x_test, y_test = sample(config.test_points, config.domain)
    results = []
    for width in config.widths:
        tic = time.perf_counter()
        r = fit_width(config, width, x, y, x_test, y_test)
        results.append(r)
        watch.add("compilation", r["compile_seconds"])
        watch.add("training", r["seconds"] - r["compile_seconds"])
        watch.add("evaluation", r["eval_seconds"])
        watch.add("other", time.perf_counter() - tic - r["seconds"] - r["eval_seconds"])  # initial values, optimizer
        watch.skip()
    metrics = {"config": dataclasses.asdict(config), "device": jax.devices()[0].device_kind,
               "widths": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results],
               "total_seconds": sum(r["seconds"] for r in results)}
    if distributed.is_writer():
        # The results first; the figures, the slowest files to write, after them.
        with watch.phase("files"), open(os.path.join(config.out, "results.json"), "w") as f:
            json.dump(metrics, f, indent=2)
        if config.plots:
            with watch.phase("figures"):
                plot(config, results, x, y, x_test, y_test)
    metrics["table"] = markdown_table(results)
    metrics["seconds"] = {**watch.seconds, "total": watch.total()}
    return metrics


def parse_args(argv=None) -> Config:
    """The command line, one flag per :class:`Config` field (``--help`` lists them with their comments)."""
    return cli.parse(Config, argv, description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    watch = stopwatch.Stopwatch(started_before=stopwatch.process_age())
    watch.add("start-up and imports", watch.total())
    config = parse_args()
    metrics = main(config, watch)
    if not distributed.is_writer():
        raise SystemExit(0)  # process 0 reports
    print(metrics["table"])
    print(f"\n{metrics['total_seconds']:.1f} s of training on {metrics['device']}; results in {config.out}/")
    print(watch.report())
