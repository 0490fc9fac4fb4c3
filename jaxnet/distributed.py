"""Many processes, one program: starting ``jax.distributed``, who writes files, and bringing arrays to the host.

jaxnet runs multi-process the way JAX does (multi-controller): every process runs the same script with the same
data and key, ``jax.devices()`` lists the devices of all processes, and :func:`jaxnet.train.fit` places each
array so that a process supplies only what its own devices hold. Files (logs, checkpoints, figures, metrics) are
written by process 0 only (:func:`is_writer`); every process can read them, so every process resumes.

:func:`initialize` wraps ``jax.distributed.initialize``: with no arguments it detects SLURM and Open MPI by itself
(``srun``, ``mpirun``); on a machine without a cluster manager give the coordinator address, the number of
processes and this process's id. On CPUs the collectives go over gloo. The heartbeat timeout is short (10 s by
default, against JAX's 100 s) so that when one process dies the others stop within seconds with an error naming
it, instead of waiting out the default timeouts.
"""

from __future__ import annotations

import os

import jax
import numpy as np

# Seconds a silent process counts as alive; JAXNET_HEARTBEAT_TIMEOUT_S overrides it (the tests use 5).
#: Seconds without a heartbeat after which a process counts as lost (``$JAXNET_HEARTBEAT_TIMEOUT_S``).
HEARTBEAT_TIMEOUT_S = int(os.environ.get("JAXNET_HEARTBEAT_TIMEOUT_S", "10"))


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
               *, heartbeat_timeout_s: int | None = None, initialization_timeout_s: int = 120) -> None:
    """Joins this process to a multi-process run; call it first, before any other JAX call.

    Args:
      coordinator: ``"host:port"`` of process 0; ``None`` to let JAX detect SLURM or Open MPI.
      num_processes, process_id: this run's size and this process's rank (detected when ``None``).
      heartbeat_timeout_s: how long a silent process counts as alive; after it the others stop with an error.
        Default :data:`HEARTBEAT_TIMEOUT_S`.
      initialization_timeout_s: how long to wait for every process to join.
    """
    # CPU devices talk over gloo (it only affects CPU collectives, so it is harmless on accelerators). Asking
    # for the backend here would start it, which must wait until after initialize().
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id,
                               heartbeat_timeout_seconds=heartbeat_timeout_s or HEARTBEAT_TIMEOUT_S,
                               initialization_timeout=initialization_timeout_s)


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
