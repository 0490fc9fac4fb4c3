import io
import os
import re
import shutil
import sys
import time

import numpy as np
import pytest
from refusals import refused

from jaxnet import data

import requires
from idx_files import fake_mnist, write_idx

REAL = os.environ.get(data.ENV_VAR)
needs_real = pytest.mark.skipif(not REAL or data.find_idx_dir("mnist", REAL) is None,
                                reason=requires.MNIST)


@needs_real
def test_real_mnist_from_idx():
    x, y = data.load_mnist("train", data_dir=REAL, source="idx", dtype="uint8")
    assert x.shape == (60000, 784) and x.dtype == np.uint8 and y.shape == (60000,) and y.dtype == np.int32
    assert y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]  # the canonical first training labels
    assert np.bincount(y).tolist()[:2] == [5923, 6742]  # the canonical class counts of 0 and 1
    x, y = data.load_mnist("test", flatten=False, dtype="uint8")  # from $JAXNET_DATA_DIR, source auto
    assert x.shape == (10000, 28, 28) and int(x.max()) == 255 and np.bincount(y).sum() == 10000
    assert y[:3].tolist() == [7, 2, 1]  # the canonical first test labels
    x, _ = data.load_mnist("test")  # the default, as load_mnist's docstring shows it
    assert x.shape == (10000, 784) and x.dtype == np.float32 and x.min() == 0 and x.max() == 1


def test_uncompressed_files_and_the_environment_variable(tmp_path, monkeypatch):
    fake_mnist(tmp_path / "mnist", compress=False)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    x, y = data.load_mnist("test", source="idx")
    assert x.shape == (10000, 784) and y[:3].tolist() == [0, 1, 2]


def test_images_are_float32_in_the_unit_interval_unless_uint8_is_asked_for(tmp_path):
    fake_mnist(tmp_path)
    pixels = np.random.default_rng(0).integers(0, 256, (10000, 28, 28))
    pixels[0, 0, :2] = 0, 255  # both ends of the range
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", data.IMAGE_MAGIC, pixels)
    raw, labels = data.load_mnist("test", data_dir=tmp_path, dtype="uint8")
    scaled, same_labels = data.load_mnist("test", data_dir=tmp_path)
    assert raw.dtype == np.uint8 and scaled.dtype == np.float32 and scaled.shape == raw.shape
    # pixel k becomes k / 255, computed here in float64 and rounded once to float32
    np.testing.assert_array_equal(scaled, (raw.astype(np.float64) / 255).astype(np.float32))
    assert scaled.min() == 0 and scaled.max() == 1 and raw.max() == 255
    np.testing.assert_array_equal(labels, same_labels)
    # The files of data_dir, not those of $JAXNET_DATA_DIR (set in CI): the pixels written above.
    np.testing.assert_array_equal(raw.reshape(-1, 28, 28), pixels)
    np.testing.assert_array_equal(data.load_mnist("test", data_dir=tmp_path, dtype=np.uint8)[0], raw)  # numpy's names
    np.testing.assert_array_equal(data.load_mnist("test", data_dir=tmp_path, dtype=np.float32)[0], scaled)
    for bad in ("float64", "pixels"):
        with pytest.raises(ValueError, match=rf"unknown dtype '{bad}'.*'float32', 'uint8'"):
            data.load_mnist("test", data_dir=tmp_path, dtype=bad)


def test_fashion_mnist_needs_its_own_directory(tmp_path):
    fake_mnist(tmp_path)  # MNIST files at the top level must not be taken for Fashion-MNIST
    with pytest.raises(data.DataError, match="fashion_mnist IDX files were not found"):
        data.load_mnist("test", name="fashion_mnist", data_dir=tmp_path, source="idx")
    fake_mnist(tmp_path / "fashion_mnist")
    x, _ = data.load_mnist("test", name="fashion_mnist", data_dir=tmp_path, source="idx")
    assert x.shape == (10000, 784)


def test_truncated_file_is_named(tmp_path):
    fake_mnist(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(path, data.IMAGE_MAGIC, np.zeros((10000, 28, 28)), cut=100)
    with refused(data.DataError, "t10k-images-idx3-ubyte.gz", "truncated", "7839916 bytes", "expected 7840016"):
        data.load_mnist("test", data_dir=tmp_path, source="idx")


def test_corrupt_gzip_is_named(tmp_path):
    fake_mnist(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw[: len(raw) - 4]))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip"):
        data.load_mnist("test", data_dir=tmp_path, source="idx")


