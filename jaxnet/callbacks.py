"""What runs between compiled calls of :meth:`jaxnet.train.Trainer.fit`: checkpoints, early stopping, logs, the
progress bar and TensorBoard.

The protocol. A callback is any object with any of these methods (a missing one is skipped; :class:`Callback` gives
no-op defaults); ``fit`` calls them in the order the callbacks are given (but checkpoints of the last state after
every other callback, see below), always on the host, never inside compiled code:

* ``on_fit_start(run, state)`` once, before anything trains. It checks its settings against the run (a ``monitor``
  the run does not record, an unwritable path) and raises ``ValueError`` there, so a bad setting costs no training.
  It may return a :class:`jaxnet.train.TrainState` to start from instead (a resumed checkpoint), else ``None``.
* ``on_epochs_end(run, state, records)`` after each compiled call of ``epochs_per_call`` epochs: ``state`` is the
  state after them and ``records`` their entries of the history, one dict per epoch, equal to what ``fit`` returns
  (``epoch``, ``train_loss``, ``seconds``, and on the call's last epoch ``eval_loss`` and ``eval_accuracy`` when
  there is ``eval_data``). Returning ``True`` stops training after this call; returning a
  :class:`jaxnet.train.TrainState` continues from it (:class:`ReduceLROnPlateau` returns the state with its new
  ``lr_scale``).
* ``on_fit_end(run, state)`` once, when training ends for any reason (``run.completed`` is False after an error).
  It may return a state for ``fit`` to return instead (``EarlyStopping``'s best parameters), else ``None``.

* ``state_dict()`` and ``load_state_dict(state)``: what decides the callback's next moves (a best value, a count,
  best parameters), as a dict of JSON values and arrays (an array, or a list of arrays). A
  ``Checkpoint(..., keep="last")`` saves every callback's state with the training state, after every other
  callback has seen the call, and a resumed run gives each callback its state back after all of them have started:
  a run killed at any moment and started again with the same command ends as the uninterrupted run ends (the same
  stop epoch, returned parameters, best file, history and log), and a run that had finished trains nothing more.

Another library's hook (Keras's ``on_epoch_end``, ``on_train_begin``, ...; :data:`FOREIGN_HOOKS`) on a callback that
does not define the jaxnet hook doing its job is refused when ``fit`` starts: it would never be called.

``run`` (:class:`Run`) tells a callback about the run: the final epoch, the key, what each record holds, the
history so far, the facts for a checkpoint's header, and whether this process writes files. In a run of several
processes every process calls every hook (a state brought to the host is a collective); only process 0 writes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import checkpoint, distributed

MODES = ("min", "max")


@dataclasses.dataclass
class Run:
    """What a callback knows about the run it is part of.

    Attributes:
      epochs: the final epoch: training ends when ``state.epoch`` reaches it.
      key: the run's PRNG key (epoch e shuffles with ``fold_in(key, e)``).
      recorded: the fields every epoch's record holds (``epoch``, ``train_loss``, ``seconds``), then those of the
        last record of each compiled call (``eval_loss``, ``eval_accuracy`` with ``eval_data``).
      history: the records so far (those a resumed checkpoint brought included); ``fit`` returns it.
      meta: facts about the network for a checkpoint's header: sizes, activations, input scaling, loss, dtype.
      writer: whether this process writes files (process 0 of a multi-process run).
      completed: set when the loop ended normally (all epochs, or a callback stopped it), not by an error.
      callbacks: every callback of the run, in the order given (a checkpoint saves their states).
      stopped: a callback stopped the run (set before checkpoints of the last state save; a resumed run that had
        stopped trains nothing more).
      resumed_states: the callbacks' states a resumed checkpoint brought, by :func:`state_key`.
      saved_path: the last checkpoint of this run's state written (or resumed from), else ``None``.
    """

    epochs: int
    key: Any
    recorded: tuple[str, ...]
    history: list
    meta: dict
    writer: bool = True
    completed: bool = False
    callbacks: list = dataclasses.field(default_factory=list)
    stopped: bool = False
    resumed_states: dict = dataclasses.field(default_factory=dict)
    saved_path: str | None = None


def call(callback, hook: str, *args):
    """``callback.hook(*args)``, or ``None`` for a callback without that hook."""
    method = getattr(callback, hook, None)
    return None if method is None else method(*args)


#: Other libraries' hook names (Keras, PyTorch Lightning) and the jaxnet hook that does their job; ``None``: no
#: jaxnet hook can (the epochs and batches of a call run inside one compiled program).
FOREIGN_HOOKS = {"on_train_begin": "on_fit_start", "on_fit_begin": "on_fit_start", "on_epoch_begin": None,
                 "on_epoch_end": "on_epochs_end", "on_train_epoch_end": "on_epochs_end",
                 "on_validation_epoch_end": "on_epochs_end", "on_batch_begin": None, "on_batch_end": None,
                 "on_train_batch_begin": None, "on_train_batch_end": None, "on_train_end": "on_fit_end"}


#: What each jaxnet hook takes and when ``fit`` calls it, for the refusals.
HOOK_ARGS = {"on_fit_start": "(run, state), once before training", "on_epochs_end": "(run, state, records), after "
             "each compiled call of epochs_per_call epochs", "on_fit_end": "(run, state), when training ends"}


def check_hooks(callbacks) -> None:
    """Refuses a callback with another library's hook (``on_epoch_end``, ...) where it does not define the jaxnet
    hook that does that job: ``fit`` would never call it, and the callback would silently do nothing.

    Raises:
      TypeError: naming the callback's class, the hook and what to write instead.
    """
    for c in callbacks:
        for foreign, ours in FOREIGN_HOOKS.items():
            if not callable(getattr(c, foreign, None)):
                continue
            if ours is None:
                raise TypeError(f"{type(c).__name__}.{foreign} would never be called: fit calls no hook inside a "
                                f"compiled call (its epochs and batches run as one program); use "
                                f"on_epochs_end(run, state, records), after each call (see jaxnet.callbacks)")
            if getattr(type(c), ours, None) in (None, getattr(Callback, ours)):  # absent, or Callback's no-op
                raise TypeError(f"{type(c).__name__}.{foreign} would never be called: jaxnet's hook is {ours}"
                                f"{HOOK_ARGS[ours]} (see jaxnet.callbacks)")


def state_key(callbacks: list, callback) -> str:
    """The name a callback's state is saved under: its place in the list and its class (``"2:EarlyStopping"``)."""
    index = next(i for i, c in enumerate(callbacks) if c is callback)
    return f"{index}:{type(callback).__name__}"


