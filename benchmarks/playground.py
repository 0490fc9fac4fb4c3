"""The playground's responsiveness and bounds, as a student meets them: from pressing Train to the first plotted
update, and updates per second while it trains, at widths 10, 100, 1,000 and 10,000; the longest run the bounds
allow; the other tabs' latencies, and the server's memory (a drawing, a 10,000² upload, at the end).

Starts ``python -m experiments.playground`` on a free port of 127.0.0.1 (its digit tab as it finds the MNIST files) and
drives its Train button through Gradio's own client, which receives every update the page would. Each width runs
twice: the first run compiles the width's programs, the second reuses them (as a student's next press does).
``python -m benchmarks.playground`` (needs the ``playground`` extra) prints a Markdown table and writes it into
``benchmarks/RESULTS.md`` as its own section (``make bench`` keeps it).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
from gradio_client import Client
from PIL import Image

from experiments.playground.load import Memory, distinct_networks, huge_png, tables_request, upload

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WIDTHS = (10, 100, 1000, 10000)
WORST = (10_000, 2_000)  # width × steps at the tab's bound (experiments.playground.fit.MAX_WORK)
MB = 2**20


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


def one_run(client: Client, width: int, steps: int = 1000) -> dict:
    """Presses Train with the tab's defaults but the width (and steps); times every update as the client gets it."""
    tic = time.perf_counter()
    arrivals, steps_seen = [], []
    for update in client.submit(width, "tanh", "spread", 0.005, steps, 0, api_name="/train"):
        arrivals.append(time.perf_counter() - tic)
        steps_seen.append(update[3])
    trained = next(i for i, s in enumerate(steps_seen) if s > 0)
    return {"first": arrivals[0], "first_trained": arrivals[trained], "updates": len(arrivals),
            "per_second": (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]), "total": arrivals[-1],
            "rmse": update[2]}


def timed(call, times: int = 5) -> float:
    """The median seconds of ``call()`` over ``times`` calls, after one untimed call (which compiles)."""
    call()
    seconds = []
    for _ in range(times):
        tic = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - tic)
    return statistics.median(seconds)


def other_tabs(client: Client, memory: Memory | None, folder: str) -> list[str]:
    """The tables' and a drawing's latency, the memory one drawing and a 10,000² upload take, as table rows."""
    rows = []
    tables = lambda: client.predict("3, 4, 4, 2", "relu", "identity", "mse", "0.5, -1.0, 2.0", "1.0, 0.0", 1,  # noqa
                                    True, api_name="/tables")
    rows.append(f"| back-propagation's tables, 3-4-4-2 | {timed(tables):.2f} s | |")
    for side in (280, 1000):  # the pad's canvas, and the largest drawing read (1,000,000 pixels)
        image = np.zeros((side, side, 4), np.uint8)
        image[side // 5: 4 * side // 5, side // 2 - side // 25: side // 2 + side // 25, 3] = 255  # a 1
        path = os.path.join(folder, f"one-{side}.png")
        Image.fromarray(image).save(path)
        read = lambda path=path: client.predict(upload(path), api_name="/read")  # noqa: E731
        seconds = timed(read)
        grown = ""
        if memory is not None:
            memory.reset()
            read()
            grown = f"{memory.growth() / MB:.0f} MB"
        rows.append(f"| a {side:,} × {side:,} drawing read | {seconds:.2f} s | {grown} |")
    path = os.path.join(folder, "huge.png")
    huge_png(path, 10_000, 10_000)
    if memory is not None:
        memory.reset()
    tic = time.perf_counter()
    try:
        client.predict(upload(path), api_name="/read")
        raise SystemExit("the 10,000² upload was read, not refused")
    except Exception as e:  # the client's AppError, carrying the page's message
        message = str(e)
    seconds = time.perf_counter() - tic
    grown = f"{memory.growth() / MB:.0f} MB" if memory is not None else ""
    rows.append(f"| a 10,000 × 10,000 PNG (0.4 MB) refused: \"{message.split(';')[0]}\" | {seconds:.2f} s | "
                f"{grown} |")
    return rows


def bounds(url: str, client: Client, memory: Memory | None) -> list[str]:
    """The server's growth under the two loads it bounds, each after a first request of its kind: 120 different
    networks' tables (a compiled program each, 16 kept), and four width-10,000 trainings pressed at once (two train,
    two wait), as table rows."""
    networks = distinct_networks(1 + 120)
    client.predict(*tables_request(networks[0]), api_name="/tables")
    if memory is not None:
        memory.reset()
    tic = time.perf_counter()
    for sizes in networks[1:]:
        client.predict(*tables_request(sizes), api_name="/tables")
    grown = f"{memory.growth() / MB:.0f} MB" if memory is not None else ""
    rows = [f"| 120 different networks' tables, one after another | {(time.perf_counter() - tic) / 120:.2f} s each "
            f"| {grown} |"]

    def train(_):
        return list(Client(url, verbose=False, download_files=False).submit(
            10_000, "tanh", "spread", 0.005, 20, 0, api_name="/train"))[-1]

    train(0)  # the first of its kind: compiles width 10,000's programs
    if memory is not None:
        memory.reset()
    tic = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(train, range(4)))
    grown = f"{memory.growth() / MB:.0f} MB" if memory is not None else ""
    rows.append(f"| four width-10,000 trainings of 20 steps pressed at once (two run, two wait) | "
                f"{time.perf_counter() - tic:.1f} s for all | {grown} |")
    return rows


