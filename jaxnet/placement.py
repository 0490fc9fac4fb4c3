"""Where a training run's arrays live: the ``("members", "data")`` device mesh and the placement of host arrays on it.

An ensemble's members are sharded over ``"members"``, the data sets and every minibatch over ``"data"``, each device
holding its rows only. In a multi-process run (:mod:`jaxnet.distributed`) every process supplies the shards its own
devices hold, from the same host array.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def make_mesh(*, members: int = 1, data: int | None = None, devices: Sequence | None = None) -> Mesh:
    """A device mesh with axes ``("members", "data")`` for :func:`jaxnet.train.fit`.

    An ensemble's members are spread over ``"members"`` (each device trains only its own members: no gradient
    traffic between them) and every minibatch is split over ``"data"`` (gradients all-reduced). A single network
    uses ``"data"`` only (``members=1``).

    Args:
      members: devices along the members axis; the ensemble size must be a multiple of it.
      data: devices along the data axis; default all the devices ``members`` leaves.
      devices: the devices, default ``jax.devices()`` (those of every process in a multi-process run).

    Raises:
      ValueError: if ``members × data`` is not the number of devices; the message names the numbers.

    >>> dict(make_mesh(devices=jax.devices()[:1]).shape)
    {'members': 1, 'data': 1}
    """
    devices = list(jax.devices() if devices is None else devices)
    if members < 1 or len(devices) % members:
        raise ValueError(f"members={members} must divide the {len(devices)} devices")
    data = len(devices) // members if data is None else data
    if members * data != len(devices):
        raise ValueError(f"a mesh of members={members} × data={data} needs {members * data} devices, "
                         f"got {len(devices)}")
    return Mesh(np.array(devices, dtype=object).reshape(members, data), ("members", "data"))


def resolve_mesh(mesh: Mesh | None, devices: Sequence | None, ensemble: bool):
    """The mesh a :class:`jaxnet.train.Trainer` trains on (``None`` for one device); the members are checked against
    it later."""
    if mesh is not None and devices is not None:
        raise ValueError("give either mesh= or devices= (a data-only mesh), not both")
    if mesh is None:
        mesh = make_mesh(devices=devices)
    if set(mesh.axis_names) != {"members", "data"}:
        raise ValueError(f"the mesh must have the axes ('members', 'data') (see placement.make_mesh), got "
                         f"{mesh.axis_names}")
    m = mesh.shape["members"]
    if m > 1 and not ensemble:
        raise ValueError(f"the mesh spreads members over {m} devices, but a single network has no members; use "
                         f"placement.make_mesh(members=1)")
    return None if mesh.size == 1 else mesh


def place(array: np.ndarray, sharding):
    """Puts a host array on the devices of ``sharding`` (on the default device where it is ``None``)."""
    if sharding is None:
        return jnp.asarray(array)
    return _sharded(array, sharding)


def _sharded(array: np.ndarray, sharding):
    """A host array split over the devices of ``sharding``; in a multi-host run each process supplies the shards its
    own devices hold."""
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def place_state(tree, mesh: Mesh, ensemble: bool):
    """A training state's arrays (``(params, opt_state)``, read to the host) placed on ``mesh``: an ensemble's
    members split over its ``"members"`` axis, a single network's arrays whole on every device."""
    sharding = NamedSharding(mesh, PartitionSpec("members" if ensemble else None))
    return jax.tree.map(lambda a: _sharded(np.asarray(a), sharding), tree)
