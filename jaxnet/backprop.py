"""Back-propagation written by hand from the lecture's rules (section 3 and the appendix), with no autodiff.

For a network of L layers and a batch of N examples stacked as rows (one example is a batch of one):

    g_L = Φ'_L(v_L)ᵀ ∂L/∂ŷ                 (appendix; = ŷ − y for MSE with identity output, step I)
    g_i = Φ'_i(v_i) W_{i+1}ᵀ g_{i+1}        for i < L
    ∇W_i = Σₙ g_i u_{i−1}ᵀ,    ∇b_i = Σₙ g_i

The loss's own 1/N lives in ∂L/∂ŷ (see :mod:`jaxnet.losses`), so the sums over the batch need no further scaling.
For the cross-entropy on logits the output signal is the lecture's fused (yᵀ1)·z − y, never a softmax Jacobian
followed by a log. Row-stacked, each rule is one matrix product: G_i = (G_{i+1} W_{i+1}) ⊙ Φ'_i(V_i),
∇W_i = G_iᵀ U_{i−1}, ∇b_i = 1ᵀ G_i. Inverted dropout multiplies a hidden u_i by a fixed scale S_i (0 or 1/(1 − p)
per unit), so the signal into layer i is multiplied by the same S_i on its way back; a compute dtype
(``Net(compute_dtype=...)``) applies to these products as to the forward pass's.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnet import losses, mlp

Array = jax.Array


def check_supported(loss: str | losses.Loss, output: str) -> None:
    """Raises ``ValueError`` for a loss/output pair :func:`manual_grad` cannot differentiate.

    A loss that takes logits (the cross-entropy) has the fused signal (yᵀ1)·z − y, which already contains the
    softmax, so the output activation must be the identity; the rule lives with the others in
    :func:`jaxnet.losses.check_output`.
    """
    losses.check_output(loss, output, fused_signal=True)


class Tables(NamedTuple):
    """Every quantity of one forward and one backward pass, layer by layer (index i − 1 holds layer i's).

    For one example each entry is a vector (or, for ``dW``, a matrix); for a batch of N, a stack of N rows (the
    gradients are summed over the batch).

    Attributes:
      v: the pre-activations v_1 … v_L, each ``(d_i,)``.
      u: the activations u_0 … u_L (u_0 the network's input after its scaling, u_L = ŷ), each ``(d_i,)``.
      g: the back-propagated signals g_1 … g_L, each ``(d_i,)``.
      dW, db: ∇W_i ``(d_i, d_{i−1})`` and ∇b_i ``(d_i,)``.
      loss: the loss value, a scalar.
    """

    v: list
    u: list
    g: list
    dW: list
    db: list
    loss: Array


def tables(params: mlp.Params, x: Array, y: Array, net: mlp.Net | None = None, *,
           activation: mlp.ActivationSpec | None = None, output: str | None = None,
           loss: str | losses.Loss = "mse", key: Array | None = None) -> Tables:
    """The lecture's back-propagation with every intermediate kept: v_i, u_i, g_i, ∇W_i and ∇b_i (a :class:`Tables`).

    Arguments are as for :func:`manual_grad`; :func:`manual_grad` returns the ``(dW_i, db_i)`` of these tables.
    """
    net = mlp.as_net(net, activation, output)
    loss = losses.get(loss)
    check_supported(loss, net.output)
    yhat, vs, us = mlp.forward(params, x, net, key=key)
    # Dropout multiplies u_i by a fixed scale (0 or 1/(1 − p)), so its local derivative is that same scale.
    scales = mlp.dropout_scales(params, jnp.asarray(x), net, key)
    phis = net.layers(len(params))
    value = loss.fn(yhat, y)
    signal = loss.signal(yhat, y)
    one = yhat.ndim == 1
    if one:  # one example is a batch of one: same rules, one row
        vs, us, signal = [v[None] for v in vs], [u[None] for u in us], signal[None]
        scales = [None if s is None else s[None] for s in scales]
    g = phis[-1].vjp(vs[-1], signal)  # g_L = Φ'_L(v_L)ᵀ ∂L/∂ŷ
    gs, grads = [], []
    for i in reversed(range(len(params))):
        gs.append(g)
        # ∇W_i = g_i u_{i−1}ᵀ, ∇b_i = g_i, summed over the batch
        grads.append((net.product(g.T, us[i]), jnp.sum(g, axis=0)))
        if i > 0:
            back = net.product(g, params[i][0])  # W_{i+1}ᵀ g_{i+1}
            scale = scales[i - 1]
            if scale is not None:
                back = back * scale  # through dropout: the units it dropped pass nothing back
            g = phis[i - 1].vjp(vs[i - 1], back)  # g_i = Φ'_i W_{i+1}ᵀ g_{i+1}
    rows = (lambda a: a[0]) if one else (lambda a: a)
    return Tables(v=[rows(v) for v in vs], u=[rows(u) for u in us], g=[rows(g) for g in gs[::-1]],
                  dW=[dW for dW, _ in grads[::-1]], db=[db for _, db in grads[::-1]], loss=value)


def value_and_manual_grad(params: mlp.Params, x: Array, y: Array, net: mlp.Net | None = None, *,
                          activation: mlp.ActivationSpec | None = None, output: str | None = None,
                          loss: str | losses.Loss = "mse", key: Array | None = None) -> tuple[Array, mlp.Params]:
    """The loss and its gradient from one forward and one hand-written backward pass.

    Arguments are as for :func:`manual_grad`.

    Returns:
      ``(loss_value, grads)``: a scalar and a list of ``(dW_i, db_i)`` with exactly the treedef of ``params``.
    """
    t = tables(params, x, y, net, activation=activation, output=output, loss=loss, key=key)
    return t.loss, list(zip(t.dW, t.db))


def manual_grad(params: mlp.Params, x: Array, y: Array, net: mlp.Net | None = None, *,
                activation: mlp.ActivationSpec | None = None, output: str | None = None,
                loss: str | losses.Loss = "mse", key: Array | None = None) -> mlp.Params:
    """∇L with respect to every ``W_i`` and ``b_i``, by the lecture's back-propagation rules.

    Equal (to round-off) to ``jax.grad(lambda p: losses.get(loss).fn(mlp.apply(p, x, ...), y))(params)``; it is pure,
    so it composes with ``jax.jit`` (names static) and ``jax.vmap`` (e.g. per-example gradients).

    Args:
      params: list of ``(W_i, b_i)``, W_i of shape ``(d_i, d_{i-1})``.
      x: one example ``(d_0,)`` or a batch ``(N, d_0)``.
      y: targets shaped like the network's output, or integer labels ``()`` / ``(N,)`` for the cross-entropy.
      net: the activations φ_1 … φ_L (:class:`jaxnet.mlp.Net`); its output may be any activation for mse and mae,
        and must be ``"identity"`` for a loss that takes logits (cross_entropy).
      activation, output: instead of ``net``, the names it is built from.
      loss: ``"mse"``, ``"mae"``, ``"cross_entropy"`` (or any registered :class:`jaxnet.losses.Loss`).
      key: for a net with dropout, the key of the units dropped (:func:`jaxnet.mlp.dropout_scales`): the gradient
        is that of ``mlp.apply(params, x, net, key=key)``'s loss. Without one nothing is dropped.

    Returns:
      A list of ``(dW_i, db_i)`` with the shapes, dtypes and treedef of ``params``.

    Raises:
      ValueError: for unknown names, mismatched shapes, or a loss/output pair it cannot differentiate.

    >>> import jax, jax.numpy as jnp
    >>> from jaxnet import mlp
    >>> params = mlp.init(jax.random.key(0), [2, 3, 1])
    >>> x, y = jnp.ones((4, 2)), jnp.zeros((4, 1))
    >>> g = manual_grad(params, x, y, mlp.Net("tanh"), loss="mse")
    >>> jax.tree.structure(g) == jax.tree.structure(params)
    True
    """
    return value_and_manual_grad(params, x, y, net, activation=activation, output=output, loss=loss, key=key)[1]
