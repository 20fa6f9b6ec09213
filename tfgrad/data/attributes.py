"""Product photos with several categorical attributes each, and the attribute manipulation
queries built on them ("this item, but with attribute a = v"), for ADDE (ADDE.md).

Sources:
  Fashion Product Images  styles.csv + images/<id>.jpg; attributes are styles columns
                          (gender, masterCategory, subCategory, articleType, baseColour,
                          season, usage).
  H&M                     articles.csv + images/<first 3 digits>/<article_id>.jpg; attributes
                          are article columns (product_type_name, colour_group_name, ...).

A value on fewer than `min_photos` photographed items is dropped: those items' label for that
attribute is missing (-1), as the authors' label files mark a missing attribute, and the item
stays. Values are ordered largest first (ties by name).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from tfgrad.data.categories import FASHION_CATEGORY_COLUMNS, read_styles
from tfgrad.data.hm import read_columns
from tfgrad.data.images import find_images

MISSING = -1
FASHION_ATTRIBUTES = ("gender", "masterCategory", "subCategory", "articleType", "baseColour",
                      "season", "usage")
HM_ATTRIBUTES = ("product_type_name", "colour_group_name", "graphical_appearance_name",
                 "perceived_colour_value_name", "garment_group_name")


@dataclasses.dataclass(frozen=True, eq=False)
class AttributedPhotos:
    """Items with one photo and a value (or none) per attribute.

    Attributes:
      name: a short name for logs and exports.
      item_ids: [M] str.
      item_names: [M] str product names.
      image_paths: [M] str, one photo per item.
      labels: [M, A] int64, item m's value index of attribute a, MISSING (-1) where unknown.
      attributes: the A attribute (column) names.
      values: per attribute, its value strings, largest first.
      dropped_values: ((attribute, value, photos), ...) left out for too few photos.
    """

    name: str
    item_ids: np.ndarray
    item_names: np.ndarray
    image_paths: np.ndarray
    labels: np.ndarray
    attributes: tuple
    values: tuple
    dropped_values: tuple = ()

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def num_values(self) -> tuple[int, ...]:
        return tuple(len(values) for values in self.values)

    def subset(self, indices) -> "AttributedPhotos":
        indices = np.asarray(indices)
        return dataclasses.replace(self, item_ids=self.item_ids[indices],
                                   item_names=self.item_names[indices],
                                   image_paths=self.image_paths[indices],
                                   labels=self.labels[indices])

    def attribute_index(self, attribute: str) -> int:
        """The position of `attribute`; an unknown name lists the known ones."""
        if attribute not in self.attributes:
            raise ValueError(f"unknown attribute {attribute!r}; known: "
                             f"{', '.join(self.attributes)}")
        return self.attributes.index(attribute)

    def value_index(self, attribute: str, value: str) -> int:
        """The index of `value` among `attribute`'s; an unknown value lists the known ones."""
        values = self.values[self.attribute_index(attribute)]
        if value not in values:
            raise ValueError(f"unknown value {value!r} of {attribute}; known: "
                             f"{', '.join(values)}")
        return values.index(value)