def saves_last(callback) -> bool:
    """Whether ``callback`` checkpoints the last state (and so runs after every other callback)."""
    return isinstance(callback, Checkpoint) and callback.keep == "last"


def _split_state(name: str, state: dict) -> tuple[dict, dict[str, np.ndarray]]:
    """A callback's state as JSON (arrays replaced by markers) and its arrays by name, for a checkpoint (every
    process takes part in bringing the arrays to the host)."""
    described: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for field, value in state.items():
        if isinstance(value, (np.ndarray, jax.Array)):
            arrays[f"{name}/{field}"] = distributed.to_host(value)
            described[field] = {"__array__": f"{name}/{field}"}
        elif isinstance(value, list) and value and all(isinstance(v, (np.ndarray, jax.Array)) for v in value):
            for k, v in enumerate(value):
                arrays[f"{name}/{field}/{k}"] = distributed.to_host(v)
            described[field] = {"__arrays__": [f"{name}/{field}/{k}" for k in range(len(value))]}
        else:
            described[field] = value
    return described, arrays


def _join_state(described: dict, arrays: dict[str, np.ndarray]) -> dict:
    """The inverse of :func:`_split_state`."""
    state: dict[str, Any] = {}
    for field, value in described.items():
        if isinstance(value, dict) and "__array__" in value:
            state[field] = arrays[value["__array__"]]
        elif isinstance(value, dict) and "__arrays__" in value:
            state[field] = [arrays[k] for k in value["__arrays__"]]
        else:
            state[field] = value
    return state


