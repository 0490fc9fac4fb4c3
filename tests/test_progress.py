"""The progress bar (jaxnet.callbacks.ProgressBar, behind the Progress callback): when it shows, what it counts and
what it shows; and fit driving it call by call. fit's other tests reach it only through whole runs, where a wrong
bar changes no parameter."""

import io

import jax
import numpy as np
import optax
import pytest
from terminal import Terminal

from jaxnet import callbacks, mlp, train


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


@pytest.fixture
def fake_tqdm(monkeypatch):
    import tqdm.auto

    FakeTqdm.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", FakeTqdm)
    return FakeTqdm.made


def test_the_bar_counts_epochs_and_shows_the_losses_and_accuracy_only(fake_tqdm, monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    progress = callbacks.ProgressBar(total=10, initial=4, verbose=True)
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
    progress = callbacks.ProgressBar(total=10, initial=0, verbose=verbose)
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
    progress = callbacks.ProgressBar(total=4, initial=0, verbose=True)
    progress.update(1, {"train_loss": 1.0, "val_loss": 2.0, "val_accuracy": 0.5, "lr_scale": 1.0})
    assert len(fake_tqdm) == 1 and fake_tqdm[0].updates == [1]
    assert fake_tqdm[0].postfixes[0][0][0] == {"train_loss": "1", "val_loss": "2", "val_accuracy": "0.5"}
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))  # a plain shell
    assert callbacks.ProgressBar(total=4, initial=0, verbose=True).bar is None
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace())  # IPython half imported: no get_ipython yet
    assert callbacks.ProgressBar(total=4, initial=0, verbose=True).bar is None


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


def test_fit_and_trainer_fit_show_a_bar_by_default_on_a_terminal_and_not_when_told(fake_tqdm, monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    x, y = np.zeros((16, 3), np.float32), np.zeros((16, 2), np.float32)
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    train.fit(params, x, y, optimizer=optax.sgd(0.1), epochs=2, batch_size=4, key=jax.random.key(1),
              loss="mse")  # verbose left at its default
    assert [bar.kwargs for bar in fake_tqdm] == [dict(total=2, initial=0, unit="epoch", dynamic_ncols=True)]
    trainer = train.Trainer(mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.1), batch_size=4)
    trainer.fit(trainer.init(params), x, y, epochs=1, key=jax.random.key(1))
    assert len(fake_tqdm) == 2 and fake_tqdm[1].updates == [1] and fake_tqdm[1].closed
    trainer.fit(trainer.init(params), x, y, epochs=1, key=jax.random.key(1), verbose=False)
    train.fit(params, x, y, optimizer=optax.sgd(0.1), epochs=1, batch_size=4, key=jax.random.key(1), loss="mse",
              verbose=False)
    assert len(fake_tqdm) == 2


def test_the_log_of_a_resumed_run_keeps_the_epochs_before_it_and_lines_without_one(tmp_path):
    path = tmp_path / "log.jsonl"
    lines = ['{"note": "written by hand"}\n', '{"epoch": 1, "train_loss": 2.0}\n', '\n',
             '{"epoch": 2, "train_loss": 1.5}\n', '{"epoch": 3, "train_loss": 1.2}\n']
    path.write_text("".join(lines))
    callbacks.start_log(str(path), fresh=False, first_epoch=3)  # epoch 3 is run again: its line goes
    assert path.read_text() == lines[0] + lines[1] + lines[3]  # the blank line goes too
    callbacks.start_log(str(path), fresh=False, first_epoch=1)  # everything from epoch 1 again
    assert path.read_text() == lines[0]  # a line with no epoch is kept, as epoch 0's
    callbacks.start_log(str(path), fresh=False)  # continuing with no first epoch known: the log as it is
    assert path.read_text() == lines[0]
    callbacks.start_log(str(tmp_path / "gone.jsonl"), fresh=False, first_epoch=3)  # resumed, its log deleted
    assert not (tmp_path / "gone.jsonl").exists()
    callbacks.start_log(str(tmp_path / "new" / "log.jsonl"), fresh=True)
    assert (tmp_path / "new" / "log.jsonl").read_text() == ""
