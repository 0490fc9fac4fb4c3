"""jaxnet.callbacks: checkpoints that resume exactly, the best checkpoint, early stopping, the JSON log, TensorBoard,
and settings refused before anything trains."""

import json
import pickle
import re

import chex
import jax
import numpy as np
import optax
import pytest
from refusals import refused

from jaxnet import callbacks, checkpoint, distributed, mlp, train

import requires
from problems import blobs, small_params, trained


class Spy(callbacks.Callback):
    """Keeps every record it is shown, and the epochs of the states it sees."""

    def __init__(self, stop_at=None):
        self.records, self.epochs, self.stop_at, self.ends = [], [], stop_at, []

    def on_epochs_end(self, run, state, records):
        self.records.extend(records)
        self.epochs.append(state.epoch)
        return state.epoch == self.stop_at

    def on_fit_end(self, run, state):
        self.ends.append(run.completed)


def shuffled_labels(y, seed=3):
    """Labels no network can learn: an evaluation set whose loss rises as training fits the real ones."""
    return np.random.RandomState(seed).permutation(y)


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    x, y = blobs()
    optimizer = optax.adam(1e-2)  # a stateful optimizer: its moments must survive the restart
    full, full_history = trained(small_params(), x, y, optimizer=optimizer, epochs=6)
    path = tmp_path / "ckpt.npz"
    trained(small_params(), x, y, optimizer=optimizer, epochs=4, callbacks=[callbacks.Checkpoint(path)])
    assert checkpoint.read_header(path)["epoch"] == 4
    resumed, history = trained(small_params(seed=7), x, y, optimizer=optimizer, epochs=6,
                               callbacks=[callbacks.Checkpoint(path, resume=True)])
    chex.assert_trees_all_equal(resumed.params, full.params)
    chex.assert_trees_all_equal(resumed.opt_state, full.opt_state)
    assert resumed.epoch == 6 and [r["epoch"] for r in history] == list(range(1, 7))
    assert history[-1]["train_loss"] == full_history[-1]["train_loss"]


def test_divergence_names_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = blobs()
    path = tmp_path / "c.npz"
    trained(small_params(), x, y, epochs=2, callbacks=[callbacks.Checkpoint(path)])
    spy = Spy()
    with refused(FloatingPointError, "diverged", "non-finite in epoch 3 (of 5)", f"last good checkpoint is {path}"):
        trained(small_params(), x * 1e30, y, optimizer=optax.sgd(1e10), epochs=5,
                callbacks=[callbacks.Checkpoint(path, resume=True), spy])
    assert checkpoint.read_header(path)["epoch"] == 2
    assert spy.ends == [False]  # told that the run did not complete


def test_the_log_holds_each_epochs_record_once_across_a_continued_run(tmp_path):
    x, y = blobs()
    log = tmp_path / "logs" / "log.jsonl"
    trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.sgd(0.1), batch_size=32,
                            epochs_per_call=2)
    common = dict(key=jax.random.key(1), eval_data=(x, y), verbose=False, callbacks=[callbacks.JsonLog(log)])
    state, first = trainer.fit(trainer.init(small_params()), x, y, epochs=3, **common)
    state, second = trainer.fit(state, x, y, epochs=5, **common)  # continues: appends epochs 4 and 5
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == list(first) + list(second)
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4, 5]
    assert ["eval_accuracy" in r for r in lines] == [False, True, True, False, True]  # each call's last epoch
    log.write_text("notes, not a log\n")  # whatever the file held: a fresh run writes over it, unread
    trainer.fit(trainer.init(small_params()), x, y, epochs=1, **common)
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1]


def test_every_callback_sees_the_history_and_may_stop_the_run():
    x, y = blobs()
    spy, second = Spy(stop_at=4), Spy()
    state, history = trained(small_params(), x, y, epochs=10, eval_data=(x, y), callbacks=[spy, second],
                             epochs_per_call=2)
    assert spy.records == list(history) == second.records  # the same dicts fit returns, in order
    assert spy.epochs == [2, 4] and state.epoch == 4 and spy.ends == [True]  # stopped after the call ending at 4
    straight, _ = trained(small_params(), x, y, epochs=4, epochs_per_call=2)
    chex.assert_trees_all_equal(state.params, straight.params)


