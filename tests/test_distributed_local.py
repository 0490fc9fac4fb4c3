"""jaxnet.distributed in one process, with the runtime's entry point replaced: what :func:`initialize` asks of
``jax.distributed``, its watchdog, what it detects from a cluster manager's variables, and who writes. The
multi-process runs themselves are in tests/test_distributed.py (``make launchers``)."""

import os
import threading

import jax
import numpy as np
import pytest

from jaxnet import distributed


@pytest.fixture
def no_cluster(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("SLURM_", "OMPI_", "PMI_", "PMIX_", "XLA_PYTHON_CLIENT_")):
            monkeypatch.delenv(name)
    # initialize() may set the memory fraction in this process's environment: undone after the test.
    monkeypatch.setenv(distributed.MEM_FRACTION_VARIABLE, "")
    monkeypatch.delenv(distributed.MEM_FRACTION_VARIABLE)


@pytest.fixture
def runtime(monkeypatch):
    """Records the calls initialize makes to jax.config and jax.distributed, which would start the runtime."""
    calls = {"config": [], "initialize": []}
    monkeypatch.setattr(jax.config, "update", lambda name, value: calls["config"].append((name, value)))
    monkeypatch.setattr(jax.distributed, "initialize",
                        lambda *args, **kwargs: calls["initialize"].append((args, kwargs)))
    return calls


def test_initialize_passes_the_run_and_the_deadlines_to_jax(runtime, no_cluster):
    distributed.initialize("10.0.0.1:1234", 4, 2, initialization_timeout_s=30)
    assert runtime["config"] == [("jax_cpu_collectives_implementation", "gloo")]
    assert runtime["initialize"] == [(("10.0.0.1:1234", 4, 2), dict(
        heartbeat_timeout_seconds=distributed.HEARTBEAT_TIMEOUT_S, initialization_timeout=30 + 15))]
    distributed.initialize(heartbeat_timeout_s=3)  # all detected by the runtime
    assert runtime["initialize"][-1] == ((None, None, None), dict(heartbeat_timeout_seconds=3,
                                                                   initialization_timeout=120 + 15))


def test_the_default_heartbeat_timeout_is_10_s_unless_the_environment_says(monkeypatch):
    import importlib

    assert distributed.HEARTBEAT_TIMEOUT_S == int(os.environ.get("JAXNET_HEARTBEAT_TIMEOUT_S", "10"))
    monkeypatch.delenv("JAXNET_HEARTBEAT_TIMEOUT_S", raising=False)
    try:
        assert importlib.reload(distributed).HEARTBEAT_TIMEOUT_S == 10
        monkeypatch.setenv("JAXNET_HEARTBEAT_TIMEOUT_S", "5")
        assert importlib.reload(distributed).HEARTBEAT_TIMEOUT_S == 5
    finally:
        monkeypatch.undo()
        importlib.reload(distributed)


def test_a_join_that_outlasts_its_timeout_ends_the_process_with_the_message(monkeypatch, capsys, no_cluster):
    exited = threading.Event()
    codes = []
    monkeypatch.setattr(jax.config, "update", lambda name, value: None)
    # The runtime waits (here until the watchdog has fired); the watchdog writes the message and exits the process.
    monkeypatch.setattr(jax.distributed, "initialize", lambda *args, **kwargs: exited.wait(30))
    monkeypatch.setattr(os, "_exit", lambda code: (codes.append(code), exited.set()))
    distributed.initialize("10.0.0.1:1234", 2, 1, initialization_timeout_s=1)
    assert codes == [distributed.JOIN_TIMEOUT_EXIT] == [75]
    assert capsys.readouterr().err == distributed.join_timeout_message("10.0.0.1:1234", 2, 1, 1) + "\n"


def test_a_join_in_time_cancels_the_watchdog(monkeypatch, no_cluster):
    codes, watchdogs = [], []
    monkeypatch.setattr(os, "_exit", codes.append)
    monkeypatch.setattr(jax.config, "update", lambda name, value: None)
    # While the runtime waits, the watchdog runs as a daemon thread: it must not keep an interrupted process alive.
    monkeypatch.setattr(jax.distributed, "initialize", lambda *args, **kwargs: watchdogs.extend(
        t.daemon for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()))
    distributed.initialize("10.0.0.1:1234", 2, 0, initialization_timeout_s=1)
    assert watchdogs == [True]
    threading.Event().wait(1.5)  # past the timeout: a watchdog left running would have fired
    assert codes == []
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]


