"""Scaling over devices and processes: Task M's epoch sharded over simulated host devices (data parallel), an
ensemble of MNIST networks sharded over members, and a model of 8 and 64 devices from the measured costs.

Each run needs a process of its own (the device count is fixed when JAX starts; a multi-process run is several
processes): ``python -m benchmarks.scaling sharded N EPOCHS`` and ``python -m benchmarks.scaling sweep N EPOCHS
MEMBERS PROCESSES PORT PROCESS_ID`` are those processes, started by :func:`data_parallel` and :func:`sweep`.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import timing
from benchmarks.task_m import task_m_data
from jaxnet import distributed, mlp, placement, program, train


# ---------------------------------------------------------------- data parallel on simulated devices
def sharded_main(n: int, epochs: int) -> None:
    """Prints the median epoch time of Task M sharded by rows over all of this process's devices."""
    x, y = task_m_data(n)
    mesh = placement.make_mesh() if jax.device_count() > 1 else None
    optimizer = optax.sgd(0.1)
    run = program.make_epochs(optimizer, mlp.Net("relu", input_scale=255), loss="cross_entropy", batch_size=128,
                              mesh=mesh)
    params = mlp.init(jax.random.key(0), [784, 200, 10])
    state = optimizer.init(params)
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    times = []
    for e in range(epochs):
        tic = time.perf_counter()
        params, state, loss = run(params, state, xs, ys, jax.random.key(1), jnp.arange(e, e + 1))
        jax.block_until_ready(loss)
        times.append(time.perf_counter() - tic)
    print(float(np.median(times[1:])))


def data_parallel(n: int, epochs: int, counts=(1, 2, 4)):  # noqa: B008
    """Task M's median epoch on 1, 2 and 4 simulated host devices, each in a process of its own."""
    rows = []
    for count in counts:
        env = timing.module_env(XLA_FLAGS=f"--xla_force_host_platform_device_count={count}", JAX_PLATFORMS="cpu")
        out = subprocess.run([sys.executable, "-m", "benchmarks.scaling", "sharded", str(n), str(epochs)], env=env,
                             capture_output=True, text=True, check=True).stdout
        rows.append({"devices": count, "epoch_s": float(out.split()[-1])})
    for row in rows:
        row["vs_one_device"] = row["epoch_s"] / rows[0]["epoch_s"]
    return rows