def test_resume_policies(tmp_path):
    x, y = blobs()
    path = tmp_path / "c.npz"
    with pytest.raises(FileNotFoundError, match="resume=True but there is no checkpoint at .*c.npz"):
        trained(small_params(), x, y, callbacks=[callbacks.Checkpoint(path, resume=True)])
    with pytest.raises(ValueError, match="^Checkpoint: resume must be True, False or 'auto', got 'yes'$"):
        callbacks.Checkpoint(path, resume="yes")
    _, history = trained(small_params(), x, y, epochs=2, callbacks=[callbacks.Checkpoint(path, resume="auto")])
    assert [r["epoch"] for r in history] == [1, 2]  # nothing to resume from: a fresh start
    straight, _ = trained(small_params(), x, y, epochs=3)
    # Other starting parameters: a resumed run ignores them, a fresh one starts from them.
    resumed, history = trained(small_params(seed=5), x, y, epochs=3,
                               callbacks=[callbacks.Checkpoint(path, resume="auto")])
    assert [r["epoch"] for r in history] == [1, 2, 3]  # resumed after epoch 2
    chex.assert_trees_all_equal(resumed.params, straight.params)
    _, history = trained(small_params(), x, y, epochs=1, callbacks=[callbacks.Checkpoint(path)])  # default: fresh
    assert [r["epoch"] for r in history] == [1] and checkpoint.read_header(path)["epoch"] == 1


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"epoch,loss\n1,0.5\n", "truncated", "pickle"],
                         ids=["empty", "broken-zip", "foreign", "truncated", "pickle"])
def test_an_unreadable_checkpoint_names_the_file_and_the_way_out(tmp_path, content):
    x, y = blobs()
    path = tmp_path / "c.npz"
    if content == "truncated":
        trained(small_params(), x, y, epochs=1, callbacks=[callbacks.Checkpoint(path)])
        content = path.read_bytes()[: path.stat().st_size // 2]
    if content == "pickle":  # what np.load reads as a pickle; its words would ask for allow_pickle=True
        content = pickle.dumps({"weights": [1.0, 2.0]})
    path.write_bytes(content)
    message = re.escape(str(path)) + r" is not a readable jaxnet checkpoint.*resume=False"  # a path is not a regex
    for call in (lambda: trained(small_params(), x, y, callbacks=[callbacks.Checkpoint(path, resume=True)]),
                 lambda: checkpoint.read_header(path)):
        with pytest.raises(ValueError, match=message) as refused:
            call()
        assert "allow_pickle" not in str(refused.value)  # never the advice to unpickle a file
    assert path.read_bytes() == content  # nothing is deleted on the way


def test_a_checkpoint_without_a_header_is_refused_when_resuming(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, weights=np.zeros(3))
    message = re.escape(str(path)) + r" is not a jaxnet checkpoint \(no header\).*resume=False"
    with pytest.raises(ValueError, match=message):
        trained(small_params(), *blobs(), callbacks=[callbacks.Checkpoint(path, resume=True)])


def test_the_checkpoint_header_describes_the_network_and_keeps_the_callers_meta(tmp_path):
    # What a reader of the checkpoint alone (the playground's digits page) rebuilds the network from: the layer
    # sizes, the activations, the input's shift and scale, the loss and the dtype; an ensemble's sizes without K.
    net = mlp.Net(("tanh", "sigmoid"), input_shift=0.5, input_scale=2.0)
    params = mlp.init_ensemble(jax.random.key(0), 2, [3, 5, 4, 2])
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    path = tmp_path / "c.npz"
    trainer = train.Trainer(net, loss="mse", optimizer=optax.sgd(0.1), batch_size=4, ensemble=True)
    _, history = trainer.fit(trainer.init(params), x, y, epochs=1, key=jax.random.key(1), verbose=False,
                             callbacks=[callbacks.Checkpoint(path, meta={"note": "mine"})])
    meta = checkpoint.read_header(path)["meta"]
    expected = {"sizes": [3, 5, 4, 2], "activation": ["tanh", "sigmoid"], "output": "identity", "input_shift": 0.5,
                "input_scale": 2.0, "loss": "mse", "dtype": "float32", "note": "mine", "history": list(history)}
    assert {k: meta.get(k) for k in expected} == expected


def test_keep_best_holds_the_epoch_with_the_best_monitored_value(tmp_path):
    x, y = blobs()
    eval_data = (x, shuffled_labels(y))
    path = tmp_path / "best.npz"
    kwargs = dict(optimizer=optax.adam(1e-2), eval_data=eval_data)
    _, history = trained(small_params(), x, y, epochs=8,
                         callbacks=[callbacks.Checkpoint(path, keep="best", monitor="eval_loss")], **kwargs)
    losses = [r["eval_loss"] for r in history]
    best = int(np.argmin(losses)) + 1
    assert best < 8  # the evaluation loss rises as the network fits other labels: the best is not the last
    header = checkpoint.read_header(path)
    assert header["epoch"] == best
    reference, _ = trained(small_params(), x, y, epochs=best, **kwargs)  # the same run, stopped there
    template = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.adam(1e-2),
                             batch_size=32).init(small_params())
    params, opt_state, epoch, _, _ = checkpoint.restore(path, params=template.params, opt_state=template.opt_state)
    chex.assert_trees_all_equal(params, reference.params)
    # mode="max" on the accuracy picks by the largest value instead.
    path = tmp_path / "best_accuracy.npz"
    _, history = trained(small_params(), x, y, epochs=8, callbacks=[
        callbacks.Checkpoint(path, keep="best", monitor="eval_accuracy", mode="max")], **kwargs)
    accuracies = [r["eval_accuracy"] for r in history]
    assert checkpoint.read_header(path)["epoch"] == int(np.argmax(accuracies)) + 1


