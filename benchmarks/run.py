"""Side-by-side speed of jaxnet against the alternatives a user could pick, on this machine, in one run
(``make bench``, or ``python -m benchmarks.run``).

Task M (:mod:`benchmarks.task_m`): the MNIST-shaped epoch five ways, interleaved epoch by epoch so that machine noise
hits all alike, and its parameters compared; memory; the matrix products alone against jaxnet's epoch. Task U
(:mod:`benchmarks.task_u`): the universal-approximation network, one network and ensembles. Scaling
(:mod:`benchmarks.scaling`): data parallel on simulated devices and the members sweep over devices and processes.

It prints Markdown tables and writes them with the machine and versions to ``benchmarks/RESULTS.md`` (``--out``);
``--tiny`` runs every part once on small sizes to check it still works.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

if __name__ == "__main__" and not __package__:  # run as a file: import the package from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from benchmarks.report import machine, results_markdown, table, write_results  # noqa: E402
from benchmarks.scaling import SWEEP_RUNS, data_parallel, scaling_model, sweep  # noqa: E402
from benchmarks.streaming import markdown as streaming_markdown  # noqa: E402
from benchmarks.streaming import streaming_rows  # noqa: E402
from benchmarks.task_m import IMPLS, matmul_rates, memory_of, task_m, task_m_data, torch_available  # noqa: E402
from benchmarks.task_u import task_u  # noqa: E402
from benchmarks.time_to_accuracy import markdown as tta_markdown  # noqa: E402
from benchmarks.time_to_accuracy import time_to_accuracy  # noqa: E402
from benchmarks.unroll import markdown as unroll_markdown  # noqa: E402
from benchmarks.unroll import unroll_rows  # noqa: E402
from experiments import mnist  # noqa: E402
from jaxnet import data  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="each part once on small sizes (a check, not a measurement)")
    p.add_argument("--epochs", type=int, default=7, help="Task M epochs per implementation (the first compiles)")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    args = p.parse_args(argv)
    n, epochs, widths, steps, dp_epochs = 60000, args.epochs, (10, 1000, 10000), {10: 5000, 1000: 1000, 10000: 200}, 4
    if args.tiny:
        n, epochs, widths, steps, dp_epochs = 1280, 2, (10, 50), {10: 5, 50: 5}, 2
    impls = IMPLS if torch_available() else tuple(i for i in IMPLS if i != "torch")
    if "torch" not in impls:
        print("PyTorch is not installed: skipping it (pip install 'jaxnet-lecture[bench]', or a CPU build such as "
              "torch==2.13.0, to include it)", flush=True)
    print(f"Task M on {machine()} ...", flush=True)
    m_rows = task_m(n, epochs, impls=impls)
    for row in m_rows:  # a tiny run skips the memory probe: one more process per row
        row["peak_rss_mib"] = float("nan") if args.tiny else memory_of(row["impl"], n)
    m_table = table(m_rows, [("implementation", "impl", None), ("compile (s)", "compile_s", ".2f"),
                             ("epoch (s, median)", "epoch_s", ".3f"), ("samples/s", "samples_per_s", ",.0f"),
                             ("jaxnet time / this", "jaxnet_over_this", ".2f"),
                             ("peak memory (MiB)", "peak_rss_mib", ",.0f"),
                             ("max |Δparam| vs jaxnet, epoch 1", "param_diff_epoch_1", ".1e"),
                             (f"… epoch {epochs}", "param_diff_final", ".1e")])
    print(m_table, flush=True)
    limits = matmul_rates(task_m_data(n)[0], size=256 if args.tiny else 4096)
    by = {r["impl"]: r for r in m_rows}
    jaxnet_gflops = limits["epoch_flops"] / by["jaxnet"]["epoch_s"] / 1e9
    limit_text = (f"The epoch's matrix products alone, as one compiled scan: {limits['products_s']:.3f} s "
                  f"({limits['products_gflops']:.0f} GFLOP/s); one large float32 matrix product (4096 × 4096): "
                  f"{limits['big_gflops']:.0f} GFLOP/s. jaxnet's epoch runs those products at {jaxnet_gflops:.0f} "
                  f"GFLOP/s: {jaxnet_gflops / limits['products_gflops']:.2f} of the products-alone rate and "
                  f"{jaxnet_gflops / limits['big_gflops']:.2f} of the large product's.")
    print(limit_text, flush=True)
    unroll = unroll_rows(n=1280, epochs=2) if args.tiny else unroll_rows(n)
    unroll_table = unroll_markdown(unroll)
    print(unroll_table, flush=True)
    streaming = streaming_rows(n=2560, epochs=2, steps=(5,)) if args.tiny else streaming_rows(n)
    streaming_table = streaming_markdown(streaming)
    print(streaming_table, flush=True)
    tta_table = "(skipped: the MNIST files were not found; set JAXNET_DATA_DIR)"
    if data.find_idx_dir("mnist"):  # make mnist's recipe in jaxnet and in PyTorch, to 98.4%
        config = mnist.Config(out=os.path.join("runs", "time_to_accuracy"))
        if args.tiny:
            config = mnist.Config(epochs=1, seeds=1, train_limit=2048, out=os.path.join("runs", "time_to_accuracy"))
        tta_table = tta_markdown(time_to_accuracy(config, torch="torch" in impls))
        print(tta_table, flush=True)
    u_rows = task_u(widths, steps, members=2 if args.tiny else 8)
    u_table = table(u_rows, [("width", "width", ","), ("steps", "steps", "d"),
                             ("plain JAX (steps/s)", "plain_steps_per_s", ",.0f"),
                             ("jaxnet fit, 1 network (steps/s)", "fit_steps_per_s", ",.0f"),
                             ("fit / plain", "fit_over_plain", ".2f"),
                             ("fit, ensemble of 8 (member-steps/s)", "ensemble_member_steps_per_s", ",.0f"),
                             ("ensemble / plain", "ensemble_over_plain", ".2f"),
                             ("vmapped 8 (member-steps/s)", "vmapped_member_steps_per_s", ",.0f"),
                             ("vmapped / plain", "vmapped_over_plain", ".2f"),
                             ("vmapped gᵀx / 8 separate", "dot_ratio", ".2f")])
    print(u_table, flush=True)
    # A tiny run leaves out the simulated-device epochs: the sweep below starts the same kind of process.
    dp_rows = [] if args.tiny else data_parallel(n, dp_epochs)
    dp_table = table(dp_rows, [("simulated devices", "devices", "d"), ("epoch (s, median)", "epoch_s", ".3f"),
                               ("time vs 1 device", "vs_one_device", ".2f")])
    print(dp_table, flush=True)
    # A tiny run starts as few processes as it can: one device, then two processes.
    sweep_rows = sweep(n, 1 if args.tiny else 2, members=4 if args.tiny else 8,
                       runs=(SWEEP_RUNS[0], SWEEP_RUNS[3]) if args.tiny else SWEEP_RUNS)
    sweep_table = table(sweep_rows, [("run on", "kind", None), ("devices", "devices", "d"),
                                     ("member-steps/s", "member_steps_per_s", ",.0f"),
                                     ("vs 1 device", "speedup", ".2f")])
    print(sweep_table, flush=True)
    allreduce = next(r["allreduce_s"] for r in sweep_rows if "allreduce_s" in r)  # median seconds per size
    sweep_model = scaling_model(sweep_rows, by["jaxnet"]["epoch_s"], n // 128, allreduce)
    print(sweep_model, flush=True)
    alternatives = [r for r in m_rows if not r["impl"].startswith("jaxnet")]
    fastest = min(alternatives, key=lambda r: r["epoch_s"])
    ratio = by["jaxnet"]["epoch_s"] / fastest["epoch_s"]
    summary = (f"jaxnet's compiled epoch: {by['jaxnet']['epoch_s']:.3f} s; the fastest alternative "
               f"({fastest['impl']}): {fastest['epoch_s']:.3f} s, ratio {ratio:.2f} "
               f"(target ≤ 1.0, aim 0.8). manual_grad / jax.grad inside the step: "
               f"{by['jaxnet-manual']['epoch_s'] / by['jaxnet']['epoch_s']:.2f} (target ≤ 1.1).")
    print(summary)
    if args.tiny:
        return {"m": m_rows, "u": u_rows, "dp": dp_rows, "limits": limits, "sweep": sweep_rows}
    report = results_markdown(epochs=epochs, m_table=m_table, summary=summary, limit_text=limit_text,
                              u_table=u_table, dp_table=dp_table, sweep_table=sweep_table, sweep_model=sweep_model,
                              unroll_table=unroll_table, tta_table=tta_table, streaming_table=streaming_table)
    write_results(args.out, report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"m": m_rows, "u": u_rows, "dp": dp_rows, "limits": limits, "sweep": sweep_rows,
                       "machine": machine()}, f, indent=1)
    print(f"wrote {args.out}")
    return {"m": m_rows, "u": u_rows, "dp": dp_rows}


if __name__ == "__main__":
    main()
