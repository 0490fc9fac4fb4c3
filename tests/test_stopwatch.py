"""Where the experiments' seconds go (experiments/stopwatch.py) and the time-to-98.4% arithmetic of
benchmarks/time_to_accuracy.py, on histories written out by hand."""

import io
import os
import time

import numpy as np
import pytest

from benchmarks import time_to_accuracy
from experiments import stopwatch


@pytest.mark.parametrize("seconds, expected", [
    ([3.0, 1.0, 1.2, 0.8], (2.0, 4.0)),  # one epoch a call: the first's excess over the median of the rest
    ([2.0, 2.0, 2.0, 1.0, 1.0, 1.0], (3.0, 6.0)),  # three epochs a call share its time: 3 × (2 − 1)
    ([1.5, 1.5], (0.0, 3.0)),  # one call: nothing to tell compilation from training
    ([0.5, 1.0, 1.0], (0.0, 2.5)),  # a first call faster than the rest is no compilation
])
def test_training_split(seconds, expected):
    compile_s, train_s = stopwatch.training_split([{"seconds": s} for s in seconds])
    assert (compile_s, train_s) == pytest.approx(expected)
    assert compile_s + train_s == pytest.approx(sum(seconds))


def test_the_stopwatch_adds_phases_and_reports_the_rest():
    watch = stopwatch.Stopwatch(started_before=0.5)
    watch.add("start-up and imports", 0.5)
    with watch.phase("data"):
        time.sleep(0.05)
    watch.add("training", 1.25)
    watch.add("training", -3)  # a negative measurement counts as nothing
    assert watch.seconds["training"] == 1.25 and 0.05 <= watch.seconds["data"] < 0.5
    assert watch.total() >= 0.55
    text = watch.report()
    assert text.startswith(f"where the {watch.total():.1f} s went: start-up and imports 0.5 s, data 0.1 s, "
                           f"training 1.2 s; unaccounted")
    assert list(watch.seconds) == ["start-up and imports", "data", "training"]


def test_process_age_is_the_time_since_this_process_started():
    age = stopwatch.process_age()
    # pytest has been running for a while; /proc's clock ticks are 1/100 s.
    assert 0.0 < age < 3600


def fake_proc(monkeypatch, stat: str | None, uptime: str | None):
    files = {path: text for path, text in (("/proc/self/stat", stat), ("/proc/uptime", uptime)) if text is not None}

    def fake_open(path, *args, **kwargs):
        if path not in files:
            raise FileNotFoundError(path)
        return io.StringIO(files[path])

    monkeypatch.setattr(stopwatch, "open", fake_open, raising=False)  # found before the builtin


@pytest.mark.parametrize("uptime, age", [("1000.25 7.0", 0.25), ("999.0 7.0", 0.0)])  # a later start reads 0
def test_process_age_reads_the_start_after_the_command_names_last_parenthesis(monkeypatch, uptime, age):
    # Field 22 of /proc/self/stat is the start in clock ticks; the command name may hold ") (" itself.
    ticks = 1000 * os.sysconf("SC_CLK_TCK")
    fields = ["S", *map(str, range(4, 22)), str(ticks), "0", "0"]  # fields 3 to 24
    fake_proc(monkeypatch, "4242 (a) (b c) " + " ".join(fields), uptime)
    assert stopwatch.process_age() == age


def test_process_age_is_0_where_proc_cannot_tell(monkeypatch):
    fake_proc(monkeypatch, None, None)  # no /proc (macOS, Windows)
    assert stopwatch.process_age() == 0.0


def test_first_at_and_the_mean_over_seeds():
    per_epoch = np.array([[0.980, 0.983, 0.979], [0.985, 0.983, 0.984], [0.986, 0.985, 0.983]])
    seconds = np.array([1.0, 2.0, 3.0])
    row = time_to_accuracy.summary("x", per_epoch, seconds)
    assert row["mean"] == {"epoch": 2, "seconds": 2.0}  # means 0.9807, 0.9840, 0.9847
    assert row["per_seed"] == [{"epoch": 2, "seconds": 2.0}, {"epoch": 3, "seconds": 3.0}, {"epoch": 2, "seconds": 2.0}]
    assert row["final_mean"] == pytest.approx(np.mean([0.986, 0.985, 0.983]))
    assert time_to_accuracy.first_at([0.5, 0.6], [1.0, 2.0]) is None
    assert "not reached" in time_to_accuracy.markdown([{**row, "mean": None}])


def test_laps_count_from_the_last_lap_and_a_skip_moves_the_mark(monkeypatch):
    clock = iter([10.0, 11.5, 14.0, 20.0, 20.25])  # the start, then each reading in turn
    monkeypatch.setattr(stopwatch.time, "perf_counter", lambda: next(clock))
    watch = stopwatch.Stopwatch()
    watch.lap("load")  # 11.5 − 10
    watch.skip()  # at 14: 11.5 to 14 was counted elsewhere (add), not by the next lap
    watch.lap("train")  # 20 − 14
    watch.lap("train")  # 20.25 − 20
    assert watch.seconds == {"load": 1.5, "train": 6.25}


def test_the_total_counts_from_the_start_and_the_rest_is_what_no_phase_holds(monkeypatch):
    clock = iter([100.0, 103.0, 103.0, 104.0, 104.0])  # the start, then each reading in turn
    monkeypatch.setattr(stopwatch.time, "perf_counter", lambda: next(clock))
    watch = stopwatch.Stopwatch()  # started now: nothing before
    watch.add("data", 1.0)
    assert watch.total() == 3.0
    assert watch.report() == "where the 3.0 s went: data 1.0 s; unaccounted 2.0 s"
    watch.add("training", 5.0)  # phases measured apart can add up to more than the total: nothing is unaccounted
    assert watch.report() == "where the 4.0 s went: data 1.0 s, training 5.0 s; unaccounted 0.0 s"
