"""Plants each of eight known engine and recipe bugs, one at a time, in a scratch copy of the project and runs the
fast tests that should catch it (``make planted``).

These are bugs a suite that compares ``fit`` with ``fit`` lets through: the same shuffle in every epoch, a lost
step, a resume under another key, an ensemble's evaluation that reports member 0 for every member, and four
slips in the experiments' recipes. Each must make at least one test fail; the script prints the failing tests per
bug and exits 1 if any bug passes. A bug whose code has moved (its text no longer found exactly once) is an error,
so the list cannot go stale in silence (``tests/test_mutation_report.py`` checks that too, in the fast suite).

Run from the repository root: ``.venv/bin/python tests/mutants/planted.py [--only SUBSTRING]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# (what the bug is, file, the correct text, the bug's text): the correct text must occur exactly once.
BUGS = [
    ("the same shuffle in every epoch", "jaxnet/program.py",
     "jax.random.fold_in(key, epoch_id)", "jax.random.fold_in(key, 0)"),
    ("one step fewer per epoch", "jaxnet/program.py",
     "n_batches = x.shape[0] // batch_size", "n_batches = x.shape[0] // batch_size - 1"),
    ("resuming from a checkpoint written with another key", "jaxnet/checkpoint.py",
     "if not np.array_equal(_key_data(saved_key), _key_data(key)):", "if False:"),
    ("an ensemble's evaluation reports member 0 for every member", "jaxnet/train.py",
     "for field, value in self._named(distributed.to_host(one(params))).items()})",
     "for field, value in self._named(jax.tree.map(lambda v: v[..., :1] + 0 * v, "
     "distributed.to_host(one(params)))).items()})"),
    ("MNIST's weight decay applied to the biases too", "experiments/mnist.py",
     "[(True, False) for _ in params]", "[(True, True) for _ in params]"),
    ("label smoothing adding eps instead of eps/10", "experiments/mnist.py",
     "+ eps / num_classes)", "+ eps)"),
    ("the width sweep's readout rate not divided by the width", "experiments/universal_approx.py",
     '"output": build(config.lr_out / width)', '"output": build(config.lr_out)'),
    ("the width sweep's hidden layer frozen", "experiments/universal_approx.py",
     '{"hidden": build(config.lr),', '{"hidden": optax.set_to_zero(),'),
]

# The fast tests of the engine and the recipes (a failure here is a failure of `make test`, which runs them all).
TESTS = ["tests/test_engine_reference.py", "tests/test_recipes.py", "tests/test_trainer.py", "tests/test_fit.py",
         "tests/test_callbacks.py", "tests/test_checkpoint.py", "tests/test_progress.py"]
SKIP = shutil.ignore_patterns(".venv", "mutants", ".git", "runs", "dist", "docs", "__pycache__", ".hypothesis",
                              ".mypy_cache", ".ruff_cache", ".pytest_cache")


def planted_text(path: str, correct: str, bug: str) -> str:
    """The file's text with the bug in place of the correct text, which must occur exactly once."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    if text.count(correct) != 1:
        raise SystemExit(f"{path}: the text to replace occurs {text.count(correct)} times, not once: {correct!r}; "
                         f"update BUGS in {os.path.relpath(__file__, ROOT)}")
    return text.replace(correct, bug)


def failing_tests(copy: str) -> tuple[int, list[str]]:
    """Runs TESTS (fast ones only) in the copy, with its own jaxnet first on the path; exit code and failures."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": copy}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                             "-m", "not slow and not launchers", *TESTS], cwd=copy, capture_output=True, text=True,
                            env=env)
    return result.returncode, [line.split(" ")[1] for line in result.stdout.splitlines() if line.startswith("FAILED")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="plant only the bugs whose description contains this")
    args = parser.parse_args(argv)
    passed = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, path, correct, bug in BUGS:
            if args.only not in name:
                continue
            copy = os.path.join(scratch, "copy")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(ROOT, copy, ignore=SKIP)
            with open(os.path.join(copy, path), "w") as f:
                f.write(planted_text(path, correct, bug))
            tic = time.perf_counter()
            code, failed = failing_tests(copy)
            verdict = f"{len(failed)} tests fail" if failed else f"NOT CAUGHT (pytest exit {code})"
            print(f"{name}: {verdict} ({time.perf_counter() - tic:.0f} s)", flush=True)
            for test in failed:
                print(f"    {test}")
            if not failed:
                passed.append(name)
    if passed:
        print(f"{len(passed)} planted bugs pass the tests: {passed}")
    return 1 if passed else 0


if __name__ == "__main__":
    sys.exit(main())
