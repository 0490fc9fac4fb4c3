"""A run killed at any moment and started again with the same command ends as the uninterrupted run ends, with
checkpoints, early stopping, the plateau's scale and the log (tests/resume_worker.py runs in processes of its own)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import resume_worker

from jaxnet import checkpoint

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORKER = os.path.join(os.path.dirname(__file__), "resume_worker.py")


def run(out, *args) -> int:
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    with open(os.path.join(out, "worker.log"), "a") as log:  # read by nobody while it runs: never a full pipe
        return subprocess.run([sys.executable, WORKER, str(out), *map(str, args)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, timeout=300).returncode


def outcome(out) -> dict:
    with open(os.path.join(out, "result.json")) as f:
        result = json.load(f)
    with np.load(os.path.join(out, "result.npz")) as data:
        result["params"] = [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]
    with open(os.path.join(out, "log.jsonl")) as f:
        result["log"] = [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in f]
    best = checkpoint.read_header(os.path.join(out, "best.npz"))
    result["best_file_epoch"] = best["epoch"]
    result["checkpoint_history"] = [r["epoch"] for r in checkpoint.read_header(os.path.join(out, "last.npz"))
                                    ["meta"]["history"]]
    return result


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    resume_worker.main(str(out), in_process=True)  # the same run as the worker's process runs (resume_worker.py)
    return out, outcome(out)


def assert_same(got: dict, expected: dict) -> None:
    for name in ("epoch", "lr_scale", "history", "scales", "best_epoch", "stopped_epoch", "log", "best_file_epoch",
                 "checkpoint_history"):
        assert got[name] == expected[name], name
    for a, b in zip(got["params"], expected["params"], strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit


def test_the_uninterrupted_run_stops_early_with_a_lowered_rate(uninterrupted):
    _, result = uninterrupted
    # The problem is chosen so that every stateful callback acts: the best epoch is not the last, the plateau
    # lowers the scale (and cools down after), early stopping ends the run before its 40 epochs.
    assert result["best_epoch"] < result["stopped_epoch"] == result["epoch"] < 40
    assert result["best_file_epoch"] == result["best_epoch"]
    # The scale only falls, and may fall once more at the last epoch's end, after its record.
    assert result["scales"][0] == 1.0 > min(result["scales"]) >= result["lr_scale"]
    assert result["scales"] == sorted(result["scales"], reverse=True)
    assert result["history"] == list(range(1, result["epoch"] + 1))


@pytest.mark.slow
@pytest.mark.parametrize("after_best, after_saving", [(1, False), (0, True), (None, True)],
                         ids=["after the best epoch, before its checkpoint", "the best epoch, its checkpoint saved",
                              "the last epoch, saved, before returning"])
def test_a_killed_run_started_again_ends_as_the_uninterrupted_one(uninterrupted, tmp_path, after_best, after_saving):
    _, expected = uninterrupted
    kill = expected["stopped_epoch"] if after_best is None else expected["best_epoch"] + after_best
    args = (kill, "after") if after_saving else (kill,)
    assert run(tmp_path, *args) == 17  # killed
    assert not (tmp_path / "result.json").exists()
    assert run(tmp_path) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert_same(outcome(tmp_path), expected)


@pytest.mark.parametrize("after_saving", [False, True], ids=["before its checkpoint", "its checkpoint saved"])
def test_a_run_interrupted_after_its_best_epoch_and_started_again_ends_as_the_uninterrupted_one(
        uninterrupted, tmp_path, after_saving):
    # In this process: each stateful callback's state_dict is written with the checkpoint and taken back by a fresh
    # callback (the killed processes above add what only a real kill can: nothing of fit's way out runs).
    _, expected = uninterrupted
    with pytest.raises(resume_worker.Interrupted):
        resume_worker.main(str(tmp_path), expected["best_epoch"] + 1, after_saving, in_process=True)
    assert not (tmp_path / "result.json").exists()
    resume_worker.main(str(tmp_path), in_process=True)
    assert_same(outcome(tmp_path), expected)


@pytest.mark.slow
def test_a_finished_run_started_again_trains_nothing_more(uninterrupted, tmp_path):
    out, expected = uninterrupted
    for name in ("last.npz", "best.npz", "log.jsonl"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    assert run(tmp_path) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert_same(outcome(tmp_path), expected)
