"""The back-propagation checker against a bank of wrong back-propagations written out in NumPy, one per mistake."""

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import backprop, gradcheck, mlp

import snapshots

SIZES = [3, 5, 5, 4]  # layer 2 is square (5 × 5), so a transposed ∇W₂ keeps its shape
N = 8
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")

PHI = {"tanh": (np.tanh, lambda v: 1 - np.tanh(v) ** 2),
       "sigmoid": (lambda v: 1 / (1 + np.exp(-v)), lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2),
       "relu": (lambda v: np.where(v >= 0, v, 0), lambda v: (v >= 0).astype(v.dtype))}


def numpy_backprop(hidden, loss, mistake=None, layers=(), dtype=np.float32):
    """A student's back-propagation for ``Net(hidden)`` (identity output) written out in NumPy in ``dtype``, with
    ``mistake`` planted at ``layers`` (1-based) where it belongs to a layer."""
    phi, derivative = PHI[hidden]

    def grad_fn(params, x, y):
        Ws = [np.asarray(W, dtype) for W, _ in params]
        bs = [np.asarray(b, dtype) for _, b in params]
        us, vs = [np.asarray(x, dtype)], []
        for i, (W, b) in enumerate(zip(Ws, bs), start=1):
            vs.append(us[-1] @ W.T + b)
            us.append(vs[-1] if i == len(Ws) else phi(vs[-1]))
        n = len(us[0])
        if loss == "mse":
            g = (us[-1] - np.asarray(y, dtype)) / n
        else:  # softmax + cross-entropy on integer labels: the fused (z − y)/N
            z = np.exp(vs[-1] - vs[-1].max(axis=1, keepdims=True))
            z /= z.sum(axis=1, keepdims=True)
            g = (z - np.eye(z.shape[1], dtype=dtype)[np.asarray(y)]) / n
            if mistake == "softmax_diagonal":
                g = g * z * (1 - z)
        g = {"wrong_sign": -g, "sum_not_mean": g * n, "scaled": 2 * g}.get(mistake, g)
        grads = []
        for i in range(len(Ws), 0, -1):
            dW = g.T @ us[i - 1]
            db = g.sum(axis=0)
            if mistake == "transposed" and i in layers:
                dW = dW.T
            if mistake == "bias" and i in layers:
                db = g.mean(axis=0)
            grads.append((dW, db))
            if i > 1:
                back = g @ Ws[i - 1]
                if mistake == "derivative_at_u" and i - 1 in layers:
                    g = derivative(us[i - 1]) * back
                elif mistake == "missing_derivative" and i - 1 in layers:
                    g = back
                else:
                    g = derivative(vs[i - 2]) * back
        return grads[::-1]

    return grad_fn


def problem(loss, seed=0):
    params = mlp.init(jax.random.key(seed), SIZES)
    x = jax.random.normal(jax.random.key(seed + 1), (N, SIZES[0]))
    y = (jax.random.randint(jax.random.key(seed + 2), (N,), 0, SIZES[-1]) if loss == "cross_entropy"
         else jax.random.normal(jax.random.key(seed + 2), (N, SIZES[-1])))
    return params, x, y


# (mistake, the layers it is planted at, the diagnosis, the layer where it enters)
BANK = [
    ("wrong_sign", (), "wrong_sign", 3),
    ("sum_not_mean", (), "sum_not_mean", 3),
    ("scaled", (), "scaled", 3),
    ("transposed", (2,), "transposed", 2),
    ("derivative_at_u", (2,), "derivative_at_u", 2),
    ("derivative_at_u", (1,), "derivative_at_u", 1),
    ("derivative_at_u", (1, 2), "derivative_at_u", 2),
    ("missing_derivative", (2,), "missing_derivative", 2),
    ("missing_derivative", (1,), "missing_derivative", 1),
    ("missing_derivative", (1, 2), "missing_derivative", 2),
    ("bias", (1,), "bias", 1),
    ("bias", (3,), "bias", 3),
]


@pytest.mark.parametrize("hidden,loss", list(itertools.product(PHI, ["mse", "cross_entropy"])))
@pytest.mark.parametrize("mistake,layers,diagnosis,layer", BANK, ids=[f"{m}-{'-'.join(map(str, ls))}"
                                                                     for m, ls, _, _ in BANK])
