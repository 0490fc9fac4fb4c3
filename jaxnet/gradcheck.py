"""Checks a hand-written back-propagation: the layer its error enters at, and which of the usual mistakes it is.

:func:`check` calls the student's ``grad_fn(params, x, y)``, compares its gradients with the true ones computed in
float64, layer by layer, and names what went wrong in the lecture's terms (section 3 and the appendix):

    g_L = Φ'_L(v_L)ᵀ ∂L/∂ŷ,    g_i = Φ'_i(v_i) W_{i+1}ᵀ g_{i+1},    ∇W_i = g_i u_{i−1}ᵀ,    ∇b_i = g_i

each summed over the batch; the loss's 1/N is in ∂L/∂ŷ. The diagnoses (:data:`DIAGNOSES`), tried in this order:

* ``"shape"``: the result is not a list of ``(dW_i, db_i)`` shaped like ``params`` (the message names the layer and
  both shapes; a non-square ∇W given transposed lands here, named as such).
* ``"nonfinite"``: a NaN or an infinity.
* ``"wrong_sign"``: every gradient is minus the true one (descent would climb).
* ``"sum_not_mean"``: every gradient is N times the true one (the loss's 1/N forgotten).
* ``"scaled"``: every gradient is one constant times the true one (``factor``; 2 is a forgotten ½ of L2).
* ``"transposed"``: a square layer's ∇W_i given as its transpose, (u_{i−1} g_iᵀ instead of g_i u_{i−1}ᵀ).
* ``"derivative_at_u"``: Φ'_i evaluated at u_i = φ(v_i) instead of at v_i, at layer i (or at every layer from i
  down): the lecture's own erratum 1.
* ``"missing_derivative"``: Φ'_i left out at layer i (or at every layer from i down).
* ``"softmax_diagonal"``: softmax + cross-entropy's g_L multiplied by z_j(1 − z_j), as if the softmax were
  element-wise; the fused g_L = z − y already holds the softmax's derivative.
* ``"bias"``: every ∇W right, some ∇b wrong (a mean or a single example's g instead of the sum over the batch).
* ``"unknown"``: wrong, and none of the above.

ReLU cannot tell two of them apart: ReLU'(ReLU(v)) = 1 wherever ReLU'(v) is 1 and also where v < 0, so Φ' at u
gives the same numbers as no Φ' at all; a ReLU layer's such mistake is reported as ``"derivative_at_u"`` and the
text says so. Identity layers (the output for regression and for the cross-entropy on logits) have Φ' = 1: no
mistake in Φ' can show there.

**Tolerance.** A tensor is right when ‖given − true‖ ≤ :data:`RTOL`·‖true‖ (Frobenius norms). A float32
computation carries a relative round-off of about 6e-8 per operation; the gradient's products sum over N examples
and d units, and its error grows by at most their count times the condition of the sum, so 1e-4 leaves a factor
of 1,000 for a batch of 1,000 and more besides, while each of the mistakes above changes a tensor by far more (a
wrong Φ' by tens of per cent, a transposed ∇W by its asymmetry). A candidate mistake matches when every tensor is
within the same tolerance of what that mistake would give.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import activations, backprop, losses, mlp

#: The diagnoses :func:`check` gives, in the order it tries them (after ``"ok"``).
DIAGNOSES = ("ok", "shape", "nonfinite", "wrong_sign", "sum_not_mean", "scaled", "transposed", "derivative_at_u",
             "missing_derivative", "softmax_diagonal", "bias", "unknown")
#: The relative error (Frobenius norm) below which a gradient tensor counts as right; see the module docstring.
RTOL = 1e-4

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _i(n: int) -> str:
    return str(n).translate(SUB)


class LayerError(NamedTuple):
    """The relative errors of one layer's ``dW`` and ``db`` (``errors[i].dW``, also ``errors[i]["dW"]``)."""

    dW: float
    db: float

    def __getitem__(self, key):
        return getattr(self, key) if isinstance(key, str) else tuple.__getitem__(self, key)


