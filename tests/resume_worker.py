"""A training run with the stateful callbacks, started by tests/test_resume.py in a process of its own and killed
(``os._exit``) at a chosen epoch: ``python tests/resume_worker.py OUT [KILL_EPOCH [after]]``; or called there, in
its own process (:func:`main` with ``in_process=True``: the run ends in :class:`Interrupted` instead).

Blobs with noisy labels overfit a wide network: the held-out loss falls for some epochs, then rises, so early
stopping ends the run before its final epoch and returns an earlier epoch's parameters. Writes ``OUT/result.npz``
(the returned parameters, the stop epoch, the history's epochs) when the run ends.
"""

import json
import os
import sys

import jax
import numpy as np
import optax

from jaxnet import callbacks, mlp, train


class Interrupted(Exception):
    """The run ended in this process (``main(..., in_process=True)``), as a kill would end it: nothing after the
    epoch's end runs but what ``fit`` runs on its way out."""


def end(in_process: bool):
    if in_process:
        raise Interrupted
    os._exit(17)


class Kill(callbacks.Callback):
    """Ends the process, as ``kill -9`` would, at the end of one epoch's call: before the checkpoint of the last
    state is written for it, or (``after``) right after."""

    def __init__(self, epoch: int, in_process: bool = False):
        self.epoch, self.in_process = epoch, in_process

    def on_epochs_end(self, run, state, records):
        if state.epoch == self.epoch:
            end(self.in_process)


class KillAfterSaving(callbacks.Checkpoint):
    """A keep-last checkpoint (so it runs after the real one) whose save is a kill."""

    def __init__(self, path, epoch: int, in_process: bool = False):
        super().__init__(path)
        self.epoch, self.in_process = epoch, in_process

    def on_epochs_end(self, run, state, records):
        if state.epoch == self.epoch:
            end(self.in_process)


def problem():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 1.5
    labels = rng.integers(0, 3, 300)
    x = (centres[labels] + rng.normal(size=(300, 8)) * 1.5).astype(np.float32)
    noisy = np.where(rng.random(300) < 0.3, rng.integers(0, 3, 300), labels).astype(np.int32)
    return (x[:100], noisy[:100]), (x[100:], labels[100:].astype(np.int32))


def main(out: str, kill_epoch: int | None = None, after: bool = False, in_process: bool = False) -> None:
    (x, y), (x_eval, y_eval) = problem()
    trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.adam(3e-3), batch_size=20)
    state = trainer.init(mlp.init(jax.random.key(0), [8, 256, 256, 3]))
    kept = [callbacks.Checkpoint(os.path.join(out, "last.npz"), resume="auto"),
            callbacks.Checkpoint(os.path.join(out, "best.npz"), keep="best", monitor="eval_loss"),
            callbacks.EarlyStopping("eval_loss", patience=3),
            callbacks.ReduceLROnPlateau("eval_loss", patience=1, factor=0.5, cooldown=2),
            callbacks.JsonLog(os.path.join(out, "log.jsonl"))]
    if kill_epoch is not None:
        kept.append(KillAfterSaving(os.path.join(out, "unused.npz"), kill_epoch, in_process) if after
                    else Kill(kill_epoch, in_process))
    state, history = trainer.fit(state, x, y, epochs=40, key=jax.random.key(1), eval_data=(x_eval, y_eval),
                                 callbacks=kept, verbose=False)
    stopper = kept[2]
    np.savez(os.path.join(out, "result.npz"), *jax.tree.leaves(state.params))
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump({"epoch": state.epoch, "lr_scale": state.lr_scale, "history": [r["epoch"] for r in history],
                   "scales": [r["lr_scale"] for r in history], "best_epoch": stopper.best_epoch,
                   "stopped_epoch": stopper.stopped_epoch}, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None, len(sys.argv) > 3)
