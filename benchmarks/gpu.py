"""The prepared accelerator run: the lecture's MNIST network to 98.4%, and a large MLP against the chip's matmul rate.

1. The chip's measured matrix rate: an 8192 × 8192 float32 matmul at JAX's default precision (TF32 on recent
   NVIDIA GPUs) and in bfloat16.
2. The lecture's 784-200-10 network with ``experiments/mnist.py``'s default recipe (one seed): wall time from the
   start of training (compilation included) to the first epoch at ≥ 98.4% test accuracy, the final accuracy, and
   samples per second of a steady epoch.
3. A larger network, 784-4096-4096-10 with batch 4096, on the same data: samples per second and the achieved
   matmul rate (6 FLOPs per weight per sample for forward and backward) as a fraction of the measured rate.
4. Mixed precision: rows 2 and 3 again with ``Net(compute_dtype="bfloat16")`` (bfloat16 products, float32
   accumulation, weights and loss), the large network against the bfloat16 matmul rate.
5. Determinism: MNIST trained twice in a fresh process with ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` (the flag
   must be set before the backend starts), the two final parameter sets compared bit for bit; and twice without it.
6. The epoch's loop unrolled 1, 2, 4 and 8 steps to an iteration (:mod:`benchmarks.unroll`): on a GPU each iteration
   of a loop can wait on the host, which unrolling spreads over more steps.

``bash benchmarks/gpu.sh`` (or ``python -m benchmarks.gpu``) runs it; ``--tiny`` is a seconds-long check on any backend.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

if __name__ == "__main__" and not __package__:  # run as a file: import the packages from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from benchmarks import unroll  # noqa: E402
from experiments import mnist  # noqa: E402  (the experiment's data preparation and optimizer recipe)
from jaxnet import mlp, train  # noqa: E402


def matmul_rate(n: int, dtype) -> float:
    """Measured TFLOP/s of an n × n matmul."""
    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    reps = 10
    tic = time.perf_counter()
    for _ in range(reps):
        out = f(a)
    out.block_until_ready()
    return 2 * n ** 3 * reps / (time.perf_counter() - tic) / 1e12


def time_to_accuracy(config: mnist.Config, target: float):
    x_train, y_train, x_test, y_test, net = mnist.load(config)
    eps = config.label_smoothing
    targets = (1 - eps) * np.eye(10, dtype=np.float32)[y_train] + eps / 10
    params = mlp.init(jax.random.key(config.seed), [784, *config.hidden, 10])
    optimizer = mnist.make_optimizer(config, len(x_train) // config.batch_size)
    tic = time.perf_counter()
    params, history = train.fit(params, x_train, targets, optimizer=optimizer, epochs=config.epochs,
                                batch_size=config.batch_size, key=jax.random.key(config.seed), loss="cross_entropy",
                                net=net, eval_data=(x_test, y_test), verbose=False)
    wall = time.perf_counter() - tic
    # Training time until the end of each epoch: the recorded per-epoch times (compilation included, the per-epoch
    # test evaluation not).
    elapsed = np.cumsum([r["seconds"] for r in history])
    reached = next((i for i, r in enumerate(history) if r["eval_accuracy"] >= target), None)
    steady = float(np.median([r["seconds"] for r in history[1:]])) if len(history) > 1 else history[0]["seconds"]
    return {"final_accuracy": history[-1]["eval_accuracy"], "wall_s": wall,
            "epoch_reached": None if reached is None else reached + 1,
            "seconds_to_target": None if reached is None else float(elapsed[reached]),
            "epoch_s": steady, "samples_per_s": (len(x_train) // config.batch_size) * config.batch_size / steady}


def large_network(sizes, batch: int, epochs: int, n: int, compute_dtype: str | None = None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], n).astype(np.int32)
    params = mlp.init(jax.random.key(0), sizes)
    _, history = train.fit(params, x, y, mlp.Net("relu", compute_dtype=compute_dtype),
                           optimizer=optax.sgd(0.01, momentum=0.9), epochs=epochs, batch_size=batch,
                           key=jax.random.key(1), loss="cross_entropy", verbose=False)
    steady = float(np.median([r["seconds"] for r in history[1:]]))
    samples = (n // batch) * batch
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return {"sizes": sizes, "batch": batch, "epoch_s": steady, "samples_per_s": samples / steady,
            "tflops": 6 * weights * samples / steady / 1e12, "compile_s": history[0]["seconds"] - steady}


def final_parameters(config: mnist.Config) -> list[np.ndarray]:
    """The parameters after ``config``'s MNIST run (one seed), on the host."""
    x_train, y_train, _, _, net = mnist.load(config)
    params, _ = train.fit(mlp.init(jax.random.key(config.seed), [784, *config.hidden, 10]), x_train,
                          mnist.soft_targets(y_train, config.label_smoothing), net,
                          optimizer=mnist.make_optimizer(config, len(x_train) // config.batch_size),
                          epochs=config.epochs, batch_size=config.batch_size, key=jax.random.key(config.seed),
                          loss="cross_entropy", verbose=False)
    return [np.asarray(a) for a in jax.tree.leaves(params)]


def repeatable(config: mnist.Config) -> bool:
    """Whether two runs of ``config`` in this process end with bit-identical parameters."""
    first, second = final_parameters(config), final_parameters(config)
    return all(np.array_equal(a, b) for a, b in zip(first, second))


def determinism(tiny: bool) -> dict[str, str]:
    """MNIST twice in a fresh process with and without XLA's deterministic-ops flag: whether each pair matched."""
    found = {}
    for name, flag in (("with --xla_gpu_deterministic_ops=true", "--xla_gpu_deterministic_ops=true"),
                       ("without the flag", "")):
        env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip())
        child = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--repeatable"] + (["--tiny"] if tiny else []),
                               env=env, capture_output=True, text=True, timeout=900)
        found[name] = child.stdout.strip().splitlines()[-1] if child.returncode == 0 else \
            f"failed: {child.stderr[-500:]}"
    return found


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--target", type=float, default=0.984)
    p.add_argument("--repeatable", action="store_true", help="only train MNIST twice here and say whether the "
                   "parameters match bit for bit (what the determinism row runs in a fresh process)")
    args = p.parse_args(argv)
    short = mnist.Config(seeds=1, verbose=False, plots=False, epochs=2,
                         train_limit=4096 if args.tiny else None)
    if args.repeatable:
        print("bit-identical" if repeatable(short) else "differ")
        return None
    device = jax.devices()[0]
    print(f"# GPU benchmark on {device.device_kind} ({device.platform}), jax {jax.__version__}\n")
    size = 512 if args.tiny else 8192
    rate32, rate16 = matmul_rate(size, jnp.float32), matmul_rate(size, jnp.bfloat16)
    print(f"- matmul {size}×{size}: {rate32:.1f} TFLOP/s float32 (default precision), {rate16:.1f} TFLOP/s bfloat16")
    config = mnist.Config(seeds=1, verbose=False, plots=False)
    if args.tiny:
        config = dataclasses.replace(config, epochs=2, train_limit=4096)
    r = time_to_accuracy(config, args.target)
    reached = (f"{100 * args.target:.1f}% after epoch {r['epoch_reached']}, {r['seconds_to_target']:.2f} s from "
               f"the start of training (test evaluations excluded)" if r["epoch_reached"] else f"{100 * args.target:.1f}% not reached")
    print(f"- MNIST 784-200-10, {config.epochs} epochs, batch {config.batch_size}: {reached}; final "
          f"{100 * r['final_accuracy']:.2f}% in {r['wall_s']:.2f} s with evaluations; steady epoch {r['epoch_s'] * 1e3:.1f} ms = "
          f"{r['samples_per_s']:,.0f} samples/s")
    low = time_to_accuracy(dataclasses.replace(config, compute_dtype="bfloat16"), args.target)
    print(f"- the same in bfloat16 products: final {100 * low['final_accuracy']:.2f}%, "
          + (f"{100 * args.target:.1f}% after epoch {low['epoch_reached']}, {low['seconds_to_target']:.2f} s; "
             if low["epoch_reached"] else "target not reached; ")
          + f"steady epoch {low['epoch_s'] * 1e3:.1f} ms = {low['samples_per_s']:,.0f} samples/s")
    sizes, batch, n = ([784, 256, 256, 10], 256, 4096) if args.tiny else ([784, 4096, 4096, 10], 4096, 60000 * 4)
    big = large_network(sizes, batch, 4, n)
    print(f"- {'-'.join(map(str, sizes))}, batch {batch}: {big['samples_per_s']:,.0f} samples/s, "
          f"{big['tflops']:.1f} TFLOP/s = {100 * big['tflops'] / rate32:.0f}% of the float32 matmul rate "
          f"(compile {big['compile_s']:.1f} s)")
    big16 = large_network(sizes, batch, 4, n, compute_dtype="bfloat16")
    print(f"- the same in bfloat16 products: {big16['samples_per_s']:,.0f} samples/s, {big16['tflops']:.1f} TFLOP/s "
          f"= {100 * big16['tflops'] / rate16:.0f}% of the bfloat16 matmul rate (compile {big16['compile_s']:.1f} s)")
    for name, outcome in determinism(args.tiny).items():
        print(f"- MNIST, {short.epochs} epochs, trained twice {name}: {outcome}")
    print("\nTask M's epoch with its loop unrolled:\n")
    print(unroll.markdown(unroll.unroll_rows(n=1280, epochs=2) if args.tiny else unroll.unroll_rows()))
    return r, big


if __name__ == "__main__":
    main()
