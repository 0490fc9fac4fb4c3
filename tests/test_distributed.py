"""Multi-process training on jax.distributed with real processes on loopback (gloo collectives on CPU).

Each test starts processes of tests/distributed_worker.py with a timeout, so a hang fails instead of stalling.
Results are compared with the same training in this (single-device) process: sums over devices run in another
order, so parameters agree to float32 round-off (a few dozen SGD steps: 2e-5).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import pytest

from jaxnet import checkpoint, distributed, mlp, train

# Each test starts several Python processes (and some wait on heartbeats and timeouts): they run with the launcher
# tests, in `make launchers` (a CI step of its own), not in `make test`.
pytestmark = [pytest.mark.slow, pytest.mark.launchers]
HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "distributed_worker.py")
TOL = dict(rtol=2e-5, atol=2e-5)
sys.path.insert(0, HERE)
from distributed_worker import common, one_process_train, problem  # noqa: E402  (the processes' data and settings, for the reference)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(task, processes, devices, out, *extra):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": str(devices),
           "JAXNET_HEARTBEAT_TIMEOUT_S": "5"}  # the survivor stops 5 s after a loss instead of 10
    port = free_port()
    return [subprocess.Popen([sys.executable, WORKER, task, str(i), str(processes), str(port), str(out), *extra],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for i in range(processes)]


def finish(procs, timeout=120):
    outputs = []
    for p in procs:
        try:
            outputs.append(p.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"a process hung past {timeout} s")
    return [p.returncode for p in procs], outputs


def leaves(path):
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len([k for k in f.files if k.startswith("arr_")]))]


# Two processes of one device each run the same task under mpirun and srun (tests/test_launchers.py).
@pytest.mark.parametrize("devices", [2], ids=["2x2"])
def test_data_and_member_parallel_training_matches_one_process(tmp_path, devices):
    codes, outputs = finish(start("train", 2, devices, tmp_path))
    assert codes == [0, 0], outputs
    expected = one_process_train()
    for process in range(2):  # (a) the data-parallel network and (b) the member-sharded ensemble, in both processes
        chex.assert_trees_all_close(leaves(tmp_path / f"result-{process}.npz"), expected, **TOL)
    # (c) only process 0 wrote the log and the checkpoints.
    assert sorted(os.listdir(tmp_path / "files-0")) == ["ensemble.npz", "single.jsonl", "single.npz"]
    assert not (tmp_path / "files-1").exists()
    assert checkpoint.read_header(tmp_path / "files-0" / "ensemble.npz")["epoch"] == 3
    # (d) both processes run on this host (coordinator 127.0.0.1): each was given half of XLA's 75% of a GPU
    # before its backend started.
    assert [(tmp_path / f"mem-fraction-{p}.txt").read_text() for p in range(2)] == ["0.375", "0.375"]


def test_a_lost_process_stops_the_other_and_a_restart_resumes(tmp_path):
    epochs = 20
    procs = start("long", 2, 1, tmp_path, str(epochs))
    ckpt = tmp_path / "shared" / "ckpt.npz"
    deadline = time.monotonic() + 90
    while not (ckpt.exists() and checkpoint.read_header(ckpt)["epoch"] >= 2):
        assert time.monotonic() < deadline and procs[0].poll() is None, "no checkpoint after 90 s"
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    codes, outputs = finish(procs, timeout=60)  # (d) the survivor stops within 60 s ...
    stopped = time.monotonic() - killed
    assert codes[0] != 0 and stopped < 60, (codes, stopped)
    # ... naming the lost process: "Task 1" in some jaxlib versions, "task:1" in others (the runtime's words).
    assert re.search(r"task\W{0,2}1\b", outputs[0], re.IGNORECASE), outputs[0][-3000:]
    saved = checkpoint.read_header(ckpt)["epoch"]
    assert 2 <= saved < epochs
    codes, outputs = finish(start("long", 2, 1, tmp_path, str(epochs)))  # the same command again resumes
    assert codes == [0, 0], outputs
    assert checkpoint.read_header(ckpt)["epoch"] == epochs
    x, y = problem(2048)
    uninterrupted, _ = train.fit(mlp.init(jax.random.key(0), [8, 32, 4]), x, y, **common(epochs))
    # 640 momentum-SGD steps compound the all-reduce's float32 round-off: agreement to 1e-4, not 2e-5.
    chex.assert_trees_all_close(leaves(tmp_path / "result-0.npz"), [np.asarray(a) for a in
                                                                   jax.tree.leaves(uninterrupted)], rtol=1e-4,
                                atol=1e-4)
    print(f"survivor stopped {stopped:.1f} s after the kill; checkpoint at epoch {saved} of {epochs}")


@pytest.mark.parametrize("process_id", [0, 1], ids=["coordinator", "other"])
def test_a_run_that_never_assembles_ends_in_time_with_a_message_saying_what_to_check(process_id):
    # One process of a two-process run, started alone: as process 0 it waits for a peer that never comes, as
    # process 1 for a coordinator that never starts. It must end when its timeout passes, and its last words must be
    # jaxnet's message (the coordinator's address, the process count, what to check), not the runtime's stack trace.
    address, timeout = f"127.0.0.1:{free_port()}", 4
    script = (f"from jaxnet import distributed; distributed.initialize({address!r}, 2, {process_id}, "
              f"initialization_timeout_s={timeout})")
    tic = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    waited = time.monotonic() - tic
    assert done.returncode == distributed.JOIN_TIMEOUT_EXIT, (done.returncode, done.stderr[-3000:])
    assert timeout <= waited < timeout + 20, waited  # the timeout plus Python's and JAX's start-up
    print(f"process {process_id} alone: ended {waited:.1f} s after its start, with a {timeout} s timeout")
    last = done.stderr.strip().splitlines()[-1]
    for needed in (address, "all 2 processes", f"process {process_id}", "every process was started",
                   "same coordinator address and port"):
        assert needed in last, (needed, last)
    assert distributed.join_timeout_message(address, 2, process_id, timeout) == last
