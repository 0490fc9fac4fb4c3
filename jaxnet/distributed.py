"""Many processes, one program: starting ``jax.distributed``, who writes files, and bringing arrays to the host.

jaxnet runs multi-process the way JAX does (multi-controller): every process runs the same script with the same
data and key, ``jax.devices()`` lists the devices of all processes, and :func:`jaxnet.train.fit` places each
array so that a process supplies only what its own devices hold. Files (logs, checkpoints, figures, metrics) are
written by process 0 only (:func:`is_writer`); every process can read them, so every process resumes.

:func:`initialize` wraps ``jax.distributed.initialize``: with no arguments it detects SLURM and Open MPI by itself
(``srun``, ``mpirun``); on a machine without a cluster manager give the coordinator address, the number of
processes and this process's id. On CPUs the collectives go over gloo. The heartbeat timeout is short (10 s by
default, against JAX's 100 s) so that when one process dies the others stop within seconds with an error naming
it, instead of waiting out the default timeouts. When not every process joins, :func:`initialize` ends at its
``initialization_timeout_s`` with a message that names the coordinator, the number of processes and what to check,
as the process's last words (exit status :data:`JOIN_TIMEOUT_EXIT`), not with the runtime's stack trace.

On a GPU, JAX's XLA client takes 75% of the device's memory when its backend starts (``preallocate``), so two
processes of one run sharing a GPU (``mpirun -np 2`` on a one-GPU machine) would ask for 150%. :func:`initialize`
therefore gives each process a share, ``XLA_PYTHON_CLIENT_MEM_FRACTION`` = 0.75 / (processes on this node)
(:func:`share_gpu_memory`), before the backend starts, unless the user set a fraction or turned preallocation off.
"""

from __future__ import annotations

import os
import sys
import threading

import jax
import numpy as np

# Seconds a silent process counts as alive; JAXNET_HEARTBEAT_TIMEOUT_S overrides it (the tests use 5).
#: Seconds without a heartbeat after which a process counts as lost (``$JAXNET_HEARTBEAT_TIMEOUT_S``).
HEARTBEAT_TIMEOUT_S = int(os.environ.get("JAXNET_HEARTBEAT_TIMEOUT_S", "10"))


#: The exit status of a process whose run never assembled, when the runtime gives no error to raise.
JOIN_TIMEOUT_EXIT = 75  # EX_TEMPFAIL: starting every process and running again can succeed

# The runtime's own deadline is set this much past ours, so that our message, not its abort, ends the wait.
_RUNTIME_GRACE_S = 15


#: The variable through which JAX's XLA client takes its fraction of a GPU's memory.
MEM_FRACTION_VARIABLE = "XLA_PYTHON_CLIENT_MEM_FRACTION"
#: The fraction of a GPU's memory JAX's XLA client preallocates by default.
DEFAULT_MEM_FRACTION = 0.75

_LOOPBACK = ("127.", "localhost", "[::1]", "::1")


def _tasks_on_node(tasks_per_node: str, node: int) -> int | None:
    """This node's entry of SLURM's tasks-per-node list (``"2(x3),1"``: 2 on nodes 0-2, 1 on node 3)."""
    counts: list[int] = []
    for item in tasks_per_node.split(","):
        count, _, repeat = item.partition("(x")
        counts += [int(count)] * (int(repeat.rstrip(")")) if repeat else 1)
    return counts[node] if 0 <= node < len(counts) else None


def local_processes(coordinator: str | None = None, num_processes: int | None = None,
                    environ=os.environ) -> int | None:
    """The processes of this run on this node, as the launcher says; ``None`` when nothing says.

    Open MPI gives ``OMPI_COMM_WORLD_LOCAL_SIZE``; SLURM gives each node's count in ``SLURM_STEP_TASKS_PER_NODE``
    (or ``SLURM_TASKS_PER_NODE``) and this node's index in ``SLURM_NODEID``. Started by hand with a coordinator on
    this host's loopback address, all ``num_processes`` are on this node.
    """
    try:
        if "OMPI_COMM_WORLD_LOCAL_SIZE" in environ:
            return int(environ["OMPI_COMM_WORLD_LOCAL_SIZE"])
        per_node = environ.get("SLURM_STEP_TASKS_PER_NODE", environ.get("SLURM_TASKS_PER_NODE"))
        if per_node:
            return _tasks_on_node(per_node, int(environ.get("SLURM_NODEID", "0")))
    except ValueError:  # a variable in a form we do not know: say nothing rather than guess
        return None
    if coordinator is not None and num_processes is not None and coordinator.startswith(_LOOPBACK):
        return int(num_processes)
    return None