def main() -> None:
    process, url = start_server()
    try:
        client = Client(url, verbose=False, download_files=False)
        memory: Memory | None = Memory(process.pid)
        try:
            Memory(process.pid).reset()
        except OSError:  # not Linux, or no permission: the memory columns stay empty
            memory = None
        rows = ["| width | run | first update (the initial network) | first trained update | updates | updates/s "
                "| whole run | test RMSE | memory growth |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        runs = [(width, 1000, run) for width in WIDTHS for run in ("first (compiles)", "second (reuses)")]
        runs.append((*WORST, "the longest allowed, 10,000 × 2,000 steps (compiles)"))
        for width, steps, run in runs:
            if memory is not None:
                memory.reset()
            r = one_run(client, width, steps)
            grown = f"{memory.growth() / MB:.0f} MB" if memory is not None else ""
            rows.append(f"| {width:,} | {run} | {r['first']:.2f} s | {r['first_trained']:.2f} s | {r['updates']} "
                        f"| {r['per_second']:.1f} | {r['total']:.1f} s | {r['rmse']:.4f} | {grown} |")
            print(rows[-1], flush=True)
        with tempfile.TemporaryDirectory() as folder:
            others = ["| request | median latency | the server's memory growth |", "|---|---:|---:|"]
            others += other_tabs(client, memory, folder)
        others += bounds(url, client, memory)
        if memory is not None:
            others.append(f"| (the server's resident memory at the end: {memory.read()['VmRSS'] / MB:.0f} MB, peak "
                          f"since start-up {memory.read()['VmHWM'] / MB:.0f} MB) | | |")
        print("\n".join(others), flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    table = "\n".join(rows) + "\n\n" + "\n".join(others)
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
gradio {gradio.__version__}, {os.cpu_count()} cores, cpu backend. The universal-approximation tab's defaults (make
demo's: 1,000 full-batch Adam steps, tanh, spread units) at four widths, and the longest run the tab's bound allows
(width × steps ≤ 20,000,000), pressed through Gradio's client, which receives every update the page does: 21 updates
per run (the initial network, then one after each of 20 compiled chunks), each a plotted figure of the fit and the
error curve. "First update" is the initial network's plot; "first trained update" the plot after the first chunk (on
a first run it includes compiling the width's program); "memory growth" is how far the run took the server's resident
size above where it started (at its peak, read from /proc). Then the other tabs, one request at a time, with the same
measure of memory (the server had already served the runs); last, the two loads the server bounds, each measured
after a first request of its kind.

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
