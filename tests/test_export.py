"""Every program jaxnet compiles, lowered for GPU (``cuda``) and TPU with ``jax.export`` on this CPU-only machine.

What a CPU can prove about an accelerator: that each program lowers for it at all (no CPU-only kernel in the way);
that the lowered module holds no custom call (a hand-written kernel of one platform) and no host callback (a trip
back to Python in the middle of a step); that a float32 run has no float64 anywhere (the dtype an accelerator runs
slowly or not at all); and that a training step does exactly the matrix products back-propagation needs: L for the
forward pass, L for the weight gradients g_i u_{i-1}ᵀ and L − 1 to pass g back through W_{i+1}ᵀ, 3L − 1 in all,
with no gradient for the input and none repeated. What it cannot prove: that XLA's GPU and TPU compilers then build
it, how fast it runs and with what numbers. That takes a real device (``benchmarks/gpu.sh``).

The counts follow calls: a product in a function called twice counts twice.
"""

import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import export

from jaxnet import mlp, train

PLATFORMS = ("cuda", "tpu")
DEPTHS = {1: [784, 10], 2: [784, 200, 10], 3: [784, 200, 100, 10]}  # L layers of the lecture's MNIST network
OPTIMIZER = optax.sgd(0.1, momentum=0.9)
NET = mlp.Net("relu")
N, BATCH = 1024, 128


def spec(tree, sharding=None):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a), sharding=sharding), tree)


def shapes(make):
    """The shapes and dtypes of what ``make()`` returns, without running it (nothing is compiled for the CPU)."""
    return spec(jax.eval_shape(make))


def module_text(fn, platform, *args) -> str:
    return export.export(fn, platforms=(platform,))(*args).mlir_module()


def matrix_products(text: str) -> int:
    """The ``stablehlo.dot_general`` ops a module's ``main`` runs per call, counting each function once per call."""
    symbol = r'@("[^"]+"|[\w.$-]+)'  # a function's name, quoted when it is not an identifier (@"<lambda>")
    bodies = dict(re.findall(r"func\.func (?:public|private) " + symbol + r"\((.*?)\n  }", text, re.DOTALL))
    assert "main" in bodies, text[:2000]

    def count(function, depth=0):
        assert depth < 50, "recursive calls"
        body = bodies[function]
        return body.count("stablehlo.dot_general") + sum(count(callee, depth + 1)
                                                         for callee in re.findall(r"\bcall " + symbol, body))

    return count("main")


def without_locations(text: str) -> str:
    """The module's operations without their source locations, which name Python files and functions (a frame in
    ``jaxnet/callbacks.py`` that first traced a shared helper, say) rather than anything the program does."""
    lines = [line for line in text.splitlines() if not line.startswith("#loc")]
    return "\n".join(re.sub(r"\s+loc\((?:[^()\"]|\"[^\"]*\"|\([^()]*\))*\)\s*$", "", line) for line in lines)


def check_module(text: str, products: int) -> None:
    code = without_locations(text)
    assert "custom_call" not in code, re.findall(r"custom_call @[\w.]+", code)
    assert "callback" not in code.lower()
    assert "f64" not in code, "float64 in a float32 program"
    assert matrix_products(text) == products


def data_specs(rows=N):
    return jax.ShapeDtypeStruct((rows, 784), jnp.uint8), jax.ShapeDtypeStruct((rows,), jnp.int32)


def test_the_module_reader_counts_a_product_once_per_call():
    # The reader itself: a function holding one product, called three times, is three products.
    def f(a):
        g = jax.jit(lambda m: m @ m)
        return g(g(g(a)))

    text = module_text(jax.jit(f), "cuda", jax.ShapeDtypeStruct((4, 4), jnp.float32))
    assert text.count("stablehlo.dot_general") == 1 and matrix_products(text) == 3
    check_module(text, 3)
    with pytest.raises(AssertionError, match="float64"):
        check_module(text.replace("f32", "f64"), 3)
    # A host callback is found in the operations, and a location merely named like one is not.
    square = jax.ShapeDtypeStruct((4, 4), jnp.float32)
    called_back = jax.jit(lambda a: jax.pure_callback(lambda b: b, square, a @ a)).lower(square).as_text()
    with pytest.raises(AssertionError, match="custom_call @xla_ffi_python_cpu_callback|callback"):
        check_module(called_back, 1)
    check_module(text + '\n#loc9 = loc("jaxnet/callbacks.py":1:1)', 3)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("grad", ["autodiff", "manual"])
@pytest.mark.parametrize("layers", sorted(DEPTHS))
def test_the_update_step_lowers_with_3L_minus_1_products(platform, grad, layers):
    params = shapes(lambda: mlp.init(jax.random.key(0), DEPTHS[layers]))
    step = train.make_step(OPTIMIZER, NET, loss="cross_entropy", grad=grad)
    x, y = data_specs(BATCH)
    check_module(module_text(step, platform, params, shapes(lambda: OPTIMIZER.init(params)), x, y), 3 * layers - 1)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("grad", ["autodiff", "manual"])
