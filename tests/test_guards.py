"""Every guard of ``make_mesh``, ``fit`` (with its data checks) and the checkpoint reader not reached elsewhere:
each bad call is refused before anything trains, with its own message, and nothing is written.

(The others are in tests/test_fit.py, tests/test_trainer.py and tests/test_callbacks.py: shapes, labels, NaN in x,
batch sizes, resume policies, unreadable, headerless and mismatched checkpoints, optimizer states and per-member
hyperparameters.)
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest
from jax.sharding import Mesh
from refusals import refused

from jaxnet import checkpoint, distributed, mlp, placement, train

X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
Y = np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32)


def fit(params=None, x=X, y=Y, **kwargs):
    settings = dict(optimizer=optax.sgd(0.1), epochs=1, batch_size=16, key=jax.random.key(0), loss="mse",
                    verbose=False)
    return train.fit(mlp.init(jax.random.key(0), [4, 8, 2]) if params is None else params, x, y,
                     **{**settings, **kwargs})


def test_make_mesh_refuses_sizes_that_do_not_fit_the_devices():
    three = [jax.devices()[0]] * 3  # the counts are checked before any mesh is built
    with pytest.raises(ValueError, match="members=2 must divide the 3 devices"):
        placement.make_mesh(members=2, devices=three)
    with pytest.raises(ValueError, match="members=0 must divide the 3 devices"):
        placement.make_mesh(members=0, devices=three)
    with pytest.raises(ValueError, match=r"a mesh of members=1 × data=2 needs 2 devices, got 3"):
        placement.make_mesh(members=1, data=2, devices=three)


def test_fit_refuses_a_mesh_and_devices_together_and_a_mesh_with_other_axes():
    mesh = placement.make_mesh(devices=jax.devices()[:1])
    with pytest.raises(ValueError, match=r"give either mesh= or devices= \(a data-only mesh\), not both"):
        fit(mesh=mesh, devices=jax.devices()[:1])
    other = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("batch", "model"))
    axes = r"the mesh must have the axes \('members', 'data'\).*got \('batch', 'model'\)"
    with pytest.raises(ValueError, match=axes):
        fit(mesh=other)


def test_fit_refuses_bad_targets_epochs_and_hyperparameter_names():
    with refused(ValueError, "training data", "y must have shape (64, 2)", "got (64, 3)"):
        fit(y=np.zeros((64, 3), np.float32))
    bad = Y.copy()
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="training data: y contains NaN or inf"):
        fit(y=bad)
    for epochs, per_call in ((1.5, 1), (-1, 1), (2, 0)):
        with pytest.raises(ValueError, match=r"^epochs(_per_call)? must be an int >= [01]"):
            fit(epochs=epochs, epochs_per_call=per_call)
    ensemble = mlp.init_ensemble(jax.random.key(0), 2, [4, 8, 2])
    with refused(ValueError, "unknown hyperparameter 'lr'", "['learning_rate']"):
        fit(ensemble, ensemble=True, optimizer=optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),
            hyperparams={"lr": [0.1, 0.2]})


def test_the_checkpoint_reader_refuses_another_format_and_another_structure(tmp_path):
    params = mlp.init(jax.random.key(0), [4, 8, 2])
    state = optax.sgd(0.1).init(params)
    path = tmp_path / "c.npz"
    checkpoint.save(path, params=params, opt_state=state, epoch=1, key=jax.random.key(0))
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays["header"].tobytes().decode())
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, **{**arrays, "header": np.frombuffer(json.dumps({**header, "format": "other-9"}).encode(),
                                                           np.uint8)})
    with pytest.raises(ValueError, match=r"foreign\.npz: unknown checkpoint format 'other-9', expected "
                                         r"'jaxnet-checkpoint-1'"):
        checkpoint.read_header(foreign)
    deeper = mlp.init(jax.random.key(0), [4, 8, 8, 2])
    with pytest.raises(ValueError, match=r"c\.npz: the checkpoint's structure .* does not match the expected"):
        checkpoint.restore(path, params=deeper, opt_state=optax.sgd(0.1).init(deeper))


def test_restore_params_reads_the_parameters_alone_and_refuses_another_network(tmp_path):
    params = mlp.init(jax.random.key(0), [4, 8, 2])
    path = tmp_path / "c.npz"
    checkpoint.save(path, params=params, opt_state=optax.adam(1e-3).init(params), epoch=1, key=jax.random.key(0))
    got = checkpoint.restore_params(path, params=mlp.init(jax.random.key(1), [4, 8, 2]))
    for (W, b), (W_saved, b_saved) in zip(got, params):
        np.testing.assert_array_equal(W, W_saved)
        np.testing.assert_array_equal(b, b_saved)
    with pytest.raises(ValueError, match=r"c\.npz: the checkpoint holds 4 parameter arrays, the template 6"):
        checkpoint.restore_params(path, params=mlp.init(jax.random.key(0), [4, 8, 8, 2]))
    with refused(ValueError, "c.npz", "parameter [0][0]", "shape [8, 4] and dtype float32", "expected shape [9, 4]"):
        checkpoint.restore_params(path, params=mlp.init(jax.random.key(0), [4, 9, 2]))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, leaf_0=np.zeros(3))  # an .npz with no header
    with pytest.raises(ValueError, match=r"foreign\.npz is not a jaxnet checkpoint \(no header\)"):
        checkpoint.restore_params(foreign, params=params)


def test_the_join_timeout_message_says_who_waited_for_whom_and_what_to_check(monkeypatch):
    for name in list(os.environ):  # no cluster manager to detect: the message says only what it was given
        if name.startswith(("SLURM_", "OMPI_", "PMI_")):
            monkeypatch.delenv(name)
    assert distributed.join_timeout_message("10.0.0.1:1234", 4, 0, 30) == (
        "jaxnet.distributed.initialize: process 0 (the coordinator: it waited for the others to join) gave up after "
        "30 s: all 4 processes must join the coordinator at 10.0.0.1:1234, and not all did. Check that every process "
        "was started, that all were given the same coordinator address and port and the same number of processes "
        "(4), that process 0 runs on that host, and that the port is free there and reachable from every host.")
    assert distributed.join_timeout_message("10.0.0.1:1234", 4, 1, 30).startswith(
        "jaxnet.distributed.initialize: process 1 (it waited to reach process 0, the coordinator) gave up after 30 s")
    unknown = distributed.join_timeout_message(None, None, None, 5)
    assert unknown.startswith("jaxnet.distributed.initialize: this process gave up after 5 s: every process must "
                              "join the coordinator at the address the cluster manager gives, and not all did.")
    assert "the same number of processes (as detected)" in unknown


# Guards that need two devices run in a process that has two CPU devices.
TWO_DEVICES = """
import jax, numpy as np, optax
from jaxnet import mlp, placement, train
assert jax.device_count() == 2
x, y = np.zeros((63, 4), np.float32), np.zeros((63, 2), np.float32)
common = dict(optimizer=optax.sgd(0.1), epochs=1, key=jax.random.key(0), loss="mse", verbose=False)
def message(call):
    try:
        call()
    except ValueError as e:
        return str(e)
    return "no error"