def test_early_stopping_stops_after_patience_calls_and_restores_the_best(tmp_path):
    x, y = blobs()
    kwargs = dict(optimizer=optax.adam(1e-2), eval_data=(x, shuffled_labels(y)))
    _, full = trained(small_params(), x, y, epochs=30, **kwargs)
    losses = [r["eval_loss"] for r in full]
    # The rule written out: stop at the first epoch that is `patience` evaluations past the best so far.
    patience, best, waited, stop = 2, np.inf, 0, None
    for epoch, value in enumerate(losses, start=1):
        if value < best:
            best, best_epoch, waited = value, epoch, 0
        else:
            waited += 1
            if waited == patience:
                stop = epoch
                break
    assert stop is not None and stop < 30
    stopper = callbacks.EarlyStopping("eval_loss", patience=patience)
    state, history = trained(small_params(), x, y, epochs=30, callbacks=[stopper], **kwargs)
    assert (stopper.stopped_epoch, stopper.best_epoch, stopper.best) == (stop, best_epoch, best)
    assert state.epoch == stop and len(history) == stop
    reference, _ = trained(small_params(), x, y, epochs=best_epoch, **kwargs)
    chex.assert_trees_all_equal(state.params, reference.params)  # the best epoch's parameters
    kept, _ = trained(small_params(), x, y, epochs=30, **kwargs,
                      callbacks=[callbacks.EarlyStopping(patience=patience, restore_best=False)])
    last, _ = trained(small_params(), x, y, epochs=stop, **kwargs)
    chex.assert_trees_all_equal(kept.params, last.params)  # restore_best=False: the last epoch's


def test_early_stopping_on_the_accuracy_watches_for_a_rise():
    x, y = blobs()
    stopper = callbacks.EarlyStopping("eval_accuracy", patience=1, min_delta=0.5)
    assert stopper.mode == "max"
    # No accuracy rises by more than 0.5 after the first evaluation: the run stops at the second.
    state, _ = trained(small_params(), x, y, epochs=10, eval_data=(x, y), callbacks=[stopper])
    assert state.epoch == 2 and stopper.best_epoch == 1


def test_bad_settings_are_refused_before_anything_trains(tmp_path):
    x, y = blobs()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    cases = [
        ([callbacks.EarlyStopping(patience=3)],
         r"EarlyStopping: monitor='eval_loss' is not recorded by this run \(eval_\* values need "
         r"fit\(\.\.\., eval_data=\.\.\.\)\); it records \['epoch', 'train_loss', 'seconds', 'lr_scale'\]"),
        ([callbacks.Checkpoint(tmp_path / "c.npz", keep="best", monitor="eval_accuracy")],
         "Checkpoint: monitor='eval_accuracy' is not recorded"),
        ([callbacks.JsonLog(blocker / "log.jsonl")], f"JsonLog: cannot write {re.escape(str(blocker))}"),
        ([callbacks.Checkpoint(blocker / "c.npz")], "Checkpoint: cannot write"),
        ([callbacks.JsonLog(tmp_path)], "is a directory; give a file path"),
    ]
    for given, message in cases:
        spy = Spy()
        with pytest.raises(ValueError, match=message):
            trained(small_params(), x, y, callbacks=[spy] + given)
        assert spy.records == []
    for make, message in [
            (lambda: callbacks.EarlyStopping(patience=0), "patience must be an int >= 1, got 0"),
            (lambda: callbacks.EarlyStopping(patience=1, min_delta=-1), "min_delta must be a finite number >= 0"),
            (lambda: callbacks.EarlyStopping(patience=1, mode="up"), r"mode must be one of \['auto', 'min'"),
            (lambda: callbacks.Checkpoint("c.npz", keep="best"), "keep='best' needs monitor="),
            (lambda: callbacks.Checkpoint("c.npz", keep="all"), "keep must be 'last' or 'best', got 'all'"),
            (lambda: callbacks.Checkpoint("c.npz", keep="best", monitor="eval_loss", resume="auto"),
             "cannot resume a run; add a second Checkpoint"),
            (lambda: callbacks.Checkpoint("c.npz", mode="lowest"), r"mode must be one of \['auto', 'min', 'max'\]")]:
        with pytest.raises(ValueError, match=message):
            make()


