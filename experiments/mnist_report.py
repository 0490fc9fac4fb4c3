"""What ``make mnist`` reports of a trained network: the lecture's confusion matrix (counts by output and target
class, with precision and recall) as numbers and as text, and the figures (the confusion matrix, the misread
digits, the training curves). The recipe (:mod:`experiments.mnist`) computes the predictions; this module only
describes them.
"""

from __future__ import annotations

import numpy as np

TARGET = 0.984  # the lecture's test accuracy


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """``C[predicted, target]``: counts, rows by output class and columns by target class, as in the lecture."""
    return np.bincount(predictions * num_classes + labels, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def precision_recall(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision (correct / predicted, along rows) and recall (correct / present, along columns) of
    ``C[output, target]``; a class never predicted or never present gets 0."""
    return np.diag(C) / np.maximum(C.sum(axis=1), 1), np.diag(C) / np.maximum(C.sum(axis=0), 1)


def confusion_text(C: np.ndarray) -> str:
    """The lecture's layout: each cell 'count percent-of-all', each row ending with precision, a last row of
    recall per target class, and the overall accuracy in the corner."""
    n = C.sum()
    precision, recall = precision_recall(C)
    lines = ["Output class (rows) by target class (columns); cells: count and % of all test images"]
    for i, row in enumerate(C):
        cells = "  ".join(f"{c:5d} {100 * c / n:4.1f}%" for c in row)
        lines.append(f"{i}  {cells}  {100 * precision[i]:5.1f}% {100 - 100 * precision[i]:4.1f}%")
    cells = "  ".join(f"{100 * r:5.1f}% {100 - 100 * r:4.1f}%" for r in recall)
    lines.append(f"   {cells}  {100 * np.trace(C) / n:5.1f}% {100 - 100 * np.trace(C) / n:4.1f}%")
    lines.append("   " + "  ".join(f"{j:>11d}" for j in range(len(C))) + "   (target class)")
    return "\n".join(lines)


# pragma: no mutate block (the figures: drawn, looked at, and checked for their files by tests/test_figures.py)
def plot_confusion(C: np.ndarray, path: str) -> None:
    """Saves to ``path`` the confusion matrix ``C`` (rows: output class, columns: target class) as the lecture
    draws it, each cell with its count and percent of all test images, precision and recall in the margins."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's, say) stays as it is

    n, k = C.sum(), len(C)
    precision, recall = precision_recall(C)
    fig = Figure(figsize=(9, 8))
    ax = fig.subplots()
    shade = np.zeros((k + 1, k + 1, 3)) + 1.0
    for i in range(k):
        for j in range(k):
            shade[i, j] = (0.6, 0.85, 0.6) if i == j else ((1.0, 0.8, 0.8) if C[i, j] else (1, 1, 1))
    shade[:k, k] = shade[k, :k] = (0.85, 0.85, 0.85)
    shade[k, k] = (0.7, 0.75, 0.9)
    ax.imshow(shade)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{C[i, j]}\n{100 * C[i, j] / n:.1f}%", ha="center", va="center", fontsize=7)
        ax.text(k, i, f"{100 * precision[i]:.1f}%\n{100 - 100 * precision[i]:.1f}%", ha="center", va="center",
                fontsize=7)
        ax.text(i, k, f"{100 * recall[i]:.1f}%\n{100 - 100 * recall[i]:.1f}%", ha="center", va="center", fontsize=7)
    accuracy = np.trace(C) / n
    ax.text(k, k, f"{100 * accuracy:.1f}%\n{100 - 100 * accuracy:.1f}%", ha="center", va="center", fontsize=7,
            weight="bold")
    ax.set_xticks(range(k)), ax.set_yticks(range(k))
    ax.set(xlabel="Target class", ylabel="Output class", title=f"Confusion matrix: {100 * accuracy:.2f}% correct")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_errors(images: np.ndarray, labels, predictions, path: str, count: int = 24) -> None:
    """Saves to ``path`` a grid of the first ``count`` misclassified test images (rows ``(N, 784)``), each titled
    with its true label and the network's prediction (the lecture's "some errors" figure)."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's, say) stays as it is

    wrong = np.flatnonzero(labels != predictions)[:count]
    cols = 8
    rows = max(1, -(-len(wrong) // cols))
    fig = Figure(figsize=(cols * 1.2, rows * 1.45))
    axes = fig.subplots(rows, cols)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), wrong):
        ax.imshow(images[i].reshape(28, 28), cmap="gray_r")
        ax.set_title(f"{labels[i]} → {predictions[i]}", fontsize=9, color="C3")
    fig.suptitle("Misclassified test digits (true → predicted)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_curves(history, path: str, target: float | None = TARGET) -> None:
    """Saves to ``path`` the training curves of ``fit``'s history: the losses and the test accuracy per epoch, with
    the lecture's accuracy as a line when ``target`` is given."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's, say) stays as it is

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, [np.mean(r["train_loss"]) for r in history], label="train (smoothed targets)")
    ax1.plot(epochs, [np.mean(r["eval_loss"]) for r in history], label="test")
    ax1.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
    ax1.legend()
    accuracy = [100 * np.mean(r["eval_accuracy"]) for r in history]
    ax2.plot(epochs, accuracy)
    if target is not None:
        ax2.axhline(100 * target, color="0.6", ls="--", label=f"lecture: {100 * target:.1f}%")
        ax2.legend()
    ax2.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(min(96, np.floor(min(accuracy[-3:]))), 100))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
