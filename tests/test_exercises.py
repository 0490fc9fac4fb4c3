"""The back-propagation exercises: the solutions pass, each usual mistake fails with its words, the notebook's blanks
are "not done"."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from terminal import Terminal

from experiments import exercises

import requires
import snapshots

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SOLUTIONS = os.path.join(os.path.dirname(__file__), "exercise_solutions.py")
NOTEBOOK = os.path.join(ROOT, "experiments", "exercises", "backprop.ipynb")

# A mistake planted in a copy of the solutions: (the line as written, the line with the mistake, the exercises that
# fail, words each failure must say).
BANK = {
    "derivative_at_u": ("g = hidden_signal(g, np.asarray(params[i - 1][0], np.float64), vs[i - 2], tanh_derivative)",
                        "g = hidden_signal(g, np.asarray(params[i - 1][0], np.float64), us[i - 1], tanh_derivative)",
                        {"backprop": "derivative_at_u: the error enters at layer 2 of 3"}),
    "missing_derivative": ("    return phi_derivative(v) * (g_next @ W_next)", "    return g_next @ W_next",
                           {"hidden_signal": "Φ'(v) is missing", "backprop": "missing_derivative: the error enters at "
                                                                             "layer 2 of 3"}),
    "wrong_sign": ("    return (yhat - y) / len(y)", "    return (y - yhat) / len(y)",
                   {"output_signal": "the sign is flipped", "backprop": "wrong_sign", "train": "it must fall"}),
    "sum_not_mean": ("    return (yhat - y) / len(y)", "    return yhat - y",
                     {"output_signal": "the 1/N is missing", "backprop": "sum_not_mean"}),
    "transposed": ("    return g.T @ u_prev, g.sum(axis=0)", "    return u_prev.T @ g, g.sum(axis=0)",
                   {"weight_gradients": "∇W is transposed", "backprop": "shape: layer 3: ∇W₃ has shape (5, 3)"}),
    "bias": ("    return g.T @ u_prev, g.sum(axis=0)", "    return g.T @ u_prev, g.mean(axis=0)",
             {"weight_gradients": "mean over the batch", "backprop": "bias: the error enters at layer 3"}),
    "half": ("    return np.sum((yhat - y) ** 2) / (2 * len(y))", "    return np.sum((yhat - y) ** 2) / len(y)",
             {"l2_loss": "the ½ of L2 is missing"}),
    "naive_softmax": ("    shifted = logits - logits.max(axis=1, keepdims=True)", "    shifted = logits",
                      {"cross_entropy_loss": "not finite for logits of size 1000"}),
    "no_bias": ("    v = u @ W.T + b", "    v = u @ W.T",
                {"layer_forward": "v misses the bias", "backprop": "wrong"}),
    "ascent": ("    return [(W - lr * dW, b - lr * db)", "    return [(W + lr * dW, b + lr * db)",
               {"sgd_step": "climbs the loss", "train": "it must fall"}),
}


SOLVED: dict = {}
with open(SOLUTIONS) as _f:
    exec(compile(_f.read(), SOLUTIONS, "exec"), SOLVED)

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def planted(tmp_path, name) -> str:
    original, mistake, _ = BANK[name]
    path = tmp_path / f"{name}.py"
    path.write_text(with_mistake(original, mistake))
    return str(path)


def with_mistake(original: str, mistake: str) -> str:
    """The solutions' text with the one line ``original`` written as ``mistake``."""
    with open(SOLUTIONS) as f:
        text = f.read()
    assert text.count(original) == 1, original
    return text.replace(original, mistake)


def assert_told_as_recorded(snapshot: str, told: list[str]) -> None:
    """Every line the student reads, numbers included, as recorded (tests/snapshots.py says how to rewrite it). The
    numbers within 1e-5: jaxnet's own float32 SGD, the train exercise's reference, rounds differently from one
    version of XLA to the next in its 6th digit."""
    recorded = snapshots.recorded_json(snapshot, told)
    assert [NUMBER.sub("#", line) for line in told] == [NUMBER.sub("#", line) for line in recorded]
    np.testing.assert_allclose([float(v) for line in told for v in NUMBER.findall(line)],
                               [float(v) for line in recorded for v in NUMBER.findall(line)], rtol=1e-5)