def test_only_process_zero_writes(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX", reason=requires.extra("tensorboard"))
    x, y = blobs()
    monkeypatch.setattr(distributed, "is_writer", lambda: False)
    trained(small_params(), x, y, epochs=2, eval_data=(x, y), callbacks=[
        callbacks.Checkpoint(tmp_path / "c.npz"), callbacks.JsonLog(tmp_path / "log.jsonl"),
        callbacks.TensorBoard(tmp_path / "tb")])
    assert list(tmp_path.iterdir()) == []


def test_injected_hyperparams_are_found_inside_a_chain():
    params = small_params()
    optimizer = optax.chain(optax.clip(1.0), optax.inject_hyperparams(optax.sgd)(learning_rate=0.25))
    found = callbacks.injected_hyperparams(optimizer.init(params))
    assert list(found) == ["learning_rate"] and float(found["learning_rate"]) == 0.25
    assert callbacks.injected_hyperparams(optax.adam(1e-3).init(params)) == {}


def test_tensorboard_writes_each_records_scalars_and_the_learning_rate(tmp_path):
    pytest.importorskip("tensorboardX", reason=requires.extra("tensorboard"))
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                            reason=requires.extra("tensorboard"))
    x, y = blobs()
    schedule = optax.linear_schedule(0.1, 0.0, 18)  # 6 steps an epoch: the rate falls by 1/3 an epoch
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
    _, history = trained(small_params(), x, y, epochs=3, optimizer=optimizer, eval_data=(x, y),
                         callbacks=[callbacks.TensorBoard(tmp_path / "tb")])
    events = event_accumulator.EventAccumulator(str(tmp_path / "tb"))
    events.Reload()

    def scalars(tag):
        return [(e.step, e.value) for e in events.Scalars(tag)]

    for tag in ("train_loss", "eval_loss", "eval_accuracy", "lr_scale"):
        expected = [(r["epoch"], r[tag]) for r in history]
        assert [step for step, _ in scalars(tag)] == [step for step, _ in expected]
        np.testing.assert_allclose([v for _, v in scalars(tag)], [v for _, v in expected], rtol=1e-6)  # float32
    # inject_hyperparams keeps the rate of the step it took last: steps 6, 12 and 18 (counted from 1) of the 18.
    np.testing.assert_allclose([v for _, v in scalars("hyperparams/learning_rate")],
                               [0.1 * (1 - s / 18) for s in (5, 11, 17)], rtol=1e-6)
    assert [step for step, _ in scalars("hyperparams/learning_rate")] == [1, 2, 3]


def test_a_value_equal_to_the_best_is_no_improvement():
    # A rate of 0 and the full batch: every epoch's loss is the first one's, exactly.
    x, y = blobs()
    trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.sgd(0.0), batch_size=len(x))
    stopper = callbacks.EarlyStopping("train_loss", patience=2)
    state, history = trainer.fit(trainer.init(small_params()), x, y, epochs=10, key=jax.random.key(1),
                                 callbacks=[stopper], verbose=False)
    assert len({r["train_loss"] for r in history}) == 1
    assert (state.epoch, stopper.best_epoch, stopper.stopped_epoch) == (3, 1, 3)


def hooks_run(**kwargs):
    """A Run as Trainer.fit makes one, for calling a callback's hooks by hand."""
    return callbacks.Run(**{"epochs": 10, "key": jax.random.key(0), "recorded": ("epoch", "train_loss", "seconds",
                                                                                  "eval_loss", "eval_accuracy"),
                            "history": [], "meta": {}, **kwargs})


def feed(stopper, values, *, monitor="eval_loss", completed=True):
    """Runs ``stopper``'s hooks over one compiled call per value; returns the epochs it asked to stop after and the
    state on_fit_end returned (None: keep the last)."""
    run, state = hooks_run(), train.TrainState(params=[(np.zeros((1, 1)), np.zeros(1))], opt_state=(), epoch=0)
    stopper.on_fit_start(run, state)
    stops = []
    for epoch, value in enumerate(values, start=1):
        state = state._replace(params=[(np.full((1, 1), epoch), np.zeros(1))], epoch=epoch)
        if stopper.on_epochs_end(run, state, [{"epoch": epoch, monitor: value}]):
            stops.append(epoch)
    run.completed = completed
    return stops, stopper.on_fit_end(run, state)


def test_early_stopping_by_its_rule_on_values_written_by_hand():
    nan = float("nan")
    # NaN is never an improvement, and counts as a call without one from the first call on.
    assert feed(callbacks.EarlyStopping(patience=2), [nan, 1.0, 1.1, 1.2])[0] == [4]
    assert feed(callbacks.EarlyStopping(patience=2), [nan, nan])[0] == [2]
    # min_delta: 0.95 is not better than 1.0 by more than 0.1; 0.85 is.
    stopper = callbacks.EarlyStopping(patience=2, min_delta=0.1)
    assert feed(stopper, [1.0, 0.95, 0.85, 0.8, 0.78])[0] == [5]
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.85, 3, 5)
    # mode="max": equal is no improvement either way.
    assert feed(callbacks.EarlyStopping("eval_accuracy", patience=1), [0.5, 0.5], monitor="eval_accuracy")[0] == [2]
    assert feed(callbacks.EarlyStopping("eval_accuracy", patience=1, mode="min"), [0.5, 0.4, 0.45],
                monitor="eval_accuracy")[0] == [3]


