"""Side-by-side speed of jaxnet against the alternatives a user could pick, on this machine, in one run.

Task M (MNIST-shaped: 60,000 × 784 float32, 784-200-10 ReLU, softmax cross-entropy, batch 128, SGD lr 0.1):
jaxnet's compiled epoch (jax.grad and manual_grad) against a NumPy hand-written backprop, a pure-JAX per-batch jitted
loop and PyTorch eager on the CPU, interleaved epoch by epoch (A B C … A B C …) so that machine noise hits all alike,
from the same initial parameters and batch order; their parameters are compared after the first and the last epoch.
The data are the real MNIST images when ``$JAXNET_DATA_DIR`` has them, else MNIST-shaped stand-ins.

Task U: full-batch steps per second of the universal-approximation network (1-width-1, tanh, Adam, 300 points) for
widths 10, 1,000 and 10,000: plain JAX (the network written out row-stacked in one ``lax.scan``), jaxnet's ``fit``
on one network and on an ensemble of 8, and the vmapped ensemble program.

Machine limit: the epoch's matrix products alone, and one large matrix product, in GFLOP/s, against jaxnet's epoch.

Data parallel: Task M's epoch on 1, 2 and 4 simulated host devices (subprocesses with
XLA_FLAGS=--xla_force_host_platform_device_count=n).

Memory: peak resident memory of a fresh process that runs only one implementation for two epochs.

``python benchmarks/run.py`` prints Markdown tables and writes them with the machine and versions to
``benchmarks/RESULTS.md`` (``--out``); ``--tiny`` runs every part once on small sizes to check it still works.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet import data, mlp, train

HERE = os.path.dirname(os.path.abspath(__file__))
IMPLS = ("jaxnet", "jaxnet-manual", "numpy", "jax-per-batch", "torch")


# ---------------------------------------------------------------- Task M: the same SGD run, five ways
def task_m_data(n: int, seed: int = 0):
    """``n`` MNIST training images (``uint8``, 0–255) when the files are in ``$JAXNET_DATA_DIR``, else stand-ins.

    Every implementation divides the pixels by 255 in float32: NumPy, PyTorch and the per-batch JAX loop once,
    into a float32 copy of the set (their usual form), jaxnet inside its compiled step (``Net(input_scale=255)``),
    so its training set stays ``uint8`` on the device; both give bit-identical inputs.

    The stand-ins have MNIST's shape and sparsity (about 19% of pixels lit) with labels from a fixed random linear
    teacher. Dense inputs would not do: with dense centred pixels an earlier version of this benchmark saw two
    correct implementations drift apart by 3e-4 after one epoch and 5e-3 after seven (SGD at lr 0.1 amplifies
    float32 round-off), so the parameter check below could not tell right from wrong. Speed does not depend on the pixel values.
    """
    if data.find_idx_dir("mnist") is not None:
        x, y = data.load_mnist("train", dtype="uint8")
        return x[:n], y[:n]
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 256, (n, 784), dtype=np.uint8)
    x = np.where(rng.random((n, 784), dtype=np.float32) < 0.19, x, np.uint8(0))
    teacher = rng.standard_normal((784, 10), dtype=np.float32)
    scaled = to_float(x)
    y = np.argmax((scaled - scaled.mean(axis=0)) @ teacher, axis=1).astype(np.int32)
    return x, y


def to_float(x: np.ndarray) -> np.ndarray:
    """Pixels 0–255 to float32 in [0, 1], exactly as jaxnet's ``Net(input_scale=255)`` computes them."""
    return x.astype(np.float32) / np.float32(255)


def task_m_source() -> str:
    return ("the MNIST training images (scaled to [0, 1])" if data.find_idx_dir("mnist") is not None
            else "synthetic MNIST-shaped images (19% of pixels lit, labels from a random linear teacher)")


