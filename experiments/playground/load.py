"""What a load on the playground's server is made of, and what it costs: the server's memory read from /proc, a
PNG of any size written row by row, a drawing as the pad sends it, and many different small networks for the tables.

Shared by the tests (``tests/test_playground.py``) and ``python -m benchmarks.playground``, so that both load the
server the same way.
"""

from __future__ import annotations

import itertools
import struct
import zlib

from gradio_client import handle_file


class Memory:
    """A process's resident memory from Linux's /proc: :meth:`reset` sets its peak to the present, so that
    :meth:`growth` is how far it went above where it was then (one request's cost)."""

    def __init__(self, pid: int):
        self.pid = pid

    def read(self) -> dict[str, int]:
        """``VmRSS`` (now) and ``VmHWM`` (the peak), in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return {name: int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmHWM")}

    def reset(self) -> None:
        """Raises ``OSError`` where the kernel cannot reset a process's peak resident size."""
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")  # the kernel's reset of VmHWM to the present resident size
        self.start = self.read()["VmRSS"]

    def growth(self) -> int:
        """Bytes between the peak since :meth:`reset` and the resident size then."""
        return self.read()["VmHWM"] - self.start


def huge_png(path: str, width: int, height: int) -> None:
    """An all-transparent RGBA PNG of width × height, written row by row (never the whole image in memory): a
    10,000² one is 0.4 MB on disk and 400 MB decoded."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    pack = zlib.compressobj(9)
    row = b"\0" * (1 + 4 * width)  # a filter byte, then the row's pixels
    body = b"".join(pack.compress(row) for _ in range(height)) + pack.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
                + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def upload(path: str) -> dict:
    """A drawing as the pad sends it."""
    return {"background": None, "layers": [], "composite": handle_file(path), "id": None}


def distinct_networks(count: int) -> list[str]:
    """The first ``count`` networks of 2 inputs and 2 outputs, as the tables' box takes them: one hidden layer, then
    two, then three, each hidden width from 1 to 12, in order ("2, 1, 2", …, "2, 12, 2", "2, 1, 1, 2", …; 1,884 in
    all)."""
    hidden = [shape for depth in (1, 2, 3) for shape in itertools.product(range(1, 13), repeat=depth)]
    if count > len(hidden):
        raise ValueError(f"at most {len(hidden):,} networks, asked for {count:,}")
    return [", ".join(map(str, (2, *shape, 2))) for shape in hidden[:count]]


def tables_request(sizes: str) -> tuple:
    """The tables' form for a network of ``sizes`` (tanh, mse, x all 1 and y all 0), as the client sends it."""
    d = [int(s) for s in sizes.split(",")]
    return sizes, "tanh", "identity", "mse", ", ".join(["1"] * d[0]), ", ".join(["0"] * d[-1]), 1, False
