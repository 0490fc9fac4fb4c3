"""The playground's responsiveness, as a student meets it: from pressing Train to the first plotted update, and
updates per second while it trains, at widths 10, 1,000 and 10,000.

Starts ``python -m experiments.playground`` on a free port of 127.0.0.1 (its digit tab as it finds the MNIST files) and
drives its Train button through Gradio's own client, which receives every update the page would. Each width runs
twice: the first run compiles the width's programs, the second reuses them (as a student's next press does).
``python -m benchmarks.playground`` (needs the ``playground`` extra) prints a Markdown table and writes it into
``benchmarks/RESULTS.md`` as its own section (``make bench`` keeps it).
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import socket
import subprocess
import sys
import time
import urllib.request

from gradio_client import Client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WIDTHS = (10, 1000, 10000)


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "experiments.playground", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the playground did not come up at {url}")


def one_run(client: Client, width: int) -> dict:
    """Presses Train with the tab's defaults but the width; times every update as the client receives it."""
    tic = time.perf_counter()
    arrivals, steps = [], []
    for update in client.submit(width, "tanh", "spread", 0.01, 2000, 0, api_name="/train"):
        arrivals.append(time.perf_counter() - tic)
        steps.append(update[3])
    trained = next(i for i, s in enumerate(steps) if s > 0)
    return {"first": arrivals[0], "first_trained": arrivals[trained], "updates": len(arrivals),
            "per_second": (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]), "total": arrivals[-1],
            "rmse": update[2]}


def main() -> None:
    process, url = start_server()
    try:
        client = Client(url, verbose=False, download_files=False)
        rows = ["| width | run | first update (the initial network) | first trained update | updates | updates/s "
                "| whole run | test RMSE |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
        for width in WIDTHS:
            for run in ("first (compiles)", "second (reuses)"):
                r = one_run(client, width)
                rows.append(f"| {width:,} | {run} | {r['first']:.2f} s | {r['first_trained']:.2f} s | {r['updates']} "
                            f"| {r['per_second']:.1f} | {r['total']:.1f} s | {r['rmse']:.4f} |")
                print(rows[-1], flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    table = "\n".join(rows)
    print(table)
    write_section(table)


def write_section(table: str) -> None:
    """Puts the table into RESULTS.md between this script's markers, replacing an earlier one."""
    import gradio
    import jax

    path = os.path.join(ROOT, "benchmarks", "RESULTS.md")
    section = f"""<!-- playground-start -->
## The playground: from pressing Train to the plot

`python -m benchmarks.playground`, {datetime.date.today()}: Python {platform.python_version()}, jax {jax.__version__},
gradio {gradio.__version__}, {os.cpu_count()} cores, cpu backend. The universal-approximation tab's defaults (2,000
full-batch Adam steps, tanh, spread units) at three widths, pressed through Gradio's client, which receives every
update the page does: 21 updates per run (the initial network, then one after each of 20 compiled chunks), each a
plotted figure of the fit and the error curve. "First update" is the initial network's plot; "first trained update"
the plot after the first chunk (on a first run it includes compiling the width's program).

{table}
<!-- playground-end -->"""
    with open(path) as f:
        text = f.read()
    pattern = re.compile(r"<!-- playground-start -->.*?<!-- playground-end -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
