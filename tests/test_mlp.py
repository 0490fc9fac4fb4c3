import dataclasses
import re
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import activations, backprop, losses, mlp


def test_init_shapes_dtypes_and_treedef(key):
    params = mlp.init(key, [4, 8, 3, 2], dtype=jnp.float32)
    assert isinstance(params, list) and all(isinstance(layer, tuple) for layer in params)
    assert [(W.shape, b.shape) for W, b in params] == [((8, 4), (8,)), ((3, 8), (3,)), ((2, 3), (2,))]
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    assert all(float(jnp.abs(b).max()) == 0.0 for _, b in params)


def test_init_float64(key):
    with jax.enable_x64():
        params = mlp.init(key, [3, 2], dtype=jnp.float64)
        assert params[0][0].dtype == jnp.float64


@pytest.mark.parametrize("scheme, expected_std", [("he", np.sqrt(2 / 500)), ("lecun", np.sqrt(1 / 500)),
                                                  ("normal", 0.01), ("glorot", np.sqrt(2 / (500 + 400)))])
def test_init_scales(key, scheme, expected_std):
    # 200,000 draws: the sample std is within 1% of the target with overwhelming probability (its sd is ~0.16%).
    W = mlp.init(key, [500, 400], init=scheme)[0][0]
    np.testing.assert_allclose(jnp.std(W), expected_std, rtol=0.01)
    if scheme == "glorot":
        assert float(jnp.abs(W).max()) <= np.sqrt(6 / 900)


def test_init_uses_a_key_per_layer(key):
    params = mlp.init(key, [5, 5, 5])
    assert not np.allclose(params[0][0], params[1][0])
    np.testing.assert_array_equal(mlp.init(key, [5, 5, 5])[1][0], params[1][0])


@pytest.mark.parametrize("sizes", [[3], [3, 0], [3, 2.5], []])
def test_init_refuses_bad_sizes(key, sizes):
    with pytest.raises(ValueError, match="sizes must be"):
        mlp.init(key, sizes)


def test_init_refuses_unknown_scheme(key):
    with pytest.raises(ValueError, match=r"unknown init 'xavier'.*glorot"):
        mlp.init(key, [2, 2], init="xavier")


def test_apply_is_the_lectures_formula(key):
    # Section 3: ŷ = W3 φ2(W2 φ1(W1 x + b1) + b2) + b3, here with φ1 = tanh, φ2 = relu, written out by hand.
    params = mlp.init(key, [3, 4, 5, 2])
    for i, (W, b) in enumerate(params):
        params[i] = (W, jax.random.normal(jax.random.key(i + 10), b.shape))
    (W1, b1), (W2, b2), (W3, b3) = params
    x = jnp.array([0.3, -1.2, 2.0])
    expected = W3 @ activations.relu(W2 @ jnp.tanh(W1 @ x + b1) + b2) + b3
    got = mlp.apply(params, x, activation=["tanh", "relu"])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)  # same float32 ops, summation order may differ


def test_forward_returns_vs_and_us(key):
    params = mlp.init(key, [3, 4, 2])
    x = jax.random.normal(key, (6, 3))
    yhat, vs, us = mlp.forward(params, x, activation="sigmoid", output="softmax")
    assert [v.shape for v in vs] == [(6, 4), (6, 2)] and [u.shape for u in us] == [(6, 3), (6, 4), (6, 2)]
    np.testing.assert_array_equal(us[0], x)
    np.testing.assert_allclose(us[1], jax.nn.sigmoid(vs[0]), rtol=1e-6)
    np.testing.assert_allclose(yhat, jax.nn.softmax(vs[1]), rtol=1e-6)


def test_batch_equals_each_example(key):
    params = mlp.init(key, [3, 7, 2])
    x = jax.random.normal(key, (5, 3))
    batch = mlp.apply(params, x)
    for n in range(5):
        np.testing.assert_allclose(batch[n], mlp.apply(params, x[n]), rtol=1e-6, atol=1e-7)


