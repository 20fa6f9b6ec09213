"""Fashion-MNIST in the files its authors publish (`train-images-idx3-ubyte.gz`,
`train-labels-idx1-ubyte.gz`, `t10k-…`; gzipped or not): 28×28 grey photos of 10 clothing
classes, 60,000 for training and 10,000 for testing. AGE's 32×32 networks read them padded
with the background (black) to 32×32 and repeated to three channels."""

from __future__ import annotations

import gzip
import os

import numpy as np

from tfgrad.data.labelled_images import LabelledImages, LabelledSplits

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
_PREFIX = {"train": "train", "test": "t10k"}
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def _read_idx(path: str, magic: int) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path!r} is not a readable idx file: {error}") from None
    dims = data[3] if len(data) >= 4 else 0
    header = 4 + 4 * dims
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise ValueError(f"{path!r} is not an idx file of magic {magic}")
    shape = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(dims)]
    values = np.frombuffer(data, np.uint8, offset=header)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path!r} holds {values.size} values for a {shape} array (truncated?)")
    return values.reshape(shape)


def _find(directory: str, name: str) -> str:
    for candidate in (name + ".gz", name):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{os.path.join(directory, name)}(.gz) is missing: is {directory!r} "
                            f"a Fashion-MNIST folder?")


def load_fashion_mnist(directory: str, split: str = "train", size: int = 32) -> LabelledImages:
    """The `split` ('train' or 'test') photos, padded to `size` px (≥ 28) and as RGB."""
    if split not in _PREFIX:
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; known: train, test")
    if size < 28:
        raise ValueError(f"size must be at least Fashion-MNIST's 28 px, got {size}")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Fashion-MNIST folder {directory!r} does not exist")
    prefix = _PREFIX[split]
    images = _read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"), _IMAGES_MAGIC)
    labels = _read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"), _LABELS_MAGIC)
    if images.ndim != 3 or labels.shape != (len(images),):
        raise ValueError(f"{directory!r}: {split} images {images.shape} and labels "
                         f"{labels.shape} do not match")
    before = (size - images.shape[1]) // 2
    after = size - images.shape[1] - before
    padded = np.pad(images, ((0, 0), (before, after), (before, after)))
    return LabelledImages(item_ids=np.array([f"{split}/{index:05d}"
                                             for index in range(len(labels))]),
                          images=np.repeat(padded[..., None], 3, axis=3),
                          labels=labels.astype(np.int64), class_names=CLASS_NAMES)


def load_fashion_mnist_splits(directory: str, size: int = 32) -> LabelledSplits:
    """The 60k training photos (the catalogue) and the 10k test photos (the queries)."""
    return LabelledSplits("fashion_mnist", load_fashion_mnist(directory, "train", size),
                          load_fashion_mnist(directory, "test", size))
