"""MNIST and Fashion-MNIST: from the original IDX files (NumPy only) or through tensorflow-datasets.

:func:`load_mnist` returns ``(images, labels)``: images ``(N, 784)`` (or ``(N, 28, 28)`` with ``flatten=False``)
and ``int32`` labels ``(N,)``; N is 60,000 for ``"train"`` and 10,000 for ``"test"``. The images are ``float32``
in [0, 1] by default, ready for any network; ``dtype="uint8"`` keeps the stored pixel values 0–255 (a quarter of
the memory), for a network that scales its own input (``mlp.Net(..., input_scale=255.0)``). Sources:

* ``"idx"``: the four original files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (gzipped ``.gz`` or not) in ``data_dir``, else in the
  directory named by the ``JAXNET_DATA_DIR`` environment variable (or its ``mnist`` / ``fashion_mnist``
  subdirectory). Magic numbers, counts, image sizes and file lengths are checked; a truncated, corrupt or
  swapped file gets an error that names it and says what is wrong.
* ``"tfds"``: ``tensorflow-datasets`` (``pip install 'jaxnet-lecture[data]'``), with ``data_dir`` as its data
  directory. Online it downloads as usual; offline it builds from the same four ``.gz`` files placed in
  ``<data_dir>/downloads/manual/`` (tfds checks their SHA-256, so they must be the original files). Without those
  files and without a network it fails at once with instructions, instead of retrying for minutes. The examples
  come in tfds's own order, not the files' order.
* ``"auto"``: the IDX files when they are found, else tfds when it is installed, else an error that says how to get
  the data.

TensorFlow is imported only inside the tfds loader, never by ``import jaxnet.data``.
"""

from __future__ import annotations

import gzip
import os
import socket
import zlib

import numpy as np
import numpy.typing as npt

NAMES = ("mnist", "fashion_mnist")
DTYPES = ("float32", "uint8")
SPLITS = {"train": ("train", 60000), "test": ("t10k", 10000)}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
ENV_VAR = "JAXNET_DATA_DIR"
# Where tfds downloads MNIST from; probed once (3 s) so an offline machine fails fast instead of retrying.
_TFDS_HOST = ("storage.googleapis.com", 443)


class DataError(ValueError):
    """A data file is missing, truncated, corrupt or not the file it claims to be."""


def idx_filenames(split: str) -> tuple[str, str]:
    """The original (images, labels) file names of a split, without ``.gz``."""
    prefix = SPLITS[split][0]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":  # not gzipped
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None