def test_layer_shape_mismatch_names_layer_and_shapes(key):
    params = mlp.init(key, [3, 4, 2])
    params[1] = (jnp.zeros((2, 5)), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"layer 2: W has shape \(2, 5\).*layer 1 \(W of shape \(4, 3\)\)"):
        mlp.apply(params, jnp.zeros(3))
    params[1] = (jnp.zeros((2, 4)), jnp.zeros(3))
    with pytest.raises(ValueError, match=r"layer 2: .*b must have shape \(2,\), got \(3,\)"):
        mlp.apply(params, jnp.zeros(3))


def test_input_shape_mismatch(key):
    params = mlp.init(key, [3, 2])
    with pytest.raises(ValueError, match=r"layer 1: W has shape \(2, 3\).*x of shape \(5, 4\)"):
        mlp.apply(params, jnp.zeros((5, 4)))


def test_activation_names_are_checked(key):
    params = mlp.init(key, [3, 4, 4, 2])
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*relu"):
        mlp.apply(params, jnp.zeros(3), activation="swish")
    with pytest.raises(ValueError, match="lists 1 names but the network has 2 hidden layers"):
        mlp.apply(params, jnp.zeros(3), activation=["tanh"])


def test_apply_is_jittable(key):
    params = mlp.init(key, [3, 4, 2])
    f = jax.jit(mlp.apply, static_argnames=("activation", "output"))
    np.testing.assert_allclose(f(params, jnp.ones((2, 3)), activation="tanh"),
                               mlp.apply(params, jnp.ones((2, 3)), activation="tanh"), rtol=1e-6)