def test_swapped_files_are_named(tmp_path):
    fake_mnist(tmp_path)
    images, labels = tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz"
    images.rename(tmp_path / "tmp"); labels.rename(images); (tmp_path / "tmp").rename(labels)
    with pytest.raises(data.DataError, match=r"t10k-images-idx3-ubyte.gz: magic number 2049 \(a label file\)"):
        data.load_mnist("test", data_dir=tmp_path, source="idx")


def test_wrong_count_is_named(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", data.LABEL_MAGIC, np.zeros(9999))
    with refused(data.DataError, "t10k-labels-idx1-ubyte.gz", "9999 examples", "expected 10000"):
        data.load_mnist("test", data_dir=tmp_path, source="idx")


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    with pytest.raises(data.DataError, match="IDX files were not found"):
        data.load_mnist("test", data_dir=tmp_path, source="idx")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # as if not installed: `import` raises
    with pytest.raises(data.DataError, match=r"JAXNET_DATA_DIR.*pip install 'jaxnet-lecture\[data\]'"):
        data.load_mnist("test", data_dir=tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        data.load_mnist("validation")
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        data.load_mnist("test", name="cifar10")
    with pytest.raises(ValueError, match="unknown source 'http'"):
        data.load_mnist("test", source="http")


@pytest.mark.slow
@needs_real
def test_tfds_builds_offline_from_the_original_files(tmp_path):
    pytest.importorskip("tensorflow_datasets", reason=requires.extra("data"))
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    for f in os.listdir(REAL):
        if f.endswith("-ubyte.gz"):
            shutil.copy(os.path.join(REAL, f), manual / f)
    x, y = data.load_mnist("test", data_dir=tmp_path, source="tfds", dtype="uint8")
    x_idx, y_idx = data.load_mnist("test", data_dir=REAL, source="idx", dtype="uint8")
    assert x.shape == (10000, 784) and x.dtype == np.uint8 and y.dtype == np.int32
    # tfds keeps its own example order: compare the two as sets of (label, image) rows.
    def rows(images, labels):
        table = np.concatenate([labels[:, None].astype(np.uint8), images], axis=1)
        return table[np.lexsort(table.T[::-1])]
    np.testing.assert_array_equal(rows(x, y), rows(x_idx, y_idx))


@pytest.mark.slow
def test_tfds_offline_without_files_fails_fast(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets", reason=requires.extra("data"))
    monkeypatch.setattr(data, "_TFDS_HOST", ("127.0.0.1", 9))  # offline, on any machine: nothing listens there
    tic = time.perf_counter()
    with pytest.raises(data.DataError, match=r"no network to download it.*downloads/manual"):
        data.load_mnist("test", data_dir=tmp_path, source="tfds")
    assert time.perf_counter() - tic < 60  # tfds itself would retry for minutes


def idx_bytes(magic, dims, payload=b""):
    """An IDX file written out by hand: the magic number and each dimension as 4 big-endian bytes, then the data."""
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


@pytest.mark.parametrize("raw, count, message", [
    (b"\x00\x00\x08", None, "only 3 bytes, too short for an IDX header"),
    (idx_bytes(1234, [3], bytes(3)), None,
     "magic number 1234 (not an IDX file), expected 2049 (a label file); is it the wrong file or a swapped name?"),
    (idx_bytes(2051, [1, 28, 28], bytes(784)), None,
     "magic number 2051 (an image file), expected 2049 (a label file); is it the wrong file or a swapped name?"),
    (idx_bytes(2049, [3], bytes(3)), 4, "header says 3 examples, expected 4"),
    (idx_bytes(2049, [3], bytes(5)), None, "longer than its header says: 13 bytes, expected 11 for (3,)"),
    # A count of 2^24 + 3 with 3 labels: the count's high byte matters.
    (idx_bytes(2049, [2**24 + 3], bytes(3)), None, "truncated: 11 bytes, expected 16777227 for (16777219,)"),
])
def test_read_idx_refuses_every_malformed_label_file_by_name(tmp_path, raw, count, message):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(raw)
    with pytest.raises(data.DataError) as refused:
        data.read_idx(str(path), magic=data.LABEL_MAGIC, count=count)
    assert str(refused.value) == f"{path}: {message}"


@pytest.mark.parametrize("rows, cols", [(27, 28), (28, 29), (2**24 + 28, 28), (28, 2**24 + 28)])
def test_read_idx_refuses_images_that_are_not_28_by_28(tmp_path, rows, cols):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(2051, [1, rows, cols], bytes(784)))
    with pytest.raises(data.DataError) as refused:
        data.read_idx(str(path), magic=data.IMAGE_MAGIC)
    assert str(refused.value) == f"{path}: images are {rows} x {cols}, expected 28 x 28"


def test_read_idx_reads_an_empty_label_file_and_images_in_order(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(idx_bytes(2049, [0]))  # a header alone: 8 bytes, no labels
    assert data.read_idx(str(empty), magic=data.LABEL_MAGIC).shape == (0,)
    images = tmp_path / "images"
    pixels = np.arange(2 * 784, dtype=np.uint32) % 251
    images.write_bytes(idx_bytes(2051, [2, 28, 28], pixels.astype(np.uint8).tobytes()))
    np.testing.assert_array_equal(data.read_idx(str(images), magic=data.IMAGE_MAGIC, count=2),
                                  pixels.reshape(2, 28, 28))


def test_the_image_count_and_the_label_range_are_checked_and_labels_are_int32(tmp_path):
    fake_mnist(tmp_path)
    _, labels = data.load_mnist("test", data_dir=tmp_path, source="idx")
    assert labels.dtype == np.int32
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", data.IMAGE_MAGIC, np.zeros((9999, 28, 28)))
    with refused(data.DataError, "t10k-images-idx3-ubyte.gz", "9999 examples", "expected 10000"):
        data.load_mnist("test", data_dir=tmp_path, source="idx")
    fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", data.LABEL_MAGIC, np.full(10000, 10))
    with refused(data.DataError, "t10k-labels-idx1-ubyte.gz", "labels must be 0-9", "found 10"):
        data.load_mnist("test", data_dir=tmp_path, source="idx")


# The tfds path with stand-ins for tensorflow and tensorflow_datasets: what jaxnet asks of them and what it makes of
# their answers, in the fast suite (the real tfds build above is slow).
class FakeTf:
    def __init__(self, initialised=False):
        self.hidden, self.initialised = [], initialised
        self.config = self

    def set_visible_devices(self, devices, kind):
        if self.initialised:
            raise RuntimeError("Visible devices cannot be modified after being initialized")
        self.hidden.append((devices, kind))


class FakeTfds:
    """Serves 3 images (N, 28, 28, 1) uint8 and int64 labels, as tfds.load(batch_size=-1, as_supervised=True) does."""

    def __init__(self, prepared):
        self.prepared, self.builders, self.loads = prepared, [], []

    def builder(self, name, data_dir):
        import pathlib

        self.builders.append((name, data_dir))
        path = pathlib.Path(self.prepared) if self.prepared else pathlib.Path("/nonexistent/tfds")
        return type("Builder", (), {"data_path": path})()

    def load(self, name, **kwargs):
        self.loads.append((name, kwargs))
        images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28, 1)
        return images, np.array([7, 2, 1], dtype=np.int64)

    def as_numpy(self, tree):
        return tree


@pytest.fixture
def fake_tfds(monkeypatch, tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "dataset_info.json").write_text("{}")
    tf, tfds = FakeTf(), FakeTfds(prepared)
    monkeypatch.setitem(sys.modules, "tensorflow", tf)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", tfds)
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    return tf, tfds


@pytest.mark.parametrize("source", ["tfds", "auto"])  # auto: no IDX files in data_dir, so tfds
def test_tfds_is_asked_for_the_split_and_its_images_become_rows_in_the_unit_interval(fake_tfds, tmp_path, source):
    tf, tfds = fake_tfds
    x, y = data.load_mnist("test", name="fashion_mnist", data_dir=tmp_path, source=source)
    assert tf.hidden == [([], "GPU")]  # TensorFlow must leave the accelerators to JAX
    assert tfds.builders == [("fashion_mnist", str(tmp_path))]
    assert tfds.loads == [("fashion_mnist", dict(split="test", data_dir=str(tmp_path), batch_size=-1,
                                                 as_supervised=True))]
    expected = np.arange(3 * 784).reshape(3, 784).astype(np.uint8)
    assert x.shape == (3, 784) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x * np.float32(255), expected.astype(np.float32))  # k/255, exactly invertible
    np.testing.assert_array_equal(y, [7, 2, 1])
    x, _ = data.load_mnist("train", data_dir=tmp_path, source=source, flatten=False, dtype="uint8")
    np.testing.assert_array_equal(x, expected.reshape(3, 28, 28))
    assert tfds.loads[-1] == ("mnist", dict(split="train", data_dir=str(tmp_path), batch_size=-1, as_supervised=True))


def test_tfds_after_tensorflow_was_initialised_keeps_its_device_choice(fake_tfds, tmp_path):
    tf, _ = fake_tfds
    tf.initialised = True
    x, _ = data.load_mnist("test", data_dir=tmp_path, source="tfds")
    assert x.shape == (3, 784) and tf.hidden == []


def test_tfds_without_prepared_data_needs_the_manual_files_or_the_network(fake_tfds, tmp_path, monkeypatch):
    _, tfds = fake_tfds
    tfds.prepared = None
    files = [f + ".gz" for split in data.SPLITS for f in data.idx_filenames(split)]
    offline = lambda *args, **kwargs: (_ for _ in ()).throw(OSError("unreachable"))  # noqa: E731
    monkeypatch.setattr(data.socket, "create_connection", offline)
    message = (f"tensorflow-datasets has no prepared 'mnist' under {tmp_path} and no network to download it. Place "
               f"the four original files ({', '.join(files)}) in {tmp_path}/downloads/manual/ and retry, or use "
               f"source='idx' with $JAXNET_DATA_DIR pointing at them.")
    with pytest.raises(data.DataError, match=f"^{re.escape(message)}$"):
        data.load_mnist("test", data_dir=tmp_path, source="tfds")
    assert tfds.loads == []  # refused before tfds could start a download
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env"))  # no data_dir: tfds's own default directory
    with pytest.raises(data.DataError, match=re.escape(f"under {tmp_path / 'env'} and no network")):
        data.load_mnist("test", source="tfds")
    monkeypatch.delenv("TFDS_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(data.DataError, match=re.escape(f"under {tmp_path / 'home' / 'tensorflow_datasets'} and")):
        data.load_mnist("test", source="tfds")
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    for f in files[:-1]:
        (manual / f).write_bytes(b"")
    with pytest.raises(data.DataError, match="no network"):  # three of four files are not enough
        data.load_mnist("test", data_dir=tmp_path, source="tfds")
    (manual / files[-1]).write_bytes(b"")
    assert data.load_mnist("test", data_dir=tmp_path, source="tfds")[0].shape == (3, 784)  # built from the files
    calls = []
    monkeypatch.setattr(data.socket, "create_connection",
                        lambda address, timeout: calls.append((address, timeout)) or io.BytesIO())
    assert data.load_mnist("test", data_dir=tmp_path / "elsewhere", source="tfds")[0].shape == (3, 784)  # online
    assert calls == [(data._TFDS_HOST, 3)]


def test_tfds_missing_is_named_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # as if not installed: `import` raises
    with refused(ImportError, "source='tfds'", "tensorflow-datasets and tensorflow",
                 "pip install 'jaxnet-lecture[data]'"):
        data.load_mnist("test", data_dir=tmp_path, source="tfds")
    files = ", ".join(f + ".gz" for split in data.SPLITS for f in data.idx_filenames(split))
    message = (f"no mnist data found: put the four IDX files ({files}) in a directory and pass data_dir= or set "
               f"$JAXNET_DATA_DIR to it, or pip install 'jaxnet-lecture[data]' to use tensorflow-datasets")
    with pytest.raises(data.DataError, match=f"^{re.escape(message)}$"):
        data.load_mnist("test", data_dir=tmp_path)


def test_the_idx_files_not_found_message_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    for name, data_dir, where in [("mnist", tmp_path, f"{tmp_path}"), ("mnist", None, "$JAXNET_DATA_DIR (unset)"),
                                  ("fashion_mnist", tmp_path, f"{tmp_path} or its fashion_mnist/ subdirectory")]:
        message = f"the four {name} IDX files were not found in {where}"
        with pytest.raises(data.DataError, match=f"^{re.escape(message)}$"):
            data.load_mnist("test", name=name, data_dir=data_dir, source="idx")


def test_find_idx_dir_looks_for_mnist_in_the_environment_variable_by_default(tmp_path, monkeypatch):
    fake_mnist(tmp_path / "mnist", n_train=1, n_test=1)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.find_idx_dir() == str(tmp_path / "mnist")
    assert data.find_idx_dir(data_dir=tmp_path / "mnist") == str(tmp_path / "mnist")
    assert data.find_idx_dir(data_dir=tmp_path / "elsewhere") is None  # data_dir, when given, is where it looks
    monkeypatch.delenv(data.ENV_VAR)
    assert data.find_idx_dir() is None


def test_a_relative_data_dir_is_read_from_the_working_directory(tmp_path, monkeypatch):
    fake_mnist(tmp_path / "here")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    x, y = data.load_mnist("test", data_dir="here", dtype="uint8")
    np.testing.assert_array_equal(x, data.load_mnist("test", data_dir=tmp_path / "here", dtype="uint8")[0])
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "elsewhere"))  # the variable must not take the argument's place
    np.testing.assert_array_equal(data.load_mnist("test", data_dir="here", dtype="uint8")[0], x)
