"""The README's training example three ways, in one run: what a newcomer's first call reaches on MNIST.

784-200-10 ReLU, softmax cross-entropy, Adam 1e-3, batch 128, the same initial parameters and key, test accuracy
after each epoch:

* ``uint8, unscaled``: raw pixels 0–255 into ``mlp.Net("relu")``, what ``load_mnist`` used to return (``fit`` now
  warns about it; the warning is silenced here to measure the result);
* ``float32 [0, 1]``: ``load_mnist``'s default, exactly as the README writes the example;
* ``uint8, input_scale=255``: the compact form, scaled inside the compiled step.

``python -m benchmarks.first_call`` (needs the MNIST files in ``$JAXNET_DATA_DIR``) prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import optax

from jaxnet import data, mlp, train


def run(x_train, y_train, x_test, y_test, net: mlp.Net, epochs: int) -> list[float]:
    """Test accuracy after each epoch of the README's recipe."""
    params = mlp.init(jax.random.key(0), [784, 200, 10])
    _, history = train.fit(params, x_train, y_train, net, optimizer=optax.adam(1e-3), epochs=epochs, batch_size=128,
                           key=jax.random.key(1), loss="cross_entropy", eval_data=(x_test, y_test), verbose=False)
    return [record["eval_accuracy"] for record in history]


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=None, help="use only the first n training images")
    args = parser.parse_args(argv)
    raw_train, y_train = data.load_mnist("train", dtype="uint8")
    raw_test, y_test = data.load_mnist("test", dtype="uint8")
    float_train, float_test = data.load_mnist("train")[0], data.load_mnist("test")[0]
    limit = slice(args.train_limit)
    cases = {
        "uint8, unscaled (the old default)": (raw_train, raw_test, mlp.Net("relu")),
        "float32 [0, 1] (load_mnist's default, the README)": (float_train, float_test, mlp.Net("relu")),
        "uint8, input_scale=255": (raw_train, raw_test, mlp.Net("relu", input_scale=255.0)),
    }
    results = {}
    print(f"| inputs | {' | '.join(f'epoch {e + 1}' for e in range(args.epochs))} | seconds |")
    print(f"|---|{'---:|' * args.epochs}---:|")
    for name, (x_train, x_test, net) in cases.items():
        tic = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", train.UnscaledInputWarning)
            results[name] = run(x_train[limit], y_train[limit], x_test, y_test, net, args.epochs)
        cells = " | ".join(f"{a:.2%}" for a in results[name])
        print(f"| {name} | {cells} | {time.perf_counter() - tic:.1f} |", flush=True)
    return results


if __name__ == "__main__":
    main()