def share_gpu_memory(coordinator: str | None = None, num_processes: int | None = None,
                     environ=os.environ) -> float | None:
    """Gives this process its share of a GPU it shares with the run's other processes on this node.

    Sets ``environ[XLA_PYTHON_CLIENT_MEM_FRACTION]`` to :data:`DEFAULT_MEM_FRACTION` / :func:`local_processes`
    when more than one process runs here, and returns it. Leaves everything as it is (and returns ``None``) when
    the user set a fraction, turned preallocation off (``XLA_PYTHON_CLIENT_PREALLOCATE=false``) or chose the
    platform allocator, or when this process is alone or the count is unknown. It must run before JAX's backend
    starts, which reads the variable once; :func:`initialize` calls it first. On CPUs the variable is ignored.
    """
    if MEM_FRACTION_VARIABLE in environ or environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "").lower() in \
            ("false", "0") or environ.get("XLA_PYTHON_CLIENT_ALLOCATOR") == "platform":
        return None
    count = local_processes(coordinator, num_processes, environ)
    if count is None or count <= 1:
        return None
    fraction = DEFAULT_MEM_FRACTION / count
    environ[MEM_FRACTION_VARIABLE] = f"{fraction:.4g}"
    return fraction


def _detected(coordinator, num_processes, process_id, timeout_s):
    """``(coordinator, num_processes, process_id)`` with what a cluster manager (SLURM, Open MPI) says filled in,
    for the message only; unknown values stay ``None``."""
    try:
        from jax._src import clusters  # JAX's own detection; private, so any failure just leaves the values unknown

        found = clusters.ClusterEnv.auto_detect_unset_distributed_params(coordinator, num_processes, process_id,
                                                                         None, None, timeout_s)
        return found[0], found[1], found[2]
    except Exception:  # noqa: BLE001  (the message must not fail)
        return coordinator, num_processes, process_id


def join_timeout_message(coordinator, num_processes, process_id, timeout_s) -> str:
    """What a process says when the run did not assemble within ``timeout_s`` seconds."""
    coordinator, num_processes, process_id = _detected(coordinator, num_processes, process_id, timeout_s)
    who = "this process" if process_id is None else f"process {process_id}"
    role = (" (the coordinator: it waited for the others to join)" if process_id == 0 else
            " (it waited to reach process 0, the coordinator)" if process_id is not None else "")
    count = "every process" if num_processes is None else f"all {num_processes} processes"
    return (f"jaxnet.distributed.initialize: {who}{role} gave up after {timeout_s} s: {count} must join the "
            f"coordinator at {coordinator or 'the address the cluster manager gives'}, and not all did. Check that "
            f"every process was started, that all were given the same coordinator address and port and the same "
            f"number of processes ({num_processes if num_processes is not None else 'as detected'}), that process "
            f"0 runs on that host, and that the port is free there and reachable from every host.")


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
               *, heartbeat_timeout_s: int | None = None, initialization_timeout_s: int = 120) -> None:
    """Joins this process to a multi-process run; call it first, before any other JAX call.

    Args:
      coordinator: ``"host:port"`` of process 0; ``None`` to let JAX detect SLURM or Open MPI.
      num_processes, process_id: this run's size and this process's rank (detected when ``None``).
      heartbeat_timeout_s: how long a silent process counts as alive; after it the others stop with an error.
        Default :data:`HEARTBEAT_TIMEOUT_S`.
      initialization_timeout_s: how long to wait for every process to join.

    Processes sharing this node's GPU each get a share of its memory first (:func:`share_gpu_memory`).

    When not every process has joined after ``initialization_timeout_s``, the process writes
    :func:`join_timeout_message` to stderr and exits with status :data:`JOIN_TIMEOUT_EXIT`. (It cannot raise: every
    jaxlib from 0.8 to 0.12 aborts the process at its own deadline, with a C++ stack trace, instead of returning an
    error to Python; so the runtime is given a later deadline and jaxnet ends the wait itself, first.)
    """
    # CPU devices talk over gloo (it only affects CPU collectives, so it is harmless on accelerators). Asking
    # for the backend here would start it, which must wait until after initialize().
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    share_gpu_memory(coordinator, num_processes)
    message = lambda: join_timeout_message(coordinator, num_processes, process_id, initialization_timeout_s)

    def give_up():  # runs on its own thread: the runtime waits with the interpreter's lock released
        sys.stderr.write(message() + "\n")
        sys.stderr.flush()
        os._exit(JOIN_TIMEOUT_EXIT)

    watchdog = threading.Timer(initialization_timeout_s, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id,
                                   heartbeat_timeout_seconds=heartbeat_timeout_s or HEARTBEAT_TIMEOUT_S,
                                   initialization_timeout=initialization_timeout_s + _RUNTIME_GRACE_S)
    finally:
        watchdog.cancel()


def is_writer() -> bool:
    """True in the one process that writes files (process 0; the only process of a single-process run)."""
    return jax.process_index() == 0


def to_host(tree):
    """A pytree of (possibly sharded, possibly multi-process) arrays as NumPy arrays, the same in every process.

    In a multi-process run every process must call it (it is a collective for the arrays that span processes;
    arrays a process holds whole, such as its own copy of the inputs, are simply copied).
    """
    from jax.experimental import multihost_utils

    def one(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(jax.device_get(a))

    return jax.tree.map(one, tree)