def test_each_mistake_gets_its_diagnosis_and_layer(hidden, loss, mistake, layers, diagnosis, layer):
    params, x, y = problem(loss)
    report = gradcheck.check(numpy_backprop(hidden, loss, mistake, layers), params, x, y, mlp.Net(hidden), loss=loss)
    if hidden == "relu" and diagnosis == "missing_derivative":
        diagnosis = "derivative_at_u"  # ReLU'(ReLU(v)) = 1: the two give the same numbers (documented)
    assert (report.ok, report.diagnosis, report.layer) == (False, diagnosis, layer), str(report)
    assert f"layer {layer} of 3" in str(report) and diagnosis in str(report)
    if diagnosis == "scaled":
        assert report.factor == pytest.approx(2.0, rel=1e-4)
    else:
        assert report.factor is None


def test_each_mistakes_report_is_the_text_recorded():
    # What a student reads for each mistake of the bank (a tanh network, L2), as recorded (tests/snapshots.py says
    # how to rewrite it): where, the worst element, the mistake and its rule. The numbers within 1e-5: float32
    # round-off of the reference differs from one version of XLA to the next.
    params, x, y = problem("mse")
    told = {f"{mistake} at {layers}": str(gradcheck.check(numpy_backprop("tanh", "mse", mistake, layers), params, x, y,
                                                          mlp.Net("tanh"), loss="mse"))
            for mistake, layers, _, _ in BANK}
    recorded = snapshots.recorded_json("gradcheck_reports.json", told)
    assert {k: NUMBER.sub("#", v) for k, v in told.items()} == {k: NUMBER.sub("#", v) for k, v in recorded.items()}
    np.testing.assert_allclose([float(v) for text in told.values() for v in NUMBER.findall(text)],
                               [float(v) for text in recorded.values() for v in NUMBER.findall(text)], rtol=1e-5)


@pytest.mark.parametrize("hidden", list(PHI))
def test_the_softmax_treated_as_elementwise_is_named(hidden):
    params, x, y = problem("cross_entropy")
    report = gradcheck.check(numpy_backprop(hidden, "cross_entropy", "softmax_diagonal"), params, x, y,
                             mlp.Net(hidden), loss="cross_entropy")
    assert (report.diagnosis, report.layer) == ("softmax_diagonal", 3), str(report)
    assert "z_j(1 − z_j)" in str(report)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden,loss", list(itertools.product(PHI, ["mse", "cross_entropy"])))