@dataclasses.dataclass(frozen=True)
class Report:
    """What :func:`check` found.

    Attributes:
      ok: whether every gradient is right within :data:`RTOL`.
      diagnosis: one of :data:`DIAGNOSES`.
      layer: the lecture's 1-based number of the layer where the error enters the backward pass (the
        highest-numbered layer with a wrong ``dW`` or ``db``); ``None`` when ok.
      factor: the constant of ``"scaled"`` (else ``None``).
      errors: per layer (index 0 is layer 1), the relative errors of ``dW`` and ``db`` (:class:`LayerError`); empty
        for ``"shape"``.
      text: the explanation ``str(report)`` gives.
    """

    ok: bool
    diagnosis: str
    layer: int | None
    factor: float | None
    errors: list[LayerError]
    text: str

    def __str__(self) -> str:
        return self.text


def check(grad_fn: Callable, params: mlp.Params, x, y, net: mlp.Net | None = None, *, loss: str | losses.Loss,
          activation: mlp.ActivationSpec | None = None, output: str | None = None) -> Report:
    """Checks ``grad_fn(params, x, y)`` against the true gradient of ``loss`` at ``params``; see the module docstring.

    Args:
      grad_fn: the back-propagation to check, returning ``[(dW_1, db_1), …, (dW_L, db_L)]`` shaped like ``params``
        (∇W_i of shape ``(d_i, d_{i−1})``, the lecture's orientation).
      params: the network, a list of ``(W_i, b_i)``.
      x: one example ``(d_0,)`` or a batch ``(N, d_0)``.
      y: the targets as the loss takes them (rows like ŷ; integer labels for the cross-entropy).
      net: the activations (:class:`jaxnet.mlp.Net`, without dropout); or ``activation`` and ``output``.
      loss: ``"mse"``, ``"mae"`` or ``"cross_entropy"`` (on logits: the output activation must be the identity).

    Returns:
      A :class:`Report`; ``print(report)`` explains it.

    Raises:
      TypeError: ``grad_fn`` is not callable.
      ValueError: ``params`` is not a network, ``x`` does not fit it, the net drops units, the loss and the
        output activation do not go together, or ``grad_fn`` gives complex numbers.

    >>> import jax
    >>> from jaxnet import backprop, mlp
    >>> params = mlp.init(jax.random.key(0), [2, 3, 1])
    >>> x, y = jax.random.normal(jax.random.key(1), (4, 2)), jax.numpy.zeros((4, 1))
    >>> right = lambda p, x, y: backprop.manual_grad(p, x, y, mlp.Net("tanh"), loss="mse")
    >>> check(right, params, x, y, mlp.Net("tanh"), loss="mse").diagnosis
    'ok'
    >>> upside_down = lambda p, x, y: jax.tree.map(lambda g: -g, right(p, x, y))
    >>> check(upside_down, params, x, y, mlp.Net("tanh"), loss="mse").diagnosis
    'wrong_sign'
    """
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be a function grad_fn(params, x, y) -> [(dW_1, db_1), ...], got "
                        f"{type(grad_fn).__name__}")
    mlp.check_params(params, x)
    net, loss = mlp.as_net(net, activation, output), losses.get(loss)
    backprop.check_supported(loss, net.output)
    if net.drops:
        raise ValueError(f"check compares gradients without dropout; give the net without it (dropout="
                         f"{net.dropout})")
    given = grad_fn(params, x, y)
    shape_problem = _shape_problem(given, params)
    if shape_problem is not None:
        layer, text = shape_problem
        return Report(False, "shape", layer, None, [], text)
    complex_layers = [i for i, pair in enumerate(given, start=1) if any(np.iscomplexobj(a) for a in pair)]
    if complex_layers:  # float64 would drop the imaginary parts, and wrong ones would pass
        raise ValueError(f"layer {complex_layers[0]}: grad_fn's gradients hold complex numbers; expected real ones")
    given = [(np.asarray(dW, np.float64), np.asarray(db, np.float64)) for dW, db in given]
    reference = _Reference(params, x, y, net, loss)
    true = reference.gradients()
    errors = [LayerError(_relative(g[0], t[0]), _relative(g[1], t[1])) for g, t in zip(given, true)]
    bad = [i for i, (dW, db) in enumerate(given) if not (np.all(np.isfinite(dW)) and np.all(np.isfinite(db)))]
    if bad:
        layer = max(bad) + 1
        return Report(False, "nonfinite", layer, None, errors,
                      _explain("nonfinite", layer, given, true, reference, errors))
    wrong = [i for i, e in enumerate(errors) if e.dW > RTOL or e.db > RTOL]
    if not wrong:
        worst = max(max(e) for e in errors)
        return Report(True, "ok", None, None, errors,
                      f"ok: every ∇W_i and ∇b_i agrees with the float64 reference (largest relative error "
                      f"{worst:.1e}, tolerance {RTOL:g}).")
    layer = max(wrong) + 1
    for diagnosis, at, factor, predicted, note in reference.candidates(true, given):
        if all(_relative(g, p) <= RTOL for gp, pp in zip(given, predicted) for g, p in zip(gp, pp)):
            return Report(False, diagnosis, at, factor, errors,
                          _explain(diagnosis, at, given, true, reference, errors, factor, note))
    if all(e.dW <= RTOL for e in errors):
        return Report(False, "bias", layer, None, errors, _explain("bias", layer, given, true, reference, errors))
    return Report(False, "unknown", layer, None, errors, _explain("unknown", layer, given, true, reference, errors))