def test_the_solutions_pass_every_exercise():
    results = exercises.check_file(SOLUTIONS)
    assert [r.name for r in results] == list(exercises.NAMES)
    assert all(r.passed for r in results), [str(r) for r in results if not r.passed]


@pytest.mark.parametrize("name", list(BANK))
def test_each_planted_mistake_fails_its_exercises_with_their_words(tmp_path, name):
    _, _, failing = BANK[name]
    results = {r.name: r for r in exercises.check_file(planted(tmp_path, name))}
    for exercise, words in failing.items():
        assert results[exercise].status == "failed" and words in results[exercise].message, str(results[exercise])
    assert_told_as_recorded(f"exercises/{name}.json", [str(result) for result in results.values()])
    # The functions it does not reach still pass (train uses backprop, so it may fail with it).
    untouched = [r for n, r in results.items() if n not in failing and n not in ("backprop", "train")]
    assert all(r.passed for r in untouched), [str(r) for r in untouched if not r.passed]


# Mistakes inside one function, checked by that exercise alone: (the exercise, the line as written, the line with the
# mistake, words its failure must say). Together they reach every branch of each check, and the recorded messages
# quote the check's own data (the numbers a student compares with their own).
SGD = "    return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]"
LAST_KEPT = "    return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params[:-1], grads)] + "
ONE_FUNCTION = {
    "forward_not_a_pair": ("layer_forward", "    return v, phi(v)", "    return v", "return the pair (v, u_next)"),
    "forward_no_phi": ("layer_forward", "    return v, phi(v)", "    return v, v", "u_next is wrong"),
    "forward_rows_as_columns": ("layer_forward", "    v = u @ W.T + b", "    v = (u @ W.T + b).T",
                                "v has shape (4, 5), expected (5, 4)"),
    "forward_bias_twice": ("layer_forward", "    v = u @ W.T + b", "    v = u @ W.T + 2 * b", "v is wrong"),
    "l2_mean_over_outputs": ("l2_loss", "    return np.sum((yhat - y) ** 2) / (2 * len(y))",
                             "    return np.mean((yhat - y) ** 2) / 2", "divided by N·d"),
    "l2_absolute": ("l2_loss", "    return np.sum((yhat - y) ** 2) / (2 * len(y))",
                    "    return np.sum(np.abs(yhat - y)) / (2 * len(y))", "L2 = 1/(2N)·Σ‖ŷ − y‖²: got"),
    "cross_entropy_sign": ("cross_entropy_loss", "    return -np.mean(log_softmax[np.arange(len(labels)), labels])",
                           "    return np.mean(log_softmax[np.arange(len(labels)), labels])", "the sign is flipped"),
    "cross_entropy_sum": ("cross_entropy_loss", "    return -np.mean(log_softmax[np.arange(len(labels)), labels])",
                          "    return -np.sum(log_softmax[np.arange(len(labels)), labels])", "the 1/N is missing"),
    "output_over_every_entry": ("output_signal", "    return (yhat - y) / len(y)", "    return (yhat - y) / yhat.size",
                                "divided by N·d"),
    "output_rows_as_columns": ("output_signal", "    return (yhat - y) / len(y)", "    return ((yhat - y) / len(y)).T",
                               "g_L has shape (2, 5), expected (5, 2)"),
    "output_squared": ("output_signal", "    return (yhat - y) / len(y)", "    return (yhat - y) ** 2 / len(y)",
                       "g_L is wrong"),
    "hidden_derivative_at_u": ("hidden_signal", "    return phi_derivative(v) * (g_next @ W_next)",
                               "    return phi_derivative(np.tanh(v)) * (g_next @ W_next)", "taken at u_i"),
    "hidden_added": ("hidden_signal", "    return phi_derivative(v) * (g_next @ W_next)",
                     "    return phi_derivative(v) + (g_next @ W_next)", "g_i is wrong"),
    "forward_a_list": ("layer_forward", "    return v, phi(v)", "    return [v, phi(v)]",
                       "return the pair (v, u_next)"),
    "hidden_missing_within_tolerance": ("hidden_signal", "    return phi_derivative(v) * (g_next @ W_next)",
                                        "    return (g_next @ W_next) * (1 + 5e-5)", "Φ'(v) is missing"),
    "hidden_at_u_within_tolerance": ("hidden_signal", "    return phi_derivative(v) * (g_next @ W_next)",
                                     "    return phi_derivative(np.tanh(v)) * (g_next @ W_next) * (1 + 5e-5)",
                                     "taken at u_i"),
    "hidden_complex": ("hidden_signal", "    return phi_derivative(v) * (g_next @ W_next)",
                       "    return (g_next @ W_next) + 1j", "g_i holds complex numbers"),
    "weights_a_list": ("weight_gradients", "    return g.T @ u_prev, g.sum(axis=0)",
                       "    return [g.T @ u_prev, g.sum(axis=0)]", "return the pair (dW, db)"),
    "weights_bias_mean_within_tolerance": ("weight_gradients", "    return g.T @ u_prev, g.sum(axis=0)",
                                           "    return g.T @ u_prev, g.mean(axis=0) * (1 + 5e-5)",
                                           "∇b is the mean over the batch"),
    "l2_sum_not_mean": ("l2_loss", "    return np.sum((yhat - y) ** 2) / (2 * len(y))",
                        "    return np.sum((yhat - y) ** 2) / 2", "the 1/N is missing"),
    "cross_entropy_over_every_entry": ("cross_entropy_loss",
                                       "    return -np.mean(log_softmax[np.arange(len(labels)), labels])",
                                       "    return -np.sum(log_softmax[np.arange(len(labels)), labels]) / logits.size",
                                       "divided by N·d"),
    "output_over_every_entry_within_tolerance": ("output_signal", "    return (yhat - y) / len(y)",
                                                 "    return (yhat - y) / yhat.size * (1 + 5e-5)", "divided by N·d"),
    "output_complex": ("output_signal", "    return (yhat - y) / len(y)", "    return (yhat - y) / len(y) + 1j",
                       "g_L holds complex numbers"),
    "weights_not_a_pair": ("weight_gradients", "    return g.T @ u_prev, g.sum(axis=0)", "    return g.T @ u_prev",
                           "return the pair (dW, db)"),
    "weights_bias_per_example": ("weight_gradients", "    return g.T @ u_prev, g.sum(axis=0)",
                                 "    return g.T @ u_prev, g.sum(axis=1)", "∇b has shape (5,), expected (3,)"),
    "weights_averaged": ("weight_gradients", "    return g.T @ u_prev, g.sum(axis=0)",
                         "    return g.T @ u_prev / len(g), g.sum(axis=0)", "∇W is wrong"),
    "sgd_no_rate": ("sgd_step", SGD, SGD.replace("lr * ", ""), "W1 is wrong"),
    "sgd_bias_kept": ("sgd_step", SGD, SGD.replace("b - lr * db", "b"), "b1 is wrong"),
    "sgd_last_layer_kept": ("sgd_step", SGD, LAST_KEPT + "[params[-1]]", "W2 is wrong"),
    "sgd_last_bias_kept": ("sgd_step", SGD, LAST_KEPT + "[(params[-1][0] - lr * grads[-1][0], params[-1][1])]",
                           "b2 is wrong"),
    "sgd_one_layer": ("sgd_step", SGD, SGD.replace("zip(params,", "zip(params[:1],"), "one pair per layer"),
    "train_half_the_steps": ("train", "    for _ in range(steps):", "    for _ in range(steps // 2):",
                             "jaxnet's SGD reaches"),
    "train_no_step": ("train", "    for _ in range(steps):", "    for _ in range(0):", "it must fall"),
    "train_rate_a_little_low": ("train", "        params = sgd_step(params, backprop(params, x, y), lr)",
                                "        params = sgd_step(params, backprop(params, x, y), lr * 0.999)",
                                "jaxnet's SGD reaches"),
    "train_returns_nothing": ("train", "    return params", "    return None", "return the trained params"),
}


