"""Multi-process runs started the way users start them: by Open MPI's ``mpirun`` and by SLURM's ``srun``.

The launch lines are read from the README, so the lines users copy are the lines tested; a small configuration is
appended to them. Under each launcher: (a) the MNIST experiment writes one ``metrics.json`` whose accuracies and
parameters equal a one-process run's; (b) a library script that calls ``jaxnet.distributed.initialize()`` with no
arguments trains on a mesh to the one-process result; (c) killing one rank mid-run ends the job with a non-zero
status within 60 s, and the same line with ``--resume`` ends at the uninterrupted run's parameters.

Needs the launchers (as root: ``apt-get install openmpi-bin slurm-wlm munge``, then ``bash .ci/slurm.sh start``
for a one-node SLURM and ``export SLURM_CONF=...`` as it prints); each launcher's tests skip, saying so, without.
``make launchers`` runs them (CI does, as its own step).
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import chex
import numpy as np
import pytest

from jaxnet import checkpoint

from idx_files import labelled_mnist

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
from experiments import mnist  # noqa: E402

from distributed_worker import one_process_train  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.launchers]
SMALL = ["--train-limit", "2048", "--epochs", "2", "--seeds", "2", "--hidden", "32", "--no-plots", "--no-verbose"]
# Float32 sums over two devices run in another order than over one: parameters agree to round-off (2e-5 after 32
# steps; 1e-4 after the 192 momentum steps of the long run), accuracies to within two of the 10,000 test images.
TOL, LONG_TOL, ACCURACY_TOL = dict(rtol=2e-5, atol=2e-5), dict(rtol=1e-4, atol=1e-4), 2e-4


def readme_lines() -> dict[str, str]:
    """The README's launch lines, by launcher: ``{"mpirun": "mpirun -np 2 python ...", "srun": ...}``."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    lines = {m.group(1): m.group(0).strip() for m in re.finditer(r"^(mpirun|srun) [^\n#]+", text, re.MULTILINE)}
    assert set(lines) == {"mpirun", "srun"}, lines
    return lines


def slurm_answers() -> bool:
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and "idle" in done.stdout


def available(launcher: str) -> str | None:
    """None when ``launcher`` can start processes here, else why not and how to get it."""
    if launcher == "mpirun":
        return None if shutil.which("mpirun") else "mpirun not found (Debian: apt-get install openmpi-bin)"
    if not shutil.which("srun"):
        return "srun not found (Debian: apt-get install slurm-wlm munge, then bash .ci/slurm.sh start)"
    if not slurm_answers():
        return ("no SLURM cluster answers (as root: bash .ci/slurm.sh start, then export the SLURM_CONF it prints; "
                "bash .ci/slurm.sh stop afterwards)")
    return None