# ---------------------------------------------------------------- the sweep: an ensemble sharded over members
def sweep_main(n: int, epochs: int, members: int, processes: int, port: int, process_id: int) -> None:
    """One process of the sweep: member-steps per second of the sharded ensemble (printed by process 0), and, in a
    2-process run, the median time of an all-reduce of 1 and of 10⁶ float32."""
    if processes > 1:
        distributed.initialize(f"127.0.0.1:{port}", processes, process_id)
    x, y = task_m_data(n)
    mesh = placement.make_mesh(members=jax.device_count(), data=1)
    params = mlp.init_ensemble(jax.random.key(0), members, [784, 200, 10])
    trainer = train.Trainer(mlp.Net("relu", input_scale=255), loss="cross_entropy", optimizer=optax.sgd(0.1),
                            batch_size=128, ensemble=True, mesh=mesh)
    trainer.fit(trainer.init(params), x, y, epochs=1, key=jax.random.key(1), verbose=False)  # compiles
    tic = time.perf_counter()
    trainer.fit(trainer.init(params), x, y, epochs=epochs, key=jax.random.key(1), verbose=False)
    seconds = time.perf_counter() - tic
    if jax.process_index() == 0:
        print("member-steps/s", members * epochs * (len(x) // 128) / seconds)
    if processes == 2:  # the all-reduce the data-parallel model needs, in the same processes
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P
        data = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
        total = jax.jit(lambda a: a.sum(0), out_shardings=NamedSharding(data, P()))
        for size in (1, 1_000_000):
            ones = np.ones((2, size), np.float32)
            a = jax.make_array_from_callback(ones.shape, NamedSharding(data, P("data")), ones.__getitem__)
            median = float(np.median(np.array(timing.seconds(functools.partial(total, a), reps=20))))
            if jax.process_index() == 0:
                print("allreduce", size, median)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scaling_model(sweep_rows, task_m_epoch_s: float, steps_per_epoch: int, allreduce: dict,
                  params_count: int = 784 * 200 + 200 + 200 * 10 + 10) -> str:
    """What 8 and 64 devices would give, from the measured costs: members need no communication (throughput grows
    with the devices while each has members to train); data parallelism pays a ring all-reduce of the gradient
    per step, 2(D−1) messages of latency α and 2(D−1)/D of the gradient's bytes at bandwidth β, both from the
    2-process measurement (α from the 1-float all-reduce, β from the large one)."""
    one = sweep_rows[0]["member_steps_per_s"]
    two = next(r for r in sweep_rows if r["kind"] == "processes" and r["devices"] == 2)["member_steps_per_s"]
    efficiency = two / (2 * one)
    small, large = min(allreduce), max(allreduce)
    alpha = allreduce[small] / 2  # a 2-process ring all-reduce is 2 messages
    beta = (large - small) * 4 / max(allreduce[large] - allreduce[small], 1e-9)  # bytes/s, 2(D−1)/D = 1 at D = 2
    step = task_m_epoch_s / steps_per_epoch

    def data_parallel(devices, batch_per_device=128):
        # Weak scaling: each device keeps a batch of 128, so the global batch grows with the devices.
        comm = 2 * (devices - 1) * alpha + 2 * (devices - 1) / devices * params_count * 4 / beta
        return devices * step / (step + comm)

    lines = ["| devices | members sweep, member-steps/s (model) | one network, data parallel: speed-up (model) |",
             "|---:|---:|---:|"]
    for devices in (2, 8, 64):
        lines.append(f"| {devices} | {devices * one * efficiency:,.0f} | {data_parallel(devices):.1f}× |")
    return (f"Model, from this run's figures: one device trains {one:,.0f} member-steps/s; 2 processes reached "
            f"{two:,.0f}, an efficiency of {efficiency:.2f} of linear, which the members sweep keeps as it grows "
            f"(no traffic between members; each device needs ≥ 1 member, so 64 devices need ≥ 64 members). One "
            f"784-200-10 step takes {1e3 * step:.2f} ms; a 2-process all-reduce (gloo, loopback) costs "
            f"α = {1e3 * alpha:.2f} ms per message and moves β = {beta / 1e9:.2f} GB/s, so a ring all-reduce of "
            f"the {params_count:,}-parameter gradient over D devices costs 2(D−1)·α + 2(D−1)/D·{params_count * 4:,} "
            f"B/β. With 128 examples per device per step (weak scaling):\n\n" + "\n".join(lines) +
            "\n\nThe members sweep needs no all-reduce, so it grows with the devices as long as there are members "
            "to spread; data parallelism pays only while a device's step stays long against the all-reduce, which "
            "grows with D. These are models from loopback figures: real interconnects (NVLink, InfiniBand) have "
            "far lower latencies, and a 2-core machine cannot show more than 2× itself.")


SWEEP_RUNS = (("simulated devices", 1), ("simulated devices", 2), ("simulated devices", 4), ("processes", 2),
              ("processes", 4))


def sweep(n: int, epochs: int, members: int, runs=SWEEP_RUNS):
    """Member-steps per second of an ensemble of ``members`` MNIST networks (784-200-10, batch 128) sharded over the
    ``"members"`` axis of 1, 2 and 4 devices: simulated devices in one process, and as separate processes (one
    device each, gloo collectives on loopback). The 2-process run also times an all-reduce of 1 and of 10⁶
    float32 (median of 20) for :func:`scaling_model`."""
    rows = []
    for kind, count in runs:
        processes = count if kind == "processes" else 1
        env = timing.module_env(JAX_PLATFORMS="cpu",
                                JAX_NUM_CPU_DEVICES=str(count if kind == "simulated devices" else 1))
        command = [sys.executable, "-m", "benchmarks.scaling", "sweep", str(n), str(epochs), str(members),
                   str(processes), str(free_port())]
        procs = [subprocess.Popen(command + [str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for i in range(processes)]
        outs = [p.communicate(timeout=900) for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError(f"sweep on {count} {kind} failed: {outs[0][1][-2000:]}")
        lines = outs[0][0].splitlines()
        rate = next(line.split()[-1] for line in lines if line.startswith("member-steps/s"))
        allreduce = {int(line.split()[1]): float(line.split()[2]) for line in lines if line.startswith("allreduce ")}
        rows.append({"kind": kind, "devices": count, "member_steps_per_s": float(rate),
                     **({"allreduce_s": allreduce} if allreduce else {})})
    base = rows[0]["member_steps_per_s"]
    for row in rows:
        row["speedup"] = row["member_steps_per_s"] / base
    return rows


if __name__ == "__main__":
    what, *numbers = sys.argv[1:]
    if what == "sharded":
        sharded_main(*map(int, numbers))
    elif what == "sweep":
        sweep_main(*map(int, numbers))
    else:
        raise SystemExit("usage: python -m benchmarks.scaling sharded N EPOCHS | sweep N EPOCHS MEMBERS PROCESSES "
                         "PORT PROCESS_ID")