class Callback:
    """A callback that does nothing: subclass it and override the hooks you need (see the module's protocol)."""

    def on_fit_start(self, run: Run, state) -> Any:
        """Checks settings against ``run``; may return a state to start from. Default: nothing."""
        return None

    def on_epochs_end(self, run: Run, state, records: list[dict]) -> bool | None:
        """After each compiled call; return ``True`` to stop training. Default: nothing."""
        return None

    def on_fit_end(self, run: Run, state) -> Any:
        """When training ends; may return the state ``fit`` returns instead. Default: nothing."""
        return None


def _check_monitor(owner: str, monitor: str, run: Run) -> None:
    if monitor not in run.recorded:
        # Without eval_data no eval_* value is recorded; with it, a loss without a metric has no eval_accuracy.
        evaluated = "eval_loss" in run.recorded
        hint = " (eval_* values need fit(..., eval_data=...))" if monitor.startswith("eval_") and not evaluated else ""
        raise ValueError(f"{owner}: monitor={monitor!r} is not recorded by this run{hint}; it records "
                         f"{list(run.recorded)}")


def _check_mode(owner: str, mode: str, allowed=MODES) -> None:
    if mode not in allowed:
        raise ValueError(f"{owner}: mode must be one of {list(allowed)}, got {mode!r}")


