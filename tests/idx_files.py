"""Writers of IDX files with MNIST's layout, shared by the data and the MNIST-experiment tests."""

import gzip
import os

import numpy as np

from jaxnet import data


def write_idx(path, magic, array, *, compress=True, cut=0):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - cut] if cut else raw
    with open(path, "wb") as f:
        f.write(gzip.compress(raw, compresslevel=1) if compress else raw)


def fake_mnist(directory, *, n_train=60000, n_test=10000, compress=True):
    """Small stand-ins with the real layout (the counts are what the loader checks, the pixels are zeros)."""
    os.makedirs(directory, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = data.idx_filenames(split)
        suffix = ".gz" if compress else ""
        write_idx(os.path.join(directory, images + suffix), data.IMAGE_MAGIC, np.zeros((n, 28, 28)), compress=compress)
        write_idx(os.path.join(directory, labels + suffix), data.LABEL_MAGIC, np.arange(n) % 10, compress=compress)
    return directory