def test_early_stopping_restores_the_best_only_after_a_completed_run():
    stops, returned = feed(callbacks.EarlyStopping(patience=5), [1.0, 0.5, 0.7])
    assert stops == [] and returned.epoch == 3 and returned.params[0][0][0, 0] == 2  # epoch 2's parameters
    assert feed(callbacks.EarlyStopping(patience=5), [1.0, 0.5, 0.7], completed=False)[1] is None  # an error
    assert feed(callbacks.EarlyStopping(patience=5, restore_best=False), [1.0, 0.5, 0.7])[1] is None


def test_early_stoppings_record_is_none_until_set_and_reset_by_each_fit():
    stopper = callbacks.EarlyStopping(patience=1, restore_best=True)
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (None, None, None)
    fresh = {"best": None, "best_epoch": None, "waited": 0, "stopped_epoch": None}  # no best parameters yet
    assert stopper.state_dict() == fresh
    assert feed(stopper, [1.0, 2.0])[0] == [2] and stopper.stopped_epoch == 2
    stopper.on_fit_start(hooks_run(), None)
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (None, None, None)
    assert stopper.state_dict() == fresh



def test_a_monitor_not_recorded_is_refused_with_the_hint_only_where_eval_data_is_missing():
    without = hooks_run(recorded=("epoch", "train_loss"))
    with pytest.raises(ValueError) as refusal:
        callbacks.EarlyStopping("eval_loss", patience=1).on_fit_start(without, None)
    assert str(refusal.value) == ("EarlyStopping: monitor='eval_loss' is not recorded by this run (eval_* values "
                                  "need fit(..., eval_data=...)); it records ['epoch', 'train_loss']")
    with_eval = hooks_run(recorded=("epoch", "train_loss", "eval_loss"))  # a loss without an accuracy
    with pytest.raises(ValueError) as refusal:
        callbacks.ReduceLROnPlateau("eval_accuracy").on_fit_start(with_eval, None)
    assert str(refusal.value) == ("ReduceLROnPlateau: monitor='eval_accuracy' is not recorded by this run; it "
                                  "records ['epoch', 'train_loss', 'eval_loss']")

def test_the_messages_name_the_callback_and_the_problem_exactly():
    x, y = blobs()
    cases = [
        (lambda: trained(small_params(), x, y, callbacks=[callbacks.EarlyStopping("train_acc", patience=1)]),
         "EarlyStopping: monitor='train_acc' is not recorded by this run; it records ['epoch', 'train_loss', "
         "'seconds', 'lr_scale']"),
        (lambda: callbacks.EarlyStopping(patience=1, mode="up"),
         "EarlyStopping: mode must be one of ['auto', 'min', 'max'], got 'up'"),
        (lambda: callbacks.EarlyStopping(patience=2.0), "EarlyStopping: patience must be an int >= 1, got 2.0"),
        (lambda: callbacks.EarlyStopping(patience=True), "EarlyStopping: patience must be an int >= 1, got True"),
        (lambda: callbacks.EarlyStopping(patience=1, min_delta=float("inf")),
         "EarlyStopping: min_delta must be a finite number >= 0, got inf"),
        (lambda: callbacks.Checkpoint("c.npz", mode="lowest"),
         "Checkpoint: mode must be one of ['auto', 'min', 'max'], got 'lowest'")]
    for call, message in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            call()


def test_tensorboard_writes_each_members_scalars_and_nothing_else(tmp_path):
    pytest.importorskip("tensorboardX", reason=requires.extra("tensorboard"))
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                            reason=requires.extra("tensorboard"))
    x, y = blobs()
    trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.sgd(0.1), batch_size=32,
                            ensemble=True)
    _, history = trainer.fit(trainer.init(mlp.init_ensemble(jax.random.key(0), 2, [4, 16, 3])), x, y, epochs=2,
                             key=jax.random.key(1), eval_data=(x, y), verbose=False,
                             callbacks=[callbacks.TensorBoard(tmp_path)])
    events = event_accumulator.EventAccumulator(str(tmp_path))
    events.Reload()
    # One per member; a call's seconds and the update's scale are the ensemble's.
    fields = ("train_loss", "eval_loss", "eval_accuracy")
    assert sorted(events.Tags()["scalars"]) == sorted([f"{f}/member_{k}" for f in fields for k in (0, 1)] +
                                                      ["seconds", "lr_scale"])
    for field in fields:
        for k in (0, 1):
            written = [(e.step, e.value) for e in events.Scalars(f"{field}/member_{k}")]
            assert [step for step, _ in written] == [1, 2]
            np.testing.assert_allclose([v for _, v in written], [r[field][k] for r in history], rtol=1e-6)


