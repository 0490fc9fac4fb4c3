"""The host side of training (jaxnet.loop), function by function: the progress bar, the divergence check, the resume
policy and the restore. fit's own tests reach these only through whole runs, where a wrong bar or a wrong epoch in a
message changes no parameter."""

import io
import re

import chex
import jax
import numpy as np
import optax
import pytest

from jaxnet import callbacks, checkpoint, loop, mlp, train


class FakeTqdm:
    """Stands in for ``tqdm.auto.tqdm`` and records how the bar is made and driven."""

    made = []

    def __init__(self, **kwargs):
        self.kwargs, self.postfixes, self.updates, self.closed = kwargs, [], [], False
        FakeTqdm.made.append(self)

    def set_postfix(self, *args, **kwargs):
        self.postfixes.append((args, kwargs))

    def update(self, n):
        self.updates.append(n)

    def close(self):
        self.closed = True


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def fake_tqdm(monkeypatch):
    import tqdm.auto

    FakeTqdm.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", FakeTqdm)
    return FakeTqdm.made


def test_the_bar_counts_epochs_and_shows_the_losses_and_accuracy_only(fake_tqdm, monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    progress = loop.Progress(total=10, initial=4, verbose=True)
    (bar,) = fake_tqdm
    assert bar.kwargs == dict(total=10, initial=4, unit="epoch", dynamic_ncols=True)
    progress.update(3, {"epoch": 7, "train_loss": [0.5, 0.25], "seconds": 1.5, "eval_loss": 0.123456,
                        "eval_accuracy": 0.9})
    # The mean over an ensemble's members, 4 significant digits; redrawn by update, not by set_postfix.
    assert bar.postfixes == [(({"train_loss": "0.375", "eval_loss": "0.1235", "eval_accuracy": "0.9"},),
                              {"refresh": False})]
    assert bar.updates == [3]
    progress.close()
    assert bar.closed


@pytest.mark.parametrize("verbose, terminal", [(False, True), (True, False), (False, False)])
def test_no_bar_unless_asked_for_and_on_a_terminal(fake_tqdm, monkeypatch, verbose, terminal):
    monkeypatch.setattr("sys.stderr", Terminal() if terminal else io.StringIO())
    progress = loop.Progress(total=10, initial=0, verbose=verbose)
    progress.update(1, {"train_loss": 1.0})
    progress.close()
    assert progress.bar is None and fake_tqdm == []


def test_a_bar_shows_in_a_notebook_kernel(fake_tqdm, monkeypatch):
    import sys
    import types

    class ZMQInteractiveShell:  # what a Jupyter kernel's get_ipython() returns
        pass

    monkeypatch.setattr("sys.stderr", io.StringIO())  # a kernel's stderr is no terminal
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=ZMQInteractiveShell))
    progress = loop.Progress(total=4, initial=0, verbose=True)
    progress.update(1, {"train_loss": 1.0, "val_loss": 2.0, "val_accuracy": 0.5, "lr_scale": 1.0})
    assert len(fake_tqdm) == 1 and fake_tqdm[0].updates == [1]
    assert fake_tqdm[0].postfixes[0][0][0] == {"train_loss": "1", "val_loss": "2", "val_accuracy": "0.5"}
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))  # a plain shell
    assert loop.Progress(total=4, initial=0, verbose=True).bar is None


@pytest.mark.parametrize("first_epoch", [0, 5])
def test_check_finite_names_the_first_bad_epoch(first_epoch):
    values = np.ones((4, 3))  # 4 epochs, 3 members (or steps)
    values[2, 1] = np.nan
    values[3, 0] = np.inf
    message = (f"training diverged: the loss became non-finite in epoch {first_epoch + 3} (of 20)"
               f"; the last good checkpoint is run/c.npz")
    with pytest.raises(FloatingPointError, match=f"^{re.escape(message)}$"):
        loop.check_finite(values, first_epoch, 20, "run/c.npz")
    with pytest.raises(FloatingPointError, match=r"in epoch 3 \(of 20\)$"):  # no checkpoint: nothing more to say
        loop.check_finite(values, 0, 20, None)
    loop.check_finite(np.ones((4, 3)), 0, 20, None)
    loop.check_finite(np.ones(4), 0, 20, None)  # one loss per epoch