@pytest.mark.parametrize("name", list(ONE_FUNCTION))
def test_each_mistake_in_one_function_fails_its_exercise_with_its_words(name):
    exercise, original, mistake, words = ONE_FUNCTION[name]
    namespace: dict = {}
    exec(compile(with_mistake(original, mistake), f"{name}.py", "exec"), namespace)
    result = exercises.check(exercise, namespace[exercise])
    assert result.status == "failed" and words in result.message, str(result)
    assert_told_as_recorded(f"exercises/one/{name}.json", [str(result)])


def test_the_checks_hand_over_arrays_shaped_and_typed_as_the_exercises_say():
    # What a student's function receives, recorded by a right answer that looks: the SGD step's gradients shaped like
    # the parameters, layer by layer; the backprop check's network and batch in float32, as jaxnet's, even where the
    # caller turned on float64.
    import jax

    from jaxnet import backprop, mlp

    seen = []

    def sgd_step(params, grads, lr):
        seen.append([[tuple(np.shape(a)) for pair in tree for a in pair] for tree in (params, grads)])
        return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]

    assert exercises.check("sgd_step", sgd_step).status == "passed"
    assert seen[0][0] == seen[0][1] == [(3, 2), (3,), (1, 3), (1,)]

    def manual_grad(params, x, y):
        seen.append([str(a.dtype) for pair in params for a in pair] + [str(x.dtype), str(y.dtype)])
        return backprop.manual_grad(params, x, y, mlp.Net("tanh"), loss="mse")

    with jax.enable_x64():
        assert exercises.check("backprop", manual_grad).status == "passed"
    assert seen[1:] and all(dtypes == ["float32"] * 8 for dtypes in seen[1:])