def _writable_parent(owner: str, path: str) -> None:
    """Creates ``path``'s directory, turning a failure into a ``ValueError`` that names the path."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{owner}: cannot write {path}: its directory cannot be created ({e})") from e
    if os.path.isdir(path):
        raise ValueError(f"{owner}: {path} is a directory; give a file path")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"{owner}: cannot write {path}: its directory {directory} is not writable")


def monitored(records: list[dict], monitor: str) -> float | None:
    """The value of ``monitor`` in the last of ``records`` that has it (an ensemble's values averaged), else None."""
    for record in reversed(records):
        if monitor in record:
            return float(np.mean(record[monitor]))
    return None


class _Best:
    """Tracks the best monitored value: lowest for ``mode="min"``, highest for ``"max"``, by at least ``min_delta``."""

    def __init__(self, mode: str, min_delta: float = 0.0):
        self.mode, self.min_delta = mode, min_delta
        self.value: float | None = None

    def improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.value is None:
            return True
        return value < self.value - self.min_delta if self.mode == "min" else value > self.value + self.min_delta


class Checkpoint(Callback):
    """Saves the training state atomically (:func:`jaxnet.checkpoint.save`) after compiled calls, and resumes from it.

    Args:
      path: the ``.npz`` file; its directory is created.
      resume: ``False`` (the default): start from the state given, overwriting ``path``. ``True``: start from the
        checkpoint, and fail if there is none. ``"auto"``: from the checkpoint if it exists (the setting for a job
        restarted after preemption). A resumed run ends with exactly the parameters of an uninterrupted one, and its
        history holds the checkpoint's records too.
      keep: ``"last"``: the state after every compiled call. ``"best"``: the state of the call whose ``monitor``
        value was best so far (for inference; resuming needs ``"last"``: give two ``Checkpoint`` callbacks for both).
      monitor: a recorded field (``"eval_loss"``, ``"eval_accuracy"``, ``"train_loss"``), needed for ``"best"``.
      mode: ``"min"``, ``"max"``, or ``"auto"`` (the default, :class:`EarlyStopping`'s rule): ``"max"`` for an
        accuracy, else ``"min"``.
      meta: more JSON facts for the header (the network's sizes, activations, loss and the history are always there).

    A ``keep="last"`` checkpoint runs after every other callback and saves, with the state, every callback's
    ``state_dict()``, the ``lr_scale`` and whether a callback stopped the run; resuming gives them all back
    (the module's protocol). A ``keep="best"`` checkpoint's own state is its best value.

    Raises:
      ValueError: at construction, for an unknown ``resume``, ``keep`` or ``mode``, ``keep="best"`` without
        ``monitor``, or ``resume`` with ``keep="best"``; at the start of ``fit``, for a ``monitor`` the run does not
        record or a path that cannot be written, a checkpoint of another run's key, or one that does not match the
        state (naming the leaf). FileNotFoundError: ``resume=True`` without a checkpoint.
    """

    def __init__(self, path: str | os.PathLike, *, resume: bool | str = False, keep: str = "last",
                 monitor: str | None = None, mode: str = "auto", meta: dict[str, Any] | None = None):
        if not any(resume is r for r in checkpoint.RESUME):
            raise ValueError(f"Checkpoint: resume must be True, False or 'auto', got {resume!r}")
        if keep not in ("last", "best"):
            raise ValueError(f"Checkpoint: keep must be 'last' or 'best', got {keep!r}")
        if keep == "best" and monitor is None:
            raise ValueError("Checkpoint: keep='best' needs monitor=..., the recorded value that decides the best "
                             "(such as 'eval_loss')")
        if keep == "best" and resume is not False:
            raise ValueError("Checkpoint: a keep='best' checkpoint holds an earlier epoch and cannot resume a run; "
                             "add a second Checkpoint(path, resume=..., keep='last') for that")
        _check_mode("Checkpoint", mode, ("auto",) + MODES)
        if mode == "auto":
            mode = "max" if monitor is not None and "accuracy" in monitor else "min"
        self.path, self.resume, self.keep, self.monitor, self.mode = os.fspath(path), resume, keep, monitor, mode
        self.meta = dict(meta or {})
        self._best = _Best(self.mode)

    def __repr__(self) -> str:
        return (f"Checkpoint({self.path!r}, resume={self.resume!r}, keep={self.keep!r}, monitor={self.monitor!r}, "
                f"mode={self.mode!r})")

    def on_fit_start(self, run: Run, state):
        """Checks the monitor and the path; resumes from the checkpoint when ``resume`` says so."""
        if self.monitor is not None:
            _check_monitor("Checkpoint", self.monitor, run)
        if run.writer:
            _writable_parent("Checkpoint", self.path)
        self._best = _Best(self.mode)
        if not checkpoint.should_resume(self.path, self.resume):
            return None
        params, opt_state, epoch, records = checkpoint.restore_run(self.path, params=state.params,
                                                                    opt_state=state.opt_state, key=run.key)
        header_meta = checkpoint.read_header(self.path)["meta"]
        extras = checkpoint.read_extras(self.path)
        run.history[:] = records
        run.stopped = bool(header_meta.get("stopped", False))
        run.resumed_states = {name: _join_state(described, extras)
                              for name, described in header_meta.get("callbacks", {}).items()}
        run.saved_path = self.path
        return state._replace(params=params, opt_state=opt_state, epoch=epoch,
                              lr_scale=float(header_meta.get("lr_scale", 1.0)))

    def state_dict(self) -> dict:
        """A keep-best checkpoint's best value so far (nothing for ``keep="last"``)."""
        return {"best": self._best.value} if self.keep == "best" else {}

    def load_state_dict(self, state: dict) -> None:
        """Takes back :meth:`state_dict`'s best value."""
        if self.keep == "best":
            self._best.value = state.get("best")

    def on_epochs_end(self, run: Run, state, records):
        """Saves the state (``keep="last"``), or when the monitored value is the best so far (``"best"``)."""
        if self.keep == "best":
            value = monitored(records, self.monitor) if self.monitor else None
            if value is None or not self._best.improves(value):
                return None
            self._best.value = value
        self.save(run, state)
        return None

    def save(self, run: Run, state) -> None:
        """Writes ``state`` now (every process takes part in bringing it to the host; process 0 writes); a
        ``keep="last"`` checkpoint adds the callbacks' states."""
        params, opt_state = distributed.to_host((state.params, state.opt_state))
        meta = {**run.meta, **self.meta, "history": list(run.history)}
        extras: dict[str, np.ndarray] = {}
        if self.keep == "last":
            described = {}
            for c in run.callbacks:
                if hasattr(c, "state_dict"):
                    name = state_key(run.callbacks, c)
                    described[name], arrays = _split_state(name, c.state_dict())
                    extras.update(arrays)
            meta.update(callbacks=described, stopped=run.stopped, lr_scale=float(state.lr_scale))
        if run.writer:
            checkpoint.save(self.path, params=params, opt_state=opt_state, epoch=int(state.epoch), key=run.key,
                            meta=meta, extras=extras)
        if self.keep == "last":
            run.saved_path = self.path


class EarlyStopping(Callback):
    """Stops training when the monitored value has not improved for ``patience`` evaluations.

    A value is looked at after every compiled call (the ``eval_*`` values exist only there); it improves when it
    beats the best so far by more than ``min_delta``.

    Args:
      monitor: a recorded field; default ``"eval_loss"`` (so ``fit`` needs ``eval_data``).
      patience: how many calls without improvement end the run (≥ 1).
      min_delta: the smallest change that counts as an improvement (≥ 0).
      mode: ``"min"``, ``"max"``, or ``"auto"``: ``"max"`` for accuracies, else ``"min"``.
      restore_best: ``fit`` returns the parameters of the best call (the optimizer state and epoch stay those of the
        last), as Keras's ``restore_best_weights``.

    Attributes:
      best: the best value seen; ``best_epoch`` its epoch; ``stopped_epoch`` the epoch training stopped after
        (``None`` if it ran to the end).

    Raises:
      ValueError: ``patience < 1``, ``min_delta < 0`` or an unknown mode at construction; a ``monitor`` the run does
        not record at the start of ``fit``.
    """

    def __init__(self, monitor: str = "eval_loss", *, patience: int, min_delta: float = 0.0, mode: str = "auto",
                 restore_best: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be an int >= 1, got {patience!r}")
        if not (isinstance(min_delta, (int, float)) and math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"EarlyStopping: min_delta must be a finite number >= 0, got {min_delta!r}")
        _check_mode("EarlyStopping", mode, ("auto",) + MODES)
        self.monitor, self.patience, self.restore_best = monitor, patience, restore_best
        self.min_delta = float(min_delta)
        self.mode = ("max" if "accuracy" in monitor else "min") if mode == "auto" else mode
        self._reset()

    def _reset(self) -> None:
        """Nothing seen yet: no best value, no calls waited, no parameters kept."""
        self._tracker, self._waited = _Best(self.mode, self.min_delta), 0
        self._best_params: Any = None
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None

    def __repr__(self) -> str:
        return (f"EarlyStopping({self.monitor!r}, patience={self.patience}, min_delta={self.min_delta}, "
                f"mode={self.mode!r}, restore_best={self.restore_best})")

    def on_fit_start(self, run: Run, state):
        """Checks that the run records the monitored value; starts counting afresh."""
        _check_monitor("EarlyStopping", self.monitor, run)
        self._reset()
        return None

    def on_epochs_end(self, run: Run, state, records):
        """Keeps the best value (and parameters); returns ``True`` after ``patience`` calls without one."""
        value = monitored(records, self.monitor)
        if value is None:
            return None
        if self._tracker.improves(value):
            self._tracker.value = self.best = value
            self.best_epoch, self._waited = int(state.epoch), 0
            if self.restore_best:  # a copy on the device: the next call donates (reuses) the live buffers
                self._best_params = jax.tree.map(jnp.copy, state.params)
            return None
        self._waited += 1
        if self._waited >= self.patience:
            self.stopped_epoch = int(state.epoch)
            return True
        return None

    def state_dict(self) -> dict:
        """The best value, its epoch, the calls waited, the stop epoch and (``restore_best``) the best parameters."""
        state: dict[str, Any] = {"best": self.best, "best_epoch": self.best_epoch, "waited": self._waited,
                                 "stopped_epoch": self.stopped_epoch}
        if self._best_params is not None:
            state["best_params"] = jax.tree.leaves(self._best_params)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Takes back :meth:`state_dict` (the best parameters in the structure of the run's parameters)."""
        self.best = self._tracker.value = state["best"]
        self.best_epoch, self._waited, self.stopped_epoch = state["best_epoch"], state["waited"], state["stopped_epoch"]
        if "best_params" in state:  # leaves, given the run's structure when they are returned
            self._best_params = [jnp.asarray(a) for a in state["best_params"]]

    def on_fit_end(self, run: Run, state):
        """The state with the best call's parameters, with ``restore_best``."""
        if self.restore_best and run.completed and self._best_params is not None:
            treedef = jax.tree.structure(state.params)
            return state._replace(params=jax.tree.unflatten(treedef, jax.tree.leaves(self._best_params)))
        return None


class ReduceLROnPlateau(Callback):
    """Multiplies the training state's ``lr_scale`` by ``factor`` when the monitored value stops improving.

    Keras's rule, decided once per evaluation (after every compiled call: with ``eval_data``, the ``eval_*``
    values exist only there): a value improves when it beats the best so far by more than ``min_delta``; after
    ``patience`` evaluations without an improvement the scale is multiplied by ``factor`` (never below
    ``min_scale``), the count restarts, and the next ``cooldown`` evaluations count for nothing. The scale multiplies
    every update inside the compiled step (:attr:`jaxnet.train.TrainState.lr_scale`; for optax's optimizers, the
    learning rate), so a change compiles nothing; every epoch's record holds the ``lr_scale`` it trained with, and a
    resumed run takes the scale and the counts back from its checkpoint.

    This is the callback for "lower the rate when the validation loss stalls". ``optax.contrib.reduce_on_plateau``
    is a gradient transformation that watches the *minibatch* loss at every step: its ``patience`` counts steps, so
    it fits full-batch training (one step per epoch) or a loss averaged over its own ``accumulation_size`` steps.

    Args:
      monitor: a recorded field; default ``"eval_loss"`` (so ``fit`` needs ``eval_data``).
      factor: the multiplier, in (0, 1).
      patience: evaluations without improvement before the scale drops (≥ 0).
      min_delta: the smallest change that counts as an improvement (≥ 0).
      mode: ``"min"``, ``"max"``, or ``"auto"``: ``"max"`` for accuracies, else ``"min"``.
      cooldown: evaluations after a drop during which nothing is counted (≥ 0).
      min_scale: the scale never goes below this (≥ 0).

    Raises:
      ValueError: a setting outside its range at construction; a ``monitor`` the run does not record at the start
        of ``fit``.
    """

    def __init__(self, monitor: str = "eval_loss", *, factor: float = 0.1, patience: int = 10,
                 min_delta: float = 0.0, mode: str = "auto", cooldown: int = 0, min_scale: float = 0.0):
        for name, value, low in (("patience", patience, 0), ("cooldown", cooldown, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"ReduceLROnPlateau: {name} must be an int >= {low}, got {value!r}")
        if not (isinstance(factor, (int, float)) and 0 < factor < 1):
            raise ValueError(f"ReduceLROnPlateau: factor must be a number in (0, 1), got {factor!r}")
        for name, number in (("min_delta", min_delta), ("min_scale", min_scale)):
            if not (isinstance(number, (int, float)) and math.isfinite(number) and number >= 0):
                raise ValueError(f"ReduceLROnPlateau: {name} must be a finite number >= 0, got {number!r}")
        _check_mode("ReduceLROnPlateau", mode, ("auto",) + MODES)
        self.monitor, self.factor, self.patience, self.cooldown = monitor, float(factor), patience, cooldown
        self.min_delta, self.min_scale = float(min_delta), float(min_scale)
        self.mode = ("max" if "accuracy" in monitor else "min") if mode == "auto" else mode
        self._reset()

    def _reset(self) -> None:
        """Nothing seen yet: no best value, no evaluations waited, no cooldown left."""
        self._tracker, self._waited, self._cooling = _Best(self.mode, self.min_delta), 0, 0

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau({self.monitor!r}, factor={self.factor}, patience={self.patience}, "
                f"min_delta={self.min_delta}, mode={self.mode!r}, cooldown={self.cooldown}, "
                f"min_scale={self.min_scale})")

    def on_fit_start(self, run: Run, state):
        """Checks that the run records the monitored value; starts counting afresh."""
        _check_monitor("ReduceLROnPlateau", self.monitor, run)
        self._reset()
        return None

    def on_epochs_end(self, run: Run, state, records):
        """Counts the evaluation; returns the state with a lower ``lr_scale`` when the plateau has lasted."""
        value = monitored(records, self.monitor)
        if value is None:
            return None
        if self._cooling > 0:
            self._cooling -= 1
            self._waited = 0
        if self._tracker.improves(value):
            self._tracker.value, self._waited = value, 0
            return None
        if self._cooling > 0:
            return None
        self._waited += 1
        if self._waited >= self.patience and state.lr_scale > self.min_scale:
            self._waited, self._cooling = 0, self.cooldown
            return state._replace(lr_scale=max(state.lr_scale * self.factor, self.min_scale))
        return None

    def state_dict(self) -> dict:
        """The best value, the evaluations waited and the cooldown left (the scale is the training state's)."""
        return {"best": self._tracker.value, "waited": self._waited, "cooling": self._cooling}

    def load_state_dict(self, state: dict) -> None:
        """Takes back :meth:`state_dict`."""
        self._tracker.value, self._waited, self._cooling = state["best"], state["waited"], state["cooling"]


def start_log(path, *, fresh: bool, first_epoch: int | None = None) -> None:
    """Empties the JSON-lines log at ``path`` for a fresh run; for a resumed one starting at ``first_epoch``, drops
    the lines of that epoch and later (a run killed after its last checkpoint wrote them), keeping the rest."""
    if path is None:
        return
    if fresh:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        open(path, "w").close()
    elif first_epoch is not None and os.path.exists(path):
        with open(path) as f:
            lines = f.readlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("epoch", 0) < first_epoch]
        if len(kept) != len(lines):
            with open(path, "w") as f:
                f.writelines(kept)


def append_log(path, records: list[dict]) -> None:
    """Appends one JSON line per record."""
    if path is not None:
        with open(path, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)


class JsonLog(Callback):
    """One JSON line per epoch record, appended to ``path`` (process 0 only).

    A run that starts at epoch 1 empties the file first; a resumed or continued run starting at epoch k + 1 drops
    any line of an epoch past k (written by a run killed after its last checkpoint) and appends, so the file holds
    each epoch of the run once.

    Raises:
      ValueError: at the start of ``fit``, when the path cannot be written.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"JsonLog({self.path!r})"

    def on_fit_start(self, run: Run, state):
        """Checks that the path can be written."""
        if run.writer:
            _writable_parent("JsonLog", self.path)
        self._first = True
        return None

    def on_epochs_end(self, run: Run, state, records):
        """Appends the records (emptying the file first when the run starts at epoch 1)."""
        if not run.writer:
            return None
        if self._first:
            start_log(self.path, fresh=records[0]["epoch"] == 1, first_epoch=records[0]["epoch"])
            self._first = False
        append_log(self.path, records)
        return None


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell), where stderr is no terminal but a bar shows."""
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)  # None where IPython is not imported
    return get_ipython is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell"


class ProgressBar:
    """A tqdm bar over epochs, shown only when asked for, and when stderr is a terminal or in a notebook (tqdm's
    notebook form where ipywidgets is installed, its text form otherwise)."""

    def __init__(self, total: int, initial: int, verbose: bool):
        self.bar = None
        if verbose and (sys.stderr.isatty() or in_notebook()):
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="epoch", dynamic_ncols=True)

    def update(self, n: int, record: dict) -> None:
        """Advances the bar by ``n`` epochs and shows ``record``'s losses and accuracy."""
        if self.bar is not None:
            shown = {k: v for k, v in record.items() if k.endswith(("_loss", "_accuracy"))}  # every named set's
            self.bar.set_postfix({k: f"{np.mean(v):.4g}" for k, v in shown.items()}, refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        """Closes the bar (a no-op without one)."""
        if self.bar is not None:
            self.bar.close()


class Progress(Callback):
    """A tqdm bar over the epochs with the latest losses and accuracy; shown when stderr is a terminal or in a
    Jupyter notebook.

    ``fit(..., verbose=True)`` adds one when none is given.
    """

    def on_fit_start(self, run: Run, state):
        """Nothing yet: the bar starts at the first call's first epoch."""
        self._bar: ProgressBar | None = None
        return None

    def on_epochs_end(self, run: Run, state, records):
        """Advances the bar by the call's epochs and shows its last losses and accuracy."""
        if self._bar is None:
            self._bar = ProgressBar(run.epochs, records[0]["epoch"] - 1, True)
        self._bar.update(len(records), records[-1])
        return None

    def on_fit_end(self, run: Run, state):
        """Closes the bar."""
        if self._bar is not None:
            self._bar.close()
        return None


def injected_hyperparams(opt_state) -> dict[str, Any]:
    """The hyperparameters an optimizer built with ``optax.inject_hyperparams`` keeps in its state (the first such
    state found, depth first), as ``{name: value}``; empty when there are none."""
    found: dict[str, Any] = {}

    def visit(node) -> bool:
        hyperparams = getattr(node, "hyperparams", None)
        if isinstance(hyperparams, dict):
            found.update(hyperparams)
            return True
        children = node if isinstance(node, (tuple, list)) else node.values() if isinstance(node, dict) else ()
        return any(visit(child) for child in children)

    visit(opt_state)
    return found


class TensorBoard(Callback):
    """Scalars per epoch for TensorBoard in ``logdir`` (process 0 only), written with tensorboardX.

    Every numeric field of each record is a scalar at its epoch: ``train_loss``, ``seconds``, ``eval_loss``,
    ``eval_accuracy`` (an ensemble's as ``train_loss/member_k``). Hyperparameters the optimizer injects
    (``optax.inject_hyperparams``: the learning rate, say) are written at the end of each compiled call as
    ``hyperparams/<name>``.

    Raises:
      ImportError: at the start of ``fit``, without tensorboardX (``pip install 'jaxnet-lecture[tensorboard]'``).
      ValueError: at the start of ``fit``, when ``logdir`` cannot be created or written.
    """

    def __init__(self, logdir: str | os.PathLike):
        self.logdir = os.fspath(logdir)
        self._writer: Any = None

    def __repr__(self) -> str:
        return f"TensorBoard({self.logdir!r})"

    def on_fit_start(self, run: Run, state):
        """Opens the event writer (process 0), after checking tensorboardX and the directory."""
        self._writer = None
        if not run.writer:
            return None
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise ImportError("TensorBoard needs tensorboardX: pip install 'jaxnet-lecture[tensorboard]'") from e
        _writable_parent("TensorBoard", os.path.join(self.logdir, "events"))
        self._writer = SummaryWriter(self.logdir)
        return None

    def on_epochs_end(self, run: Run, state, records):
        """Writes each record's scalars and the injected hyperparameters, then flushes."""
        hyperparams = distributed.to_host(injected_hyperparams(state.opt_state))  # every process takes part
        if self._writer is None:
            return None
        for record in records:
            for name, value in record.items():
                if name != "epoch":
                    self._scalars(name, value, record["epoch"])
        for name, value in hyperparams.items():
            self._scalars(f"hyperparams/{name}", value.tolist(), int(state.epoch))
        self._writer.flush()
        return None

    def _scalars(self, name: str, value, step: int) -> None:
        if isinstance(value, list):  # one per ensemble member
            for k, v in enumerate(value):
                self._writer.add_scalar(f"{name}/member_{k}", float(v), step)
        else:
            self._writer.add_scalar(name, float(value), step)

    def on_fit_end(self, run: Run, state):
        """Closes the event writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return None