#: A typed table entry (:func:`check_table`) is right within this relative error of the true value, or within
#: :data:`TABLE_ATOL` of it for entries near 0: three significant digits pass; the usual mistakes change entries by
#: far more (a sign, a transposition, a wrong Φ' by tens of per cent).
TABLE_RTOL = 1e-2
#: The absolute tolerance of a typed table entry near 0 (see :data:`TABLE_RTOL`).
TABLE_ATOL = 1e-4
QUANTITIES = {"g": "g", "dW": "∇W", "db": "∇b"}


@dataclasses.dataclass(frozen=True)
class TableReport:
    """What :func:`check_table` found for one table.

    Attributes:
      ok: every entry right (within :data:`TABLE_RTOL`, or :data:`TABLE_ATOL` near 0).
      diagnosis: ``"ok"``, ``"shape"``, ``"nonfinite"``, one of the usual mistakes of :data:`DIAGNOSES` when the
        whole table is what that mistake gives, or ``"unknown"``.
      right: per entry, whether it is right (the table's shape; empty for ``"shape"``).
      expected: the true table.
      layer: the layer of the mistake named (where it enters); ``None`` when ok or unknown.
      text: the explanation ``str(report)`` gives.
    """

    ok: bool
    diagnosis: str
    right: np.ndarray
    expected: np.ndarray
    layer: int | None
    text: str

    def __str__(self) -> str:
        return self.text


