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


def labelled_mnist(directory, seed=0):
    """IDX files with MNIST's layout and counts (60,000 and 10,000) whose noisy images carry their label as one
    bright pixel, so a small network learns them in an epoch. Written uncompressed: faster to write and read."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", 60000), ("test", 10000)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 50, (n, 28, 28), dtype=np.uint8)
        images[np.arange(n), 0, labels] = 255
        names = data.idx_filenames(split)
        write_idx(os.path.join(directory, names[0]), data.IMAGE_MAGIC, images, compress=False)
        write_idx(os.path.join(directory, names[1]), data.LABEL_MAGIC, labels, compress=False)
    return directory
