"""Solutions to the back-propagation exercises (experiments/exercises/backprop.ipynb), in NumPy, as a student writes
them. The grader's tests check that they pass and plant the usual mistakes in copies of this file."""

import numpy as np


def layer_forward(W, b, u, phi):
    v = u @ W.T + b
    return v, phi(v)


def l2_loss(yhat, y):
    return np.sum((yhat - y) ** 2) / (2 * len(y))


def cross_entropy_loss(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(log_softmax[np.arange(len(labels)), labels])


def output_signal(yhat, y):
    return (yhat - y) / len(y)


def hidden_signal(g_next, W_next, v, phi_derivative):
    return phi_derivative(v) * (g_next @ W_next)


def weight_gradients(g, u_prev):
    return g.T @ u_prev, g.sum(axis=0)


def tanh_derivative(v):
    return 1 - np.tanh(v) ** 2


def backprop(params, x, y):
    us, vs = [np.asarray(x, np.float64)], []
    for i, (W, b) in enumerate(params):
        v, u = layer_forward(np.asarray(W, np.float64), np.asarray(b, np.float64), us[-1], np.tanh)
        vs.append(v)
        us.append(v if i == len(params) - 1 else u)  # identity output
    g = output_signal(us[-1], np.asarray(y, np.float64))
    grads = []
    for i in range(len(params), 0, -1):
        grads.append(weight_gradients(g, us[i - 1]))
        if i > 1:
            g = hidden_signal(g, np.asarray(params[i - 1][0], np.float64), vs[i - 2], tanh_derivative)
    return grads[::-1]


def sgd_step(params, grads, lr):
    return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]


def train(params, x, y, lr, steps):
    for _ in range(steps):
        params = sgd_step(params, backprop(params, x, y), lr)
    return params
