"""Weights that move (``jaxnet.interop``), checked against the real libraries: PyTorch, Equinox, Flax NNX and
safetensors (the ``interop`` extra; each test skips, saying how to install it, where its library is absent).

Outputs are compared with ``mlp.apply`` on random inputs within 1e-6 (float32: products of 16 terms of size ~1
differ by a few ulps between two libraries' summation orders); round trips must be bit-identical.
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from refusals import refused

from jaxnet import activations, interop, mlp, train

import requires

HINT = requires.extra("interop")
SIZES = [5, 16, 16, 3]
ATOL = 1e-6


def need(name):
    return pytest.importorskip(name, reason=HINT)


def params_and_inputs(seed=0, sizes=SIZES, dtype=jnp.float32):
    keys = jax.random.split(jax.random.key(seed), 3)
    params = mlp.init(keys[0], sizes, dtype=dtype)
    params = [(W, 0.1 * jax.random.normal(k, b.shape, dtype)) for (W, b), k in
              zip(params, jax.random.split(keys[1], len(params)))]  # non-zero biases, so a lost bias shows
    return params, np.array(jax.random.normal(keys[2], (64, sizes[0]), dtype))  # a writable copy, as torch wants


def assert_params_identical(got, want):
    assert len(got) == len(want)
    for (W, b), (W0, b0) in zip(got, want):
        assert W.dtype == W0.dtype and b.dtype == b0.dtype
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


TORCH_NETS = [mlp.Net("relu"), mlp.Net("sigmoid", "tanh"), mlp.Net("tanh", "softmax"),
              mlp.Net(("relu", "identity"), "sigmoid"), mlp.Net("relu", dropout=(0.2, 0.0))]


@pytest.mark.parametrize("net", TORCH_NETS, ids=repr)
def test_torch_computes_what_jaxnet_computes_and_comes_back_bit_identical(net):
    torch = need("torch")
    params, x = params_and_inputs()
    model = interop.to_torch(params, net).eval()  # eval: PyTorch's Dropout then passes everything, as evaluation
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
        one = model(torch.from_numpy(x[0])).numpy()  # one example, (d_0,), as mlp.apply takes it
    np.testing.assert_allclose(out, mlp.apply(params, x, net), rtol=0, atol=ATOL)
    np.testing.assert_allclose(one, mlp.apply(params, x[0], net), rtol=0, atol=ATOL)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    np.testing.assert_array_equal(linears[0].weight.detach().numpy(), params[0][0])  # (out, in) both
    back, back_net = interop.from_torch(model)
    assert_params_identical(back, params)
    assert back_net.names(3) == net.names(3) and back_net.dropout_rates(3) == net.dropout_rates(3)


def test_torch_float64_and_the_input_scaling_folded_into_the_first_layer():
    torch = need("torch")
    with jax.enable_x64():
        params, x = params_and_inputs(dtype=jnp.float64)
        net = mlp.Net("tanh", input_shift=0.5, input_scale=3.0)
        model = interop.to_torch(params, net)
        assert model[0].weight.dtype == torch.float64
        out = model(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(out, mlp.apply(params, x, net), rtol=0, atol=1e-12)
        folded, plain = interop.from_torch(model)
        assert (plain.input_shift, plain.input_scale) == (0.0, 1.0)
        np.testing.assert_allclose(folded[0][0], np.asarray(params[0][0]) / 3.0, rtol=1e-15)


def test_torch_refusals_name_the_problem():
    torch = need("torch")
    params, _ = params_and_inputs()
    with pytest.raises(ValueError, match=r"layer 1's activation 'sign' has no PyTorch module"):
        interop.to_torch(params, mlp.Net("sign"))
    nn = torch.nn
    with pytest.raises(ValueError, match=r"module 2 of the Sequential is Conv1d, which jaxnet cannot take"):
        interop.from_torch(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Conv1d(3, 3, 1)))
    with pytest.raises(ValueError, match=r"module 1 of the Sequential is GELU"):
        interop.from_torch(nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Linear(3, 2)))
    with refused(ValueError, "layer 2: W has shape (2, 5)", "output of layer 1", "(3, 4)"):
        interop.from_torch(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(5, 2)))
    with refused(ValueError, "module 0 of the Sequential is ReLU", "start with a Linear layer"):
        interop.from_torch(nn.Sequential(nn.ReLU(), nn.Linear(4, 3)))
    with pytest.raises(ValueError, match=r"module 2 of the Sequential \(tanh\) follows another activation"):
        interop.from_torch(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Tanh(), nn.Linear(3, 2)))
    with pytest.raises(ValueError, match=r"module 3 of the Sequential \(Dropout\) follows another Dropout"):
        interop.from_torch(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.1), nn.Dropout(0.5),
                                         nn.Linear(3, 2)))
    with pytest.raises(TypeError, match="net must be a jaxnet.mlp.Net .*, got NoneType"):
        interop.to_torch(params, None)
    with pytest.raises(ValueError, match="jaxnet never drops the output"):
        interop.from_torch(nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5)))
    for dim in (0, 2):  # of a batch of rows, (N, d): over the examples, or an axis it does not have
        with pytest.raises(ValueError, match=rf"Softmax\(dim={dim}\); jaxnet's softmax is over the last axis"):
            interop.from_torch(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=dim)))
    for dim in (1, -1, None):  # over the row's entries: jaxnet's
        assert interop.from_torch(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=dim)))[1].names(1) == ("softmax",)
    with pytest.raises(ValueError, match="from_torch takes a torch.nn.Sequential .*, got Linear$"):
        interop.from_torch(nn.Linear(4, 3))


def test_a_linear_without_bias_comes_in_with_zero_bias():
    torch = need("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3, bias=False), torch.nn.Identity(), torch.nn.Linear(3, 2))
    params, net = interop.from_torch(model)
    np.testing.assert_array_equal(params[0][1], np.zeros(3, np.float32))
    assert params[0][1].dtype == params[0][0].dtype == np.float32  # in the weights' dtype
    assert net.names(2) == ("identity", "identity")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    np.testing.assert_allclose(mlp.apply(params, x, net), model(torch.from_numpy(x)).detach().numpy(), atol=ATOL)


def test_a_missing_bias_comes_in_as_zeros_of_the_weights_dtype_under_x64_too():
    # With float64 on (jax_enable_x64) nothing narrows an array: the zeros are made in the weights' dtype.
    torch, eqx, nnx = need("torch"), need("equinox"), need("flax.nnx")
    with jax.enable_x64(True):
        models = {"torch": interop.from_torch(torch.nn.Sequential(torch.nn.Linear(4, 3, bias=False))),
                  "equinox": interop.from_equinox(eqx.nn.MLP(4, 3, 8, 1, use_bias=False, use_final_bias=False,
                                                             dtype=jnp.float32, key=jax.random.key(0))),
                  "flax": interop.from_flax(nnx.Linear(4, 3, use_bias=False, rngs=nnx.Rngs(0)))}
        for library, (params, _) in models.items():
            assert [(W.dtype, b.dtype) for W, b in params] == [(np.float32, np.float32)] * len(params), library
            assert not any(b.any() for _, b in params), library


def test_a_pytorch_trained_sequential_trains_on_in_fit():
    torch = need("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(256, 2)).astype(np.float32)
    y = (np.sin(3 * x[:, :1]) * x[:, 1:]).astype(np.float32)
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    # Plain gradient descent by hand: torch.optim imports torch._dynamo and with it triton, whose LLVM crashes a
    # process that has loaded TensorFlow's (as a test worker may have).
    for _ in range(200):
        model.zero_grad()
        loss = 0.5 * ((model(xt) - yt) ** 2).sum(dim=1).mean()  # jaxnet's mse, ½‖ŷ − y‖² averaged
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.2 * p.grad
    with torch.no_grad():
        torch_loss = float(0.5 * ((model(xt) - yt) ** 2).sum(dim=1).mean())
    params, net = interop.from_torch(model)
    assert net.names(2) == ("tanh", "identity")
    trainer = train.Trainer(net, loss="mse", optimizer=optax.adam(0.01), batch_size=256)
    first = trainer.evaluate(params, x, y)["loss"]
    assert first == pytest.approx(torch_loss, rel=1e-5)  # it arrives where PyTorch left it
    state, history = trainer.fit(trainer.init(params), x, y, epochs=200, key=jax.random.key(0), verbose=False)
    assert trainer.evaluate(state.params, x, y)["loss"] < 0.5 * torch_loss
    # The one-call fit takes it the same way, to the same parameters.
    fitted, _ = train.fit(params, x, y, net, optimizer=optax.adam(0.01), epochs=200, batch_size=256,
                          key=jax.random.key(0), loss="mse", verbose=False)
    for a, b in zip(jax.tree.leaves(fitted), jax.tree.leaves(state.params)):
        np.testing.assert_array_equal(a, b)


EQX_NETS = [mlp.Net("relu"), mlp.Net("tanh", "sigmoid"), mlp.Net("sigmoid", "identity"), mlp.Net("sign", "tanh"),
            mlp.Net("identity", "relu")]


@pytest.mark.parametrize("net", EQX_NETS, ids=repr)
def test_equinox_computes_what_jaxnet_computes_and_comes_back_bit_identical(net):
    eqx = need("equinox")
    params, x = params_and_inputs(seed=1)
    model = interop.to_equinox(params, net)
    assert isinstance(model, eqx.nn.MLP) and model.width_size == 16 and model.depth == 2
    np.testing.assert_allclose(jax.vmap(model)(x), mlp.apply(params, x, net), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(model.layers[1].weight, params[1][0])
    back, back_net = interop.from_equinox(model)
    assert_params_identical(back, params)
    assert back_net.names(3) == net.names(3)



@pytest.mark.parametrize("sizes, net", [([5, 3], mlp.Net("relu")), ([5, 7, 3], mlp.Net("sigmoid")),
                                        ([5, 7, 7, 3], mlp.Net("tanh", "sigmoid"))])
def test_an_equinox_mlp_is_described_as_equinox_builds_one(sizes, net):
    # Its sizes and functions as eqx.nn.MLP's own fields say them, at every depth (no hidden layer: depth 0).
    eqx = need("equinox")
    params = mlp.init(jax.random.key(2), sizes)
    model = interop.to_equinox(params, net)
    names = net.names(len(params))
    assert (model.in_size, model.out_size, model.depth) == (sizes[0], sizes[-1], len(sizes) - 2)
    if len(sizes) > 2:
        assert model.width_size == sizes[1]
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    np.testing.assert_array_equal(model.activation(x), activations.get(names[0]).fn(x))
    np.testing.assert_array_equal(model.final_activation(x), activations.get(names[-1]).fn(x))
    xs = np.random.default_rng(3).normal(size=(4, sizes[0])).astype(np.float32)
    np.testing.assert_allclose(jax.vmap(model)(xs), mlp.apply(params, xs, net), rtol=0, atol=ATOL)
    assert isinstance(model, eqx.nn.MLP)

def test_an_equinox_mlp_built_by_equinox_comes_in():
    eqx = need("equinox")
    model = eqx.nn.MLP(4, 2, 8, 3, activation=jax.nn.sigmoid, final_activation=jnp.tanh, key=jax.random.key(0))
    params, net = interop.from_equinox(model)
    assert [W.shape for W, _ in params] == [(8, 4), (8, 8), (8, 8), (2, 8)]
    assert net.names(4) == ("sigmoid",) * 3 + ("tanh",)
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    np.testing.assert_allclose(mlp.apply(params, x, net), jax.vmap(model)(x), rtol=0, atol=ATOL)
    default = eqx.nn.MLP(4, 2, 8, 1, key=jax.random.key(1))  # relu and equinox's own identity
    assert interop.from_equinox(default)[1].names(2) == ("relu", "identity")


def test_equinox_refusals_name_the_problem():
    eqx = need("equinox")
    params, _ = params_and_inputs()
    with refused(ValueError, "eqx.nn.MLP", "one width for every hidden layer", "[16, 8]"):
        interop.to_equinox(mlp.init(jax.random.key(0), [5, 16, 8, 3]), mlp.Net("relu"))
    with refused(ValueError, "one activation for every hidden layer", "['relu', 'tanh']"):
        interop.to_equinox(params, mlp.Net(("relu", "tanh")))
    with refused(ValueError, "one number at a time", "cannot hold a softmax;", "apply softmax to its output"):
        interop.to_equinox(params, mlp.Net("relu", "softmax"))
    with refused(ValueError, "depth 0", "applies no activation", "cannot hold the output 'tanh'",
                 "output='identity'"):
        interop.to_equinox(mlp.init(jax.random.key(0), [5, 3]), mlp.Net("relu", "tanh"))
    # Equinox's own MLP of depth 0 computes its Linear layer alone, whatever its final activation says.
    shallow = eqx.nn.MLP(4, 2, 8, 0, final_activation=jnp.tanh, key=jax.random.key(0))
    back, back_net = interop.from_equinox(shallow)
    assert back_net.output == "identity"
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(mlp.apply(back, x, back_net), jax.vmap(shallow)(x), rtol=0, atol=ATOL)
    with pytest.raises(ValueError, match=r"the MLP's activation .* is none of jaxnet's activations"):
        interop.from_equinox(eqx.nn.MLP(4, 2, 8, 1, activation=jax.nn.gelu, key=jax.random.key(0)))
    with pytest.raises(ValueError, match="from_equinox takes an eqx.nn.MLP, got Linear"):
        interop.from_equinox(eqx.nn.Linear(3, 2, key=jax.random.key(0)))
    key = jax.random.key(0)
    for model, words in [
        (eqx.nn.MLP(4, 2, 8, 2, scan=True, key=key),
         "^from_equinox takes an eqx.nn.MLP built with scan=False \\(its layers one by one\\)$"),
        (eqx.nn.MLP("scalar", 2, 8, 1, key=key),
         "^from_equinox takes an eqx.nn.MLP with vector input and output, not 'scalar'$"),
        (eqx.nn.MLP(4, "scalar", 8, 1, key=key), "not 'scalar'$"),
        (eqx.nn.MLP(4, 2, 8, 1, final_activation=eqx.nn.PReLU(), key=key),
         "^the MLP's final_activation has learnt parameters, which jaxnet's activations do not$"),
        (eqx.nn.MLP(4, 2, 8, 1, final_activation=jax.nn.softmax, key=key),  # Equinox applies it number by number
         r"^the MLP's final_activation .* is none of jaxnet's activations \['relu', 'sigmoid', 'tanh', 'sign', "
         r"'identity'\]$")]:
        with pytest.raises(ValueError, match=words):
            interop.from_equinox(model)
    (W1, b1), (W2, b2) = interop.from_equinox(eqx.nn.MLP(4, 2, 8, 1, use_bias=False, use_final_bias=False,
                                                                    key=key))[0]
    assert (b1.shape, b2.shape, b1.dtype) == ((8,), (2,), W1.dtype) and not b1.any() and not b2.any()


FLAX_NETS = [mlp.Net("relu"), mlp.Net("tanh", "softmax"), mlp.Net(("sigmoid", "sign"), "identity"),
             mlp.Net("relu", "sigmoid", dropout=0.3)]


@pytest.mark.parametrize("net", FLAX_NETS, ids=repr)
def test_flax_computes_what_jaxnet_computes_and_comes_back_bit_identical(net):
    nnx = need("flax.nnx")
    params, x = params_and_inputs(seed=2)
    model = interop.to_flax(params, net)
    model.eval()  # Flax's Dropout then passes everything, as jaxnet's evaluation
    linears = [m for m in model.layers if isinstance(m, nnx.Linear)]
    np.testing.assert_array_equal(linears[0].kernel[...], np.asarray(params[0][0]).T)  # Flax's kernel is (in, out)
    np.testing.assert_allclose(model(x), mlp.apply(params, x, net), rtol=0, atol=ATOL)
    back, back_net = interop.from_flax(model)
    assert_params_identical(back, params)
    assert back_net.names(3) == net.names(3) and back_net.dropout_rates(3) == net.dropout_rates(3)


def test_a_flax_model_built_by_flax_comes_in():
    nnx = need("flax.nnx")
    rngs = nnx.Rngs(0)
    model = nnx.Sequential(nnx.Linear(4, 8, rngs=rngs), nnx.tanh, nnx.Linear(8, 3, rngs=rngs), nnx.softmax)
    params, net = interop.from_flax(model)
    assert net.names(2) == ("tanh", "softmax")
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    np.testing.assert_allclose(mlp.apply(params, x, net), model(x), rtol=0, atol=ATOL)
    single, _ = interop.from_flax(nnx.Linear(4, 2, use_bias=False, rngs=rngs))
    np.testing.assert_array_equal(single[0][1], np.zeros(2, np.float32))


def test_flax_refusals_name_the_problem():
    nnx = need("flax.nnx")
    rngs = nnx.Rngs(0)
    with pytest.raises(ValueError, match=r"entry 1 of the Sequential is Conv, which jaxnet cannot take"):
        interop.from_flax(nnx.Sequential(nnx.Linear(4, 3, rngs=rngs), nnx.Conv(3, 3, (1,), rngs=rngs)))
    with pytest.raises(ValueError, match=r"entry 1 of the Sequential, .*gelu.*, is none of jaxnet's activations"):
        interop.from_flax(nnx.Sequential(nnx.Linear(4, 3, rngs=rngs), nnx.gelu))
    with refused(ValueError, "layer 2: W has shape (2, 5)", "output of layer 1"):
        interop.from_flax(nnx.Sequential(nnx.Linear(4, 3, rngs=rngs), nnx.relu, nnx.Linear(5, 2, rngs=rngs)))
    with pytest.raises(ValueError, match="from_flax takes an nnx.Sequential .*, got Conv$"):
        interop.from_flax(nnx.Conv(3, 3, (1,), rngs=rngs))

    def identity(v):
        return v

    with pytest.raises(ValueError, match="^entry 0 of the Sequential is function; it must start with an nnx.Linear$"):
        interop.from_flax(nnx.Sequential(identity, nnx.Linear(4, 3, rngs=rngs)))
    (W, b), = interop.from_flax(nnx.Linear(4, 3, use_bias=False, rngs=rngs))[0]
    assert b.dtype == W.dtype == np.float32 and not b.any()  # no bias: zeros in the kernel's dtype
    with pytest.raises(ValueError, match=r"entry 3 of the Sequential \(nnx.Dropout\) follows another nnx.Dropout"):
        interop.from_flax(nnx.Sequential(nnx.Linear(4, 3, rngs=rngs), nnx.relu, nnx.Dropout(0.1, rngs=rngs),
                                         nnx.Dropout(0.5, rngs=rngs), nnx.Linear(3, 2, rngs=rngs)))



def test_a_missing_library_is_named_with_the_extra_that_brings_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "flax.nnx", None)  # an import of it fails, as where flax is not installed
    with pytest.raises(ImportError, match=r"^jaxnet.interop needs flax here: pip install 'jaxnet-lecture\[interop\]'$"):
        interop.from_flax(object())

def test_bfloat16_parameters_go_to_torch_as_bfloat16():
    torch = need("torch")
    params, x = params_and_inputs(dtype=jnp.bfloat16)
    model = interop.to_torch(params, mlp.Net("relu"))
    weight = model[0].weight.detach()
    assert weight.dtype == torch.bfloat16
    np.testing.assert_array_equal(weight.float().numpy(), np.asarray(params[0][0], np.float32))  # exact


def test_a_registered_activation_goes_to_equinox_and_flax_as_its_function():
    need("equinox")
    need("flax.nnx")
    from jaxnet import activations

    name = "softplus_for_interop"
    if name not in activations.ACTIVATIONS:
        activations.register(activations.elementwise(name, jax.nn.softplus, jax.nn.sigmoid))
    params, x = params_and_inputs()
    net = mlp.Net(name)
    want = mlp.apply(params, x, net)
    np.testing.assert_allclose(jax.vmap(interop.to_equinox(params, net))(x), want, rtol=0, atol=ATOL)
    np.testing.assert_allclose(interop.to_flax(params, net)(x), want, rtol=0, atol=ATOL)


@pytest.mark.parametrize("net", [None, mlp.Net("tanh", "sigmoid"), mlp.Net(("relu", "identity"), dropout=(0.1, 0.0),
                                                                         input_shift=0.5, input_scale=2.0,
                                                                         compute_dtype="bfloat16"),
                                 mlp.Net("relu", input_scale=255.0)],
                         ids=["no net", "tanh", "every field", "pixels"])
def test_safetensors_round_trip_and_pytorch_loads_the_file_as_it_is(tmp_path, net):
    need("safetensors")
    torch = need("torch")
    from safetensors.torch import load_file, save_file

    params, x = params_and_inputs(seed=3)
    scaled = net is not None and (net.input_shift, net.input_scale) != (0.0, 1.0)
    if net is not None and net.input_scale == 255.0:
        x = np.round(np.abs(x) * 100).clip(0, 255).astype(np.float32)  # pixels, as MNIST's
    path = str(tmp_path / "net.safetensors")
    interop.save_safetensors(path, params, net)
    back, back_net = interop.load_safetensors(path)
    evaluated = net and mlp.Net(net.activation, net.output, input_shift=net.input_shift,
                                input_scale=net.input_scale)  # evaluation: no dropout
    if not scaled:  # as they were, bit for bit
        assert_params_identical(back, params)
        assert back_net == net
    else:  # the scaling folded into layer 1, as to_torch folds it: the same outputs
        assert (back_net.input_shift, back_net.input_scale) == (0.0, 1.0) and back_net.dropout == net.dropout
        plain_back = mlp.Net(back_net.activation, back_net.output)
        np.testing.assert_allclose(mlp.apply(back, x, plain_back), mlp.apply(params, x, evaluated), rtol=1e-6,
                                   atol=ATOL * np.abs(mlp.apply(params, x, evaluated)).max())
    # PyTorch's strict load_state_dict takes the file into the Sequential to_torch builds (or, without a net, the
    # common Linear, activation, Linear, ... layout), which then computes what the net computes on the raw inputs.
    model = interop.to_torch(jax.tree.map(jnp.zeros_like, params), net or mlp.Net("relu"))
    model.load_state_dict(load_file(path))
    model.eval()
    want = np.asarray(mlp.apply(params, x, evaluated or mlp.Net("relu")))
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(x)).numpy(), want, rtol=1e-6,
                                   atol=ATOL * max(1.0, np.abs(want).max()))
    # And a file PyTorch writes comes in, with no net.
    save_file(model.state_dict(), str(tmp_path / "torch.safetensors"))
    from_torch, none = interop.load_safetensors(str(tmp_path / "torch.safetensors"))
    assert none is None
    assert_params_identical(from_torch, back)


def test_files_that_are_not_jaxnet_or_pytorch_sequential_files_are_refused(tmp_path):
    need("safetensors")
    from safetensors.numpy import save_file

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="garbage.safetensors is not a safetensors file"):
        interop.load_safetensors(garbage)
    other = str(tmp_path / "other.safetensors")
    save_file({"encoder.layer.weight": np.ones((3, 2), np.float32)}, other)
    with pytest.raises(ValueError, match=r"tensor 'encoder.layer.weight' is not named '<position>.weight' or "
                                         r"'<position>.bias', so the file is not a jaxnet or PyTorch nn.Sequential"):
        interop.load_safetensors(other)
    unchained = str(tmp_path / "unchained.safetensors")
    save_file({"0.weight": np.ones((3, 2), np.float32), "2.weight": np.ones((1, 4), np.float32)}, unchained)
    with refused(ValueError, "layer 2: W has shape (1, 4)", "output of layer 1"):
        interop.load_safetensors(unchained)
    orphan = str(tmp_path / "orphan.safetensors")
    save_file({"0.weight": np.ones((3, 2), np.float32), "2.bias": np.ones(1, np.float32)}, orphan)
    with pytest.raises(ValueError, match=r"'2.bias' has no '2.weight'"):
        interop.load_safetensors(orphan)
    assert not os.path.exists(tmp_path / "nothing.safetensors")
    with pytest.raises(FileNotFoundError, match="nothing.safetensors: no such file"):
        interop.load_safetensors(tmp_path / "nothing.safetensors")
    empty = str(tmp_path / "empty.safetensors")
    save_file({}, empty)
    with pytest.raises(ValueError, match="empty.safetensors holds no tensors"):
        interop.load_safetensors(empty)
    # A jaxnet file whose net puts its linear layers elsewhere than its tensors are (Linear, relu, Dropout, Linear,
    # ...: 0, 3 and 6, where a file without a net would have them at 0, 2 and 4).
    moved = str(tmp_path / "moved.safetensors")
    interop.save_safetensors(moved, params_and_inputs()[0], mlp.Net("relu", dropout=0.5))
    from safetensors import safe_open
    with safe_open(moved, "np") as f:
        tensors, metadata = {k.replace("3.", "4.", 1): f.get_tensor(k) for k in f.keys()}, f.metadata()
    save_file(tensors, moved, metadata=metadata)
    with refused(ValueError, "moved.safetensors", "linear layers at [0, 3, 6]", "the file has them at [0, 4, 6]"):
        interop.load_safetensors(moved)


def test_a_safetensors_file_is_marked_as_pytorchs_and_a_missing_bias_comes_in_as_zeros(tmp_path):
    need("safetensors")
    from safetensors import safe_open
    from safetensors.numpy import save_file

    path = str(tmp_path / "net.safetensors")
    interop.save_safetensors(path, params_and_inputs()[0])
    with safe_open(path, "np") as f:
        assert f.metadata() == {"format": "pt"}  # as PyTorch's own files are (no net given: no net's key)
    save_file({"0.weight": np.ones((3, 2), np.float16)}, path)  # nn.Linear(2, 3, bias=False)'s file
    (W, b), = interop.load_safetensors(path)[0]
    assert b.dtype == W.dtype == np.float16 and not b.any() and b.shape == (3,)


def test_a_missing_library_names_the_extra(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def without_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_torch)
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    with refused(ImportError, "jaxnet.interop needs torch", "pip install 'jaxnet-lecture[interop]'"):
        interop.to_torch(params_and_inputs()[0], mlp.Net("relu"))
    monkeypatch.setitem(__import__("sys").modules, "flax.nnx", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"needs flax here: pip install 'jaxnet-lecture\[interop\]'"):
        interop.to_flax(params_and_inputs()[0], mlp.Net("relu"))
    monkeypatch.setitem(__import__("sys").modules, "safetensors.numpy", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"needs safetensors here: pip install 'jaxnet-lecture\[interop\]'"):
        interop.save_safetensors(tmp_path / "weights.safetensors", params_and_inputs()[0])


def test_flax_gets_one_module_per_step_in_the_networks_dtype_and_reproducible_dropout():
    nnx = need("flax.nnx")
    params, x = params_and_inputs(seed=3, dtype=jnp.bfloat16)  # not the default float32 of Flax's parameters
    net = mlp.Net(("tanh", "relu"), "identity", dropout=(0.5, 0.0))
    model = interop.to_flax(params, net)
    kinds = [type(m).__name__ if isinstance(m, nnx.Module) else m.__name__ for m in model.layers]
    assert kinds == ["Linear", "tanh", "Dropout", "Linear", "relu", "Linear"]  # no Dropout(0), no identity
    for linear, (W, _) in zip([m for m in model.layers if isinstance(m, nnx.Linear)], params, strict=True):
        assert (linear.in_features, linear.out_features, linear.param_dtype) == (W.shape[1], W.shape[0], W.dtype)
    assert model.layers[2].rate == 0.5
    # Dropout has its random stream: a model made again drops the same units, those of the documented default
    # nnx.Rngs(0); other rngs drop others; in training mode it drops some.
    again = interop.to_flax(params, net)
    np.testing.assert_array_equal(model(x), again(x))
    first = interop.to_flax(params, net)(x)  # a fresh model's first call (each call moves the stream on)
    np.testing.assert_array_equal(interop.to_flax(params, net, rngs=nnx.Rngs(0))(x), first)
    assert not np.array_equal(interop.to_flax(params, net, rngs=nnx.Rngs(1))(x), first)
    model.eval()
    assert not np.array_equal(again(x), model(x))