def test_tensorboard_refuses_an_unwritable_directory(tmp_path):
    pytest.importorskip("tensorboardX", reason=requires.extra("tensorboard"))
    x, y = blobs()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with refused(ValueError, "TensorBoard", f"cannot write {blocker}/tb/events", "directory cannot be created"):
        trained(small_params(), x, y, callbacks=[callbacks.TensorBoard(blocker / "tb")])


def test_tensorboard_without_its_library_says_how_to_install_it(tmp_path, monkeypatch):
    x, y = blobs()
    monkeypatch.setitem(__import__("sys").modules, "tensorboardX", None)  # as if not installed
    with refused(ImportError, "TensorBoard needs tensorboardX", "pip install 'jaxnet-lecture[tensorboard]'"):
        trained(small_params(), x, y, callbacks=[callbacks.TensorBoard(tmp_path / "tb")])
    assert not (tmp_path / "tb").exists()


def test_injected_hyperparams_are_the_first_found_depth_first_through_tuples_and_dicts():
    params = small_params()
    first, second = (optax.inject_hyperparams(optax.sgd)(learning_rate=r) for r in (0.25, 0.5))
    state = optax.chain(first, second).init(params)
    assert {k: float(v) for k, v in callbacks.injected_hyperparams(state).items()} == {"learning_rate": 0.25}
    assert {k: float(v) for k, v in callbacks.injected_hyperparams({"inner": second.init(params)}).items()} == \
        {"learning_rate": 0.5}


def test_the_checkpoints_refusals_are_exact():
    for kwargs, facts in [
            (dict(keep="best"), ["Checkpoint", "keep='best' needs monitor=", "'eval_loss'"]),
            (dict(keep="best", monitor="eval_loss", resume=True),
             ["Checkpoint", "keep='best'", "cannot resume", "Checkpoint(path, resume=..., keep='last')"])]:
        with refused(ValueError, *facts):
            callbacks.Checkpoint("c.npz", **kwargs)


def test_a_directory_without_write_permission_is_refused(tmp_path, monkeypatch):
    # Root may write anywhere, so the permission is what os.access says.
    monkeypatch.setattr(callbacks.os, "access", lambda path, mode: False)
    with refused(ValueError, "JsonLog", f"cannot write {tmp_path / 'log.jsonl'}", f"{tmp_path} is not writable"):
        trained(small_params(), *blobs(), callbacks=[callbacks.JsonLog(tmp_path / "log.jsonl")])


def test_a_keep_best_checkpoint_of_an_accuracy_keeps_the_highest(tmp_path):
    # mode="auto", as EarlyStopping: an accuracy is better higher. The best file holds the epoch of the highest.
    x, y = blobs()
    path = tmp_path / "best.npz"
    _, history = trained(small_params(), x, y, epochs=6, eval_data=(x[:60], y[:60]),
                         callbacks=[callbacks.Checkpoint(path, keep="best", monitor="eval_accuracy")])
    accuracies = [r["eval_accuracy"] for r in history]
    assert checkpoint.read_header(path)["epoch"] == 1 + int(np.argmax(accuracies))  # the first of the highest
    assert callbacks.Checkpoint(path, keep="best", monitor="eval_loss").mode == "min"
    assert callbacks.Checkpoint(path, keep="best", monitor="eval_accuracy", mode="min").mode == "min"


def test_the_plateau_lowers_the_scale_as_keras_rule_says_and_trains_as_sgd_at_that_rate():
    x, y = blobs()
    lr, factor = 0.3, 0.5
    plateau = callbacks.ReduceLROnPlateau("eval_loss", factor=factor, patience=2, cooldown=1, min_scale=0.1)
    # Labels shifted by one class: the better the network learns, the worse this loss, so it plateaus at once.
    state, history = trained(small_params(), x, y, epochs=12, optimizer=optax.sgd(lr),
                             eval_data=(x[:40], (y[:40] + 1) % 3), callbacks=[plateau])
    # The rule written out from the recorded values: the scale each epoch trained with.
    best, waited, cooling, scale, expected = None, 0, 0, 1.0, []
    for record in history:
        expected.append(scale)
        value = record["eval_loss"]
        if cooling > 0:
            cooling, waited = cooling - 1, 0
        if best is None or value < best:
            best, waited = value, 0
        elif cooling == 0:
            waited += 1
            if waited >= 2 and scale > 0.1:
                scale, waited, cooling = max(scale * factor, 0.1), 0, 1
    assert [r["lr_scale"] for r in history] == expected and state.lr_scale == scale
    assert min(expected) < 1.0, "the run must hit a plateau for this test to mean anything"
    # The same run by hand: plain SGD epoch by epoch at lr × that epoch's scale gives the same parameters.
    params = small_params()
    for epoch, s in enumerate(expected, start=1):
        trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.sgd(lr * s), batch_size=32)
        step, _ = trainer.fit(train.TrainState(params, optax.sgd(lr * s).init(params), epoch - 1), x, y,
                              epochs=epoch, key=jax.random.key(1), verbose=False)
        params = step.params
    chex.assert_trees_all_close(state.params, params, rtol=1e-5, atol=1e-6)  # lr·(s·u) against (lr·s)·u: round-off



