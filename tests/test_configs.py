"""The experiments' configurations: every field's valid range, and what happens just inside and just outside it.

A property test draws whole command lines, each field from inside its range (boundaries included) or, for at most
two fields, from just outside it (past a bound, NaN, infinities). The oracle is the drawing itself, not the code
under test: a line with an outside value must be refused by argparse's usage error (status 2) naming the flag,
before anything loads; every other line must train a few steps on a small data set and finish. Nothing in between
(a traceback from optax, a FloatingPointError, training on 60,000 images for ``--train-limit 0``).
"""

import dataclasses
import math
import os
import re
import sys
from typing import Annotated, Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import snapshots
from idx_files import labelled_mnist

ROOT = os.path.join(os.path.dirname(__file__), "..")
# As modules of the experiments folder, the names make mutants gives them (tests/mutants/README.md).

from experiments import cli, mnist, universal_approx, width_study  # noqa: E402
from experiments.exercises.__main__ import main as exercises_main  # noqa: E402

NAN, INF = math.nan, math.inf
# Examples are drawn in a fixed order (derandomize): the same lines in every run, no example database. Each line
# that trains compiles its own programs (the rates are constants in them), about 2 s each: hence few examples, and
# sizes drawn from their bounds and one value between.
PROPERTY = settings(max_examples=6, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    """IDX files with MNIST's layout and counts whose images encode the label in one pixel (trainable)."""
    return labelled_mnist(tmp_path_factory.mktemp("idx"))


def test_range_membership_and_text():
    unit = cli.Range(0, 1, high_open=True)
    assert 0 in unit and 0.5 in unit and 1 not in unit and -1e-9 not in unit
    assert NAN not in cli.Range() and INF not in cli.Range() and -INF not in cli.Range() and True not in cli.Range()
    assert 1e300 in cli.Range() and 0 not in cli.Range(0, low_open=True)
    assert [str(unit), str(cli.Range(1)), str(cli.Range(0, 2.5, low_open=True))] == ["[0, 1)", "[1, inf)", "(0, 2.5]"]
    assert [str(cli.Range(high=-3)), str(cli.Range(0, 100_000))] == ["(-inf, -3]", "[0, 100000]"]  # not 1e+05


@pytest.mark.parametrize("argv, message", [
    (["--lr", "nan"], "--lr must be in (0, 1], got nan"),
    (["--label-smoothing", "1.5"], "--label-smoothing must be in [0, 1), got 1.5"),
    (["--weight-decay", "-1"], "--weight-decay must be in [0, 1], got -1.0"),
    (["--warmup-epochs", "-1"], "--warmup-epochs must be in [0, inf), got -1.0"),
    (["--train-limit", "0"], "--train-limit must be in [1, 60000], got 0"),
    (["--warmup-epochs", "5", "--epochs", "2"], "--warmup-epochs 5 is longer than the run's --epochs 2"),
    (["--batch-size", "256", "--train-limit", "100"], "--batch-size 256 is larger than the --train-limit 100"),
    (["--batch-size", "60001"], "--batch-size must be in [1, 60000], got 60001"),
    (["--hidden", "200", "0"], "--hidden must be in [1, 100000], got (200, 0)"),
    (["--process-id", "2", "--num-processes", "2"], "--process-id must be in [0, 1] for --num-processes 2, got 2"),
    (["--coordinator", "localhost"], "--coordinator must be host:port"),
])
def test_mnist_flags_out_of_range_are_refused_by_name_and_range(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        mnist.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_ranges_are_in_the_help_and_checked_when_a_config_is_built_in_python():
    help_text = cli.parser(mnist.Config).format_help()
    assert "peak learning rate; valid: (0, 1]" in " ".join(help_text.split())
    with pytest.raises(ValueError, match=r"--lr must be in \(0, 1\], got inf"):
        mnist.Config(lr=INF)
    with pytest.raises(ValueError, match=r"--slope must be in \(0, 1000\], got 0.0"):
        universal_approx.Config(slope=0.0)
    with pytest.raises(ValueError, match=r"--domain must be in \[-1000, 1000\], got \(0.0, nan\)"):
        universal_approx.Config(domain=(0.0, NAN))


@pytest.mark.parametrize("module", [mnist, universal_approx])
def test_multi_process_flags_imply_a_multi_process_run(module):
    # Without --distributed each process would run alone, believe it is process 0 and write the same files.
    config = module.parse_args(["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "1"])
    assert config.distributed
    assert module.Config(num_processes=4).distributed and module.Config(process_id=0).distributed
    assert not module.Config().distributed


def test_one_epoch_with_the_default_warm_up_warms_up_over_the_whole_epoch():
    # --epochs 1 keeps the default one-epoch warm-up (optax's cosine needs at least one step of its own): the rate
    # rises linearly from 0 over the first 9 of 10 steps and the 10th, the cosine's first, is the peak.
    config = mnist.Config(epochs=1, optimizer="sgd")
    optimizer = mnist.make_optimizer(config, steps_per_epoch=10)
    params = [(np.zeros((1, 1), np.float32), np.zeros(1, np.float32))]
    rates, state = [], optimizer.init(params)
    for _ in range(10):  # plain SGD on b (not decayed): the update of a unit gradient is minus the rate
        updates, state = optimizer.update([(np.zeros((1, 1), np.float32), np.ones(1, np.float32))], state, params)
        rates.append(-float(updates[0][1][0]))
    np.testing.assert_allclose(rates, [0.1 * k / 9 for k in range(10)], rtol=1e-6, atol=1e-8)


def test_the_lectures_target_is_reported_for_mnist_only():
    metrics = {"confusion_text": "C", "test_accuracy_per_seed": [0.9], "test_accuracy": 0.9, "train_seconds": 1.0,
               "device": "cpu", "seed_0_reached_target": None, "reached_target_per_seed": [None]}
    assert "98.4%" in mnist.report(mnist.Config(), {**metrics, "target_accuracy": mnist.TARGET})
    reached = {**metrics, "target_accuracy": mnist.TARGET, "test_accuracy_per_seed": [0.99, 0.98],
               "reached_target_per_seed": [{"epoch": 4, "seconds": 3.25}, None]}
    assert "first at 98.4%: seed 0 after epoch 4 (3.2 s of training); seed 1 never" in mnist.report(mnist.Config(),
                                                                                                reached)
    assert "98.4%" not in mnist.report(mnist.Config(dataset="fashion_mnist"), {**metrics, "target_accuracy": None})


def numbers(valid, invalid):
    """A strategy of ``(value, is_valid)``: values from ``valid``, or from the list ``invalid``."""
    return st.one_of(valid.map(lambda v: (v, True)), st.sampled_from(invalid).map(lambda v: (v, False)))


def unit_interval(low_open=False, high_open=False, high=1.0):
    return st.floats(0.0, high, exclude_min=low_open, exclude_max=high_open)


@st.composite
def mnist_lines(draw):
    """A command line of small MNIST runs and whether every value in it is valid."""
    bad = set(draw(st.lists(st.sampled_from(["lr", "warmup", "decay", "smoothing", "batch", "epochs", "seeds", "seed",
                                             "hidden", "limit"]), max_size=2, unique=True)))
    pick = lambda name, valid, invalid: draw(numbers(valid, invalid) if name in bad else valid.map(lambda v: (v, True)))
    limit, limit_ok = pick("limit", st.sampled_from([1, 100, 256]), [0, -5, 60001])
    epochs, epochs_ok = pick("epochs", st.integers(1, 2), [0, -1, 10001])
    batch, batch_ok = pick("batch", st.sampled_from([1, 32, limit if limit_ok else 256]), [0, -1, 60001]
                           + ([limit + 1] if limit_ok else []))
    values = {
        "--train-limit": (limit, limit_ok), "--epochs": (epochs, epochs_ok), "--batch-size": (batch, batch_ok),
        "--lr": pick("lr", unit_interval(low_open=True), [0.0, -0.1, 1.5, NAN, INF, -INF]),
        "--warmup-epochs": pick("warmup", st.floats(0, epochs if epochs_ok else 1), [-1.0, NAN, INF, 10002.0]),
        "--weight-decay": pick("decay", unit_interval(), [-1.0, 1.5, NAN]),
        "--label-smoothing": pick("smoothing", unit_interval(high_open=True), [1.0, 1.5, -0.1, NAN]),
        "--seeds": pick("seeds", st.integers(1, 2), [0, -2]),
        "--seed": pick("seed", st.sampled_from([0, 1, 2**31 - 1]), [-1, 2**31]),
    }
    hidden, hidden_ok = pick("hidden", st.lists(st.sampled_from([1, 16]), min_size=1, max_size=2),
                             [[0], [16, -3], [100001]])
    argv = [part for name, (value, _) in values.items() for part in (name, repr(value))]
    argv += ["--hidden", *map(str, hidden), "--optimizer", draw(st.sampled_from(["nesterov", "momentum", "sgd", "adam",
                                                                                  "adamw"])),
             "--schedule", draw(st.sampled_from(["cosine", "constant"])), "--grad",
             draw(st.sampled_from(["autodiff", "manual"])), "--activation", draw(st.sampled_from(["relu", "tanh",
                                                                                                  "sigmoid"]))]
    # Hypothesis's floats are Python floats; their repr ("nan", "inf", "1e-05") is what argparse's float reads.
    return argv, hidden_ok and all(ok for _, ok in values.values())


@pytest.mark.slow
@PROPERTY
@given(line=mnist_lines())
def test_every_mnist_line_is_refused_at_parse_time_or_trains(line, small_mnist, tmp_path, capsys):
    argv, valid = line
    argv = [*argv, "--data-dir", str(small_mnist), "--out", str(tmp_path / "out"), "--no-plots", "--no-verbose"]
    try:
        config = mnist.parse_args(argv)
    except SystemExit as exit_info:
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert exit_info.code == 2 and not valid, (argv, error)
        assert re.search(r"error: (argument )?--[a-z-]+", error), error  # argparse's usage error, naming the flag
        event("refused")
        return
    assert valid, argv
    event("trained")
    metrics = mnist.main(config)
    assert len(metrics["test_accuracy_per_seed"]) == config.seeds and len(metrics["history"]) == config.epochs


@st.composite
def sweep_lines(draw):
    """A command line of small universal-approximation sweeps and whether every value in it is valid."""
    bad = set(draw(st.lists(st.sampled_from(["widths", "n", "test_points", "domain", "lr", "lr_out", "steps", "slope",
                                             "seeds", "seed"]), max_size=2, unique=True)))
    pick = lambda name, valid, invalid: draw(numbers(valid, invalid) if name in bad else valid.map(lambda v: (v, True)))
    ends = st.lists(st.sampled_from([-1e3, -1.0, 0.0, 0.5, 1.0, 1e3]), min_size=2, max_size=2, unique=True).map(sorted)
    values = {
        "--n": pick("n", st.sampled_from([2, 64]), [1, 0]),
        "--test-points": pick("test_points", st.sampled_from([2, 64]), [1, -4]),
        "--lr": pick("lr", unit_interval(low_open=True), [0.0, -1.0, 2.0, NAN, INF]),
        "--lr-out": pick("lr_out", unit_interval(low_open=True, high=100.0), [0.0, 101.0, NAN]),
        # Two steps: the readout moves in the first, everything in the second. (Longer runs at the extremes of
        # several ranges at once, lr = 1 with a 1000-wide domain and slope 1000, can diverge: fit then stops
        # with its own FloatingPointError naming the epoch.)
        "--steps": pick("steps", st.integers(1, 2), [0, -1]),
        "--slope": pick("slope", st.floats(0, 1000, exclude_min=True), [0.0, -1.0, NAN, 1001.0]),
        "--seeds": pick("seeds", st.integers(1, 2), [0]),
        "--seed": pick("seed", st.sampled_from([0, 7, 2**31 - 1]), [-1]),
    }
    widths, widths_ok = pick("widths", st.lists(st.sampled_from([1, 32]), min_size=1, max_size=2), [[0], [8, 100001]])
    domain, domain_ok = pick("domain", ends, [[1.0, 0.0], [0.0, 0.0], [NAN, 1.0], [0.0, 1001.0], [-INF, 0.0]])
    argv = [part for name, (value, _) in values.items() for part in (name, repr(value))]
    argv += ["--widths", *map(str, widths), "--domain", *map(repr, domain),
             "--optimizer", draw(st.sampled_from(["adam", "sgd", "momentum", "rmsprop"])),
             "--activation", draw(st.sampled_from(["tanh", "sigmoid", "relu"])),
             "--schedule", draw(st.sampled_from(["cosine", "constant"]))]
    return argv, widths_ok and domain_ok and all(ok for _, ok in values.values())


@pytest.mark.slow
@PROPERTY
@given(line=sweep_lines())
def test_every_sweep_line_is_refused_at_parse_time_or_trains(line, tmp_path, capsys):
    argv, valid = line
    argv = [*argv, "--out", str(tmp_path / "out"), "--no-plots", "--no-verbose"]
    try:
        config = universal_approx.parse_args(argv)
    except SystemExit as exit_info:
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert exit_info.code == 2 and not valid, (argv, error)
        assert re.search(r"error: (argument )?--[a-z-]+", error), error
        event("refused")
        return
    assert valid, argv
    event("trained")
    metrics = universal_approx.main(config)
    assert [w["width"] for w in metrics["widths"]] == list(config.widths)


def help_of(parse, argv=("--help",)) -> str:
    """What ``parse(argv)`` prints for ``--help`` (argparse's exit caught)."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exited:
        parse(list(argv))
    assert exited.value.code == 0
    return printed.getvalue()


@pytest.mark.parametrize("name, parse, argv", [
    ("universal_approx", lambda argv: universal_approx.parse_args(argv), ["--help"]),
    ("mnist", lambda argv: mnist.parse_args(argv), ["--help"]),
    ("width_study", lambda argv: width_study.parse_args(argv), ["--help"]),
    ("exercises", lambda argv: exercises_main(argv), ["--help"]),
    ("exercises_check", lambda argv: exercises_main(argv), ["check", "--help"]),
])
def test_each_commands_help_is_the_recorded_text(name, parse, argv, monkeypatch):
    # Every flag, its default, its range and its words, as a user reads them (tests/snapshots.py: how to rewrite).
    # Words, not line breaks: argparse wraps them by the terminal's width and Python's version.
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(sys, "argv", ["command"])  # the name argparse gives a parser with no prog of its own
    text = help_of(parse, argv)
    assert text.split() == snapshots.recorded_text(f"help/{name}.txt", text).split()


@dataclasses.dataclass(frozen=True)
class Toy:
    rate: Annotated[float, cli.Range(0, 1)] = 0.5  # the step, as a share (50% = 0.5)
    sizes: tuple[Annotated[int, cli.Range(1)], ...] = (1, 2)  # one or more sizes
    box: tuple[float, float] = (0.0, 1.0)  # two ends
    mode: Literal["fast", "exact"] = "fast"  # how
    count: int = 3
    verbose: bool = False  # say more
    loss: Literal["mse"] = "mse"  # a single choice


def test_a_configs_parser_has_a_flag_per_field_with_its_type_range_and_comment(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = cli.parser(Toy, "A toy.").format_help()
    for line in ["A toy.", "--rate RATE the step, as a share (50% = 0.5); valid: [0, 1] (default: 0.5)",
                 "--sizes SIZES [SIZES ...] one or more sizes; valid: [1, inf) (default: (1, 2))",
                 "--box BOX BOX two ends (default: (0.0, 1.0))", "--mode {fast,exact} how (default: fast)",
                 "--count COUNT --verbose, --no-verbose say more (default: False)",  # no comment, no help
                 "--loss {mse} a single choice (default: mse)"]:
        assert line in " ".join(text.split()), line
    argv = ["--rate", "0.25", "--sizes", "4", "5", "6", "--box", "-1", "2", "--mode", "exact", "--count", "7",
            "--verbose", "--loss", "mse"]
    assert cli.parse(Toy, argv) == Toy(0.25, (4, 5, 6), (-1.0, 2.0), "exact", 7, True, "mse")

    @dataclasses.dataclass(frozen=True)
    class Mixed:
        pick: Literal[1, "two"] = 1  # one or two

    with pytest.raises(TypeError, match=r"Mixed.pick: a Literal's choices must be of one type, got \[1, 'two'\]"):
        cli.parser(Mixed)

    @dataclasses.dataclass(frozen=True)
    class Numbered:
        depth: Literal[1, 2, 3] = 1  # whole numbers to choose from

    assert cli.parse(Numbered, ["--depth", "3"]) == Numbered(3)  # the text "3" read as the choice 3