def check_table(given, params: mlp.Params, x, y, net: mlp.Net | None = None, *, loss: str | losses.Loss, layer: int,
                quantity: str, activation: mlp.ActivationSpec | None = None, output: str | None = None) -> TableReport:
    """Checks one table a student computed by hand, entry by entry: g_i, ∇W_i or ∇b_i of one layer.

    Args:
      given: the student's table: g_i ``(d_i,)`` (``(N, d_i)`` for a batch), ∇W_i ``(d_i, d_{i−1})`` or ∇b_i
        ``(d_i,)``.
      params, x, y, net, loss, activation, output: the network and the data, as for :func:`check`.
      layer: i, the lecture's 1-based layer number.
      quantity: ``"g"``, ``"dW"`` or ``"db"``.

    Returns:
      A :class:`TableReport`: each entry marked right or wrong and, when the whole table is what one of the usual
      mistakes gives (the sign, a factor, a transposed ∇W, Φ' at u or left out at this layer or one above it,
      softmax as element-wise), that diagnosis.

    Raises:
      ValueError: an unknown quantity, a layer the network does not have, a table of complex numbers, or what
        :func:`check` refuses.
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {list(QUANTITIES)}, got {quantity!r}")
    mlp.check_params(params, x)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 1 <= layer <= len(params):
        raise ValueError(f"layer must be a whole number from 1 to {len(params)} (the network's layers), got {layer!r}")
    net, loss = mlp.as_net(net, activation, output), losses.get(loss)
    backprop.check_supported(loss, net.output)
    reference = _Reference(params, x, y, net, loss)
    index = list(QUANTITIES).index(quantity)
    one = np.ndim(x) == 1
    pick = lambda tables: tables[layer - 1][index][0] if one and quantity == "g" else tables[layer - 1][index]
    expected = pick(reference.backward())
    name = f"{QUANTITIES[quantity]}{_i(layer)}"
    given = np.asarray(given)
    if np.iscomplexobj(given):  # float64 would drop the imaginary part, and a wrong one would pass
        raise ValueError(f"{name}: the table holds complex numbers; expected real ones")
    given = given.astype(np.float64)
    if given.shape != expected.shape:
        hint = " (its transpose)" if given.shape == expected.shape[::-1] and quantity == "dW" else ""
        return TableReport(False, "shape", np.zeros(0, bool), expected, layer,
                           f"shape: {name} has shape {expected.shape}; the table given has {given.shape}{hint}")
    close = lambda a, b: np.isfinite(a) & (np.abs(a - b) <= TABLE_ATOL + TABLE_RTOL * np.abs(b))
    right = close(given, expected)
    count = f"{int(right.sum())} of {right.size} entries of {name} are right"
    if right.all():
        return TableReport(True, "ok", right, expected, None, f"ok: {count} (within {TABLE_RTOL:.0%}, or "
                                                               f"{TABLE_ATOL:g} near 0)")
    if not np.all(np.isfinite(given)):
        return TableReport(False, "nonfinite", right, expected, layer, f"nonfinite: {count}; some are not numbers")
    # (diagnosis, layer, table, note): a sign flipped in g_L, where it enters; ∇W transposed (their texts need no note)
    candidates: list = [("wrong_sign", len(params), -expected, None)]
    if quantity == "dW" and expected.shape[0] == expected.shape[1]:
        candidates.append(("transposed", layer, expected.T, None))
    candidates += [(diagnosis, at, pick(tables), note) for diagnosis, at, note, tables in reference.mistakes()
                   if at >= layer]
    for diagnosis, at, table, note in candidates:
        if np.all(close(given, table)):
            mistake, rule = MISTAKES[diagnosis]
            rule = "g_L" if rule == "g_i" and at == len(params) else rule
            return TableReport(False, diagnosis, right, expected, at,
                               f"{diagnosis}: {count}. The whole table is what this mistake gives: "
                               f"{mistake.format(note=note, i=_i(at), im1=_i(at - 1))}. "
                               f"The rule: {_rule(rule, at, len(params))}.")
    worst = np.unravel_index(int(np.argmax(np.where(right, 0.0, np.abs(given - expected)))), given.shape)
    where = ", ".join(str(int(k)) for k in worst)
    rule = {"g": "g_i" if layer < len(params) else "g_L", "dW": "dW", "db": "db"}[quantity]
    return TableReport(False, "unknown", right, expected, None,
                       f"unknown: {count}. The farthest, {name}[{where}]: given {given[worst]:.6g}, right "
                       f"{expected[worst]:.6g}. The rule: {_rule(rule, layer, len(params))}.")


def _relative(given: np.ndarray, true: np.ndarray) -> float:
    """‖given − true‖ / ‖true‖ (Frobenius), 0 when both are 0 and inf when only ``true`` is."""
    difference, size = float(np.linalg.norm(given - true)), float(np.linalg.norm(true))
    if size == 0.0:
        return 0.0 if difference == 0.0 else float("inf")
    return difference / size


def _shape_problem(given: Any, params: mlp.Params) -> tuple[int | None, str] | None:
    """``(layer, text)`` when ``given`` is not a list of ``(dW_i, db_i)`` shaped like ``params``; else ``None``."""
    if not isinstance(given, (list, tuple)):
        return None, (f"shape: grad_fn returned {type(given).__name__}; it must return a list of (dW_i, db_i), one "
                      f"pair per layer, like params")
    if len(given) != len(params):
        return None, f"shape: grad_fn returned {len(given)} layers' gradients for a network of {len(params)} layers"
    # From the last layer down: the layer named is the highest wrong one, where the error enters the backward pass.
    for i, pair, (W, b) in reversed(list(zip(range(1, len(params) + 1), given, params))):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            return i, f"shape: layer {i}: expected a pair (dW{_i(i)}, db{_i(i)}), got {type(pair).__name__}"
        dW, db = (np.shape(a) for a in pair)
        if dW != np.shape(W):
            hint = (" (its transpose: ∇W_i = g_i u_{i−1}ᵀ is (d_i, d_{i−1}), like W_i)" if dW == np.shape(W)[::-1]
                    else "")
            return i, f"shape: layer {i}: ∇W{_i(i)} has shape {dW}, W{_i(i)} has {np.shape(W)}{hint}"
        if db != np.shape(b):
            hint = (" (∇b_i = g_i is summed over the batch: one value per unit)" if len(db) == 2 and db[1:] ==
                    np.shape(b) else "")
            return i, f"shape: layer {i}: ∇b{_i(i)} has shape {db}, b{_i(i)} has {np.shape(b)}{hint}"
    return None


class _Reference:
    """The float64 forward pass of ``params`` on ``(x, y)`` and the backward passes of the true rules and of each
    usual mistake."""

    def __init__(self, params, x, y, net: mlp.Net, loss: losses.Loss):
        self.net, self.loss = dataclasses.replace(net, compute_dtype=None), loss
        self.phis = self.net.layers(len(params))
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 1:  # one example is a batch of one
            x, y = x[None], y[None]
        self.n = x.shape[0]
        with jax.enable_x64(True):
            self.params = [(jnp.asarray(W, jnp.float64), jnp.asarray(b, jnp.float64)) for W, b in params]
            x = jnp.asarray(x) if np.issubdtype(x.dtype, np.integer) else jnp.asarray(x, jnp.float64)
            y = jnp.asarray(y) if np.issubdtype(y.dtype, np.integer) else jnp.asarray(y, jnp.float64)
            yhat, self.v, self.u = mlp.forward(self.params, x, self.net)
            self.signal = loss.signal(yhat, y)  # ∂L/∂ŷ, the loss's 1/N included

    def backward(self, at_u: Sequence[int] = (), without: Sequence[int] = (), softmax_diagonal: bool = False):
        """Per layer, ``(g_i (N, d_i), ∇W_i, ∇b_i)`` in float64 NumPy by the lecture's rules, with Φ'_i taken at u_i
        for the layers in ``at_u``, left out for those in ``without`` (1-based), and g_L times z(1 − z) if
        ``softmax_diagonal``."""
        with jax.enable_x64(True):
            def signal_into(i, back):  # g_i from what comes back into layer i
                if i in without:
                    return back
                if i in at_u:
                    return self.phis[i - 1].derivative(self.u[i]) * back
                return self.phis[i - 1].vjp(self.v[i - 1], back)

            L = len(self.params)
            g = signal_into(L, self.signal)
            if softmax_diagonal:
                z = activations.softmax(self.v[-1])
                g = g * z * (1 - z)
            tables = []
            for i in range(L, 0, -1):
                tables.append((np.asarray(g), np.asarray(g.T @ self.u[i - 1]), np.asarray(jnp.sum(g, axis=0))))
                if i > 1:
                    g = signal_into(i - 1, g @ self.params[i - 1][0])
        return tables[::-1]

    def gradients(self, **mistake):
        """``[(∇W_i, ∇b_i)]`` of :meth:`backward`."""
        return [(dW, db) for _, dW, db in self.backward(**mistake)]

    def mistakes(self):
        """``(diagnosis, layer, note, backward tables)`` for each mistake in a Φ' or in the softmax that can show
        here: at one layer alone, or at that layer and every one below it."""
        shown = [i for i, phi in enumerate(self.phis, start=1) if phi.elementwise and phi.name != "identity"]
        for name in ("at_u", "without"):
            diagnosis = "derivative_at_u" if name == "at_u" else "missing_derivative"
            for i in reversed(shown):
                below = [j for j in shown if j <= i]
                yield diagnosis, i, self._note(i, alone=True), self.backward(**{name: [i]})
                if len(below) > 1:
                    yield diagnosis, i, self._note(i, alone=False), self.backward(**{name: below})
        if self.loss.takes_logits:
            yield "softmax_diagonal", len(self.phis), None, self.backward(softmax_diagonal=True)  # no note needed

    def candidates(self, true, given):
        """``(diagnosis, layer, factor, predicted gradients, note)`` for each usual mistake that can show here."""
        L = len(true)
        scale = lambda c: [(c * dW, c * db) for dW, db in true]
        yield "wrong_sign", L, None, scale(-1.0), None  # (these texts need no note)
        if self.n > 1:
            yield "sum_not_mean", L, None, scale(float(self.n)), None
        flat = lambda grads: np.concatenate([a.ravel() for pair in grads for a in pair])
        t, g = flat(true), flat(given)
        if t @ t > 0:
            c = float(t @ g / (t @ t))
            if abs(c - 1) > RTOL:
                yield "scaled", L, c, scale(c), None
        for i, (dW, db) in enumerate(true, start=1):
            if dW.shape[0] == dW.shape[1]:
                yield "transposed", i, None, [*true[:i - 1], (dW.T, db), *true[i:]], None
        for diagnosis, i, note, tables in self.mistakes():
            yield diagnosis, i, None, [(dW, db) for _, dW, db in tables], note

    def _note(self, layer: int, alone: bool) -> str:
        """Where a Φ' mistake is (``layer``, and every layer below it unless ``alone``); why ReLU's two read alike."""
        where = f"at layer {layer}" + ("" if alone else " and every layer below it")
        relu = (" (for a ReLU layer Φ' at u and no Φ' at all give the same numbers: ReLU'(ReLU(v)) = 1)"
                if self.phis[layer - 1].name == "relu" else "")
        return where + relu


def _rule(rule: str, i: int, L: int) -> str:
    """The lecture's rule ``rule`` written for layer ``i`` of ``L``."""
    if rule == "g_L":
        return (f"g{_i(L)} = Φ'{_i(L)}(v{_i(L)})ᵀ ∂L/∂ŷ, with ∂L/∂ŷ = (ŷ − y)/N for L2 and the fused (z − y)/N for "
                f"softmax + cross-entropy")
    if rule == "g_i":
        return f"g{_i(i)} = Φ'{_i(i)}(v{_i(i)}) W{_i(i + 1)}ᵀ g{_i(i + 1)}"
    if rule == "dW":
        return f"∇W{_i(i)} = Σₙ g{_i(i)} u{_i(i - 1)}ᵀ, of shape (d{_i(i)}, d{_i(i - 1)})"
    if rule == "db":
        return f"∇b{_i(i)} = Σₙ g{_i(i)}, summed over the batch"
    raise ValueError(f"no rule named {rule!r}; the rules are g_L, g_i, dW and db")


