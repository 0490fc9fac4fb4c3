import json
import os

import numpy as np
import pytest

from jaxnet import data

import requires
from idx_files import labelled_mnist

ROOT = os.path.join(os.path.dirname(__file__), "..")
# As modules of the experiments folder, the names make mutants gives them (tests/mutants/README.md).
from experiments import mnist, mnist_report  # noqa: E402

REAL = os.environ.get(data.ENV_VAR)


def check_outputs(out, metrics, y_test):
    C = np.array(metrics["confusion_matrix"])
    assert C.shape == (10, 10)
    # C[output, target]: each target column sums to that class's test count, and trace / N is the accuracy.
    np.testing.assert_array_equal(C.sum(axis=0), np.bincount(y_test, minlength=10))
    assert np.trace(C) / C.sum() == pytest.approx(metrics["test_accuracy_per_seed"][0], abs=1e-9)
    np.testing.assert_allclose(metrics["recall"], np.diag(C) / C.sum(axis=0))
    saved = json.loads((out / "metrics.json").read_text())
    for name in ("test_accuracy", "train_seconds", "epochs", "confusion_matrix", "precision", "recall"):
        assert name in saved
    for name in ("confusion_matrix.txt", "confusion_matrix.png", "errors.png", "curves.png", "checkpoint.npz",
                 "log.jsonl"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "confusion_matrix.txt").read_text().count("\n") == 13


@pytest.mark.slow
@pytest.mark.skipif(not REAL or data.find_idx_dir("mnist", REAL) is None, reason=requires.MNIST)
def test_short_schedule_on_real_mnist_reaches_97_percent(tmp_path):
    config = mnist.Config(epochs=3, seeds=1, out=str(tmp_path), verbose=False)
    metrics = mnist.main(config)
    assert metrics["test_accuracy"] >= 0.97
    _, y_test = data.load_mnist("test")
    check_outputs(tmp_path, metrics, y_test)


@pytest.mark.slow
def test_end_to_end_on_small_stand_in_files(tmp_path):
    # Runs without the real data: IDX files of the real layout whose images encode the label in one pixel.
    labelled_mnist(tmp_path)
    out = tmp_path / "out"
    config = mnist.Config(epochs=2, seeds=2, train_limit=2048, data_dir=str(tmp_path), out=str(out), verbose=False,
                          grad="manual", hidden=(32, 16))
    metrics = mnist.main(config)
    assert len(metrics["test_accuracy_per_seed"]) == 2 and metrics["test_accuracy"] > 0.9
    check_outputs(out, metrics, data.load_mnist("test", data_dir=tmp_path)[1])
    # Each seed's first epoch at 98.4% from the history written out by hand, and where the seconds went.
    with open(out / "metrics.json") as f:
        saved = json.load(f)
    for k, reached in enumerate(saved["reached_target_per_seed"]):
        accuracies = [r["eval_accuracy"][k] for r in saved["history"]]
        first = next((e for e, a in enumerate(accuracies) if a >= mnist.TARGET), None)
        if first is None:
            assert reached is None
        else:
            assert reached["epoch"] == first + 1
            assert reached["seconds"] == pytest.approx(sum(r["seconds"] for r in saved["history"][: first + 1]))
    assert {"data", "compilation", "training", "evaluation and checkpoints", "total"} <= set(saved["seconds"])
    assert {"files", "figures"} <= set(metrics["seconds"])  # the figures come after metrics.json is written
    assert sum(v for k, v in metrics["seconds"].items() if k != "total") <= metrics["seconds"]["total"]


def test_confusion_matrix_orientation():
    C = mnist_report.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), num_classes=3)
    np.testing.assert_array_equal(C, [[1, 0, 0], [1, 1, 1], [0, 0, 0]])  # rows: output, columns: target


def test_flags():
    config = mnist.parse_args(["--hidden", "512", "256", "--grad", "manual", "--epochs", "5", "--resume"])
    assert config.hidden == (512, 256) and config.grad == "manual" and config.epochs == 5 and config.resume