def _within_tolerance(fn, factor=1 + 5e-5):
    """``fn`` with its answer off by ``factor``: within the checks' RTOL of 1e-4, past NumPy's default 1e-5."""
    return lambda *args: fn(*args) * factor


def _output_bias_moved(params, x, y, lr, steps):
    """The solution's training, its output bias then moved by 0.002: its loss 6e-4 above (within rtol 1e-3)."""
    (W1, b1), (W2, b2) = SOLVED["train"](params, x, y, lr, steps)
    return [(W1, b1), (W2, np.asarray(b2) + 0.002)]


@pytest.mark.parametrize("name, fn", [("l2_loss", _within_tolerance(SOLVED["l2_loss"])),
                                      ("cross_entropy_loss", _within_tolerance(SOLVED["cross_entropy_loss"])),
                                      ("output_signal", _within_tolerance(SOLVED["output_signal"])),
                                      ("hidden_signal", _within_tolerance(SOLVED["hidden_signal"])),
                                      ("train", _output_bias_moved)])
def test_an_answer_within_the_tolerance_passes(name, fn):
    assert exercises.check(name, fn).status == "passed"


def test_the_training_check_starts_from_its_settings(monkeypatch):
    # The student's run starts where the setting says (here another slope than the sweep's default), and the
    # reference run of jaxnet's SGD with it.
    monkeypatch.setattr(exercises, "TRAIN", exercises.TrainSetting(width=8, slope=12.0, lr=0.1, steps=300))
    started = []

    def train(params, x, y, lr, steps):
        started.append((params, lr, steps))
        return SOLVED["train"](params, x, y, lr, steps)

    assert exercises.check("train", train).status == "passed"
    (W1, b1), (W2, b2) = started[0][0]
    np.testing.assert_array_equal(np.abs(W1), np.full((8, 1), 12.0))  # W1 = ±slope
    assert started[0][1:] == (0.1, 300) and not np.any(W2) and not np.any(b2)  # a zero output layer