def test_should_resume_by_policy(tmp_path):
    path = tmp_path / "c.npz"
    assert not loop.should_resume(path, "auto") and not loop.should_resume(None, "auto")
    assert not loop.should_resume(path, False)
    path.write_bytes(b"")
    assert loop.should_resume(path, "auto") and loop.should_resume(path, True) and not loop.should_resume(path, False)
    with pytest.raises(ValueError, match="^resume=True needs a checkpoint_path to resume from$"):
        loop.should_resume(None, True)
    for wrong in ("AUTO", "yes", 1, None):
        with pytest.raises(ValueError, match="^resume must be True, False or 'auto', got "):
            loop.should_resume(path, wrong)


def _saved(tmp_path, key, meta):
    params = mlp.init(jax.random.key(0), [2, 3, 1])
    optimizer = optax.sgd(0.1)
    path = tmp_path / "c.npz"
    checkpoint.save(path, params=params, opt_state=optimizer.init(params), epoch=2, key=key, meta=meta)
    return path, params, optimizer.init(params)


def test_restore_returns_the_saved_state_and_history(tmp_path):
    key = jax.random.key(3)
    history = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}]
    path, params, opt_state = _saved(tmp_path, key, {"history": history})
    restored, _, start, records = loop.restore(path, params=params, opt_state=opt_state, key=key)
    chex.assert_trees_all_equal(restored, params)
    assert (start, records) == (2, history)
    # A checkpoint written without a history (by checkpoint.save directly) resumes with an empty one.
    path, params, opt_state = _saved(tmp_path, key, {})
    assert loop.restore(path, params=params, opt_state=opt_state, key=key)[3] == []
    x = np.zeros((8, 2), np.float32)
    trainer = train.Trainer(mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.1), batch_size=4)
    _, resumed = trainer.fit(trainer.init(params), x, np.zeros((8, 1), np.float32), epochs=3, key=key,
                             callbacks=[callbacks.Checkpoint(path, resume=True)], verbose=False)
    assert [r["epoch"] for r in resumed] == [3]


@pytest.mark.parametrize("kind", ["typed", "raw"])
def test_restore_refuses_another_key_typed_or_raw(tmp_path, kind):
    make = jax.random.key if kind == "typed" else jax.random.PRNGKey
    path, params, opt_state = _saved(tmp_path, make(3), {})
    assert loop.restore(path, params=params, opt_state=opt_state, key=make(3))[2] == 2
    with pytest.raises(ValueError, match="written by a run with another key"):
        loop.restore(path, params=params, opt_state=opt_state, key=make(4))
    with jax.legacy_prng_key("error"):  # a raw key is compared as it is, never passed to jax.random
        if kind == "raw":
            assert loop.restore(path, params=params, opt_state=opt_state, key=make(3))[2] == 2


def test_fit_advances_the_bar_by_each_calls_epochs_and_gives_each_epoch_its_share_of_the_time(fake_tqdm,
                                                                                              monkeypatch):
    # Two compiled calls of 3 epochs: the bar moves 3 and 3; each epoch's "seconds" is its call's time over 3, so
    # they come in equal threes and add up to no more than the whole fit.
    import time

    monkeypatch.setattr("sys.stderr", Terminal())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype(np.float32), rng.normal(size=(40, 2)).astype(np.float32)
    tic = time.perf_counter()
    _, history = train.fit(mlp.init(jax.random.key(0), [3, 4, 2]), x, y, optimizer=optax.sgd(0.1), epochs=6,
                           batch_size=8, key=jax.random.key(1), loss="mse", epochs_per_call=3, verbose=True)
    wall = time.perf_counter() - tic
    (bar,) = fake_tqdm
    assert bar.kwargs["total"] == 6 and bar.kwargs["initial"] == 0 and bar.updates == [3, 3] and bar.closed
    seconds = [record["seconds"] for record in history]
    assert seconds[0] == seconds[1] == seconds[2] > 0 and seconds[3] == seconds[4] == seconds[5] > 0
    assert sum(seconds) <= wall