def plateau_scales(plateau, values):
    """The scale each call of ``plateau`` leaves, fed ``values`` as eval_loss by hand."""
    run = hooks_run()
    state = train.TrainState(params=[(np.zeros((1, 1)), np.zeros(1))], opt_state=(), epoch=0)
    plateau.on_fit_start(run, state)
    scales = []
    for epoch, value in enumerate(values, start=1):
        state = plateau.on_epochs_end(run, state._replace(epoch=epoch), [{"epoch": epoch, "eval_loss": value}]) or state
        scales.append(state.lr_scale)
    return scales


def test_the_plateau_by_its_rule_on_values_written_by_hand():
    # Keras's rule traced by hand. Patience 2, cooldown 2: a drop at the 2nd call without a gain; the first call
    # after a drop counts for nothing and the count restarts from 0 at the second; at the floor (0.3) nothing drops
    # and the calls without a gain keep counting.
    plateau = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2, min_scale=0.3)
    scales = plateau_scales(plateau, [1.0] * 9 + [0.5] * 6)
    assert scales == [1.0, 1.0, 0.5, 0.5, 0.5, 0.3] + [0.3] * 9
    assert plateau.state_dict() == {"best": 0.5, "waited": 5, "cooling": 0}
    # No cooldown: each run of 2 calls without a gain drops the scale, the count starting afresh at each drop.
    assert plateau_scales(callbacks.ReduceLROnPlateau(factor=0.5, patience=2), [1.0] * 7) == [
        1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    # Patience 1, cooldown 2: a drop at each call without a gain but the one right after a drop (the cooldown counts
    # down 2 → 1 there, and 1 → 0 at the next call, which counts again).
    assert plateau_scales(callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2), [1.0] * 6) == [
        1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    # Patience 0: every call without a gain drops it (the first call is a gain: there is no best before it).
    assert plateau_scales(callbacks.ReduceLROnPlateau(factor=0.5, patience=0), [1.0] * 3) == [1.0, 0.5, 0.25]


def test_the_plateaus_defaults_are_keras():
    plateau = callbacks.ReduceLROnPlateau()
    assert (plateau.monitor, plateau.factor, plateau.patience, plateau.min_delta, plateau.mode, plateau.cooldown,
            plateau.min_scale) == ("eval_loss", 0.1, 10, 0.0, "min", 0, 0.0)
    assert plateau.state_dict() == {"best": None, "waited": 0, "cooling": 0}  # before any fit, as after a start
    assert callbacks.ReduceLROnPlateau("eval_accuracy").mode == "max"  # "auto": accuracies rise
    assert callbacks.ReduceLROnPlateau("eval_accuracy", mode="min").mode == "min"


def test_the_plateau_counts_a_gain_only_past_min_delta_and_in_its_mode():
    # min_delta 0.1: 0.95 is no gain on 1.0, 0.85 is. In "max" mode, a fall is never a gain.
    plateau = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.1)
    assert plateau_scales(plateau, [1.0, 0.95, 0.85, 0.8]) == [1.0, 0.5, 0.5, 0.25]
    rising = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, mode="max")
    assert plateau_scales(rising, [1.0, 2.0, 1.5]) == [1.0, 1.0, 0.5]

def test_a_new_scale_compiles_nothing(monkeypatch):
    x, y = blobs()
    trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.sgd(0.1), batch_size=32)
    state = trainer.init(small_params())
    state, _ = trainer.fit(state, x, y, epochs=1, key=jax.random.key(1), verbose=False)
    traces = []
    monkeypatch.setattr(train.program, "make_update", lambda *a, **k: traces.append(1))
    before = trainer._program()._cache_size()
    trainer.fit(state._replace(lr_scale=0.25), x, y, epochs=2, key=jax.random.key(1), verbose=False)
    assert trainer._program()._cache_size() == before and not traces


