import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import activations

ELEMENTWISE = [name for name, act in activations.ACTIVATIONS.items() if act.elementwise]
# Points that include the ties (exactly 0) where conventions differ.
POINTS = np.array([-3.0, -0.5, 0.0, 0.25, 2.0], np.float32)  # NumPy: importing a test starts no JAX runtime


def test_softmax_lecture_example():
    # Section 2.1.2: [3, 1, -1] -> [0.87, 0.12, 0.01]. The exact values are e^v / (e^3 + e + e^-1) =
    # [0.8668, 0.1173, 0.0159]; rounded to two places that is [0.87, 0.12, 0.02] (erratum 3: the lecture prints
    # 0.01 for the third), and the three sum to one.
    z = activations.softmax(jnp.array([3.0, 1.0, -1.0]))
    exact = np.exp([3.0, 1.0, -1.0]) / np.exp([3.0, 1.0, -1.0]).sum()
    np.testing.assert_allclose(z, exact, rtol=1e-6)
    np.testing.assert_array_equal(np.round(np.asarray(z, np.float64), 2), [0.87, 0.12, 0.02])
    np.testing.assert_allclose(z, [0.87, 0.12, 0.01], atol=0.006)  # the printed numbers, each within 0.006


def test_softmax_is_a_probability_vector_invariant_to_shifts():
    v = jax.random.normal(jax.random.key(1), (5, 4)) * 10
    z = activations.softmax(v)
    assert bool(jnp.all(z >= 0))
    np.testing.assert_allclose(jnp.sum(z, axis=-1), 1.0, rtol=1e-6)  # float32 sum of 4 terms
    # Adding 8 to float32 values of size ~10 rounds them by up to 1e-6 relative; z moves by about that much.
    np.testing.assert_allclose(activations.softmax(v + 8.0), z, atol=1e-5)


def test_softmax_of_huge_logits_is_finite():
    z = activations.softmax(jnp.array([1e4, -1e4, 0.0]))
    np.testing.assert_array_equal(z, [1.0, 0.0, 0.0])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_exercise_2_jacobian_of_elementwise_is_diagonal(name):
    # Lecture exercise 2: the Jacobian of an element-wise φ is Φ'(x) = diag φ'(x).
    act = activations.get(name)
    jacobian = jax.jacfwd(act.fn)(POINTS)
    np.testing.assert_allclose(jacobian, jnp.diag(act.derivative(POINTS)), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(activations.ACTIVATIONS))
def test_hand_derivative_and_vjp_agree_with_autodiff(name):
    act = activations.get(name)
    v = jnp.concatenate([POINTS, jax.random.normal(jax.random.key(2), (3,))])
    g = jax.random.normal(jax.random.key(3), v.shape)
    expected_jacobian = jax.jacrev(act.fn)(v)
    got_jacobian = act.derivative(v) if not act.elementwise else jnp.diag(act.derivative(v))
    np.testing.assert_allclose(got_jacobian, expected_jacobian, rtol=1e-6, atol=1e-7)
    _, pullback = jax.vjp(act.fn, v)
    np.testing.assert_allclose(act.vjp(v, g), pullback(g)[0], rtol=1e-6, atol=1e-7)


def test_relu_derivative_is_one_at_zero_under_autodiff_too():
    # The lecture: ReLU'(x) = 1 for x >= 0. jax.nn.relu has 0 there and jnp.maximum 0.5; ours must say 1.
    assert float(jax.grad(activations.relu)(0.0)) == 1.0
    assert float(activations.relu_derivative(jnp.array(0.0))) == 1.0
    # "v for v >= 0": -0.0 >= 0, so ReLU(-0.0) is v itself, -0.0; below zero it is +0.0. (== cannot see the sign.)
    out = np.asarray(activations.relu(jnp.array([-0.0, 0.0, -1.0, 2.0])))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 2.0])
    assert np.signbit(out).tolist() == [True, False, False, False]


@pytest.mark.parametrize("v", [-1000.0, 1000.0])
def test_sigmoid_stays_finite_at_extremes(v):
    v = jnp.array(v)
    assert bool(jnp.isfinite(activations.sigmoid(v)))
    assert bool(jnp.isfinite(jax.grad(activations.sigmoid)(v)))
    assert bool(jnp.isfinite(activations.sigmoid_derivative(v)))


def test_sign_has_zero_derivative():
    np.testing.assert_array_equal(jax.vmap(jax.grad(activations.sign))(POINTS), 0.0)
    np.testing.assert_array_equal(activations.sign_derivative(POINTS), 0.0)


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'.*relu.*sigmoid"):
        activations.get("gelu")


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_every_derivative_keeps_the_dtype_of_v(dtype):
    # A derivative in another dtype than v would promote a half-precision network's gradients (or cast them down).
    v = jnp.linspace(-2, 2, 6, dtype=dtype)
    for name, activation in activations.ACTIVATIONS.items():
        assert activation.derivative(v).dtype == dtype, name
        assert activation.fn(v).dtype == dtype, name


def test_elementwise_bundles_phi_and_phi_prime_and_says_it_is_elementwise():
    cube = activations.elementwise("cube", lambda v: v ** 3, lambda v: 3 * v ** 2)
    v, g = jnp.array([-1.0, 0.5, 2.0]), jnp.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(cube.derivative(v), [3.0, 0.75, 12.0])
    np.testing.assert_allclose(cube.vjp(v, g), [3.0, 1.5, 36.0])  # diag φ'(v) g
    assert cube.elementwise is True and cube.name == "cube"
    assert all(activations.get(n).elementwise for n in ("relu", "sigmoid", "tanh", "sign", "identity"))
    assert activations.get("softmax").elementwise is False


def test_register_refuses_what_is_not_an_activation_by_its_type():
    with pytest.raises(TypeError, match="register takes an Activation .see elementwise., got int"):
        activations.register(42)