single = mlp.init(jax.random.key(0), [4, 8, 2])
print(message(lambda: train.fit(single, x[:62], y[:62], batch_size=2, mesh=placement.make_mesh(members=2), **common)))
three = mlp.init_ensemble(jax.random.key(0), 3, [4, 8, 2])
print(message(lambda: train.fit(three, x[:62], y[:62], batch_size=2, ensemble=True, mesh=placement.make_mesh(members=2),
                                **common)))
print(message(lambda: train.fit(single, x, y, batch_size=2, mesh=placement.make_mesh(), **common)))
print(repr(train.Trainer(mlp.Net("tanh"), loss="mse", optimizer=optax.sgd(0.1), batch_size=2, ensemble=True,
                         mesh=placement.make_mesh(members=2))))
"""


@pytest.mark.slow
def test_mesh_guards_that_need_two_devices():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "2"}
    done = subprocess.run([sys.executable, "-c", TWO_DEVICES], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    single, ensemble, rows, trainer = done.stdout.strip().splitlines()
    assert single.startswith("the mesh spreads members over 2 devices, but a single network has no members"), single
    assert ensemble == "the ensemble's 3 members do not divide over the mesh's 2 member devices", ensemble
    assert rows == "the 63 training examples must divide over the 2 data shards", rows
    # A mesh of two devices: the members side by side (vmapped), and the mesh's shape.
    assert trainer.endswith("ensemble='vmapped', mesh={'members': 2, 'data': 1})"), trainer



@pytest.mark.parametrize("kind", ["threefry2x32", "rbg", "raw"])
def test_a_checkpoint_gives_back_its_key_its_versions_and_a_template_of_another_structure_is_refused(tmp_path, kind):
    key = jax.random.PRNGKey(3) if kind == "raw" else jax.random.key(3, impl=kind)  # made here, not at collection
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    state = optax.sgd(0.1).init(params)
    path = tmp_path / "c.npz"
    checkpoint.save(path, params=params, opt_state=state, epoch=2, key=key)
    *_, restored, header = checkpoint.restore(path, params=params, opt_state=state)
    assert header["versions"] == {"jax": jax.__version__, "numpy": np.__version__}
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):  # a typed key comes back typed, with its generator
        assert str(jax.random.key_impl(restored)) == str(jax.random.key_impl(key))
        np.testing.assert_array_equal(jax.random.key_data(restored), jax.random.key_data(key))
    else:  # a raw uint32 key comes back raw
        assert restored.dtype == key.dtype
        np.testing.assert_array_equal(restored, key)
    as_lists = [[W, b] for W, b in params]  # the same leaves, another structure
    with pytest.raises(ValueError, match=r"c\.npz: the checkpoint's structure .* does not match the expected"):
        checkpoint.restore(path, params=as_lists, opt_state=state)


def test_a_save_writes_its_temporary_file_beside_the_checkpoint_and_renames_it(tmp_path, monkeypatch):
    # The rename is atomic only within one file system: the temporary file must sit in the checkpoint's folder,
    # under the name a later save recognises (and removes) as a leftover of a killed one.
    params = mlp.init(jax.random.key(0), [3, 2])
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renames.append((src, dst)), real_replace(src, dst)))
    path = tmp_path / "run" / "c.npz"
    checkpoint.save(path, params=params, opt_state=optax.sgd(0.1).init(params), epoch=1, key=jax.random.key(0))
    (src, dst), = renames
    assert os.path.dirname(src) == str(tmp_path / "run") and dst == str(path)
    assert os.path.basename(src).startswith(".c.npz.tmp-") and src.endswith(".npz")
