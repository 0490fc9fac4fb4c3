"""Time to 98.4%: ``make mnist``'s recipe in jaxnet and the same recipe, written for PyTorch, on this machine.

Both train the lecture's 784-200-10 ReLU network with the recipe of ``experiments/mnist.py`` (inputs standardised
by the training set's pixel mean and standard deviation, label smoothing ε, SGD with Nesterov momentum 0.9 and an
L2 weight decay on the weight matrices, a linear warm-up then a cosine decay to zero per step, the last partial
batch dropped, He-normal weights and zero biases) for the same epochs, 3 seeds each, and evaluate all 10,000 test
images after every epoch. The table gives, per framework, the training seconds (compilation included, evaluations
excluded) and the epochs until the mean test accuracy over the seeds first reaches 98.4%, and each seed's own.
``python -m benchmarks.time_to_accuracy`` (PyTorch from the ``bench`` extra); ``make bench`` includes it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time

import numpy as np

if __name__ == "__main__" and not __package__:  # run as a file: import the packages from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from experiments import mnist  # noqa: E402

TARGET = mnist.TARGET


def first_at(accuracies: np.ndarray, seconds: np.ndarray, target: float = TARGET) -> dict | None:
    """``{"epoch", "seconds"}`` of the first epoch whose accuracy reaches ``target`` (``accuracies`` and the
    cumulative ``seconds`` one entry per epoch); ``None`` if none does."""
    hits = np.flatnonzero(np.asarray(accuracies) >= target)
    return None if hits.size == 0 else {"epoch": int(hits[0]) + 1, "seconds": float(np.asarray(seconds)[hits[0]])}


def summary(name: str, per_epoch: np.ndarray, seconds: np.ndarray) -> dict:
    """A framework's row: ``per_epoch`` is ``(epochs, seeds)`` test accuracy, ``seconds`` the cumulative training
    seconds at the end of each epoch (all seeds)."""
    return {"framework": name, "mean": first_at(per_epoch.mean(axis=1), seconds),
            "per_seed": [first_at(per_epoch[:, k], seconds) for k in range(per_epoch.shape[1])],
            "final_mean": float(per_epoch[-1].mean()), "epochs": per_epoch.shape[0],
            "total_seconds": float(seconds[-1])}


def run_jaxnet(config: mnist.Config) -> dict:
    metrics = mnist.main(dataclasses.replace(config, plots=False, verbose=False))
    history = metrics["history"]
    accuracy = np.array([np.ravel(r["eval_accuracy"]) for r in history])
    return summary("jaxnet", accuracy, np.cumsum([r["seconds"] for r in history]))


def run_torch(config: mnist.Config) -> dict:
    """The recipe in PyTorch, seeds trained one after another as jaxnet does on a CPU; each epoch's time counts
    towards every seed's run, as jaxnet's does."""
    import torch

    x_train, y_train, x_test, y_test, net = mnist.load(config)
    mean, std = net.input_shift, net.input_scale
    standardise = lambda a: (torch.from_numpy(a.astype(np.float32)) - mean) / std
    xs, xt = standardise(x_train), standardise(x_test)
    targets = torch.from_numpy(mnist.soft_targets(y_train, config.label_smoothing))
    labels = torch.from_numpy(y_test.astype(np.int64))
    steps_per_epoch = len(xs) // config.batch_size
    total = config.epochs * steps_per_epoch
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)

    def rate(step):  # optax.warmup_cosine_decay_schedule(0, lr, warmup, total), as a factor of lr
        if step < warmup:
            return step / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    seconds = np.zeros(config.epochs)
    accuracy = np.zeros((config.epochs, config.seeds))
    for seed in range(config.seeds):
        torch.manual_seed(config.seed + seed)
        first, last = torch.nn.Linear(784, config.hidden[0]), torch.nn.Linear(config.hidden[0], 10)
        model = torch.nn.Sequential(first, torch.nn.ReLU(), last)
        for layer in (first, last):
            torch.nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / layer.in_features))
            torch.nn.init.zeros_(layer.bias)
        optimizer = torch.optim.SGD([{"params": [first.weight, last.weight], "weight_decay": config.weight_decay},
                                     {"params": [first.bias, last.bias], "weight_decay": 0.0}],
                                    lr=config.lr, momentum=0.9, nesterov=True)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
        generator = torch.Generator().manual_seed(config.seed + seed)
        for epoch in range(config.epochs):
            tic = time.perf_counter()
            order = torch.randperm(len(xs), generator=generator)[: steps_per_epoch * config.batch_size]
            for idx in order.view(steps_per_epoch, config.batch_size):
                optimizer.zero_grad(set_to_none=True)
                logits = model(xs[idx])
                loss = -(targets[idx] * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
                loss.backward()
                optimizer.step()
                schedule.step()
            seconds[epoch] += time.perf_counter() - tic
            with torch.no_grad():
                accuracy[epoch, seed] = float((model(xt).argmax(dim=1) == labels).float().mean())
    return summary(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)", accuracy, np.cumsum(seconds))


def markdown(rows: list[dict]) -> str:
    def cell(r):
        return "not reached" if r is None else f"{r['seconds']:.1f} s, epoch {r['epoch']}"

    lines = ["| framework | to 98.4% mean (3 seeds) | per seed | final mean | all epochs |",
             "|---|---|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['framework']} | {cell(row['mean'])} | {'; '.join(cell(r) for r in row['per_seed'])} | "
                     f"{100 * row['final_mean']:.2f}% | {row['total_seconds']:.1f} s ({row['epochs']} epochs) |")
    return "\n".join(lines)


def time_to_accuracy(config: mnist.Config | None = None, *, torch: bool = True) -> list[dict]:
    """jaxnet's row, then PyTorch's (when asked for and installed), for ``config`` (default: the recipe)."""
    config = config or mnist.Config(out=os.path.join("runs", "time_to_accuracy"))
    rows = [run_jaxnet(config)]
    if torch:
        rows.append(run_torch(config))
    return rows


if __name__ == "__main__":
    print(markdown(time_to_accuracy()))
