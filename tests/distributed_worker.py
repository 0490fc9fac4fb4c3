"""One process of a multi-process training run, started by tests/test_distributed.py (not a test itself).

Usage: python distributed_worker.py TASK PROCESS_ID NUM_PROCESSES PORT OUT [EPOCHS]
       python distributed_worker.py TASK detect OUT [EPOCHS]    (under mpirun or srun: nothing but the task)

TASK "train": a data-parallel single network and an ensemble sharded over members, each writing its log and
checkpoint under OUT/files-<process id>/ (so the test sees which process wrote), and the final parameters of both
to OUT/result-<process id>.npz. TASK "long": one data-parallel network for EPOCHS epochs checkpointed to
OUT/shared/ckpt.npz every epoch, resuming from it when it exists (the kill-and-restart test).
"""

import os
import sys

import jax  # imported, not started: distributed.initialize() comes before any computation
import numpy as np
import optax

from jaxnet import callbacks, distributed, mlp, placement, train


def problem(n):
    rng = np.random.RandomState(0)
    return rng.randn(n, 8).astype(np.float32), rng.randint(0, 4, n).astype(np.int32)


def common(epochs):
    # Adam: a state with a scalar step count beside the moments, placed and gathered across the processes too.
    return dict(optimizer=optax.adam(1e-3), epochs=epochs, batch_size=64, key=jax.random.key(1),
                loss="cross_entropy", verbose=False)


def one_process_train():
    """What TASK "train" computes, trained in one process: the leaves of (single network, ensemble)."""
    x, y = problem(512)
    single, _ = train.fit(mlp.init(jax.random.key(0), [8, 32, 4]), x, y, **common(3))
    ensemble, _ = train.fit(mlp.init_ensemble(jax.random.key(2), 4, [8, 32, 4]), x, y, **common(3), ensemble=True)
    return [np.asarray(a) for a in jax.tree.leaves((single, ensemble))]


def main(task, process_id, *rest):
    if process_id == "detect":  # a cluster launcher started us: jax.distributed finds the run by itself
        out, epochs = rest[0], (rest[1:] or [None])[0]
        distributed.initialize()
        process_id = jax.process_index()
    else:
        num_processes, port, out, epochs = int(rest[0]), rest[1], rest[2], (rest[3:] or [None])[0]
        process_id = int(process_id)
        distributed.initialize(f"127.0.0.1:{port}", num_processes, process_id)
    # The GPU memory share this process's backend would take (it has not started yet: nothing has computed).
    with open(os.path.join(out, f"mem-fraction-{process_id}.txt"), "w") as f:
        f.write(os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION", "unset"))
    if task == "train":
        run_train(process_id, out)
    else:
        run_long(process_id, out, int(epochs))
    print(f"process {process_id} done", flush=True)


def run_train(process_id, out):
    x, y = problem(512)
    files = os.path.join(out, f"files-{process_id}")
    single, history = train.fit(mlp.init(jax.random.key(0), [8, 32, 4]), x, y, **common(3), eval_data=(x, y),
                                mesh=placement.make_mesh(), callbacks=[
                                    callbacks.Checkpoint(os.path.join(files, "single.npz")),
                                    callbacks.JsonLog(os.path.join(files, "single.jsonl"))])
    members = placement.make_mesh(members=jax.device_count(), data=1)
    ensemble, _ = train.fit(mlp.init_ensemble(jax.random.key(2), 4, [8, 32, 4]), x, y, **common(3), ensemble=True,
                            eval_data=(x, y), mesh=members,
                            callbacks=[callbacks.Checkpoint(os.path.join(files, "ensemble.npz"))])
    host = distributed.to_host((single, ensemble))
    np.savez(os.path.join(out, f"result-{process_id}.npz"), *jax.tree.leaves(host),
             accuracy=np.asarray(history[-1]["eval_accuracy"]))


def run_long(process_id, out, epochs):
    x, y = problem(2048)
    params, _ = train.fit(mlp.init(jax.random.key(0), [8, 32, 4]), x, y, **common(epochs), mesh=placement.make_mesh(),
                          callbacks=[callbacks.Checkpoint(os.path.join(out, "shared", "ckpt.npz"), resume="auto")])
    np.savez(os.path.join(out, f"result-{process_id}.npz"), *jax.tree.leaves(distributed.to_host(params)))


if __name__ == "__main__":
    main(*sys.argv[1:])