def test_every_config_field_is_a_flag_and_bad_values_stop_before_training(capsys):
    # The flags are generated from the Config dataclass, so none can be forgotten or drift from it.
    help_text = mnist.cli.parser(mnist.Config).format_help()
    for name in mnist.Config.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in help_text, name
    assert "SGD + Nesterov 0.9" in help_text  # help from the field's comment
    for argv, message in ((["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
                          (["--epochs", "0"], "--epochs must be in [1, 10000], got 0"),
                          (["--epochs", "two"], "invalid int value: 'two'"),
                          (["--no-such-flag"], "unrecognized arguments")):
        with pytest.raises(SystemExit) as exit_info:
            mnist.parse_args(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err, argv
    with pytest.raises(ValueError, match=r"unknown optimizer 'lbfgs'; valid values are \['nesterov'"):
        mnist.Config(optimizer="lbfgs")  # main(Config(...)) refuses the same values as the command line


# The lecture's own confusion matrix (section 5), C[output, target], with its printed margins: precision at the end
# of each row, recall under each column, and the accuracy in the corner, each to 0.1%.
LECTURE_C = np.array([
    [973, 0, 3, 0, 0, 3, 4, 0, 2, 3], [1, 1124, 1, 0, 0, 0, 2, 2, 0, 2], [1, 3, 1014, 5, 3, 0, 0, 7, 2, 0],
    [0, 2, 2, 994, 0, 5, 1, 3, 4, 5], [0, 0, 2, 0, 971, 1, 3, 0, 4, 7], [0, 1, 0, 3, 0, 877, 3, 0, 3, 1],
    [2, 2, 3, 0, 3, 2, 945, 0, 1, 1], [1, 1, 6, 2, 1, 1, 0, 1013, 3, 7], [1, 2, 1, 3, 0, 2, 0, 0, 952, 2],
    [1, 0, 0, 3, 4, 1, 0, 3, 3, 981]])
LECTURE_PRECISION = [98.5, 99.3, 98.0, 97.8, 98.3, 98.8, 98.5, 97.9, 98.9, 98.5]
LECTURE_RECALL = [99.3, 99.0, 98.3, 98.4, 98.9, 98.3, 98.6, 98.5, 97.7, 97.2]


def test_margins_of_the_lectures_confusion_matrix():
    precision, recall = mnist_report.precision_recall(LECTURE_C)
    np.testing.assert_allclose(100 * precision, LECTURE_PRECISION, atol=0.05)  # printed to 0.1%
    np.testing.assert_allclose(100 * recall, LECTURE_RECALL, atol=0.05)
    assert round(100 * np.trace(LECTURE_C) / LECTURE_C.sum(), 1) == 98.4


def test_margins_by_hand_on_a_small_matrix():
    # 3 classes, C[output, target]: 4 + 1 + 0 in row 0, so precision_0 = 4/5; column 0 holds 4 + 2 + 0, recall 4/6.
    C = np.array([[4, 1, 0], [2, 3, 1], [0, 0, 5]])
    precision, recall = mnist_report.precision_recall(C)
    np.testing.assert_allclose(precision, [4 / 5, 3 / 6, 5 / 5])
    np.testing.assert_allclose(recall, [4 / 6, 3 / 4, 5 / 6])
    never = mnist_report.precision_recall(np.array([[2, 0], [0, 0]]))  # class 1 never predicted nor present: 0, not NaN
    np.testing.assert_array_equal(never[0], [1, 0])  # precision
    np.testing.assert_array_equal(never[1], [1, 0])  # recall
    one = mnist_report.precision_recall(np.array([[1, 0], [0, 0]]))  # one example: 1/1, whatever guards the 0/0
    np.testing.assert_array_equal(one[0], [1, 0])
    np.testing.assert_array_equal(one[1], [1, 0])
    assert mnist_report.confusion_matrix(np.array([9]), np.array([9])).shape == (10, 10)  # MNIST's ten by default


def test_confusion_text_has_the_lectures_layout():
    C = np.array([[4, 1, 0], [2, 3, 1], [0, 0, 5]])  # 16 images
    lines = mnist_report.confusion_text(C).splitlines()
    assert lines[0].startswith("Output class (rows) by target class (columns)")
    # Row i: the label, each cell "count percent-of-all", then precision and its complement.
    assert lines[1].split() == ["0", "4", "25.0%", "1", "6.2%", "0", "0.0%", "80.0%", "20.0%"]
    assert lines[2].split() == ["1", "2", "12.5%", "3", "18.8%", "1", "6.2%", "50.0%", "50.0%"]
    assert lines[3].split() == ["2", "0", "0.0%", "0", "0.0%", "5", "31.2%", "100.0%", "0.0%"]
    # Then recall and its complement under each column, the accuracy (12/16) in the corner, the class labels.
    assert lines[4].split() == ["66.7%", "33.3%", "75.0%", "25.0%", "83.3%", "16.7%", "75.0%", "25.0%"]
    assert lines[5].split() == ["0", "1", "2", "(target", "class)"]
    assert len(lines) == 6