def test_the_plateaus_settings_are_checked():
    for kwargs, message in (({"factor": 1.0}, "factor must be a number in"), ({"factor": 0}, "factor must be"),
                            ({"patience": -1}, "patience must be an int >= 0, got -1"),
                            ({"cooldown": 1.5}, "cooldown must be an int >= 0, got 1.5"),
                            ({"min_delta": -1}, "min_delta must be a finite number >= 0, got -1"),
                            ({"min_scale": -1.0}, "min_scale must be a finite number >= 0, got -1.0"),
                            ({"mode": "up"}, "mode must be one of")):
        with pytest.raises(ValueError, match=f"ReduceLROnPlateau: {message}"):
            callbacks.ReduceLROnPlateau(**kwargs)
    x, y = blobs()
    with pytest.raises(ValueError, match="ReduceLROnPlateau: monitor='eval_loss' is not recorded"):
        trained(small_params(), x, y, callbacks=[callbacks.ReduceLROnPlateau()])


def test_a_callback_may_define_only_the_hooks_it_needs_and_every_started_one_is_ended():
    class Duck:  # no base class, one hook
        seen: list = []

        def on_epochs_end(self, run, state, records):
            self.seen.append(records[-1]["epoch"])

    class Opened(callbacks.Callback):
        ended = False

        def on_fit_end(self, run, state):
            Opened.ended = True

    class Refuses:
        def on_fit_start(self, run, state):
            raise ValueError("Refuses: bad setting")

    x, y = blobs()
    trained(small_params(), x, y, epochs=2, callbacks=[Duck()])
    assert Duck.seen == [1, 2]
    with pytest.raises(ValueError, match="Refuses: bad setting"):
        trained(small_params(), x, y, callbacks=[Opened(), Refuses()])
    assert Opened.ended  # what an earlier callback opened (a TensorBoard writer) is closed


class Tally(callbacks.Callback):
    """A user's callback whose state holds each kind the protocol allows: an array, a list of arrays, JSON values."""

    def __init__(self):
        self.sums, self.parts, self.calls, self.given = np.zeros(2), [np.zeros(3), np.ones((2, 2))], 0, None

    def on_epochs_end(self, run, state, records):
        self.calls += 1
        self.sums = self.sums + np.array([self.calls, 2.0 * self.calls])
        self.parts = [p + self.calls for p in self.parts]

    def state_dict(self):
        return {"sums": self.sums, "parts": list(self.parts), "calls": self.calls, "label": "tally"}

    def load_state_dict(self, state):
        self.given = state


def test_a_users_callback_gets_its_arrays_and_values_back_on_resume(tmp_path):
    x, y = blobs(n=64)
    path = tmp_path / "last.npz"
    first = Tally()
    trained(small_params(), x, y, epochs=2, callbacks=[first, callbacks.Checkpoint(path)])
    again = Tally()
    trained(small_params(), x, y, epochs=2, callbacks=[again, callbacks.Checkpoint(path, resume=True)])
    given = again.given
    assert set(given) == {"sums", "parts", "calls", "label"} and (given["calls"], given["label"]) == (2, "tally")
    np.testing.assert_array_equal(given["sums"], [3.0, 6.0])  # 1 + 2 and 2 + 4, as the first run left them
    assert len(given["parts"]) == 2
    np.testing.assert_array_equal(given["parts"][0], np.full(3, 3.0))
    np.testing.assert_array_equal(given["parts"][1], np.full((2, 2), 4.0))


@pytest.mark.parametrize("foreign, ours", [("on_epoch_end", "on_epochs_end(run, state, records), after each compiled "
                                                            "call of epochs_per_call epochs"),
                                           ("on_train_begin", "on_fit_start(run, state), once before training"),
                                           ("on_train_end", "on_fit_end(run, state), when training ends"),
                                           ("on_train_batch_end", None), ("on_epoch_begin", None)])
def test_another_librarys_hook_is_refused_before_training_naming_jaxnets(foreign, ours):
    # Keras's on_epoch_end would never be called: without the check, the callback silently does nothing.
    kind = type("Keras", (callbacks.Callback,), {foreign: lambda self, *args: None})
    plain = type("Plain", (), {foreign: lambda self, *args: None})
    started = []
    starts = type("Starts", (callbacks.Callback,), {"on_fit_start": lambda self, run, state: started.append(self)})
    for callback in (kind(), plain()):
        with pytest.raises(TypeError) as e:
            trained(small_params(), *blobs(n=64), epochs=1, callbacks=[starts(), callback])
        said = str(e.value)
        assert said.startswith(f"{type(callback).__name__}.{foreign} would never be called: ")
        assert (f"jaxnet's hook is {ours} (see jaxnet.callbacks)" if ours else "fit calls no hook inside a compiled "
                "call") in said
    assert started == []  # refused before any callback started
    if ours is not None:  # a callback written for both libraries defines jaxnet's hook too: accepted
        both = type("Both", (callbacks.Callback,), {foreign: lambda self, *args: None,
                                                    ours.split("(")[0]: lambda self, *args: None})
        trained(small_params(), *blobs(n=64), epochs=1, callbacks=[both()])
