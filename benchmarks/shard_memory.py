"""Per-device memory of MNIST's training images under fit's placement, on 1 and 2 data shards.

``JAX_NUM_CPU_DEVICES=2 python -m benchmarks.shard_memory`` (needs the MNIST files in ``$JAXNET_DATA_DIR``) prints
the bytes each device holds when the ``uint8`` training set is placed by rows over the mesh's ``"data"`` axis,
as ``train.fit`` places it.
"""

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxnet import data, placement


def main():
    x, _ = data.load_mnist("train", dtype="uint8")
    for shards in (1, 2):
        if shards > jax.device_count():
            print(f"{shards} data shards need {shards} devices; set JAX_NUM_CPU_DEVICES={shards}")
            continue
        mesh = placement.make_mesh(devices=jax.devices()[:shards])
        placed = placement.place(x, NamedSharding(mesh, PartitionSpec("data")))
        per_device = {str(s.device): s.data.nbytes for s in placed.addressable_shards}
        print(f"{shards} data shard(s): {x.dtype} training images {x.shape}, bytes per device: {per_device} "
              f"({np.mean(list(per_device.values())) / 1e6:.1f} MB each)")


if __name__ == "__main__":
    main()
