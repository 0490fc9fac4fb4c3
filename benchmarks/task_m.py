"""Task M, the MNIST-shaped epoch, five ways in one run: jaxnet's compiled epoch (``jax.grad`` and ``manual_grad``),
a NumPy hand-written backprop, a pure-JAX per-batch jitted loop and PyTorch eager, from the same initial parameters
and batch order, interleaved epoch by epoch; the memory each needs; and the machine's limit for the epoch's matrix
products.

Task M: 60,000 × 784 images (the real MNIST images when ``$JAXNET_DATA_DIR`` has them, else MNIST-shaped stand-ins),
784-200-10 ReLU, softmax cross-entropy, batch 128, SGD lr 0.1.

``python -m benchmarks.task_m memory NAME N`` is the fresh process :func:`memory_of` measures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import timing
from jaxnet import data, mlp, program

IMPLS = ("jaxnet", "jaxnet-manual", "numpy", "jax-per-batch", "torch")


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
        self.run = program.make_epochs(self.optimizer, mlp.Net("relu", input_scale=255), loss="cross_entropy",
                                       grad=grad, batch_size=batch)

    def epoch(self, e, order):
        self.params, self.state, loss = self.run(self.params, self.state, self.x, self.y, self.key,
                                                 jnp.arange(e, e + 1))
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
    times: dict[str, list[float]] = {name: [] for name in runners}
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


def memory_main(name: str, n: int) -> None:
    """Prints the peak RSS growth (MiB) of this process running only ``name`` for two epochs of Task M, over its
    baseline with every library imported and one data set built (and dropped)."""
    torch_available()
    task_m_data(n)

    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field))

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux: reset the peak-RSS mark (VmHWM) to the current RSS
    base = status("VmRSS:")
    task_m(n, 2, impls=(name,))
    print((status("VmHWM:") - base) / 1024)


def memory_of(name: str, n: int) -> float | None:
    """Peak RSS growth (MiB) of a fresh process running only ``name`` for two epochs of Task M, over its baseline
    with every library imported (Linux only; None elsewhere)."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    out = subprocess.run([sys.executable, "-m", "benchmarks.task_m", "memory", name, str(n)], capture_output=True,
                         text=True, check=True, env=timing.module_env()).stdout
    return float(out.split()[-1])


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

    epoch_flops = (n // batch) * 2 * batch * (2 * 784 * 200 + 3 * 200 * 10)
    products_s = min(timing.seconds(products, lambda: (xs, order, W1, W2), reps=reps))
    return {"epoch_flops": epoch_flops, "products_s": products_s, "products_gflops": epoch_flops / products_s / 1e9,
            "big_gflops": 2 * size ** 3 / min(timing.seconds(big, lambda: (a,), reps=reps)) / 1e9}


if __name__ == "__main__":
    if sys.argv[1:2] != ["memory"]:
        raise SystemExit("usage: python -m benchmarks.task_m memory NAME N")
    memory_main(sys.argv[2], int(sys.argv[3]))