@pytest.fixture(params=["mpirun", "srun"])
def launcher(request):
    reason = available(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    return labelled_mnist(tmp_path_factory.mktemp("idx"))


def environment():
    """The launched processes' environment: this interpreter's ``python`` first on PATH, CPUs only, a 5 s
    heartbeat; as root, Open MPI's consent to run as root (the README's line stays as users type it)."""
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
           "JAX_PLATFORMS": "cpu", "JAXNET_HEARTBEAT_TIMEOUT_S": "5", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
    env.pop("JAX_NUM_CPU_DEVICES", None)
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def launch(line: str, *extra: str, log=None):
    """Starts ``line`` (a README launch line) with ``extra`` arguments from the repository's root."""
    return subprocess.Popen([*shlex.split(line), *extra], cwd=ROOT, env=environment(), text=True,
                            stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def wait(proc, timeout):
    try:
        output = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the launched job ran past {timeout} s")
    return proc.returncode, output


def one_process(flags):
    """The same MNIST configuration, trained here in one process."""
    return mnist.main(mnist.parse_args(flags))


def leaves(path):
    with np.load(path) as f:
        return [f[f"leaf_{i}"] for i in range(sum(k.startswith("leaf_") for k in f.files))]


def test_the_readme_names_both_launchers_with_the_distributed_flag():
    for line in readme_lines().values():
        assert "experiments/mnist.py --distributed" in line and " 2 " in line, line


def test_mnist_under_a_launcher_writes_one_metrics_file_equal_to_one_process(launcher, small_mnist, tmp_path):
    flags = [*SMALL, "--data-dir", str(small_mnist)]
    code, output = wait(launch(readme_lines()[launcher], *flags, "--out", str(tmp_path / "two")), 300)
    assert code == 0, output[-3000:]
    saved = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert saved["processes"] == 2 and saved["devices"] == 2
    assert output.count("test accuracy") == 1  # process 0 alone reports
    expected = one_process([*flags, "--out", str(tmp_path / "one")])
    assert expected["processes"] == 1
    np.testing.assert_allclose(saved["test_accuracy_per_seed"], expected["test_accuracy_per_seed"], atol=ACCURACY_TOL)
    chex.assert_trees_all_close(leaves(tmp_path / "two" / "checkpoint.npz"),
                                leaves(tmp_path / "one" / "checkpoint.npz"), **TOL)


def test_a_library_script_joins_with_no_arguments_and_trains_on_a_mesh(launcher, tmp_path):
    # tests/distributed_worker.py calls jaxnet.distributed.initialize() with no arguments under a launcher.
    line = readme_lines()[launcher].split(" python ")[0]  # the launcher and its process count
    code, output = wait(launch(f"{line} python {os.path.join(HERE, 'distributed_worker.py')} train detect "
                               f"{tmp_path}"), 300)
    assert code == 0, output[-3000:]
    expected = one_process_train()
    for process in range(2):
        with np.load(tmp_path / f"result-{process}.npz") as f:
            got = [f[f"arr_{i}"] for i in range(len(expected))]
        chex.assert_trees_all_close(got, expected, **TOL)
    assert sorted(os.listdir(tmp_path / "files-0")) == ["ensemble.npz", "single.jsonl", "single.npz"]
    assert not (tmp_path / "files-1").exists()  # only process 0 writes
    # Two processes on this node, as the launcher told each: half of XLA's 75% of a GPU each, set before the backend.
    assert [(tmp_path / f"mem-fraction-{p}.txt").read_text() for p in range(2)] == ["0.375", "0.375"]


def rank_pids(out_dir: str, rank: int) -> list[int]:
    """The processes of the run writing to ``out_dir`` whose launcher gave them ``rank``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if out_dir.encode() not in f.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except OSError:  # it ended meanwhile
            continue
        if env.get(b"OMPI_COMM_WORLD_RANK", env.get(b"SLURM_PROCID")) == str(rank).encode():
            found.append(int(pid))
    return found


def test_killing_one_rank_ends_the_job_and_the_same_line_resumes(launcher, small_mnist, tmp_path):
    epochs = 12
    flags = [*SMALL, "--epochs", str(epochs), "--data-dir", str(small_mnist)]
    out = str(tmp_path / "two")
    with open(tmp_path / "first.log", "w") as log:
        job = launch(readme_lines()[launcher], *flags, "--out", out, log=log)
        ckpt = tmp_path / "two" / "checkpoint.npz"
        deadline = time.monotonic() + 120
        while not (ckpt.exists() and checkpoint.read_header(ckpt)["epoch"] >= 2):
            assert time.monotonic() < deadline and job.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            time.sleep(0.05)
        victims = rank_pids(out, 1)
        assert len(victims) == 1, victims
        os.kill(victims[0], signal.SIGKILL)
        killed = time.monotonic()
        code, _ = wait(job, 90)
        stopped = time.monotonic() - killed
    assert code != 0 and stopped < 60, (code, stopped, (tmp_path / "first.log").read_text()[-3000:])
    saved = checkpoint.read_header(ckpt)["epoch"]
    assert 2 <= saved < epochs, saved
    code, output = wait(launch(readme_lines()[launcher], *flags, "--out", out, "--resume"), 300)
    assert code == 0, output[-3000:]
    assert checkpoint.read_header(ckpt)["epoch"] == epochs
    one_process([*flags, "--out", str(tmp_path / "one")])
    chex.assert_trees_all_close(leaves(ckpt), leaves(tmp_path / "one" / "checkpoint.npz"), **LONG_TOL)
    print(f"{launcher}: the job ended {stopped:.1f} s after rank 1 was killed at epoch {saved} of {epochs}")
