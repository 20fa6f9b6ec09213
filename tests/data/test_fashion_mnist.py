"""Fashion-MNIST from its published idx files: files written here byte by byte, and the real
set in ../shared/data."""

import gzip
import os

import numpy as np
import pytest

from support.data_paths import FASHION_MNIST, needs_shared_data
from tfgrad.data.fashion_mnist import load_fashion_mnist


def _write_idx(path, array, magic, compress=True):
    # idx: magic (0, 0, 8 = uint8, number of dimensions), then each dimension as uint32.
    assert magic == 2048 + array.ndim
    header = bytes([0, 0, 8, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_reads_written_idx_files_pads_and_makes_rgb(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28) % 251
    _write_idx(str(tmp_path / "t10k-images-idx3-ubyte.gz"), images, 2051)
    _write_idx(str(tmp_path / "t10k-labels-idx1-ubyte"), np.array([9, 0, 4]), 2049,
               compress=False)
    loaded = load_fashion_mnist(str(tmp_path), "test", size=32)
    assert loaded.images.shape == (3, 32, 32, 3) and loaded.images.dtype == np.uint8
    np.testing.assert_array_equal(loaded.images[:, 2:30, 2:30, 1], images)
    assert loaded.images[:, :2].max() == 0 and loaded.images[:, :, 30:].max() == 0
    assert loaded.labels.tolist() == [9, 0, 4] and loaded.class_names[9] == "Ankle boot"


def test_bad_folders_and_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_fashion_mnist(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_fashion_mnist(str(tmp_path))
    with pytest.raises(ValueError, match="unknown Fashion-MNIST split"):
        load_fashion_mnist(str(tmp_path), "validation")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(ValueError, match="not an idx file"):
        load_fashion_mnist(str(tmp_path))
    _write_idx(str(tmp_path / "train-images-idx3-ubyte"), np.zeros((2, 28, 28)), 2051,
               compress=False)
    data = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated"):
        load_fashion_mnist(str(tmp_path))


@needs_shared_data
def test_the_real_fashion_mnist():
    train = load_fashion_mnist(FASHION_MNIST, "train")
    test = load_fashion_mnist(FASHION_MNIST, "test")
    assert train.images.shape == (60000, 32, 32, 3) and test.images.shape == (10000, 32, 32, 3)
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert os.path.exists(os.path.join(FASHION_MNIST, "train-labels-idx1-ubyte.gz"))