def batch_orders(key, n: int, batch: int, epochs: int) -> list[np.ndarray]:
    """The exact minibatch order of jaxnet's epochs (fold_in(key, e) permutations, short batch dropped)."""
    steps = n // batch
    return [np.asarray(jax.random.permutation(jax.random.fold_in(key, e), n))[: steps * batch].reshape(steps, batch)
            for e in range(epochs)]


class JaxnetEpoch:
    def __init__(self, params, x, y, key, lr, batch, grad):
        self.optimizer = optax.sgd(lr)
        self.params = jax.tree.map(jnp.array, params)
        self.state = self.optimizer.init(self.params)
        self.x, self.y, self.key = jnp.asarray(x), jnp.asarray(y), key  # uint8 images, scaled in the step
        self.run = train.make_epochs(self.optimizer, mlp.Net("relu", input_scale=255), loss="cross_entropy",
                                     grad=grad, batch_size=batch)

    def epoch(self, e, order):
        self.params, self.state, loss = self.run(self.params, self.state, self.x, self.y, self.key, jnp.arange(e, e + 1))
        jax.block_until_ready(loss)

    def final(self):
        return [tuple(np.asarray(a) for a in layer) for layer in self.params]


class NumpyEpoch:
    """Hand-written float32 backprop in NumPy: the lecture's rules with row-stacked batches."""

    def __init__(self, params, x, y, key, lr, batch):
        self.p = [(np.array(W), np.array(b)) for W, b in params]
        self.x, self.y, self.lr = to_float(x), y, lr
        self.eye = np.eye(10, dtype=np.float32)

    def epoch(self, e, order):
        (W1, b1), (W2, b2) = self.p
        for idx in order:
            xb, yb = self.x[idx], self.eye[self.y[idx]]
            v1 = xb @ W1.T + b1
            u1 = np.maximum(v1, 0)
            logits = u1 @ W2.T + b2
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            z /= z.sum(axis=1, keepdims=True)
            g2 = (z - yb) / len(idx)
            g1 = (g2 @ W2) * (v1 >= 0)
            W2 -= self.lr * (g2.T @ u1); b2 -= self.lr * g2.sum(0)
            W1 -= self.lr * (g1.T @ xb); b1 -= self.lr * g1.sum(0)

    def final(self):
        return self.p


class JaxPerBatch:
    """The usual pure-JAX loop: a jitted SGD step per minibatch, driven from Python."""

    def __init__(self, params, x, y, key, lr, batch):
        def loss(p, xb, yb):
            (W1, b1), (W2, b2) = p
            logits = jnp.maximum(xb @ W1.T + b1[None], 0) @ W2.T + b2[None]
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))

        @jax.jit
        def step(p, x, y, idx):
            g = jax.grad(loss)(p, x[idx], y[idx])
            return jax.tree.map(lambda a, b: a - lr * b, p, g)

        self.step, self.p = step, jax.tree.map(jnp.array, params)
        self.x, self.y = jnp.asarray(to_float(x)), jnp.asarray(y)

    def epoch(self, e, order):
        for idx in jnp.asarray(order):
            self.p = self.step(self.p, self.x, self.y, idx)
        jax.block_until_ready(self.p)

    def final(self):
        return [tuple(np.asarray(a) for a in layer) for layer in self.p]


class TorchEpoch:
    """PyTorch eager on the CPU with autograd and plain SGD."""

    def __init__(self, params, x, y, key, lr, batch):
        import torch
        self.torch = torch
        self.p = [torch.tensor(np.array(a), requires_grad=True) for layer in params for a in layer]
        self.x, self.y, self.lr = torch.from_numpy(to_float(x)), torch.from_numpy(y.astype(np.int64)), lr

    def epoch(self, e, order):
        torch = self.torch
        W1, b1, W2, b2 = self.p
        for idx in torch.from_numpy(np.array(order)):
            xb, yb = self.x[idx], self.y[idx]
            logits = torch.relu(xb @ W1.T + b1) @ W2.T + b2
            loss = torch.nn.functional.cross_entropy(logits, yb)
            grads = torch.autograd.grad(loss, self.p)
            with torch.no_grad():
                for p, g in zip(self.p, grads):
                    p -= self.lr * g

    def final(self):
        W1, b1, W2, b2 = (p.detach().numpy() for p in self.p)
        return [(W1, b1), (W2, b2)]