def test_the_message_fills_in_what_slurm_says(monkeypatch, no_cluster):
    monkeypatch.setenv("SLURM_JOB_ID", "4097")  # JAX's port for SLURM: job id mod 4096 + 61440
    monkeypatch.setenv("SLURM_STEP_NODELIST", "node007,node008")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_STEP_NUM_NODES", "2")
    message = distributed.join_timeout_message(None, None, None, 7)
    assert message.startswith("jaxnet.distributed.initialize: process 3 (it waited to reach process 0, the "
                              "coordinator) gave up after 7 s: all 4 processes must join the coordinator at "
                              "node007:61441, and not all did.")
    assert "the same number of processes (4)" in message
    # Given values win over detected ones.
    assert "process 0 (the coordinator" in distributed.join_timeout_message("h:1", 2, 0, 7)
    assert "all 2 processes must join the coordinator at h:1," in distributed.join_timeout_message("h:1", 2, 0, 7)


def test_the_message_says_what_it_was_given_when_detection_fails(monkeypatch):
    from jax._src import clusters

    def broken(*args):
        raise RuntimeError("detection failed")

    monkeypatch.setattr(clusters.ClusterEnv, "auto_detect_unset_distributed_params", broken)
    assert distributed._detected("h:1", 2, 1, 5) == ("h:1", 2, 1)
    assert distributed.join_timeout_message(None, None, None, 5).startswith(
        "jaxnet.distributed.initialize: this process gave up after 5 s: every process must join")


def test_one_process_writes_and_brings_its_arrays_home():
    assert distributed.is_writer() and jax.process_index() == 0
    tree = {"a": jax.numpy.arange(6.0).reshape(2, 3), "b": np.int32(4), "c": [1.5]}
    host = distributed.to_host(tree)
    assert isinstance(host["a"], np.ndarray) and isinstance(host["b"], np.ndarray)
    np.testing.assert_array_equal(host["a"], np.arange(6.0).reshape(2, 3))
    assert host["b"] == 4 and host["c"][0] == 1.5


# What each launcher tells a process about its node: Open MPI its local size, SLURM the tasks on each node (run-length
# coded) and this node's index; by hand, a coordinator on this host's loopback address puts every process here.
@pytest.mark.parametrize("environ, coordinator, num_processes, expected", [
    ({"OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_COMM_WORLD_SIZE": "4"}, None, None, 2),
    ({"SLURM_STEP_TASKS_PER_NODE": "3(x2),1", "SLURM_NODEID": "1"}, None, None, 3),
    ({"SLURM_STEP_TASKS_PER_NODE": "3(x2),1", "SLURM_NODEID": "2"}, None, None, 1),
    ({"SLURM_TASKS_PER_NODE": "4", "SLURM_NODEID": "0"}, None, None, 4),
    ({"SLURM_TASKS_PER_NODE": "3(x2),1", "SLURM_NODEID": "3"}, None, None, None),  # a node past the list: unknown
    ({"SLURM_TASKS_PER_NODE": "4"}, None, None, 4),  # no node index: a one-node allocation's node 0
    ({}, "127.0.0.1:1234", 3, 3),
    ({}, "localhost:1234", 2, 2),
    ({}, "10.0.0.1:1234", 2, None),  # another host: the processes may be anywhere
    ({}, None, None, None),
    ({"OMPI_COMM_WORLD_LOCAL_SIZE": "two"}, None, None, None),
])
def test_local_processes_as_the_launcher_says(environ, coordinator, num_processes, expected):
    assert distributed.local_processes(coordinator, num_processes, environ) == expected


def test_processes_sharing_a_node_share_the_gpu_memory():
    environ = {"OMPI_COMM_WORLD_LOCAL_SIZE": "2"}
    assert distributed.share_gpu_memory(environ=environ) == 0.375
    assert environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.375"  # 0.75 / 2
    environ = {}
    assert distributed.share_gpu_memory("127.0.0.1:1", 3, environ) == 0.25 and environ == {
        "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.25"}


TWO_HERE = {"OMPI_COMM_WORLD_LOCAL_SIZE": "2"}


@pytest.mark.parametrize("environ", [
    {**TWO_HERE, "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9"},  # the user's choice stands
    {**TWO_HERE, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"},  # nothing preallocated, nothing to share
    {**TWO_HERE, "XLA_PYTHON_CLIENT_PREALLOCATE": "0"},
    {**TWO_HERE, "XLA_PYTHON_CLIENT_PREALLOCATE": "False"},
    {**TWO_HERE, "XLA_PYTHON_CLIENT_ALLOCATOR": "platform"},
    {"OMPI_COMM_WORLD_LOCAL_SIZE": "1"},  # alone on its node
    {},  # nothing says how many
], ids=["user fraction", "no preallocation", "no preallocation (0)", "no preallocation (False)",
        "platform allocator", "alone", "unknown"])
def test_the_fraction_is_left_alone(environ):
    before = dict(environ)
    assert distributed.share_gpu_memory(environ=environ) is None
    assert environ == before


def test_initialize_sets_the_fraction_before_the_runtime_starts(runtime, no_cluster, monkeypatch):
    seen = []
    monkeypatch.setattr(jax.distributed, "initialize",
                        lambda *args, **kwargs: seen.append(os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION")))
    distributed.initialize("127.0.0.1:1234", 2, 0)
    assert seen == ["0.375"]