@pytest.mark.slow
def test_importing_mlp_pulls_in_no_heavy_dependency():
    code = ("import sys, jaxnet.mlp, jaxnet.backprop, jaxnet.train, jaxnet.data; print(sorted(m for m in "
            "('tensorflow', 'tensorflow_datasets', 'matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_net_is_validated_once_frozen_and_hashable():
    net = mlp.Net(["tanh", "relu"], output="sigmoid")
    assert net.activation == ("tanh", "relu") and net == mlp.Net(("tanh", "relu"), "sigmoid")
    assert hash(net) == hash(mlp.Net(("tanh", "relu"), "sigmoid"))  # a static jit argument, a cache key
    assert net.names(3) == ("tanh", "relu", "sigmoid")
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.output = "identity"
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*relu"):
        mlp.Net("swish")
    with pytest.raises(ValueError, match=r"unknown activation 'soft_max'"):
        mlp.Net("relu", output="soft_max")
    with pytest.raises(ValueError, match="lists 2 names but the network has 1 hidden layers"):
        net.names(2)


def test_net_and_the_string_keywords_are_the_same_network(key):
    params = mlp.init(key, [3, 4, 4, 2])
    x = jax.random.normal(key, (5, 3))
    by_net = mlp.apply(params, x, mlp.Net(("tanh", "sigmoid"), "softmax"))
    by_names = mlp.apply(params, x, activation=["tanh", "sigmoid"], output="softmax")
    np.testing.assert_array_equal(by_net, by_names)
    f = jax.jit(mlp.apply, static_argnums=2)  # a Net is hashable, so it can be static
    np.testing.assert_allclose(f(params, x, mlp.Net("tanh")), mlp.apply(params, x, activation="tanh"), rtol=1e-6)


def test_net_and_keywords_together_are_refused(key):
    params = mlp.init(key, [3, 2])
    with pytest.raises(ValueError, match="either net=.*or the activation/output keywords"):
        mlp.apply(params, jnp.zeros(3), mlp.Net("tanh"), output="identity")
    with pytest.raises(TypeError, match="net must be a jaxnet.mlp.Net, got str"):
        mlp.apply(params, jnp.zeros(3), "tanh")


@pytest.mark.parametrize("dtype,tol", [(jnp.float32, dict(rtol=1e-5, atol=1e-6)),
                                       (jnp.float64, dict(rtol=1e-12, atol=1e-13))], ids=["float32", "float64"])
def test_row_stacked_batch_equals_the_vmapped_one_example_definition(key, dtype, tol):
    # Batches are computed as X Wᵀ + 1bᵀ; the one-example rule W x + b, vmapped, is the definition. The two sum the
    # same products in possibly different orders, so they agree to round-off (float32: a few ulps of O(1) values).
    with jax.enable_x64(dtype == jnp.float64):
        params = mlp.init(key, [3, 64, 32, 5], dtype=dtype)
        params = [(W, jax.random.normal(jax.random.key(i), b.shape, dtype)) for i, (W, b) in enumerate(params)]
        net = mlp.Net(("tanh", "relu"), "softmax")
        x = jax.random.normal(key, (37, 3), dtype)
        yhat, vs, us = jax.jit(mlp.forward, static_argnums=2)(params, x, net)
        one = jax.jit(jax.vmap(mlp.forward_one, in_axes=(None, 0, None)), static_argnums=2)
        one_vs, one_us = one(params, x, net)
        chex.assert_trees_all_close((vs, us), (one_vs, one_us), **tol)
        assert yhat.dtype == dtype


def test_the_input_scaling_is_the_same_as_scaling_the_data(key):
    # u_0 = (x − shift)/scale, integer inputs converted first: uint8 images give what their float values give.
    params = mlp.init(key, [4, 8, 3])
    x8 = jax.random.randint(key, (10, 4), 0, 256).astype(jnp.uint8)
    net = mlp.Net("relu", input_shift=33.3, input_scale=78.5)
    expected = mlp.apply(params, (x8.astype(jnp.float32) - 33.3) / 78.5, mlp.Net("relu"))
    np.testing.assert_allclose(mlp.apply(params, x8, net), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mlp.apply(params, x8[0], net), expected[0], rtol=1e-6, atol=1e-6)
    y = jnp.arange(10) % 3
    manual = jax.jit(lambda p: backprop.manual_grad(p, x8, y, net, loss="cross_entropy"))
    auto = jax.jit(jax.grad(lambda p: losses.cross_entropy(mlp.apply(p, x8, net), y)))
    chex.assert_trees_all_close(manual(params), auto(params), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="input_scale finite and > 0, got 0.0 and 0.0"):
        mlp.Net(input_scale=0)


def test_layer_activations_names_every_layer_hidden_then_output():
    assert mlp.layer_activations("tanh", "identity", 3) == ["tanh", "tanh", "identity"]
    assert mlp.layer_activations(["relu", "sigmoid"], "softmax", 3) == ["relu", "sigmoid", "softmax"]
    assert mlp.layer_activations("relu", "sigmoid", 1) == ["sigmoid"]  # one layer: the output alone
    with pytest.raises(ValueError, match="activation lists 2 names but the network has 1 hidden layers"):
        mlp.layer_activations(["relu", "tanh"], "identity", 2)


def test_integer_inputs_enter_in_the_parameters_dtype_in_both_forward_passes():
    # u_0 takes W_1's dtype, not the default float32: a half-precision network stays in half precision.
    params = mlp.init(jax.random.key(0), [3, 4, 2], dtype=jnp.float16)
    x = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    vs, us = mlp.forward_one(params, x[0], mlp.Net("tanh"))
    assert us[0].dtype == jnp.float16 and vs[-1].dtype == jnp.float16
    _, vs, us = mlp.forward(params, x, mlp.Net("tanh"))
    assert us[0].dtype == jnp.float16 and vs[-1].dtype == jnp.float16


@pytest.mark.parametrize("params, message", [
    ([], "params must be a non-empty list of (W, b) tuples"),
    ({}, "params must be a non-empty list of (W, b) tuples"),
    ([(np.zeros((2, 3)), np.zeros(2), np.zeros(2))], "layer 1: expected a (W, b) tuple, got tuple"),
    ([np.zeros((2, 3))], "layer 1: expected a (W, b) tuple, got ndarray"),
    ([(np.zeros(3), np.zeros(3))], "layer 1: W must be a matrix (d_1, d_0), got shape (3,)"),
    ([(np.zeros((4, 3)), np.zeros(4)), (np.zeros((2, 5)), np.zeros(2))],
     "layer 2: W has shape (2, 5), which does not take the output of layer 1 (W of shape (4, 3)): expected 2 x 4"),
], ids=["empty", "dict", "three-tuple", "bare-matrix", "vector-W", "chain"])
def test_check_params_names_the_layer_and_the_shapes(params, message):
    import re

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        mlp.check_params(params)


@pytest.mark.parametrize("init", mlp.INITS)
def test_init_draws_each_layer_from_its_own_key_in_the_dtype_asked_for(init):
    key = jax.random.key(7)
    params = mlp.init(key, [3, 5, 2], init=init, dtype=jnp.bfloat16)
    keys = jax.random.split(key, 2)  # one per layer
    for (W, b), layer_key, (fan_in, fan_out) in zip(params, keys, [(3, 5), (5, 2)]):
        assert W.dtype == b.dtype == jnp.bfloat16
        if init == "glorot":
            limit = (6.0 / (fan_in + fan_out)) ** 0.5
            expected = jax.random.uniform(layer_key, (fan_out, fan_in), jnp.bfloat16, -limit, limit)
        else:
            std = {"he": (2.0 / fan_in) ** 0.5, "lecun": (1.0 / fan_in) ** 0.5, "normal": 0.01}[init]  # Python floats
            expected = std * jax.random.normal(layer_key, (fan_out, fan_in), jnp.bfloat16)
        np.testing.assert_array_equal(np.asarray(W, np.float32), np.asarray(expected, np.float32))


def test_the_input_is_shifted_and_scaled_by_any_values_and_they_are_floats():
    x = jnp.array([3.0, 5.0])
    np.testing.assert_array_equal(mlp.Net(input_shift=1.0).input(x, jnp.float32), [2.0, 4.0])
    np.testing.assert_array_equal(mlp.Net(input_scale=2.0).input(x, jnp.float32), [1.5, 2.5])
    net = mlp.Net(input_shift=np.float32(1), input_scale=2)
    assert type(net.input_shift) is float and type(net.input_scale) is float


def test_a_network_has_one_dtype_and_mixed_ones_are_refused():
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    (W1, b1), (W2, b2) = params
    half = lambda a: a.astype(jnp.bfloat16)
    advice = "; convert them, e.g. with jax.tree.map(lambda a: a.astype(jnp.float32), params)"
    for bad, message in [
            ([(W1, b1.astype(jnp.float16)), (W2, b2)],
             "layer 1: W is float32 and b is float16, but a network has one dtype (layer 1's W is float32)"),
            ([(W1, b1), (W2.astype(jnp.float16), b2.astype(jnp.float16))],
             "layer 2: W is float16 and b is float16, but a network has one dtype (layer 1's W is float32)"),
            ([(half(W1), half(b1)), (W2, b2)],
             "layer 2: W is float32 and b is float32, but a network has one dtype (layer 1's W is bfloat16)")]:
        with pytest.raises(ValueError, match=f"^{re.escape(message + advice)}$"):
            mlp.check_params(bad)
    mlp.check_params(jax.tree.map(lambda a: a.astype(jnp.bfloat16), params))  # one dtype, any dtype


# Sizes with fan_in ≠ fan_out in each layer (600 → 200 → 50), so swapped fans change every target variance by 3× or
# 4×. (in, out) layout is what the jax.nn.initializers callables assume; jaxnet's W is (out, in).
INIT_SIZES = [600, 200, 50]
TARGET_VARIANCE = {"he": lambda fan_in, fan_out: 2 / fan_in, "glorot": lambda fan_in, fan_out: 2 / (fan_in + fan_out),
                   "lecun": lambda fan_in, fan_out: 1 / fan_in}
CALLABLES = {"he": [jax.nn.initializers.he_normal(), jax.nn.initializers.he_uniform()],
             "glorot": [jax.nn.initializers.glorot_normal(), jax.nn.initializers.glorot_uniform()],
             "lecun": [jax.nn.initializers.lecun_normal(), jax.nn.initializers.lecun_uniform()]}


@pytest.mark.parametrize("scheme", sorted(TARGET_VARIANCE))
@pytest.mark.parametrize("form", ["string", "normal callable", "uniform callable"])
def test_weight_variance_per_layer_matches_its_fans(scheme, form):
    init = scheme if form == "string" else CALLABLES[scheme][form.startswith("uniform")]
    params = mlp.init(jax.random.key(3), INIT_SIZES, init=init)
    for (W, b), fan_in, fan_out in zip(params, INIT_SIZES[:-1], INIT_SIZES[1:]):
        assert W.shape == (fan_out, fan_in) and W.dtype == jnp.float32
        n = W.size
        target = TARGET_VARIANCE[scheme](fan_in, fan_out)
        # The sample variance of n draws has relative sd √(2/n) for a normal (less for a uniform, a little more for
        # a truncated normal); 6 sd: 10,000 draws give ±8.5%, 120,000 ±2.5%, far from the 3× of swapped fans.
        assert abs(float(jnp.var(W)) / target - 1) < 6 * np.sqrt(2 / n), (fan_in, fan_out, float(jnp.var(W)), target)
        np.testing.assert_array_equal(b, np.zeros(fan_out, np.float32))


def test_an_initializer_that_reads_only_fan_out_sees_d_i():
    # variance_scaling(1, "fan_out") must give Var(W_i) = 1/d_i: the callable draws (d_{i−1}, d_i) and W_i is its
    # transpose, so the fan it calls "out" is the layer's output width.
    fan_out = jax.nn.initializers.variance_scaling(1.0, "fan_out", "normal")
    W = mlp.init(jax.random.key(0), [50, 400], init=fan_out)[0][0]
    assert W.shape == (400, 50)
    np.testing.assert_allclose(float(jnp.var(W)), 1 / 400, rtol=6 * np.sqrt(2 / W.size))


def test_bias_init_and_dtype():
    with jax.enable_x64():
        params = mlp.init(jax.random.key(0), [3, 4, 2], init=jax.nn.initializers.orthogonal(),
                          bias_init=jax.nn.initializers.constant(0.25), dtype=jnp.float64)
        for W, b in params:
            assert W.dtype == b.dtype == jnp.float64
            np.testing.assert_array_equal(b, np.full(b.shape, 0.25))
        W1 = np.asarray(params[0][0])  # orthogonal (in, out) = (3, 4) transposed: orthonormal columns of W1ᵀ
        np.testing.assert_allclose(W1.T @ W1, np.eye(3), atol=1e-12)
    drawn = mlp.init(jax.random.key(0), [3, 4], bias_init=jax.nn.initializers.normal(1.0))
    assert np.all(np.asarray(drawn[0][1]) != 0)
    # The weights are those drawn without bias_init: the bias has a key of its own.
    np.testing.assert_array_equal(drawn[0][0], mlp.init(jax.random.key(0), [3, 4])[0][0])


@pytest.mark.parametrize("bad, error, message", [
    (3, TypeError, r"init must be one of \['he', 'glorot', 'lecun', 'normal'\] or a jax.nn.initializers callable"),
    ("xavier", ValueError, r"unknown init 'xavier'; valid inits are \['he', 'glorot', 'lecun', 'normal'\]"),
])
def test_bad_inits_are_refused(bad, error, message):
    with pytest.raises(error, match=message):
        mlp.init(jax.random.key(0), [3, 2], init=bad)
    with pytest.raises(TypeError, match="bias_init must be None"):
        mlp.init(jax.random.key(0), [3, 2], bias_init="zeros")
    with pytest.raises(ValueError, match=r"gave W of shape \(3, 2\) \(in, out\) and b of shape \(5,\)"):
        mlp.init(jax.random.key(0), [3, 2], bias_init=lambda key, shape, dtype: jnp.zeros(5, dtype))


@pytest.mark.parametrize("init, dtype", [("lecun", jnp.float32), ("glorot", jnp.bfloat16), ("normal", jnp.float16)])
def test_init_ensemble_passes_the_init_dtype_and_bias_init_to_each_member(init, dtype):
    key, bias_init = jax.random.key(4), jax.nn.initializers.uniform(0.5)
    stacked = mlp.init_ensemble(key, 3, [3, 5, 2], init=init, dtype=dtype, bias_init=bias_init)
    for k, member_key in enumerate(jax.random.split(key, 3)):
        chex.assert_trees_all_equal(jax.tree.map(lambda a, k=k: a[k], stacked),
                                    mlp.init(member_key, [3, 5, 2], init=init, dtype=dtype, bias_init=bias_init))
    assert all(float(jnp.abs(b.astype(jnp.float32)).max()) > 0 for _, b in stacked)  # the biases were drawn


def test_a_callable_init_goes_through_init_ensemble():
    members = jax.vmap(lambda k: mlp.init(k, [30, 10], init=jax.nn.initializers.glorot_uniform()))(
        jax.random.split(jax.random.key(0), 2))
    ensemble = mlp.init_ensemble(jax.random.key(0), 2, [30, 10], init=jax.nn.initializers.glorot_uniform())
    chex.assert_trees_all_equal(ensemble, members)


@pytest.mark.parametrize("axes", [{}, {"in_axis": -1, "out_axis": -2}, {"in_axis": 1, "out_axis": 0}],
                         ids=["flax axes", "torch axes", "torch axes, positive"])
def test_an_initializer_s_fan_in_is_d_0_whichever_layout_its_axes_name(axes):
    # he_normal: Var(W) = 2 / fan_in. Given PyTorch's axes for an (out, in) matrix, the initializer is honoured;
    # drawn as Flax's (in, out) kernel it would read fan-in as d_1 = 10 and give a variance 100 times too large.
    W = mlp.init(jax.random.key(0), [1000, 10], init=jax.nn.initializers.he_normal(**axes))[0][0]
    assert W.shape == (10, 1000)
    np.testing.assert_allclose(float(W.var()), 2 / 1000, rtol=0.1)  # 10,000 draws: the variance to about 3%


def test_any_callable_initializer_draws_an_in_out_kernel_kept_transposed():
    # An object with __call__ (no closure to read axes from) is drawn as Flax's (in, out) kernel, as any callable
    # the axes of which are unknown.
    class Arange:
        def __call__(self, key, shape, dtype=jnp.float32):
            return jnp.arange(np.prod(shape), dtype=dtype).reshape(shape)

    (W, b), = mlp.init(jax.random.key(0), [3, 2], init=Arange())
    np.testing.assert_array_equal(W, np.arange(6.0).reshape(3, 2).T)
    np.testing.assert_array_equal(b, np.zeros(2))


def test_a_net_is_a_pytree_with_no_leaves_so_jit_of_apply_needs_no_static_argnums(key):
    params = mlp.init(key, [3, 5, 2])
    x = jax.random.normal(key, (4, 3))
    net, other = mlp.Net("tanh"), mlp.Net("relu")
    assert jax.tree.leaves(net) == []
    traced = []  # one entry each time jit traces (a new program); a cache hit runs no Python

    def apply(params, x, net):
        traced.append(net)
        return mlp.apply(params, x, net)

    applied = jax.jit(apply)
    # Compiled and eager may fuse the products differently: float32 round-off of sums of 5 terms of size ~1.
    np.testing.assert_allclose(applied(params, x, net), mlp.apply(params, x, net), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(applied(params, x, other), mlp.apply(params, x, other), rtol=1e-6, atol=1e-6)
    applied(params, x, mlp.Net("tanh"))  # an equal net: the same program
    assert traced == [net, other]