def _attributed(name: str, source: str, item_ids: pd.Series, item_names: pd.Series,
                table: pd.DataFrame, attributes: Sequence[str], images_dir: str,
                min_photos: int) -> AttributedPhotos:
    if min_photos < 1:
        raise ValueError(f"min_photos must be at least 1, not {min_photos}")
    if not attributes:
        raise ValueError("name at least one attribute")
    has_image, paths = find_images(images_dir).match(item_ids.astype(str).tolist())
    if not has_image.any():
        raise ValueError(f"no item of {source!r} has a photo in {images_dir!r}")
    rows = np.flatnonzero(has_image)
    labels = np.full((len(rows), len(attributes)), MISSING, np.int64)
    all_values, dropped = [], []
    for position, attribute in enumerate(attributes):
        column = table[attribute].fillna("").astype(str).str.strip().to_numpy()[rows]
        counts = pd.Series(column[column != ""]).value_counts()
        order = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
        kept = tuple(value for value, count in order if count >= min_photos)
        if not kept:
            raise ValueError(f"no value of {attribute} in {source!r} is on {min_photos} "
                             f"photographed items or more")
        dropped.extend((attribute, value, int(count)) for value, count in order
                       if count < min_photos)
        index = {value: value_index for value_index, value in enumerate(kept)}
        labels[:, position] = [index.get(value, MISSING) for value in column]
        all_values.append(kept)
    if dropped:
        print(f"{len(dropped)} attribute value(s) of {source!r} are on fewer than {min_photos} "
              f"photos and count as missing: "
              + ", ".join(f"{attribute}={value} ({count})"
                          for attribute, value, count in dropped[:12])
              + (", ..." if len(dropped) > 12 else ""))
    return AttributedPhotos(
        name=name, item_ids=item_ids.astype(str).to_numpy()[rows],
        item_names=item_names.fillna("").astype(str).to_numpy()[rows],
        image_paths=paths[rows], labels=labels, attributes=tuple(attributes),
        values=tuple(all_values), dropped_values=tuple(dropped))


def load_fashion_product_attributes(directory: str,
                                    attributes: Sequence[str] = FASHION_ATTRIBUTES,
                                    min_photos: int = 20,
                                    images_dir: Optional[str] = None) -> AttributedPhotos:
    """Fashion Product Images (small): styles.csv and images/<id>.jpg (`images_dir`
    overrides the folder); the photographed products with their `attributes` columns."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Fashion Product Images folder {directory!r} does not exist")
    unknown = [name for name in attributes if name not in FASHION_CATEGORY_COLUMNS]
    if unknown:
        raise ValueError(f"unknown Fashion Product Images attribute(s) {', '.join(unknown)}; "
                         f"the known ones are {', '.join(FASHION_CATEGORY_COLUMNS)}")
    path = os.path.join(directory, "styles.csv")
    styles = read_styles(path)
    missing = [name for name in attributes if name not in styles.columns]
    if missing:
        raise ValueError(f"{path!r} has no column(s) {', '.join(missing)}")
    names = styles.get("productDisplayName", pd.Series([""] * len(styles)))
    return _attributed("fashion_products", path, styles.id, names, styles, attributes,
                       images_dir or os.path.join(directory, "images"), min_photos)


def load_hm_attributes(hm_dir: str, attributes: Sequence[str] = HM_ATTRIBUTES,
                       min_photos: int = 20,
                       images_dir: Optional[str] = None) -> AttributedPhotos:
    """H&M's photographed articles (images default to `<hm_dir>/images`) with their
    `attributes` columns of articles.csv; names are prod_name."""
    if not os.path.isdir(hm_dir):
        raise FileNotFoundError(f"H&M folder {hm_dir!r} does not exist")
    columns = list(dict.fromkeys(["article_id", "prod_name", *attributes]))
    articles = read_columns(hm_dir, "articles.csv", columns).drop_duplicates("article_id")
    articles = articles.reset_index(drop=True)
    return _attributed("hm", os.path.join(hm_dir, "articles.csv"), articles.article_id,
                       articles.prod_name, articles, attributes,
                       images_dir or os.path.join(hm_dir, "images"), min_photos)


def split_items(count: int, validation_fraction: float, test_fraction: float, seed: int
                ) -> dict[str, np.ndarray]:
    """{"train", "validation", "test"}: sorted item rows of a seeded split by item."""
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1
            and validation_fraction + test_fraction < 1):
        raise ValueError(f"validation_fraction {validation_fraction} and test_fraction "
                         f"{test_fraction} must be in (0, 1) and sum below 1")
    order = np.random.default_rng(seed).permutation(count)
    validation = max(1, int(round(validation_fraction * count)))
    test = max(1, int(round(test_fraction * count)))
    return {"test": np.sort(order[:test]),
            "validation": np.sort(order[test:test + validation]),
            "train": np.sort(order[test + validation:])}


def one_hot_labels(labels: np.ndarray, num_values: Sequence[int]) -> np.ndarray:
    """[N, A] value indices (MISSING allowed) -> [N, ΣV] float32, the concatenated one-hot
    of every attribute (all zeros in a missing attribute's block)."""
    labels = np.asarray(labels)
    offsets = np.concatenate([[0], np.cumsum(num_values)[:-1]])
    encoded = np.zeros((len(labels), int(np.sum(num_values))), np.float32)
    rows, attributes = np.nonzero(labels != MISSING)
    encoded[rows, offsets[attributes] + labels[rows, attributes]] = 1.0
    return encoded


def indicators(references: np.ndarray, targets: np.ndarray, num_values: Sequence[int]
               ) -> np.ndarray:
    """[N, ΣV] float32: +1 at every new value, -1 at the old one it replaces, 0 elsewhere —
    what the memory block turns into f' − f."""
    return one_hot_labels(targets, num_values) - one_hot_labels(references, num_values)


@dataclasses.dataclass(frozen=True, eq=False)
class ManipulationQueries:
    """"Item `references[q]`, but attribute `attributes[q]` = value `values[q]`".

    Attributes:
      references: [Q] rows of the split's items.
      attributes: [Q] the changed attribute.
      values: [Q] its new value (never the reference's own).
      targets: [Q, A] the wanted label vector: the reference's with the change made.
    """

    references: np.ndarray
    attributes: np.ndarray
    values: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.references)

    def subset(self, indices) -> "ManipulationQueries":
        indices = np.asarray(indices)
        return ManipulationQueries(self.references[indices], self.attributes[indices],
                                   self.values[indices], self.targets[indices])