@pytest.mark.slow  # a whole Python process (the collection of every test; the grader)
def test_the_grader_runs_from_the_command_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    good = subprocess.run([sys.executable, "-m", "experiments.exercises", "check", SOLUTIONS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr[-2000:]
    assert good.stdout.splitlines()[0] == "exercise 1, layer_forward: passed"
    assert good.stdout.splitlines()[-1] == "9 of 9 passed"


def test_the_grader_prints_each_result_and_the_count_and_fails_unless_all_pass(tmp_path, capsys):
    from experiments.exercises.__main__ import main

    assert main(["check", SOLUTIONS]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "9 of 9 passed"
    assert main(["check", planted(tmp_path, "derivative_at_u")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and lines[0] == "exercise 1, layer_forward: passed" and lines[-1] == "7 of 9 passed"
    assert lines[6].startswith("exercise 7, backprop: failed: derivative_at_u")  # and the training built on it
    for argv, words in ((["check", str(tmp_path / "absent.py")], "no such file"), (["check"], "file"),
                        ([], "arguments are required: command")):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2 and words in capsys.readouterr().err
    (tmp_path / "broken.py").write_text("def l2_loss(:\n")
    with pytest.raises(SystemExit):
        main(["check", str(tmp_path / "broken.py")])
    assert "invalid syntax" in capsys.readouterr().err
    assert str(exercises.Result(2, "l2_loss", "not done")) == "exercise 2, l2_loss: not done"  # no message, no colon


def test_a_blank_or_a_missing_function_is_not_done_and_a_crash_is_a_failure(tmp_path):
    def blank(*args):
        raise NotImplementedError

    assert str(exercises.check("l2_loss", blank)) == "exercise 2, l2_loss: not done"
    assert str(exercises.check("backprop", blank)) == "exercise 7, backprop: not done"  # through jaxnet.gradcheck
    assert str(exercises.check("train", None)) == "exercise 9, train: not done: define train"
    assert (str(exercises.check("sgd_step", 0.1))
            == "exercise 8, sgd_step: failed: sgd_step must be a function, got float")
    crash = exercises.check("l2_loss", lambda yhat, y: 1 / 0)
    assert crash.status == "failed" and "ZeroDivisionError" in crash.message
    with pytest.raises(ValueError, match="unknown exercise 'l3_loss'"):
        exercises.check("l3_loss", blank)
    path = tmp_path / "partial.py"
    path.write_text("def l2_loss(yhat, y):\n    return ((yhat - y) ** 2).sum() / (2 * len(y))\n")
    statuses = {r.name: r.status for r in exercises.check_file(str(path))}
    assert statuses["l2_loss"] == "passed" and statuses["backprop"] == "not done"


def test_a_file_is_imported_under_its_own_name_and_only_a_python_file_is(tmp_path):
    path = tmp_path / "my_backprop.py"
    path.write_text("def l2_loss(yhat, y):\n    return float(__name__ == 'my_backprop')\n")
    assert "got 1, expected" in exercises.check_file(str(path))[1].message  # as `import my_backprop` would name it
    (tmp_path / "notes.txt").write_text("def l2_loss(yhat, y): ...\n")
    with pytest.raises(ValueError, match="notes.txt is not a Python file"):
        exercises.check_file(str(tmp_path / "notes.txt"))


def test_the_grader_prints_nothing_and_is_deaf_to_the_callers_numpy_error_settings(capsys, monkeypatch):
    def l2_loss(yhat, y):  # right, with an underflow on the way
        return np.sum((yhat - y) ** 2) / (2 * len(y)) + np.float64(1e-300) * 1e-300

    with np.errstate(all="raise"):  # a caller's setting: the student's arithmetic is the check's to judge
        assert exercises.check("l2_loss", l2_loss).passed
        told = {name: str(exercises.check("output_signal", fn)) for name, fn in (
            ("divide", lambda yhat, y: (yhat - y) / 0.0), ("invalid", lambda yhat, y: (yhat - yhat) / 0.0),
            ("over", lambda yhat, y: np.exp(1000.0 * (yhat - y))))}
    assert all(line.endswith("g_L holds a NaN or an infinity") for line in told.values()), told
    terminal = Terminal()  # a student's terminal, where jaxnet would draw a progress bar
    monkeypatch.setattr(sys, "stderr", terminal)
    assert exercises.check("train", SOLVED["train"]).passed
    assert capsys.readouterr() == ("", "") and terminal.getvalue() == ""  # the reference training's progress too


def test_the_notebook_asks_for_each_exercise_in_order_and_is_stored_blank():
    with open(NOTEBOOK) as f:
        cells = json.load(f)["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in cells if c["cell_type"] == "code")
    defined = [line.split("(")[0][4:] for cell in code for line in cell.splitlines() if line.startswith("def ")]
    assert defined == list(exercises.NAMES)
    blanks = [cell for cell in code if cell.startswith("def ")]
    assert all("raise NotImplementedError" in cell for cell in blanks)
    checks = [cell for cell in code if cell.startswith("exercises.check(")]
    assert checks == [f'exercises.check("{name}", {name})' for name in exercises.NAMES]


@pytest.mark.slow
def test_the_notebook_runs_and_reports_its_blanks_as_not_done(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason=requires.extra("test"))
    nbclient = pytest.importorskip("nbclient", reason=requires.extra("test"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}}).execute()
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for c in nb.cells
                   if c.cell_type == "code" for o in c.outputs)
    for k, name in enumerate(exercises.NAMES, start=1):
        assert text.count(f"exercise {k}, {name}: not done") == 2  # its own check and the summary's
    assert "Error" not in text and "failed" not in text


@pytest.mark.parametrize("got, hint", [
    (-2.0, "the sign is flipped: got -2, expected 2"),
    (4.0, "the ½ of L2 is missing: got 4, expected 2"),
    (4.002, "the ½ of L2 is missing: got 4.002, expected 2"),  # within 0.1% of the factor
    (10.0, "the 1/N is missing: got 10, expected 2"),
    (20.0, "the ½ and the 1/N are missing: got 20, expected 2"),
    (2 / 3, "divided by N·d: average over the N examples only, summing the 3 outputs: got 0.666667, expected 2"),
    (0.4, "divided by N twice: got 0.4, expected 2"),
    (2.004, "got 2.004, expected 2"),  # no usual factor
    (4.02, "got 4.02, expected 2"),  # 0.5% off the ½: not that mistake
])
def test_a_wrong_loss_is_named_by_its_factor_to_the_right_one(got, hint):
    assert exercises._ratio_hint(got, 2.0, n=5, d=3) == hint


def test_a_loss_that_should_be_zero_gets_no_factor():
    assert exercises._ratio_hint(1.0, 0.0, n=5, d=3) == "got 1, expected 0"


@pytest.mark.parametrize("got, expected, hint, told", [
    ([1.0, 2.0], [1.0, 2.0, 3.0], "", "v has shape (2,), expected (3,)"),
    ([1.0, 2.0], [1.0, 2.0, 3.0], "rows", "v has shape (2,), expected (3,) (rows)"),
    ([1.0, float("nan")], [1.0, 2.0], "rows", "v holds a NaN or an infinity"),
    ([[1.0, 5.0], [2.5, 0.0]], [[1.0, 2.0], [2.0, 0.0]], "", "v is wrong: at (0, 1) got 5, expected 2"),
    ([[1.0, -7.0], [9.0, 0.0]], [[1.0, 2.0], [2.0, 0.0]], "a hint",
     "v is wrong: at (0, 1) got -7, expected 2 (a hint)"),  # the largest |got − expected|, not |got + expected|
    ([100 + 150e-4], [100.0], "", None),  # within RTOL·100 + RTOL·|100|: 200e-4 at 100
    ([100 + 250e-4], [100.0], "", "v is wrong: at (0,) got 100.025, expected 100"),
    ([0.9e-4], [0.0], "", None),  # near 0: within RTOL·1
    ([1.5e-4], [0.0], "", "v is wrong: at (0,) got 0.00015, expected 0"),
    ([1.0 + 2.0j, 2.0], [1.0, 2.0], "", "v holds complex numbers; expected real ones"),  # not its real part alone
    (np.array([1.0, 2.0], np.complex128), [1.0, 2.0], "", "v holds complex numbers; expected real ones"),
])
def test_an_answer_is_compared_by_shape_then_within_the_tolerance(got, expected, hint, told):
    assert exercises._compare("v", got, expected, hint) == told
