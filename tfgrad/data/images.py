"""Item photos: finding them on disk, and a tf.data pipeline that decodes, resizes, caches,
normalises and prefetches them for the visual recommenders.

Layouts read (an item's id is its file name without the extension):
  H&M          images/<first 3 digits>/<article_id>.jpg
  class folder <root>/<class>/<id>.jpg   (the folder names become product-type labels)
  id folder    <root>/<id>.jpg
Deeper trees (e.g. CIFAR's train/<class>/...) are read too; the class is the file's parent
folder. Two files with one id are an error: an item has one photo.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_HM_PREFIX_FOLDER = re.compile(r"\d{3}")


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """The photos found under a folder.

    Attributes:
      directory: the folder searched.
      paths: item id -> image file path.
      classes: item id -> its class folder's name, for class-folder layouts; empty for the
        H&M and id-folder layouts.
    """

    directory: str
    paths: dict
    classes: dict

    def match(self, item_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(has_image [M] bool, paths [M] str, "" where there is none) for `item_ids`."""
        paths = np.array([self.paths.get(str(item), "") for item in item_ids], dtype=object)
        return paths != "", paths.astype(str)


def find_images(directory: str) -> ImageFolder:
    """Every photo under `directory` (H&M, class-folder or id-folder layout)."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"image folder {directory!r} does not exist")
    paths, classes = {}, {}
    for folder, subfolders, files in os.walk(directory):
        subfolders.sort()
        parent = os.path.basename(folder)
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() not in IMAGE_SUFFIXES:
                continue
            path = os.path.join(folder, name)
            if stem in paths:
                raise ValueError(f"two photos for item {stem!r} in {directory!r}: "
                                 f"{paths[stem]!r} and {path!r}")
            paths[stem] = path
            is_hm_prefix = _HM_PREFIX_FOLDER.fullmatch(parent) and stem.startswith(parent)
            if os.path.normpath(folder) != os.path.normpath(directory) and not is_hm_prefix:
                classes[stem] = parent
    if not paths:
        raise FileNotFoundError(f"no {'/'.join(IMAGE_SUFFIXES)} image under {directory!r}")
    return ImageFolder(directory=directory, paths=paths, classes=classes)


def decode_image(path: tf.Tensor, image_size: int) -> tf.Tensor:
    """A JPEG/PNG file -> [S, S, 3] uint8, resized with padding so garments keep their shape."""
    return decode_photo_bytes(tf.io.read_file(path), image_size)


def decode_photo_bytes(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """JPEG/PNG bytes -> [S, S, 3] uint8, resized with white padding (see `decode_image`)."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    # Padding is white, the background of catalogue photos: pad the negative, then invert.
    negative = 255.0 - tf.cast(image, tf.float32)
    image = 255.0 - tf.image.resize_with_pad(negative, image_size, image_size, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def normalize_images(images: tf.Tensor) -> tf.Tensor:
    """uint8 pixels -> float32 in [-1, 1], the models' input range."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8(images) -> np.ndarray:
    """Images in [−1, 1] (a generator's) -> uint8 pixels, the inverse of `normalize_images`."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(
        np.uint8)


def image_dataset(paths: Sequence[str], image_size: int, batch_size: int = 256,
                  cache_path: Optional[str] = None) -> tf.data.Dataset:
    """Batches of decoded [b, S, S, 3] uint8 photos in `paths` order.

    Decoding runs in parallel; with `cache_path` the decoded photos are cached to that file,
    so a second run (a resumed training, an evaluation) skips decoding.
    """
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image file(s) missing, e.g. {missing[0]!r}")
    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(paths, dtype=str)).map(
        lambda path: decode_image(path, image_size), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    if cache_path is not None:
        os.makedirs(os.path.dirname(cache_path) or ".", exist_ok=True)
        dataset = dataset.cache(cache_path)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def load_images(paths: Sequence[str], image_size: int, cache_path: Optional[str] = None
                ) -> np.ndarray:
    """All photos in `paths` as one [M, S, S, 3] uint8 array (the image table models gather
    from)."""
    # Filled in place: a list of batches joined at the end would hold the table twice.
    table = np.empty((len(paths), image_size, image_size, 3), dtype=np.uint8)
    start = 0
    for batch in image_dataset(paths, image_size, cache_path=cache_path):
        table[start:start + len(batch)] = batch.numpy()
        start += len(batch)
    return table