def manipulation_queries(labels: np.ndarray, num_values: Sequence[int], count: int,
                         seed: int) -> ManipulationQueries:
    """A seeded sample of `count` (0: all) valid queries on one split, as the authors build
    theirs: every item, every attribute it has a value of, every other value of it — valid
    when some item of the split has the whole target label vector (missing attributes
    included), so that a perfect search can hit."""
    labels = np.asarray(labels)
    present = {tuple(row) for row in labels.tolist()}
    references, attributes, values = [], [], []
    for row, label in enumerate(labels.tolist()):
        for attribute, old in enumerate(label):
            if old == MISSING:
                continue
            target = list(label)
            for value in range(num_values[attribute]):
                if value == old:
                    continue
                target[attribute] = value
                if tuple(target) in present:
                    references.append(row)
                    attributes.append(attribute)
                    values.append(value)
    if not references:
        raise ValueError("no valid manipulation query: no item's label vector differs from "
                         "another's in one attribute only")
    references = np.asarray(references, np.int64)
    attributes = np.asarray(attributes, np.int64)
    values = np.asarray(values, np.int64)
    chosen = np.arange(len(references))
    if count and count < len(references):
        chosen = np.sort(np.random.default_rng(seed).choice(len(references), count,
                                                            replace=False))
    targets = labels[references[chosen]].copy()
    targets[np.arange(len(chosen)), attributes[chosen]] = values[chosen]
    return ManipulationQueries(references[chosen], attributes[chosen], values[chosen], targets)


def label_groups(labels: np.ndarray) -> dict[tuple, np.ndarray]:
    """{label vector: the rows that have it}."""
    groups: dict[tuple, list] = {}
    for row, label in enumerate(np.asarray(labels).tolist()):
        groups.setdefault(tuple(label), []).append(row)
    return {key: np.asarray(rows, np.int64) for key, rows in groups.items()}


def manipulation_triplets(labels: np.ndarray, queries: ManipulationQueries, seed: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(positives [Q], negatives [Q]) for training queries: a random item with the whole
    target label vector, and a random item without it (the authors' offline triplets)."""
    rng = np.random.default_rng(seed)
    groups = label_groups(labels)
    positives = np.array([rng.choice(groups[tuple(target)])
                          for target in queries.targets.tolist()], np.int64)
    negatives = rng.integers(0, len(labels), len(queries))
    # Redraw the few negatives that happen to have the target vector.
    for _ in range(100):
        clash = np.flatnonzero((labels[negatives] == queries.targets).all(axis=1))
        if not len(clash):
            break
        negatives[clash] = rng.integers(0, len(labels), len(clash))
    return positives, negatives
