"""Labelled photos split into a catalogue (train) and queries (test), for visual KNN: the
class of a photo is what a look-alike recommendation should share.

Sources:
  Fashion-MNIST           the published idx files (`tfgrad.data.fashion_mnist`), 60k / 10k.
  class folders           <dir>/train/<class>/<file> and <dir>/test/<class>/<file> (CIFAR-10 in
                          the layout its JPEG re-encodings come in; any folder of the kind).
  categorised products    Fashion Product Images or H&M photos by a column
                          (`tfgrad.data.categories`), split by item with a seeded shuffle.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np

from tfgrad.data.categories import CategorisedPhotos
from tfgrad.data.images import IMAGE_SUFFIXES, load_images


@dataclasses.dataclass(frozen=True, eq=False)
class LabelledImages:
    """item_ids: [N] str; images: [N, S, S, 3] uint8; labels: [N] int64 indices into
    class_names."""

    item_ids: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> "LabelledImages":
        indices = np.asarray(indices)
        return dataclasses.replace(self, item_ids=self.item_ids[indices],
                                   images=self.images[indices], labels=self.labels[indices])


@dataclasses.dataclass(frozen=True, eq=False)
class LabelledSplits:
    """A named catalogue (`train`) and its queries (`test`), the same classes in both."""

    name: str
    train: LabelledImages
    test: LabelledImages

    @property
    def class_names(self) -> tuple:
        return self.train.class_names


def _class_folder_files(directory: str) -> list[tuple[str, str]]:
    """[(class, path)] of every image under directory/<class>/, sorted."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"image folder {directory!r} does not exist")
    files = []
    for name in sorted(os.listdir(directory)):
        folder = os.path.join(directory, name)
        if os.path.isdir(folder):
            files.extend((name, os.path.join(folder, file)) for file in sorted(os.listdir(folder))
                         if os.path.splitext(file)[1].lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no class folder with {'/'.join(IMAGE_SUFFIXES)} images under "
                                f"{directory!r} (expected <class>/<file>)")
    return files


def load_class_folders(directory: str, image_size: int = 32,
                       cache_dir: Optional[str] = None) -> LabelledSplits:
    """`directory`/train/<class>/<file> and `directory`/test/<class>/<file> (CIFAR-10's
    layout); item ids are "<split>/<class>/<file stem>" (file names repeat across classes).
    Photos are resized with padding to `image_size`; test classes must be train classes."""
    splits = {}
    class_names = None
    for split in ("train", "test"):
        files = _class_folder_files(os.path.join(directory, split))
        classes = sorted({name for name, _ in files})
        if class_names is None:
            class_names = tuple(classes)
        unknown = sorted(set(classes) - set(class_names))
        if unknown:
            raise ValueError(f"{directory!r}: test classes {', '.join(unknown)} are not among "
                             f"the train classes")
        position = {name: index for index, name in enumerate(class_names)}
        paths = [path for _, path in files]
        cache = (os.path.join(cache_dir, f"{os.path.basename(os.path.normpath(directory))}_"
                              f"{split}_{len(paths)}_{image_size}px") if cache_dir else None)
        splits[split] = LabelledImages(
            item_ids=np.array([f"{split}/{name}/{os.path.splitext(os.path.basename(path))[0]}"
                               for name, path in files]),
            images=load_images(paths, image_size, cache_path=cache),
            labels=np.array([position[name] for name, _ in files], np.int64),
            class_names=class_names)
    return LabelledSplits(os.path.basename(os.path.normpath(directory)), splits["train"],
                          splits["test"])


def split_categorised(photos: CategorisedPhotos, image_size: int, test_fraction: float,
                      seed: int, cache_dir: Optional[str] = None) -> LabelledSplits:
    """Categorised product photos as a catalogue and queries: a seeded shuffle of the items,
    `test_fraction` of them queries."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    cache = (os.path.join(cache_dir, f"images_{photos.name}_{len(photos)}_{image_size}px")
             if cache_dir else None)
    everything = LabelledImages(item_ids=np.asarray(photos.item_ids, str),
                                images=load_images(photos.image_paths, image_size,
                                                   cache_path=cache),
                                labels=photos.categories.astype(np.int64),
                                class_names=tuple(photos.category_names))
    order = np.random.default_rng(seed).permutation(len(photos))
    queries = max(1, int(round(test_fraction * len(photos))))
    return LabelledSplits(photos.name, everything.subset(np.sort(order[queries:])),
                          everything.subset(np.sort(order[:queries])))