def test_mixed_precision_lowers_to_bfloat16_products_with_float32_results(platform, grad):
    # Net(compute_dtype="bfloat16"): every product of the step, forward and backward (3L − 1 of them), takes two
    # bfloat16 operands and gives float32 (the accumulation an accelerator's bfloat16 units do), and the parameters,
    # optimizer state and loss the step returns stay float32.
    net = mlp.Net("relu", compute_dtype="bfloat16")
    params = shapes(lambda: mlp.init(jax.random.key(0), DEPTHS[2]))
    step = train.make_step(OPTIMIZER, net, loss="cross_entropy", grad=grad)
    text = module_text(step, platform, params, shapes(lambda: OPTIMIZER.init(params)), *data_specs(BATCH))
    check_module(text, 5)
    signatures = re.findall(r"stablehlo\.dot_general .*?: \(tensor<[\dx]+x(\w+)>, tensor<[\dx]+x(\w+)>\) -> "
                            r"tensor<[\dx]+x(\w+)>", text)
    assert len(signatures) == 5 and set(signatures) == {("bf16", "bf16", "f32")}, signatures
    results = re.search(r"func\.func public @main\(.*?\) -> \((.*?)\)", text).group(1)
    assert "bf16" not in results and "f32" in results


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("ensemble", [False, True], ids=["one network", "vmapped ensemble"])
@pytest.mark.parametrize("layers", sorted(DEPTHS))
def test_the_epoch_program_lowers_with_3L_minus_1_products_per_step(platform, ensemble, layers):
    # The epochs run as nested scans (one while loop each): the body of a step appears once, whatever the count.
    key = jax.random.key(0)
    if ensemble:
        params = shapes(lambda: mlp.init_ensemble(key, 4, DEPTHS[layers]))
        opt_state = shapes(lambda: jax.vmap(OPTIMIZER.init)(params))
    else:
        params = shapes(lambda: mlp.init(key, DEPTHS[layers]))
        opt_state = shapes(lambda: OPTIMIZER.init(params))
    epochs = train.make_epochs(OPTIMIZER, NET, loss="cross_entropy", batch_size=BATCH, ensemble=ensemble)
    text = module_text(epochs, platform, params, opt_state, *data_specs(), spec(key),
                       jax.ShapeDtypeStruct((3,), jnp.int32))
    assert text.count("stablehlo.while") == 2  # epochs, and the steps of an epoch
    check_module(text, 3 * layers - 1)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("ensemble", [False, True], ids=["one network", "ensemble"])
def test_the_evaluation_lowers_with_the_forward_products_only(platform, ensemble):
    key = jax.random.key(0)
    params = shapes(lambda: mlp.init_ensemble(key, 4, DEPTHS[2]) if ensemble else mlp.init(key, DEPTHS[2]))
    # On an accelerator an ensemble's members are evaluated side by side (one_by_one=False: one vmapped program).
    evaluate = train.make_evaluate(NET, loss="cross_entropy", chunk_size=500, ensemble=ensemble, one_by_one=False)
    text = module_text(evaluate, platform, params, *data_specs(1000), jax.ShapeDtypeStruct((), jnp.int32))
    check_module(text, 2)


# The data-parallel program needs a 2-device mesh, so it is lowered in a process with two CPU devices.
MESH_SCRIPT = """
import json, sys
import jax, jax.numpy as jnp, numpy as np, optax
from jax import export
from jax.sharding import NamedSharding, PartitionSpec as P
from jaxnet import mlp, placement, train
mesh = placement.make_mesh()
assert mesh.shape["data"] == 2
replicated, rows = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
spec = lambda tree, s: jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a), sharding=s), tree)
optimizer, key, out = optax.sgd(0.1, momentum=0.9), jax.random.key(0), []
for sizes in json.loads(sys.argv[1]):
    params = mlp.init(key, sizes)
    epochs = train.make_epochs(optimizer, mlp.Net("relu"), loss="cross_entropy", batch_size=128, mesh=mesh)
    for platform in ("cuda", "tpu"):
        exported = export.export(epochs, platforms=(platform,))(
            spec(params, replicated), spec(optimizer.init(params), replicated),
            jax.ShapeDtypeStruct((1024, 784), jnp.uint8, sharding=rows),
            jax.ShapeDtypeStruct((1024,), jnp.int32, sharding=rows), spec(key, replicated),
            jax.ShapeDtypeStruct((3,), jnp.int32, sharding=replicated))
        out.append({"layers": len(sizes) - 1, "platform": platform, "devices": exported.nr_devices,
                    "text": exported.mlir_module()})
print(json.dumps(out))
"""


@pytest.mark.slow
def test_the_data_parallel_program_on_two_devices_lowers_with_3L_minus_1_products_per_step():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "2"}
    done = subprocess.run([sys.executable, "-c", MESH_SCRIPT, json.dumps([DEPTHS[k] for k in sorted(DEPTHS)])],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lowered = json.loads(done.stdout)
    assert sorted((m["layers"], m["platform"]) for m in lowered) == sorted(
        (layers, platform) for layers in DEPTHS for platform in PLATFORMS)
    for m in lowered:
        assert m["devices"] == 2
        check_module(m["text"], 3 * m["layers"] - 1)