def test_the_right_backprop_is_ok_in_float32_and_float64(hidden, loss, dtype):
    params, x, y = problem(loss, seed=3)
    report = gradcheck.check(numpy_backprop(hidden, loss, dtype=dtype), params, x, y, mlp.Net(hidden), loss=loss)
    assert (report.ok, report.diagnosis, report.layer, report.factor) == (True, "ok", None, None), str(report)
    assert len(report.errors) == 3
    # float64 arithmetic on float32 parameters: round-off of float64 only; float32: of float32, far below RTOL.
    assert max(max(e) for e in report.errors) < (1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("sizes", [[3, 2], [3, 6, 2], [3, 6, 4, 2]], ids=["depth 1", "depth 2", "depth 3"])
@pytest.mark.parametrize("hidden", ["relu", "sigmoid", "tanh", "identity", "sign"])
@pytest.mark.parametrize("output,loss", [("identity", "mse"), ("sigmoid", "mse"), ("tanh", "mae"),
                                         ("softmax", "mse"), ("identity", "cross_entropy")])
def test_manual_grad_is_ok_for_every_supported_combination(sizes, hidden, output, loss):
    net = mlp.Net(hidden, output=output)
    params = mlp.init(jax.random.key(0), sizes)
    x = jax.random.normal(jax.random.key(1), (5, sizes[0]))
    y = (jnp.array([0, 1, 1, 0, 1]) if loss == "cross_entropy" else jax.random.uniform(jax.random.key(2), (5, 2)))
    grad_fn = lambda p, x, y: backprop.manual_grad(p, x, y, net, loss=loss)
    assert gradcheck.check(grad_fn, params, x, y, net, loss=loss).diagnosis == "ok"
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        x64 = jnp.asarray(x, jnp.float64)
        y64 = y if loss == "cross_entropy" else jnp.asarray(y, jnp.float64)
        report = gradcheck.check(grad_fn, params64, x64, y64, net, loss=loss)
    assert report.diagnosis == "ok" and max(max(e) for e in report.errors) < 1e-12, str(report)


def test_one_example_is_checked_as_a_batch_of_one():
    params, x, y = problem("mse")
    grad_fn = lambda p, x, y: backprop.manual_grad(p, x, y, mlp.Net("tanh"), loss="mse")
    assert gradcheck.check(grad_fn, params, x[0], y[0], mlp.Net("tanh"), loss="mse").ok
    flipped = lambda p, x, y: [(-dW, -db) for dW, db in grad_fn(p, x, y)]
    assert gradcheck.check(flipped, params, x[0], y[0], mlp.Net("tanh"), loss="mse").diagnosis == "wrong_sign"


def test_shapes_and_structure_are_named_by_layer():
    params, x, y = problem("mse")
    right = numpy_backprop("tanh", "mse")
    check = lambda fn: gradcheck.check(fn, params, x, y, activation="tanh", loss="mse")

    def transposed_first(p, x, y):
        grads = right(p, x, y)
        return [(grads[0][0].T, grads[0][1]), *grads[1:]]

    report = check(transposed_first)
    assert (report.diagnosis, report.layer, report.ok, report.errors) == ("shape", 1, False, [])
    assert "∇W₁ has shape (3, 5), W₁ has (5, 3)" in str(report) and "transpose" in str(report)
    report = check(lambda p, x, y: [(dW, np.tile(db, (N, 1))) for dW, db in right(p, x, y)])
    assert (report.diagnosis, report.layer) == ("shape", 3) and "summed over the batch" in str(report)  # the highest
    assert "∇b₃ has shape (8, 4), b₃ has (4,)" in str(report)
    report = check(lambda p, x, y: right(p, x, y)[:2])
    assert (report.diagnosis, report.layer) == ("shape", None) and "2 layers' gradients" in str(report)
    assert check(lambda p, x, y: {"W": 1}).diagnosis == "shape"
    assert check(lambda p, x, y: [dW for dW, _ in right(p, x, y)]).diagnosis == "shape"


def test_non_finite_gradients_are_named_at_their_highest_layer():
    params, x, y = problem("mse")
    right = numpy_backprop("tanh", "mse")

    def nan_in_layer_2(p, x, y):
        grads = right(p, x, y)
        grads[1][1][0] = np.nan
        return grads

    report = gradcheck.check(nan_in_layer_2, params, x, y, mlp.Net("tanh"), loss="mse")
    assert (report.diagnosis, report.layer) == ("nonfinite", 2) and "NaN" in str(report)


def test_an_unrecognised_mistake_is_unknown_at_the_layer_it_enters():
    params, x, y = problem("mse")
    right = numpy_backprop("tanh", "mse")

    def noisy_layer_1(p, x, y):
        grads = right(p, x, y)
        return [(grads[0][0] + np.random.default_rng(0).normal(size=grads[0][0].shape), grads[0][1]), *grads[1:]]

    report = gradcheck.check(noisy_layer_1, params, x, y, mlp.Net("tanh"), loss="mse")
    assert (report.diagnosis, report.layer, report.ok) == ("unknown", 1, False)
    assert report.errors[0].dW > 0.1 and report.errors[0]["db"] == report.errors[0][1] < 1e-5


def test_the_report_names_the_worst_element_and_the_rule_it_breaks():
    params, x, y = problem("mse")
    report = gradcheck.check(numpy_backprop("sigmoid", "mse", "derivative_at_u", (2,)), params, x, y,
                             mlp.Net("sigmoid"), loss="mse")
    text = str(report)
    assert "∇W₂[" in text and "given" in text and "right" in text
    assert "g₂ = Φ'₂(v₂) W₃ᵀ g₃" in text and "erratum 1" in text
    # The worst element is the largest difference, with both values as the student and the reference have them.
    given = numpy_backprop("sigmoid", "mse", "derivative_at_u", (2,), dtype=np.float64)(params, x, y)[1][0]
    true = numpy_backprop("sigmoid", "mse", dtype=np.float64)(params, x, y)[1][0]
    worst = np.unravel_index(np.argmax(np.abs(given - true)), given.shape)
    assert f"∇W₂[{worst[0]}, {worst[1]}]: given {given[worst]:.6g}, right {true[worst]:.6g}" in text


def test_bad_arguments_are_refused_clearly():
    params, x, y = problem("mse")
    right = numpy_backprop("tanh", "mse")
    with pytest.raises(TypeError, match="grad_fn must be a function"):
        gradcheck.check("backprop", params, x, y, mlp.Net("tanh"), loss="mse")
    with pytest.raises(ValueError, match="non-empty list of"):
        gradcheck.check(right, {"W": 1}, x, y, mlp.Net("tanh"), loss="mse")
    with pytest.raises(ValueError, match="layer 1.*x of shape"):
        gradcheck.check(right, params, x[:, :2], y, mlp.Net("tanh"), loss="mse")
    with pytest.raises(ValueError, match="without dropout"):
        gradcheck.check(right, params, x, y, mlp.Net("tanh", dropout=0.5), loss="mse")
    with pytest.raises(ValueError, match="softmax"):
        gradcheck.check(right, params, x, y, mlp.Net("tanh", output="softmax"), loss="cross_entropy")
    # Right real parts and imaginary ones at layer 2 (float64 would keep the real parts alone, and pass them).
    imaginary = lambda *args: [(dW, db + 1j) if i == 1 else (dW, db) for i, (dW, db) in enumerate(right(*args))]
    with pytest.raises(ValueError, match=r"^layer 2: grad_fn's gradients hold complex numbers; expected real ones$"):
        gradcheck.check(imaginary, params, x, y, mlp.Net("tanh"), loss="mse")


@pytest.mark.parametrize("mistake,layers,diagnosis", [(None, (), "ok"), ("transposed", (2,), "transposed"),
                                                      ("derivative_at_u", (2,), "derivative_at_u"),
                                                      ("missing_derivative", (2,), "missing_derivative"),
                                                      ("wrong_sign", (), "wrong_sign")])
def test_one_table_by_hand_is_marked_entry_by_entry_and_its_mistake_named(mistake, layers, diagnosis):
    params, x, y = problem("mse")
    dW2 = numpy_backprop("tanh", "mse", mistake, layers)(params, x, y)[1][0]
    report = gradcheck.check_table(np.round(dW2, 5), params, x, y, mlp.Net("tanh"), loss="mse", layer=2,
                                   quantity="dW")
    assert report.diagnosis == diagnosis and report.ok is (diagnosis == "ok"), str(report)
    true = numpy_backprop("tanh", "mse", dtype=np.float64)(params, x, y)[1][0]
    np.testing.assert_allclose(report.expected, true, rtol=1e-12)
    expected_marks = np.abs(np.round(dW2, 5) - true) <= 1e-4 + 1e-2 * np.abs(true)  # the stated tolerance
    np.testing.assert_array_equal(report.right, expected_marks)
    if diagnosis not in ("ok",):
        assert report.layer == (3 if diagnosis == "wrong_sign" else 2) and not report.right.all()


def test_a_table_of_the_wrong_shape_or_layer_is_named():
    params, x, y = problem("mse")
    report = gradcheck.check_table(np.zeros((3, 5)), params, x, y, mlp.Net("tanh"), loss="mse", layer=1,
                                   quantity="dW")  # ∇W₁ is (5, 3), like W₁
    assert report.diagnosis == "shape" and "has shape (5, 3)" in str(report) and "(3, 5) (its transpose)" in str(
        report)
    with pytest.raises(ValueError, match="quantity must be one of"):
        gradcheck.check_table(np.zeros(5), params, x, y, mlp.Net("tanh"), loss="mse", layer=1, quantity="W")
    with pytest.raises(ValueError, match="layer must be a whole number from 1 to 3"):
        gradcheck.check_table(np.zeros(5), params, x, y, mlp.Net("tanh"), loss="mse", layer=4, quantity="db")
    with pytest.raises(ValueError, match="layer must be a whole number from 1 to 3 .*, got True"):
        gradcheck.check_table(np.zeros(5), params, x, y, mlp.Net("tanh"), loss="mse", layer=True, quantity="db")
    with pytest.raises(ValueError, match=r"layer 1: W has shape .* got x of shape \(7, 2\)"):
        gradcheck.check_table(np.zeros(5), params, np.zeros((7, 2)), y, mlp.Net("tanh"), loss="mse", layer=1,
                              quantity="db")
    square = gradcheck.check_table(np.zeros((2, 2)), params, x, y, mlp.Net("tanh"), loss="mse", layer=1,
                                   quantity="dW")  # neither ∇W₁'s shape nor its transpose: no hint
    assert str(square) == "shape: ∇W₁ has shape (5, 3); the table given has (2, 2)"
    g_transposed = gradcheck.check_table(np.zeros((5, N)), params, x, y, mlp.Net("tanh"), loss="mse", layer=1,
                                         quantity="g")  # g is a batch's rows: its transpose is no ∇W mistake
    assert str(g_transposed) == f"shape: g₁ has shape ({N}, 5); the table given has (5, {N})"
    with pytest.raises(ValueError, match="^no rule named 'dB'; the rules are g_L, g_i, dW and db$"):
        gradcheck._rule("dB", 1, 3)


@pytest.mark.parametrize("mistake, rule", [
    ("transposed", "The rule: ∇W₂ = Σₙ g₂ u₁ᵀ, of shape (d₂, d₁)."),
    ("derivative_at_u", "Φ'₂ evaluated at u₂ = φ(v₂) instead of at v₂, at layer 2 (the lecture's erratum 1). "
                        "The rule: g₂ = Φ'₂(v₂) W₃ᵀ g₃."),
    ("wrong_sign", "The rule: g₃ = Φ'₃(v₃)ᵀ ∂L/∂ŷ, with ∂L/∂ŷ = (ŷ − y)/N for L2 and the fused (z − y)/N for softmax + "
                   "cross-entropy."),  # where the sign enters: the output layer's rule
])
def test_a_tables_diagnosis_ends_with_the_rule_it_breaks_written_for_its_layer(mistake, rule):
    params, x, y = problem("mse")
    dW2 = numpy_backprop("tanh", "mse", mistake, (2,) if mistake != "wrong_sign" else ())(params, x, y)[1][0]
    text = str(gradcheck.check_table(dW2, params, x, y, mlp.Net("tanh"), loss="mse", layer=2, quantity="dW"))
    assert text.startswith(f"{mistake}: ") and text.endswith(rule), text



def test_a_mistake_at_a_layer_and_every_one_below_and_relus_twin_mistakes_are_named_so():
    params, x, y = problem("mse")
    dW1 = numpy_backprop("tanh", "mse", "derivative_at_u", (1, 2))(params, x, y)[0][0]
    report = gradcheck.check_table(dW1, params, x, y, mlp.Net("tanh"), loss="mse", layer=1, quantity="dW")
    assert (report.diagnosis, report.layer) == ("derivative_at_u", 2)
    assert ("Φ'₂ evaluated at u₂ = φ(v₂) instead of at v₂, at layer 2 and every layer below it (the lecture's "
            "erratum 1)") in str(report)
    dW2 = numpy_backprop("relu", "mse", "missing_derivative", (2,))(params, x, y)[1][0]
    report = gradcheck.check_table(dW2, params, x, y, mlp.Net("relu"), loss="mse", layer=2, quantity="dW")
    assert (report.diagnosis, report.layer) == ("derivative_at_u", 2)  # for ReLU the two mistakes read alike
    assert ("at layer 2 (for a ReLU layer Φ' at u and no Φ' at all give the same numbers: ReLU'(ReLU(v)) = 1) "
            "(the lecture's erratum 1)") in str(report)
    dW1 = numpy_backprop("relu", "mse", "missing_derivative", (1,))(params, x, y)[0][0]
    report = gradcheck.check_table(dW1, params, x, y, mlp.Net("relu"), loss="mse", layer=1, quantity="dW")
    assert (report.diagnosis, report.layer) == ("derivative_at_u", 1)  # the first layer's ReLU, not the output's
    assert "at layer 1 (for a ReLU layer Φ' at u and no Φ' at all give the same numbers" in str(report)

def test_a_table_with_a_nan_is_marked_and_named_and_a_right_one_counted():
    params, x, y = problem("mse")
    dW2 = numpy_backprop("tanh", "mse", dtype=np.float64)(params, x, y)[1][0]
    right = gradcheck.check_table(dW2, params, x, y, mlp.Net("tanh"), loss="mse", layer=2, quantity="dW")
    assert right.ok is True and right.layer is None
    assert str(right) == f"ok: {dW2.size} of {dW2.size} entries of ∇W₂ are right (within 1%, or 0.0001 near 0)"
    given = dW2.copy()
    given[0, 1] = np.nan
    report = gradcheck.check_table(given, params, x, y, mlp.Net("tanh"), loss="mse", layer=2, quantity="dW")
    assert (report.ok, report.diagnosis, report.layer) == (False, "nonfinite", 2)
    assert report.right.sum() == dW2.size - 1 and not report.right[0, 1]
    np.testing.assert_allclose(report.expected, dW2, rtol=1e-12)
    assert str(report) == f"nonfinite: {dW2.size - 1} of {dW2.size} entries of ∇W₂ are right; some are not numbers"
    shape = gradcheck.check_table(dW2[:, :4], params, x, y, mlp.Net("tanh"), loss="mse", layer=2, quantity="dW")
    assert (shape.ok, shape.layer, shape.right.shape) == (False, 2, (0,)) and shape.right.dtype == bool
    np.testing.assert_allclose(shape.expected, dW2, rtol=1e-12)  # the true table, whatever was given


def test_an_entry_off_by_exactly_the_tolerance_near_0_is_right():
    # A ReLU unit dead on every example passes back exactly 0: its g entries are 0, and 1e-4 (TABLE_ATOL) off is in.
    params = [(np.array([[1.0], [-1.0]]), np.array([0.0, -5.0])), (np.array([[0.5, 2.0]]), np.array([0.0]))]
    x, y = np.array([[1.0], [2.0]]), np.array([[0.0], [0.0]])
    g1 = gradcheck.check_table(np.zeros((2, 2)), params, x, y, mlp.Net("relu"), loss="mse", layer=1,
                               quantity="g").expected
    assert (g1[:, 1] == 0).all() and (g1[:, 0] != 0).all()
    given = g1.copy()
    given[:, 1] = gradcheck.TABLE_ATOL
    report = gradcheck.check_table(given, params, x, y, mlp.Net("relu"), loss="mse", layer=1, quantity="g")
    assert report.ok, str(report)


def test_a_mistake_at_the_output_layer_is_explained_by_the_output_layers_rule():
    # Φ'_L at u_L = ŷ instead of at v_L, for a sigmoid output and L2: g_L = σ'(ŷ) ⊙ (ŷ − y)/N, written out.
    params, x, y = problem("mse")
    u = np.asarray(x, np.float64)
    for i, (W, b) in enumerate(params, start=1):
        v = u @ np.asarray(W, np.float64).T + np.asarray(b, np.float64)
        u = np.tanh(v) if i < len(params) else 1 / (1 + np.exp(-v))
    sigmoid_at_u = 1 / (1 + np.exp(-u))
    g3 = sigmoid_at_u * (1 - sigmoid_at_u) * (u - np.asarray(y, np.float64)) / len(u)
    report = gradcheck.check_table(g3, params, x, y, mlp.Net("tanh", "sigmoid"), loss="mse", layer=3, quantity="g")
    assert (report.diagnosis, report.layer) == ("derivative_at_u", 3)
    assert str(report).endswith("The rule: g₃ = Φ'₃(v₃)ᵀ ∂L/∂ŷ, with ∂L/∂ŷ = (ŷ − y)/N for L2 and the fused (z − y)/N "
                                "for softmax + cross-entropy."), str(report)


def test_a_wrong_table_of_a_layer_that_is_not_square_is_unknown_not_transposed():
    params, x, y = problem("mse")
    dW1 = numpy_backprop("tanh", "mse", dtype=np.float64)(params, x, y)[0][0]  # (5, 3)
    # Two entries wrong: q 3 off (the farthest), p 2.9 off, p's |given + right| the larger (dW1[p] + dW1[q] > 0.05).
    flat = np.argsort(dW1, axis=None)
    p, q = np.unravel_index(flat[-1], dW1.shape), np.unravel_index(flat[-2], dW1.shape)
    given = dW1.copy()
    given[q], given[p] = dW1[q] - 3.0, dW1[p] + 2.9
    assert abs(given[p] + dW1[p]) > abs(given[q] + dW1[q])
    report = gradcheck.check_table(given, params, x, y, mlp.Net("tanh"), loss="mse", layer=1, quantity="dW")
    assert (report.diagnosis, report.layer) == ("unknown", None)
    assert str(report) == (f"unknown: 13 of 15 entries of ∇W₁ are right. The farthest, ∇W₁[{q[0]}, {q[1]}]: given "
                           f"{given[q]:.6g}, right {dW1[q]:.6g}. The rule: ∇W₁ = Σₙ g₁ u₀ᵀ, of shape (d₁, d₀).")


@pytest.mark.parametrize("quantity, layer, rule", [("g", 1, "g₁ = Φ'₁(v₁) W₂ᵀ g₂"),
                                                   ("g", 3, "g₃ = Φ'₃(v₃)ᵀ ∂L/∂ŷ, with ∂L/∂ŷ"),
                                                   ("db", 2, "∇b₂ = Σₙ g₂, summed over the batch.")])
def test_an_unknown_mistake_in_a_table_names_its_layers_rule(quantity, layer, rule):
    params, x, y = problem("mse")
    shape = (N, SIZES[layer]) if quantity == "g" else (SIZES[layer],)
    report = gradcheck.check_table(np.full(shape, 7.0), params, x, y, mlp.Net("tanh"), loss="mse", layer=layer,
                                   quantity=quantity)
    assert report.diagnosis == "unknown" and report.ok is False and f"The rule: {rule}" in str(report), str(report)


def test_check_table_takes_the_keyword_shorthand_and_refuses_what_check_refuses():
    params, x, y = problem("mse")
    by_net = gradcheck.check_table(np.zeros(4), params, x, y, mlp.Net("sigmoid", "tanh"), loss="mse", layer=3,
                                   quantity="db")
    by_keywords = gradcheck.check_table(np.zeros(4), params, x, y, activation="sigmoid", output="tanh", loss="mse",
                                        layer=3, quantity="db")
    np.testing.assert_array_equal(by_keywords.expected, by_net.expected)
    assert str(by_keywords) == str(by_net)
    with pytest.raises(ValueError, match="output='softmax' would apply it twice"):
        gradcheck.check_table(np.zeros(4), params, x, np.zeros(N, np.int32), mlp.Net("tanh", output="softmax"),
                              loss="cross_entropy", layer=3, quantity="db")
    with pytest.raises(ValueError, match=r"^∇b₃: the table holds complex numbers; expected real ones$"):
        gradcheck.check_table(by_net.expected + 1j, params, x, y, mlp.Net("sigmoid", "tanh"), loss="mse", layer=3,
                              quantity="db")
    d_0 = params[0][0].shape[1]
    with pytest.raises(ValueError, match=rf"^layer 1: W has shape .* takes inputs \(d_0,\) = \({d_0},\) or "
                                         rf"\(N, {d_0}\), got x of shape \({N}, {d_0 + 1}\)$"):  # before the layer's
        gradcheck.check_table(np.zeros(4), params, np.zeros((N, d_0 + 1)), y, mlp.Net("tanh"), loss="mse", layer=9,
                              quantity="db")


def test_the_farthest_entry_named_is_the_farthest_wrong_one():
    # p is right by 0.9% of a large entry; q is wrong by 3e-4 at the smallest: q is named, though p is farther off.
    params, x, y = problem("mse")
    dW1 = numpy_backprop("tanh", "mse", dtype=np.float64)(params, x, y)[0][0]
    p = np.unravel_index(np.argmax(np.abs(dW1)), dW1.shape)
    q = np.unravel_index(np.argmin(np.abs(dW1)), dW1.shape)
    given = dW1.copy()
    given[p], given[q] = dW1[p] * 1.009, dW1[q] + 3e-4
    assert abs(dW1[p]) * 0.009 > 3e-4 > 1e-4 + 1e-2 * abs(dW1[q])
    report = gradcheck.check_table(given, params, x, y, mlp.Net("tanh"), loss="mse", layer=1, quantity="dW")
    assert f"The farthest, ∇W₁[{q[0]}, {q[1]}]" in str(report), str(report)
