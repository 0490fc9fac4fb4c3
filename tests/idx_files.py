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


def glyph_mnist(directory, seed=0):
    """IDX files with MNIST's layout and counts whose images are printed digits, sized as MNIST's are: each label's
    glyph in Pillow's default font, in 6 variants (3 tilts × 2 stroke widths), its bounding box scaled to 20 pixels
    on the longer side and centred in 28 × 28, then shifted by up to 2 pixels, with fainter or stronger ink. Unlike
    :func:`labelled_mnist`'s, these survive being drawn and re-centred, so a network trained on them reads a drawn
    digit (the playground's tests). Written uncompressed."""
    from PIL import Image, ImageDraw, ImageFont

    glyphs = []  # (variants, 28, 28) per label
    for label in range(10):
        variants = []
        for tilt in (-10, 0, 10):
            for stroke in (0, 3):
                canvas = Image.new("L", (160, 160))
                ImageDraw.Draw(canvas).text((80, 80), str(label), fill=255, anchor="mm", stroke_width=stroke,
                                            stroke_fill=255, font=ImageFont.load_default(size=96))
                big = np.asarray(canvas.rotate(tilt, Image.Resampling.BILINEAR))
                rows, cols = np.nonzero(big)
                crop = Image.fromarray(big[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1])
                scale = 20 / max(crop.size)
                small = np.asarray(crop.resize((max(1, round(crop.size[0] * scale)),
                                                max(1, round(crop.size[1] * scale))), Image.Resampling.BILINEAR))
                image = np.zeros((28, 28), np.uint8)
                top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
                image[top: top + small.shape[0], left: left + small.shape[1]] = small
                variants.append(image)
        glyphs.append(np.stack(variants))
    glyphs = np.stack(glyphs)  # (10, 6, 28, 28)
    rng = np.random.default_rng(seed)
    for split, n in (("train", 60000), ("test", 10000)):
        labels = rng.integers(0, 10, n)
        images = glyphs[labels, rng.integers(0, glyphs.shape[1], n)].astype(np.float32)
        shifts = rng.integers(-2, 3, (n, 2))
        for dy, dx in set(map(tuple, shifts.tolist())):  # 25 shifts, each applied to its images at once
            rows = np.all(shifts == (dy, dx), axis=1)
            images[rows] = np.roll(images[rows], (dy, dx), axis=(1, 2))
        images *= rng.uniform(0.7, 1.0, (n, 1, 1))
        names = data.idx_filenames(split)
        write_idx(os.path.join(directory, names[0]), data.IMAGE_MAGIC, np.clip(images, 0, 255), compress=False)
        write_idx(os.path.join(directory, names[1]), data.LABEL_MAGIC, labels, compress=False)
    return directory