def make_impl(name, params, x, y, key, lr, batch):
    if name in ("jaxnet", "jaxnet-manual"):
        return JaxnetEpoch(params, x, y, key, lr, batch, "manual" if name == "jaxnet-manual" else "autodiff")
    return {"numpy": NumpyEpoch, "jax-per-batch": JaxPerBatch, "torch": TorchEpoch}[name](params, x, y, key, lr, batch)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def task_m(n: int, epochs: int, batch: int = 128, lr: float = 0.1, impls=IMPLS):
    x, y = task_m_data(n)
    key = jax.random.key(1)
    params = mlp.init(jax.random.key(0), [784, 200, 10])
    orders = batch_orders(key, n, batch, epochs)
    runners = {}
    for name in impls:
        tic = time.perf_counter()
        runners[name] = make_impl(name, params, x, y, key, lr, batch)
        runners[name].setup = time.perf_counter() - tic
    times = {name: [] for name in runners}
    diffs = {}

    def difference(runner, reference):
        return max(float(np.abs(a - b).max()) for la, lb in zip(runner.final(), reference) for a, b in zip(la, lb))

    for e in range(epochs):  # interleaved: every implementation runs epoch e before any runs epoch e + 1
        for name, runner in runners.items():
            tic = time.perf_counter()
            runner.epoch(e, orders[e])
            times[name].append(time.perf_counter() - tic)
        if e == 0 and "jaxnet" in runners:
            reference = runners["jaxnet"].final()
            diffs = {name: difference(runner, reference) for name, runner in runners.items()}
    reference = runners["jaxnet"].final() if "jaxnet" in runners else runners[next(iter(runners))].final()
    rows = []
    for name, runner in runners.items():
        steady = float(np.median(times[name][1:])) if epochs > 1 else times[name][0]
        rows.append({"impl": name, "first_epoch_s": times[name][0], "compile_s": times[name][0] - steady,
                     "epoch_s": steady, "samples_per_s": (n // batch) * batch / steady,
                     "param_diff_epoch_1": diffs.get(name, 0.0),
                     "param_diff_final": difference(runner, reference), "epochs": epochs})
    jaxnet_time = next((r["epoch_s"] for r in rows if r["impl"] == "jaxnet"), rows[0]["epoch_s"])
    for row in rows:
        row["jaxnet_over_this"] = jaxnet_time / row["epoch_s"]
    return rows


MEMORY = """
import sys; sys.path.insert(0, {here!r}); import run
run.torch_available(); run.task_m_data({n})  # import every library, build (and drop) one data set
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # Linux: reset the peak-RSS mark (VmHWM) to the current RSS
base = status("VmRSS:")
run.task_m({n}, 2, impls=({name!r},))
print((status("VmHWM:") - base) / 1024)
"""


def memory_of(name: str, n: int) -> float | None:
    """Peak RSS growth (MiB) of a fresh process running only ``name`` for two epochs of Task M, over its baseline
    with every library imported (Linux only; None elsewhere)."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    out = subprocess.run([sys.executable, "-c", MEMORY.format(here=HERE, n=n, name=name)], capture_output=True,
                         text=True, check=True).stdout
    return float(out.split()[-1])


# ---------------------------------------------------------------- Task U: ensembles of the 1-D network
def weight_gradient_dot_ratio(width: int, members: int, n: int = 300, reps: int = 50) -> float:
    """Time of the vmapped first-layer weight gradient gᵀx (g: members × n × width, x shared) over that of
    ``members`` separate ones: the matmul a vmapped ensemble of 1-input networks adds."""
    g = jax.random.normal(jax.random.key(0), (members, n, width))
    x = jnp.linspace(0, 1, n)[:, None]
    one = jax.jit(lambda g, x: g.T @ x)
    many = jax.jit(jax.vmap(lambda g, x: g.T @ x, in_axes=(0, None)))

    def best_of(fn, *args):
        jax.block_until_ready(fn(*args))
        tic = time.perf_counter()
        for _ in range(reps):
            out = fn(*args)
        jax.block_until_ready(out)
        return (time.perf_counter() - tic) / reps

    return best_of(many, g, x) / (members * best_of(one, g[0], x))


def plain_jax_scan(optimizer, steps: int):
    """The peer of Task U: the 1-width-1 tanh network written out row-stacked in plain JAX, ``steps`` full-batch
    steps in one ``lax.scan``, data passed as arguments (the way jaxnet gets it)."""
    def loss(params, x, y):
        (W1, b1), (W2, b2) = params
        yhat = jnp.tanh(x @ W1.T + b1[None, :]) @ W2.T + b2[None, :]
        return 0.5 * jnp.sum((yhat - y) ** 2) / x.shape[0]

    def run(params, state, x, y):
        def step(carry, _):
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params, x, y)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), value

        return jax.lax.scan(step, (params, state), None, length=steps)

    return jax.jit(run)


def task_u(widths, steps: dict, members: int = 8):
    """Steps per second: plain JAX; jaxnet's ``fit`` on one network; ``fit`` on an ensemble of ``members`` (on a CPU
    one member after another, see ``jaxnet.program.members_one_by_one``); and the vmapped ensemble program.
    ``steps[width]`` steps per timed call: enough that a call lasts a good fraction of a second, so that what
    ``fit`` does once per call (checks, copies, placing the data) is weighed against the steps as in real use."""
    x = np.linspace(0, 1, 300, dtype=np.float32)[:, None]
    y = (np.sin(20 * x) * np.sin(10 * x) + x / 10).astype(np.float32)
    xs, ys, key = jnp.asarray(x), jnp.asarray(y), jax.random.key(0)
    optimizer = optax.adam(1e-3)
    net = mlp.Net("tanh")
    vmapped = train.make_epochs(optimizer, net, loss="mse", batch_size=300, ensemble=True)

    def best_of_two(fn, params) -> float:
        """The faster of two timed calls after one that compiles (buffers may be donated: fresh copies)."""
        times = []
        for _ in range(3):
            fresh = jax.tree.map(jnp.array, params)
            tic = time.perf_counter()
            jax.block_until_ready(fn(fresh))
            times.append(time.perf_counter() - tic)
        return min(times[1:])

    def fit(params, ensemble, steps):
        return train.fit(params, x, y, net, optimizer=optimizer, epochs=steps, batch_size=300, key=key, loss="mse",
                         epochs_per_call=steps, ensemble=ensemble, verbose=False)[0]

    def measure(width: int, steps: int) -> dict:
        plain = plain_jax_scan(optimizer, steps)
        one, stacked = mlp.init(key, [1, width, 1]), train.init_ensemble(key, members, [1, width, 1])
        t_plain = best_of_two(lambda p: plain(p, optimizer.init(p), xs, ys), one)
        t_fit = best_of_two(lambda p: fit(p, False, steps), one)
        t_ensemble = best_of_two(lambda p: fit(p, True, steps), stacked)
        t_vmapped = best_of_two(lambda p: vmapped(p, jax.vmap(optimizer.init)(p), xs, ys, key, jnp.arange(steps)),
                                stacked)
        return {"width": width, "steps": steps, "plain_steps_per_s": steps / t_plain,
                "fit_steps_per_s": steps / t_fit, "fit_over_plain": t_plain / t_fit,
                "ensemble_member_steps_per_s": members * steps / t_ensemble,
                "ensemble_over_plain": members * t_plain / t_ensemble,
                "vmapped_member_steps_per_s": members * steps / t_vmapped,
                "vmapped_over_plain": members * t_plain / t_vmapped,
                "dot_ratio": weight_gradient_dot_ratio(width, members)}

    return [measure(width, steps[width]) for width in widths]


# ---------------------------------------------------------------- Task M against the machine's limit
def matmul_rates(x: np.ndarray, batch: int = 128, reps: int = 3, size: int = 4096) -> dict:
    """GFLOP/s of (a) only the matrix products of a Task M epoch (the five per step: X W1ᵀ, U1 W2ᵀ, G2 W2, G2ᵀ U1,
    G1ᵀ X, on the epoch's gathered minibatches, weights held fixed) as one compiled scan, and (b) one large float32
    matrix product; and the FLOPs of those products per epoch."""
    n = (len(x) // batch) * batch
    key = jax.random.key(0)
    W1, W2 = jax.random.normal(key, (200, 784)) * 0.05, jax.random.normal(key, (10, 200)) * 0.05
    order = jnp.asarray(np.arange(n).reshape(-1, batch))
    xs = jnp.asarray(x)

    @jax.jit
    def products(xs, order, W1, W2):
        def step(acc, idx):
            xb = xs[idx].astype(jnp.float32)
            u1 = xb @ W1.T
            z = u1 @ W2.T  # stands in for G2 too (same shape)
            g1 = z @ W2
            return acc + jnp.sum(z.T @ u1) + jnp.sum(g1.T @ xb), None

        return jax.lax.scan(step, jnp.float32(0), order)[0]

    a = jax.random.normal(key, (size, size))
    big = jax.jit(lambda a: a @ a)

    def best(fn, *args):
        jax.block_until_ready(fn(*args))
        times = []
        for _ in range(reps):
            tic = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times.append(time.perf_counter() - tic)
        return min(times)

    epoch_flops = (n // batch) * 2 * batch * (2 * 784 * 200 + 3 * 200 * 10)
    products_s = best(products, xs, order, W1, W2)
    return {"epoch_flops": epoch_flops, "products_s": products_s, "products_gflops": epoch_flops / products_s / 1e9,
            "big_gflops": 2 * size ** 3 / best(big, a) / 1e9}


# ---------------------------------------------------------------- data parallel on simulated devices
SHARDED = """
import time, jax, jax.numpy as jnp, numpy as np, optax, sys
sys.path.insert(0, {here!r}); import run
from jax.sharding import Mesh
from jaxnet import mlp, train
x, y = run.task_m_data({n})
mesh = Mesh(np.array(jax.devices()), ("data",)) if jax.device_count() > 1 else None
opt = optax.sgd(0.1)
fn = train.make_epochs(opt, mlp.Net("relu", input_scale=255), loss="cross_entropy", batch_size=128, mesh=mesh)
params = mlp.init(jax.random.key(0), [784, 200, 10]); state = opt.init(params)
xs, ys = jnp.asarray(x), jnp.asarray(y)
times = []
for e in range({epochs}):
    tic = time.perf_counter()
    params, state, loss = fn(params, state, xs, ys, jax.random.key(1), jnp.arange(e, e + 1))
    jax.block_until_ready(loss); times.append(time.perf_counter() - tic)
print(float(np.median(times[1:])))
"""


def data_parallel(n: int, epochs: int, counts=(1, 2, 4)):  # noqa: B008
    rows = []
    for count in counts:
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}", "JAX_PLATFORMS": "cpu"}
        out = subprocess.run([sys.executable, "-c", SHARDED.format(here=HERE, n=n, epochs=epochs)], env=env,
                             capture_output=True, text=True, check=True).stdout
        rows.append({"devices": count, "epoch_s": float(out.split()[-1])})
    for row in rows:
        row["vs_one_device"] = row["epoch_s"] / rows[0]["epoch_s"]
    return rows


# ---------------------------------------------------------------- the sweep: an ensemble sharded over members
SWEEP = """
import sys, time
sys.path.insert(0, {here!r}); import run
from jaxnet import distributed
if {processes} > 1:
    distributed.initialize("127.0.0.1:{port}", {processes}, int(sys.argv[1]))
import jax, numpy as np, optax
from jaxnet import mlp, train
x, y = run.task_m_data({n})
net = mlp.Net("relu", input_scale=255)
mesh = train.make_mesh(members=jax.device_count(), data=1)
params = train.init_ensemble(jax.random.key(0), {members}, [784, 200, 10])
kwargs = dict(optimizer=optax.sgd(0.1), batch_size=128, key=jax.random.key(1), loss="cross_entropy", ensemble=True,
              verbose=False, mesh=mesh)
train.fit(params, x, y, net, epochs=1, **kwargs)  # compiles
tic = time.perf_counter()
train.fit(params, x, y, net, epochs={epochs}, **kwargs)
seconds = time.perf_counter() - tic
if jax.process_index() == 0:
    print("member-steps/s", {members} * {epochs} * (len(x) // 128) / seconds)
if {processes} == 2:  # the all-reduce the data-parallel model needs, in the same processes
    from jax.sharding import NamedSharding, PartitionSpec as P
    data = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
    total = jax.jit(lambda a: a.sum(0), out_shardings=NamedSharding(data, P()))
    for size in (1, 1_000_000):
        a = jax.make_array_from_callback((2, size), NamedSharding(data, P("data")),
                                         lambda index: np.ones((2, size), np.float32)[index])
        total(a).block_until_ready()
        times = []
        for _ in range(20):
            tic = time.perf_counter(); total(a).block_until_ready(); times.append(time.perf_counter() - tic)
        if jax.process_index() == 0:
            print("allreduce", size, float(np.median(times)))
"""


def free_port() -> int:
    import socket
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
        env = {**os.environ, "JAX_PLATFORMS": "cpu",
               "JAX_NUM_CPU_DEVICES": str(count if kind == "simulated devices" else 1)}
        script = SWEEP.format(here=HERE, n=n, epochs=epochs, members=members, processes=processes,
                              port=free_port())
        procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in range(processes)]
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


# ---------------------------------------------------------------- report
def table(rows, columns) -> str:
    head = "| " + " | ".join(title for title, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if fmt is None else "---:" for _, _, fmt in columns) + "|"
    body = ["| " + " | ".join(str(r[k]) if fmt is None else format(r[k], fmt) for _, k, fmt in columns) + " |"
            for r in rows]
    return "\n".join([head, rule, *body])


SECTION = re.compile(r"<!-- (\w+)-start -->.*?<!-- \1-end -->", re.S)


def kept_sections(text: str) -> list[str]:
    """The sections of RESULTS.md that another script wrote, each between ``<!-- name-start -->`` and
    ``<!-- name-end -->``."""
    return [m.group(0) for m in SECTION.finditer(text)]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = f"jax {jax.__version__}, optax {optax.__version__}, numpy {np.__version__}"
    if torch_available():
        import torch
        versions += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    return (f"{cpu}, {os.cpu_count()} cores, {jax.devices()[0].platform} backend; Python "
            f"{platform.python_version()}; {versions}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="each part once on small sizes (a check, not a measurement)")
    p.add_argument("--epochs", type=int, default=7, help="Task M epochs per implementation (the first compiles)")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    args = p.parse_args(argv)
    n, epochs, widths, steps, dp_epochs = (60000, args.epochs, (10, 1000, 10000), {10: 5000, 1000: 1000, 10000: 200}, 4)
    if args.tiny:
        n, epochs, widths, steps, dp_epochs = 1280, 2, (10, 50), {10: 5, 50: 5}, 2
    impls = IMPLS if torch_available() else tuple(i for i in IMPLS if i != "torch")
    if "torch" not in impls:
        print("PyTorch is not installed: skipping it (pip install 'jaxnet-lecture[bench]', or a CPU build such as torch==2.13.0, to include it)", flush=True)
    print(f"Task M on {machine()} ...", flush=True)
    m_rows = task_m(n, epochs, impls=impls)
    for row in m_rows:  # a tiny run skips the memory probe: one more process per row
        row["peak_rss_mib"] = float("nan") if args.tiny else memory_of(row["impl"], n)
    m_table = table(m_rows, [("implementation", "impl", None), ("compile (s)", "compile_s", ".2f"),
                             ("epoch (s, median)", "epoch_s", ".3f"), ("samples/s", "samples_per_s", ",.0f"),
                             ("jaxnet time / this", "jaxnet_over_this", ".2f"),
                             ("peak memory (MiB)", "peak_rss_mib", ",.0f"),
                             ("max |Δparam| vs jaxnet, epoch 1", "param_diff_epoch_1", ".1e"),
                             (f"… epoch {epochs}", "param_diff_final", ".1e")])
    print(m_table, flush=True)
    limits = matmul_rates(task_m_data(n)[0], size=256 if args.tiny else 4096)
    by = {r["impl"]: r for r in m_rows}
    jaxnet_gflops = limits["epoch_flops"] / by["jaxnet"]["epoch_s"] / 1e9
    limit_text = (f"The epoch's matrix products alone, as one compiled scan: {limits['products_s']:.3f} s "
                  f"({limits['products_gflops']:.0f} GFLOP/s); one large float32 matrix product (4096 × 4096): "
                  f"{limits['big_gflops']:.0f} GFLOP/s. jaxnet's epoch runs those products at {jaxnet_gflops:.0f} "
                  f"GFLOP/s: {jaxnet_gflops / limits['products_gflops']:.2f} of the products-alone rate and "
                  f"{jaxnet_gflops / limits['big_gflops']:.2f} of the large product's.")
    print(limit_text, flush=True)
    u_rows = task_u(widths, steps, members=2 if args.tiny else 8)
    u_table = table(u_rows, [("width", "width", ","), ("steps", "steps", "d"),
                             ("plain JAX (steps/s)", "plain_steps_per_s", ",.0f"),
                             ("jaxnet fit, 1 network (steps/s)", "fit_steps_per_s", ",.0f"),
                             ("fit / plain", "fit_over_plain", ".2f"),
                             ("fit, ensemble of 8 (member-steps/s)", "ensemble_member_steps_per_s", ",.0f"),
                             ("ensemble / plain", "ensemble_over_plain", ".2f"),
                             ("vmapped 8 (member-steps/s)", "vmapped_member_steps_per_s", ",.0f"),
                             ("vmapped / plain", "vmapped_over_plain", ".2f"),
                             ("vmapped gᵀx / 8 separate", "dot_ratio", ".2f")])
    print(u_table, flush=True)
    # A tiny run leaves out the simulated-device epochs: the sweep below starts the same kind of process.
    dp_rows = [] if args.tiny else data_parallel(n, dp_epochs)
    dp_table = table(dp_rows, [("simulated devices", "devices", "d"), ("epoch (s, median)", "epoch_s", ".3f"),
                               ("time vs 1 device", "vs_one_device", ".2f")])
    print(dp_table, flush=True)
    # A tiny run starts as few processes as it can: one device, then two processes.
    sweep_rows = sweep(n, 1 if args.tiny else 2, members=4 if args.tiny else 8,
                       runs=(SWEEP_RUNS[0], SWEEP_RUNS[3]) if args.tiny else SWEEP_RUNS)
    sweep_table = table(sweep_rows, [("run on", "kind", None), ("devices", "devices", "d"),
                                     ("member-steps/s", "member_steps_per_s", ",.0f"),
                                     ("vs 1 device", "speedup", ".2f")])
    print(sweep_table, flush=True)
    allreduce = next(r["allreduce_s"] for r in sweep_rows if "allreduce_s" in r)  # median seconds per size
    sweep_model = scaling_model(sweep_rows, by["jaxnet"]["epoch_s"], n // 128, allreduce)
    print(sweep_model, flush=True)
    alternatives = [r for r in m_rows if not r["impl"].startswith("jaxnet")]
    fastest = min(alternatives, key=lambda r: r["epoch_s"])
    summary = (f"jaxnet's compiled epoch: {by['jaxnet']['epoch_s']:.3f} s; the fastest alternative "
               f"({fastest['impl']}): {fastest['epoch_s']:.3f} s, ratio {by['jaxnet']['epoch_s'] / fastest['epoch_s']:.2f} "
               f"(target ≤ 1.0, aim 0.8). manual_grad / jax.grad inside the step: "
               f"{by['jaxnet-manual']['epoch_s'] / by['jaxnet']['epoch_s']:.2f} (target ≤ 1.1).")
    print(summary)
    if args.tiny:
        return {"m": m_rows, "u": u_rows, "dp": dp_rows, "limits": limits, "sweep": sweep_rows}
    report = f"""# Benchmark results

Machine: {machine()}.
Command: `{'JAXNET_DATA_DIR=<the MNIST files> ' if data.find_idx_dir('mnist') else ''}make bench` (= `python benchmarks/run.py`), {time.strftime('%Y-%m-%d')}.

## Task M: MNIST-shaped epoch (60,000 × 784 float32, 784-200-10 ReLU, cross-entropy, batch 128, SGD 0.1)

Data: {task_m_source()}. Every implementation starts from the same parameters and sees the same
batches; epochs are interleaved across implementations; "epoch" is the median of epochs 2–{epochs}, "compile" the
first epoch's excess over it; "peak memory" is how far a fresh process running only that implementation for two
epochs grows its peak RSS past its baseline with all libraries imported (the 188 MB data set it builds included).
The last two columns are the largest difference of any parameter from jaxnet's after the first and the last epoch:
float32 round-off (different summation orders), which SGD then compounds step by step.

{m_table}

{summary}

{limit_text}

## Task U: universal-approximation network, full-batch Adam steps (300 points, tanh)

{u_table}

"plain JAX" is the network written out row-stacked in a `lax.scan` of full-batch Adam steps; "fit" is
`train.fit(..., epochs=steps, epochs_per_call=steps)` timed on a call after the one that compiles. "fit, ensemble of
8" is `fit(..., ensemble=True)`, which on a CPU trains the members one after another; "vmapped 8" is the vmapped
ensemble program it would use on an accelerator; the ratios are member-steps per second over plain JAX's steps per
second. The last column times, on its own, the matmul that vmapping adds: the first layer's weight gradient gᵀx of
all 8 members (g of shape 8 × 300 × width against the shared x) against 8 separate ones. Where it is well above 1,
XLA's CPU backend runs the batched form slowly, which is why a CPU trains the members in turn.

## Data parallel: Task M epoch on simulated host devices

On this machine all simulated devices share the same cores, so this shows the cost of sharding (all-reduces and
synchronisation), not a speed-up; on real multi-device hardware the same code splits the batch.

{dp_table}

## The sweep: an ensemble of 8 MNIST networks sharded over members

8 networks of 784-200-10 (batch 128, SGD), their members spread over the `"members"` axis of a mesh
(`train.make_mesh(members=D, data=1)`): each device trains only its own members, with no gradient traffic between
them. Simulated devices share one process; "processes" are separate Python processes, one device each, joined by
`jax.distributed` with gloo collectives on loopback. This machine has 2 cores, so 2× is the ceiling: 4 devices
only share the same two cores.

{sweep_table}

{sweep_model}

## GPU

`bash benchmarks/gpu.sh` (MNIST to 98.4% and 784-4096-4096-10 at batch 4096 against the measured matmul rate) is
prepared; its figures go here once it has run on an accelerator.
"""
    # Sections other scripts write into the same file (benchmarks/playground.py's) are kept as they are.
    if os.path.exists(args.out):
        with open(args.out) as f:
            report += "".join(f"\n{section}\n" for section in kept_sections(f.read()))
    with open(args.out, "w") as f:
        f.write(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"m": m_rows, "u": u_rows, "dp": dp_rows, "limits": limits, "sweep": sweep_rows,
                       "machine": machine()}, f, indent=1)
    print(f"wrote {args.out}")
    return {"m": m_rows, "u": u_rows, "dp": dp_rows}


if __name__ == "__main__":
    main()