def read_idx(path: str, *, magic: int, count: int | None = None) -> np.ndarray:
    """Reads one IDX file: labels ``(N,)`` for ``magic=2049``, images ``(N, rows, cols)`` for ``magic=2051``.

    Raises:
      DataError: naming ``path``, for a wrong magic number (e.g. an image file where labels were expected), a count
        other than ``count``, images other than 28 × 28, or a length that disagrees with the header.
    """
    data = _read_bytes(path)
    if len(data) < 8:
        raise DataError(f"{path}: only {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kinds = {IMAGE_MAGIC: "an image file", LABEL_MAGIC: "a label file"}
        raise DataError(f"{path}: magic number {found} ({kinds.get(found, 'not an IDX file')}), expected {magic} "
                        f"({kinds[magic]}); is it the wrong file or a swapped name?")
    n = int.from_bytes(data[4:8], "big")
    if count is not None and n != count:
        raise DataError(f"{path}: header says {n} examples, expected {count}")
    shape: tuple[int, ...] = (n,)
    offset = 8
    if magic == IMAGE_MAGIC:
        rows, cols = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        if (rows, cols) != (28, 28):
            raise DataError(f"{path}: images are {rows} x {cols}, expected 28 x 28")
        shape, offset = (n, rows, cols), 16
    expected = offset + int(np.prod(shape))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{path}: {what}: {len(data)} bytes, expected {expected} for {shape}")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(shape)


def _find(directory: str | None, filename: str) -> str | None:
    if directory is None:
        return None
    for candidate in (filename + ".gz", filename):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def find_idx_dir(name: str = "mnist", data_dir: str | os.PathLike | None = None) -> str | None:
    """The directory holding all four IDX files of ``name``: ``data_dir`` (or ``$JAXNET_DATA_DIR``) or its
    ``name`` subdirectory; for Fashion-MNIST only the ``fashion_mnist`` subdirectory, since its files share MNIST's
    names. None when not found."""
    base = data_dir if data_dir is not None else os.environ.get(ENV_VAR)
    if base is None:
        return None
    base = os.fspath(base)
    candidates = [os.path.join(base, name)] + ([base] if name == "mnist" else [])
    wanted = [f for split in SPLITS for f in idx_filenames(split)]
    for directory in candidates:
        if all(_find(directory, f) for f in wanted):
            return directory
    return None


def _load_idx(split: str, directory: str) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = idx_filenames(split)
    count = SPLITS[split][1]
    images_path, labels_path = _find(directory, images_name), _find(directory, labels_name)
    assert images_path is not None and labels_path is not None  # find_idx_dir checked that all four exist
    images = read_idx(images_path, magic=IMAGE_MAGIC, count=count)
    labels = read_idx(labels_path, magic=LABEL_MAGIC, count=count)
    if labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be 0-9, found {int(labels.max())}")
    return images, labels.astype(np.int32)


def _tfds_can_build(name: str, data_dir: str | None) -> None:
    """Raises at once when tfds would have to download but cannot."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if builder.data_path.joinpath("dataset_info.json").exists():
        return
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser(os.path.join("~", "tensorflow_datasets"))
    manual = os.path.join(root, "downloads", "manual")
    files = [f + ".gz" for split in SPLITS for f in idx_filenames(split)]
    if all(os.path.isfile(os.path.join(manual, f)) for f in files):
        return
    try:
        socket.create_connection(_TFDS_HOST, timeout=3).close()
    except OSError:
        raise DataError(
            f"tensorflow-datasets has no prepared {name!r} under {root} and no network to download "
            f"it. Place the four original files ({', '.join(files)}) in {manual}/ and retry, or use source='idx' "
            f"with ${ENV_VAR} pointing at them.") from None


def _load_tfds(split: str, name: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        import tensorflow as tf
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(f"source='tfds' needs tensorflow-datasets and tensorflow: pip install 'jaxnet-lecture[data]' "
                          f"({e})") from e
    try:
        tf.config.set_visible_devices([], "GPU")  # TF must not take accelerator memory that JAX needs
    except RuntimeError:
        pass  # TensorFlow was initialised earlier by the caller; its device choice stands
    _tfds_can_build(name, data_dir)
    images, labels = tfds.as_numpy(tfds.load(name, split=split, data_dir=data_dir, batch_size=-1,
                                             as_supervised=True))
    return images[..., 0], labels.astype(np.int32)


def load_mnist(split: str, *, name: str = "mnist", data_dir: str | os.PathLike | None = None,
               source: str = "auto", flatten: bool = True, dtype: npt.DTypeLike = "float32"
               ) -> tuple[np.ndarray, np.ndarray]:
    """Loads a split of MNIST or Fashion-MNIST as NumPy arrays.

    Args:
      split: ``"train"`` (60,000 examples) or ``"test"`` (10,000).
      name: ``"mnist"`` or ``"fashion_mnist"``.
      data_dir: where the IDX files are (``"idx"``), or tfds's data directory (``"tfds"``); default
        ``$JAXNET_DATA_DIR``.
      source: ``"auto"``, ``"idx"`` or ``"tfds"`` (see the module docstring).
      flatten: images as ``(N, 784)`` rows (default) or ``(N, 28, 28)``.
      dtype: ``"float32"`` (default; or ``np.float32``): pixels divided by 255, in [0, 1]. ``"uint8"`` (or
        ``np.uint8``): the stored pixels 0–255, for a network built with ``input_scale=255.0`` (or a
        standardising ``input_shift`` / ``input_scale``).

    Returns:
      ``(images, labels)``: images as ``dtype`` asks and ``int32`` labels 0–9.

    Raises:
      DataError: the files are missing, truncated, corrupt or mislabelled, or tfds cannot get the data offline.
      ValueError: an unknown split, name, source or dtype.

    With the files in ``$JAXNET_DATA_DIR`` (not run as a doctest; ``tests/test_data.py`` checks the same)::

        images, labels = load_mnist("test")  # float32 (10000, 784) in [0, 1]; int32 labels, the first 7, 2, 1
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {list(SPLITS)}")
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; valid names are {list(NAMES)}")
    if source not in ("auto", "idx", "tfds"):
        raise ValueError(f"unknown source {source!r}; valid sources are ['auto', 'idx', 'tfds']")
    unknown = ValueError(f"unknown dtype {dtype!r}; valid dtypes are {list(DTYPES)}")
    try:
        dtype_name = np.dtype(dtype).name  # "uint8", np.uint8 and jnp.uint8 alike
    except TypeError:  # not a dtype at all
        raise unknown from None
    if dtype_name not in DTYPES:
        raise unknown
    data_dir = os.fspath(data_dir) if data_dir is not None else os.environ.get(ENV_VAR)
    if source == "auto":
        idx_dir = find_idx_dir(name, data_dir)
        if idx_dir is not None:
            images, labels = _load_idx(split, idx_dir)
        else:
            try:
                import tensorflow_datasets  # noqa: F401
            except ImportError:
                files = ", ".join(f + ".gz" for s in SPLITS for f in idx_filenames(s))
                raise DataError(
                    f"no {name} data found: put the four IDX files ({files}) "
                    f"in a directory and pass data_dir= or set ${ENV_VAR} to it, or pip install "
                    f"'jaxnet-lecture[data]' to use tensorflow-datasets") from None
            images, labels = _load_tfds(split, name, data_dir)
    elif source == "idx":
        idx_dir = find_idx_dir(name, data_dir)
        if idx_dir is None:
            raise DataError(f"the four {name} IDX files were not found in {data_dir or f'${ENV_VAR} (unset)'}"
                            + (" or its fashion_mnist/ subdirectory" if name == "fashion_mnist" else ""))
        images, labels = _load_idx(split, idx_dir)
    else:
        images, labels = _load_tfds(split, name, data_dir)
    if flatten:
        images = images.reshape(len(images), -1)
    if dtype_name == "float32":
        # Pixels 0–255 fed unscaled train markedly worse (`python benchmarks/first_call.py` compares them), so the
        # default is the scaled form; 255 is exact in float32 and k/255 is the nearest float.
        images = images.astype(np.float32) / np.float32(255)
    return images, labels
