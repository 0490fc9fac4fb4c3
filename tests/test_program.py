"""jaxnet.program's optimizer fingerprint, unit by unit: two optimizers share a compiled program exactly when their
fingerprints are equal, so every part an optimizer is made of must count, and a cycle must not recurse forever."""

import functools

from jaxnet import program

fp = program.optimizer_fingerprint


def test_scalars_of_another_type_or_value_differ():
    assert fp(1) != fp(1.0) != fp(True) and fp(1) != fp(True)
    assert fp(0.1) == fp(0.1) and fp(0.1) != fp(0.2) and fp(None) == fp(None)


def test_containers_count_their_type_their_keys_and_their_values():
    assert fp((1, 2)) != fp([1, 2]) and fp((1, 2)) == fp((1, 2)) and fp((1, 2)) != fp((2, 1))
    assert fp({"a": 1}) == fp({"a": 1})
    assert fp({"a": 1}) != fp({"b": 1}) and fp({"a": 1}) != fp({"a": 2})


def _scale(x, factor=1.0, *, power=1):
    return x * factor ** power


def _shift(x, factor=1.0, *, power=1):
    return x + factor ** power


def test_partials_count_their_function_arguments_and_keywords():
    same = functools.partial(_scale, factor=2.0)
    assert fp(same) == fp(functools.partial(_scale, factor=2.0))
    assert fp(same) != fp(functools.partial(_shift, factor=2.0))
    assert fp(functools.partial(_scale, 1.0)) != fp(functools.partial(_scale, 2.0))
    assert fp(functools.partial(_scale, power=1)) != fp(functools.partial(_scale, power=2))


def _closure(value):
    def f(x):
        return x * value

    return f


def _cycle():
    def f(x):
        return f(x)  # f's closure holds f itself

    return f


def test_closures_count_what_they_close_over_and_a_cycle_falls_back_to_identity():
    assert fp(_closure(0.1)) == fp(_closure(0.1)) and fp(_closure(0.1)) != fp(_closure(0.2))
    a, b = _cycle(), _cycle()
    assert fp(a) == fp(a)  # no RecursionError: the depth limit ends the walk
    assert fp(a) != fp(b)  # two different cycles: equal code, but told apart by identity where the walk stops


def test_make_epochs_takes_the_network_by_keywords():
    import optax

    from jaxnet import mlp

    optimizer = optax.sgd(0.1)
    common = dict(loss="mse", batch_size=4)
    by_keywords = program.make_epochs(optimizer, activation="tanh", output="sigmoid", **common)
    assert by_keywords is program.make_epochs(optimizer, mlp.Net("tanh", output="sigmoid"), **common)  # cached
    assert by_keywords is not program.make_epochs(optimizer, mlp.Net("tanh"), **common)
    assert by_keywords is not program.make_epochs(optimizer, mlp.Net("relu", output="sigmoid"), **common)


def _with_defaults(value):
    def f(x, a=value, *, b=value):
        return x * a * b

    return f


def test_functions_count_their_defaults_and_arrays_their_values_and_dtype():
    import jax
    import numpy as np

    assert fp(_with_defaults(1.0)) == fp(_with_defaults(1.0)) and fp(_with_defaults(1.0)) != fp(_with_defaults(2.0))
    one = _with_defaults(1.0)
    other = _with_defaults(1.0)
    other.__defaults__ = (2.0,)  # only the positional default differs
    assert fp(one) != fp(other)
    other = _with_defaults(1.0)
    other.__kwdefaults__ = {"b": 2.0}  # only the keyword default differs
    assert fp(one) != fp(other)
    a = np.array([1.0, 2.0], np.float32)
    assert fp(a) == fp(a.copy()) and fp(a) != fp(np.array([1.0, 3.0], np.float32))
    assert fp(np.zeros(2, np.float32)) != fp(np.zeros(2, np.int32))  # the same bytes, another dtype
    key = jax.random.key(0)
    assert fp(key) == fp(key) and fp(len) == fp(len)  # a key array and a builtin: kept as themselves


def test_unhashable_objects_are_told_apart_by_identity():
    a, b = {1, 2}, {1, 2}
    assert hash(fp(a)) == hash(fp(a)) and fp(a) == fp(a) and fp(a) != fp(b)
