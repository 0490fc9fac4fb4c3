"""experiments/ and benchmarks/ are packages: every module has one name, and every entry runs both as
``python -m <package>.<module>`` and as ``python <package>/<module>.py``."""

import os
import re
import subprocess
import sys

import pytest

import requires

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ENTRIES = [("experiments.universal_approx", "experiments/universal_approx.py"),
           ("experiments.width_study", "experiments/width_study.py"),
           ("experiments.mnist", "experiments/mnist.py"),
           ("experiments.playground", "experiments/playground/app.py"),
           ("benchmarks.run", "benchmarks/run.py"),
           ("benchmarks.gpu", "benchmarks/gpu.py")]


def run(args, cwd=ROOT):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # as a user's shell has it
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_playground_the_benchmarks_and_the_tests_share_one_experiment_module():
    pytest.importorskip("gradio", reason=requires.extra("playground"))
    code = ("import sys\n"
            "from experiments import mnist\n"
            "from experiments.playground import digits\n"
            "from benchmarks import gpu\n"
            "assert digits.mnist is mnist and gpu.mnist is mnist and digits.mnist.Config is gpu.mnist.Config\n"
            "print(sorted(m for m in sys.modules if m in ('mnist', 'cli', 'universal_approx', 'run', 'fit')))\n")
    result = run(["-c", code])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"  # no module also imported under a bare name
    from experiments import mnist
    from experiments.playground import digits

    assert digits.mnist.Config is mnist.Config  # in this process too


@pytest.mark.slow
@pytest.mark.parametrize("module, path", ENTRIES, ids=[m for m, _ in ENTRIES])
def test_each_entry_runs_as_a_module_and_as_a_file(module, path, tmp_path):
    if module == "experiments.playground":
        pytest.importorskip("gradio", reason=requires.extra("playground"))
    as_module = run(["-m", module, "--help"])
    as_file = run([os.path.join(ROOT, path), "--help"], cwd=tmp_path)  # from anywhere, as users run the sweep
    for result in (as_module, as_file):
        assert result.returncode == 0, result.stderr[-2000:]
    # The same command line: only the program's name in the usage line differs (and so the usage's wrapping).
    strip = lambda text: " ".join(re.sub(r"^usage: \S+", "usage:", text).split())
    assert strip(as_module.stdout) == strip(as_file.stdout) and "--help" in as_module.stdout


def test_at_most_one_path_line_per_entry_script():
    for package in ("experiments", "benchmarks"):
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if not name.endswith((".py", ".ipynb")):
                    continue
                with open(os.path.join(folder, name)) as f:
                    text = f.read()
                lines = [line for line in text.splitlines() if "sys.path" in line]
                where = os.path.relpath(os.path.join(folder, name), ROOT)
                assert len(lines) <= 1, f"{where}: {lines}"
                if lines and name.endswith(".py"):  # only an entry script may need one, to run as a file
                    assert 'if __name__ == "__main__" and not __package__:' in text, where


def test_the_whole_suites_extras_are_the_same_everywhere_they_are_named():
    # The extras that run the whole suite: pyproject's, but bench (PyTorch for make bench, which no test needs).
    import tomllib

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        declared = set(tomllib.load(f)["project"]["optional-dependencies"]) - {"bench"}
    assert set(requires.ALL_EXTRAS.split(",")) == declared
    if not os.path.exists(os.path.join(root, "Makefile")):
        pytest.skip("a checkout's test: the Makefile and .ci/run are not beside these tests (the wheel's run)")
    texts = {}
    for name in ("Makefile", "README.md", ".ci/run"):
        with open(os.path.join(root, name)) as f:
            texts[name] = f.read()
    assert f"ALL_EXTRAS := {requires.ALL_EXTRAS}\n" in texts["Makefile"]
    assert f"make test EXTRAS={requires.ALL_EXTRAS}`" in texts["README.md"]
    assert f'EXTRAS="${{EXTRAS:-{requires.ALL_EXTRAS}}}"' in texts[".ci/run"]


def satisfied(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(ROOT, ".ci", "satisfied.py"), *args], capture_output=True,
                          text=True, timeout=60)


def test_make_installs_only_what_is_missing(tmp_path):
    if not os.path.exists(os.path.join(ROOT, ".ci", "satisfied.py")):
        pytest.skip("outside a checkout (the wheel's run): .ci/satisfied.py is the Makefile's")
    # This environment has the test extra (it runs this test): nothing to install for it ...
    assert satisfied("test").returncode == 0
    # ... while a requirement it lacks, one at a version it does not have, or an extra pyproject.toml does not
    # name, is each reported by name (and make then runs pip).
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "jaxnet"\ndependencies = ["numpy<1"]\n'
                         '[project.optional-dependencies]\nextra = ["surely-not-installed-anywhere>=1"]\n')
    run = satisfied("extra,nothing", "--pyproject", str(pyproject))
    assert run.returncode == 1
    assert "numpy<1 (installed: " in run.stderr and "surely-not-installed-anywhere>=1 (not installed)" in run.stderr
    assert "the extra 'nothing'" in run.stderr
