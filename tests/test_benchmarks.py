"""The benchmarks run once on tiny sizes, so they keep working; their numbers are not checked here."""


import pytest

from jaxnet import data  # noqa: E402

import requires

pytestmark = pytest.mark.slow  # each runs a whole benchmark script

from benchmarks import first_call, gpu, run  # noqa: E402


# Its devices sweep starts a two-process run: it goes with the multi-process tests, in `make launchers`.
@pytest.mark.launchers
def test_bench_runs_on_tiny_sizes(tmp_path):
    results = run.main(["--tiny", "--out", str(tmp_path / "RESULTS.md")])
    impls = [row["impl"] for row in results["m"]]
    assert impls[:4] == ["jaxnet", "jaxnet-manual", "numpy", "jax-per-batch"]
    # Same initial parameters and batch order: after one epoch every implementation agrees to float32 round-off.
    assert all(row["param_diff_epoch_1"] < 1e-5 for row in results["m"])
    assert results["dp"] == []  # a tiny run starts as few processes as it can
    assert [(r["kind"], r["devices"]) for r in results["sweep"]] == [("simulated devices", 1), ("processes", 2)]
    assert all(row["fit_steps_per_s"] > 0 and row["ensemble_member_steps_per_s"] > 0 for row in results["u"])
    assert results["limits"]["products_gflops"] > 0 and results["limits"]["big_gflops"] > 0
    assert not (tmp_path / "RESULTS.md").exists()  # a tiny run is a check, never a result


@pytest.mark.skipif(data.find_idx_dir("mnist") is None, reason=requires.MNIST)
def test_gpu_script_runs_on_tiny_sizes():
    accuracy, big = gpu.main(["--tiny"])
    assert 0 < accuracy["final_accuracy"] <= 1 and big["samples_per_s"] > 0


@pytest.mark.skipif(data.find_idx_dir("mnist") is None, reason=requires.MNIST)
def test_first_call_comparison_runs_on_a_small_set():
    results = first_call.main(["--epochs", "1", "--train-limit", "2048"])
    assert len(results) == 3 and all(0 < accuracies[0] <= 1 for accuracies in results.values())