MISTAKES = {
    "nonfinite": ("a NaN or an infinity: a division by zero, a log of 0, or an overflow", "g_L"),
    "wrong_sign": ("the sign is flipped: every gradient is minus the true one (ŷ − y, not y − ŷ)", "g_L"),
    "sum_not_mean": ("every gradient is N times the true one: the loss's 1/N is missing", "g_L"),
    "scaled": ("every gradient is {factor:.6g} times the true one (2 is a forgotten ½ of L2)", "g_L"),
    "transposed": ("∇W{i} is transposed: u{im1} g{i}ᵀ instead of g{i} u{im1}ᵀ", "dW"),
    "derivative_at_u": ("Φ'{i} evaluated at u{i} = φ(v{i}) instead of at v{i}, {note} (the lecture's erratum 1)",
                        "g_i"),
    "missing_derivative": ("Φ'{i} left out, {note}", "g_i"),
    "softmax_diagonal": ("g_L multiplied by z_j(1 − z_j), as if softmax were element-wise: the fused z − y already "
                         "holds the softmax's derivative", "g_L"),
    "bias": ("only the bias gradients are wrong: ∇b_i is g_i summed over the batch (not its mean, nor one row)",
             "db"),
    "unknown": ("none of the usual mistakes; compare the layer's g_i with the rule", "g_i"),
}


def _explain(diagnosis: str, layer: int, given, true, reference: _Reference, errors: list[LayerError],
             factor: float | None = None, note: str | None = None) -> str:
    """The report's text: where, the worst element, the likely mistake and the rule it breaks."""
    e = errors[layer - 1]
    # ∇W's worst element unless ∇b's error is clearly the larger: a mistake that scales every gradient gives both the
    # same relative error, which round-off would otherwise decide, differently from one XLA to the next.
    name, index = (0, "W") if e.dW >= e.db * (1 - RTOL) else (1, "b")
    g, t = given[layer - 1][name], true[layer - 1][name]
    difference = np.where(np.isfinite(g), np.abs(g - t), np.inf)
    worst = np.unravel_index(int(np.argmax(difference)), g.shape)
    where = ", ".join(str(int(k)) for k in worst)
    mistake, rule = MISTAKES[diagnosis]
    if rule == "g_i" and layer == len(true):
        rule = "g_L"
    return (f"{diagnosis}: the error enters at layer {layer} of {len(true)}: ∇{index}{_i(layer)} is wrong "
            f"(relative error {errors[layer - 1][name]:.3g}). Worst element ∇{index}{_i(layer)}[{where}]: given "
            f"{g[worst]:.6g}, right {t[worst]:.6g}. Likely mistake: "
            f"{mistake.format(factor=factor or 0.0, note=note, i=_i(layer), im1=_i(layer - 1))}. "
            f"The rule: {_rule(rule, layer, len(true))}.")
