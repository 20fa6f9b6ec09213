"""Product photos by category, for class-conditional image models (a conditional LSGAN draws
64×64 RGB photos of a chosen product group).

Sources:
  H&M                     articles.csv + images/<first 3 digits>/<article_id>.jpg; the category
                          is an article column (product_group_name: "Garment Upper body", ...).
  Fashion Product Images  styles.csv + images/<id>.jpg; the category is masterCategory,
                          subCategory or articleType (or another categorical styles column).

Only items with a photo count. Categories are ordered largest first (ties by name), so
`category_names[0]` is the best-photographed group; small groups are dropped (`min_photos`)
and at most the `top` largest kept, each left-out group reported.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad.data.hm import read_columns
from tfgrad.data.images import find_images, normalize_images

# styles.csv's categorical columns (the others are id, year, productDisplayName, has_image).
FASHION_CATEGORY_COLUMNS = ("masterCategory", "subCategory", "articleType", "gender",
                            "baseColour", "season", "usage")
_FASHION_NAME_COLUMN = "productDisplayName"


@dataclasses.dataclass(frozen=True, eq=False)
class CategorisedPhotos:
    """Items with one photo and one category each.

    Attributes:
      name: a short name for logs and exports.
      item_ids: [M] str external item ids.
      item_names: [M] str product names.
      image_paths: [M] str, one photo per item.
      categories: [M] int64, each item's index into `category_names`.
      category_names: the category strings, largest category first (ties by name).
      dropped_categories: ((name, photos), ...) of the groups left out (too few photos or
        beyond `top`), largest first.
    """

    name: str
    item_ids: np.ndarray
    item_names: np.ndarray
    image_paths: np.ndarray
    categories: np.ndarray
    category_names: tuple
    dropped_categories: tuple = ()

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def num_categories(self) -> int:
        return len(self.category_names)

    def counts(self) -> np.ndarray:
        """[C] int64 photos per category, in `category_names` order."""
        return np.bincount(self.categories, minlength=self.num_categories).astype(np.int64)

    def subset(self, indices) -> "CategorisedPhotos":
        """The items at `indices` (ints or a boolean mask); the categories keep their indices,
        so a subset's `counts()` may hold zeros."""
        indices = np.asarray(indices)
        return dataclasses.replace(
            self, item_ids=self.item_ids[indices], item_names=self.item_names[indices],
            image_paths=self.image_paths[indices], categories=self.categories[indices])


def _check_filters(top: Optional[int], min_photos: int):
    if top is not None and top < 1:
        raise ValueError(f"top must be None or at least 1, not {top}")
    if min_photos < 1:
        raise ValueError(f"min_photos must be at least 1, not {min_photos}")


def _categorise(name: str, source: str, column: str, item_ids: pd.Series,
                item_names: pd.Series, values: pd.Series, images_dir: str,
                top: Optional[int], min_photos: int) -> CategorisedPhotos:
    """Keeps the items with a photo in `images_dir` and a value in `column`, grouped by it."""
    has_image, paths = find_images(images_dir).match(item_ids.tolist())
    values = values.fillna("").astype(str).str.strip().to_numpy()
    if not has_image.any():
        raise ValueError(f"no item of {source!r} has a photo in {images_dir!r}")
    unlabelled = has_image & (values == "")
    if unlabelled.any():
        examples = item_ids.to_numpy()[unlabelled][:3].astype(str)
        print(f"{int(unlabelled.sum())} photographed item(s) of {source!r} have no {column} and "
              f"are left out, e.g. {', '.join(examples)}")
    kept = has_image & ~unlabelled
    counts = pd.Series(values[kept]).value_counts()
    order = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    large = [(value, int(count)) for value, count in order if count >= min_photos]
    small = [(value, int(count)) for value, count in order if count < min_photos]
    chosen = large if top is None else large[:top]
    beyond = large[len(chosen):]
    if small:
        print(f"{len(small)} {column} group(s) of {source!r} have fewer than {min_photos} "
              f"photos and are left out: "
              + ", ".join(f"{value} ({count})" for value, count in small))
    if beyond:
        print(f"{len(beyond)} smaller {column} group(s) of {source!r} beyond the top {top} are "
              f"left out: " + ", ".join(f"{value} ({count})" for value, count in beyond))
    if not chosen:
        raise ValueError(f"no {column} group of {source!r} has {min_photos} photos or more; "
                         f"the largest has {order[0][1] if order else 0}")
    names = tuple(value for value, _ in chosen)
    position = {value: index for index, value in enumerate(names)}
    rows = np.flatnonzero(kept & np.isin(values, names))
    return CategorisedPhotos(
        name=name,
        item_ids=item_ids.to_numpy()[rows].astype(str),
        item_names=item_names.fillna("").astype(str).to_numpy()[rows],
        image_paths=paths[rows],
        categories=np.array([position[value] for value in values[rows]], dtype=np.int64),
        category_names=names,
        dropped_categories=tuple(sorted(small + beyond, key=lambda pair: (-pair[1], pair[0]))),
    )


def load_hm_categories(hm_dir: str, images_dir: Optional[str] = None,
                       column: str = "product_group_name", top: Optional[int] = 6,
                       min_photos: int = 1) -> CategorisedPhotos:
    """H&M's photographed articles (images default to `<hm_dir>/images`, H&M layout), grouped
    by the articles.csv `column`; item names are prod_name. Articles in articles.csv order."""
    _check_filters(top, min_photos)
    if not os.path.isdir(hm_dir):
        raise FileNotFoundError(f"H&M folder {hm_dir!r} does not exist")
    columns = list(dict.fromkeys(["article_id", "prod_name", column]))
    articles = read_columns(hm_dir, "articles.csv", columns).drop_duplicates("article_id")
    articles = articles.reset_index(drop=True)
    return _categorise("hm", os.path.join(hm_dir, "articles.csv"), column, articles.article_id,
                       articles.prod_name, articles[column],
                       images_dir or os.path.join(hm_dir, "images"), top, min_photos)


def read_styles(path: str) -> pd.DataFrame:
    """Fashion Product Images' styles.csv as strings ("" where a value is missing).

    The public Kaggle file has rows whose productDisplayName holds unquoted commas (too many
    fields); their extra fields are joined back into the name. Read with the csv module, not
    pandas: pandas takes a first row with extra fields for an index column, or drops fields.
    With or without the has_image column.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"Fashion Product Images file {path!r} is missing")
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = next(reader, [])
        if "id" not in header:
            raise ValueError(f"{path!r} has no id column; it has {', '.join(header) or 'none'}")
        name_at = header.index(_FASHION_NAME_COLUMN) if _FASHION_NAME_COLUMN in header else None
        rows, unmendable = [], []
        for row in reader:
            if not row:
                continue
            extra = len(row) - len(header)
            if extra > 0:
                if name_at is None:
                    unmendable.append(row[0])
                    continue
                row = row[:name_at] + [",".join(row[name_at:name_at + extra + 1])] \
                    + row[name_at + extra + 1:]
            rows.append(row + [""] * (len(header) - len(row)))
    if unmendable:
        print(f"{len(unmendable)} row(s) of {path!r} have too many fields and are left out, "
              f"e.g. id {', '.join(unmendable[:3])}")
    styles = pd.DataFrame(rows, columns=header, dtype=str)
    return styles.drop_duplicates("id").reset_index(drop=True)


def load_fashion_product_categories(directory: str, column: str = "masterCategory",
                                    top: Optional[int] = None, min_photos: int = 20,
                                    images_dir: Optional[str] = None) -> CategorisedPhotos:
    """Fashion Product Images (small): styles.csv and images/<id>.jpg (`images_dir` overrides
    the folder). Products with a photo, grouped by `column` (masterCategory, subCategory,
    articleType, ...); groups with fewer than `min_photos` photos are dropped and, with `top`,
    only the `top` largest kept. Products in styles.csv order."""
    _check_filters(top, min_photos)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Fashion Product Images folder {directory!r} does not exist")
    if column not in FASHION_CATEGORY_COLUMNS:
        raise ValueError(f"unknown Fashion Product Images category column {column!r}; the "
                         f"known ones are {', '.join(FASHION_CATEGORY_COLUMNS)}")
    path = os.path.join(directory, "styles.csv")
    styles = read_styles(path)
    if column not in styles.columns:
        raise ValueError(f"{path!r} has no column {column}; it has {', '.join(styles.columns)}")
    names = (styles[_FASHION_NAME_COLUMN] if _FASHION_NAME_COLUMN in styles.columns
             else pd.Series([""] * len(styles)))
    return _categorise("fashion_products", path, column, styles.id, names, styles[column],
                       images_dir or os.path.join(directory, "images"), top, min_photos)


def category_dataset(images: np.ndarray, categories: Sequence[int], batch_size: int, seed: int,
                     flip: bool = True) -> tf.data.Dataset:
    """Endless shuffled batches of {"image": [B, S, S, 3] float32 in [-1, 1] (tanh range),
    "category": [B] int32} from the decoded photo table (`load_images(photos.image_paths,
    64)`) and its categories; each image mirrored left-right with probability 1/2 when `flip`.
    The last partial batch of each pass is dropped; the same seed gives the same batches."""
    images = np.asarray(images)
    categories = np.asarray(categories)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 \
            or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be uint8 [M, S, S, 3], not {images.dtype} "
                         f"{list(images.shape)}")
    if categories.shape != (len(images),) or not np.issubdtype(categories.dtype, np.integer):
        raise ValueError(f"categories must be [M] = [{len(images)}] integers, not "
                         f"{categories.dtype} {list(categories.shape)}")
    if len(categories) and categories.min() < 0:
        raise ValueError("categories must be non-negative indices")
    if not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size {batch_size} must be between 1 and the {len(images)} "
                         f"photos")
    table = tf.constant(images)
    labels = tf.constant(categories.astype(np.int32))

    def gather(rows, step_seed):
        batch = normalize_images(tf.gather(table, rows))
        if flip:
            batch = tf.image.stateless_random_flip_left_right(batch, step_seed)
        return {"image": batch, "category": tf.gather(labels, rows)}

    rows = (tf.data.Dataset.range(len(images))
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch_size, drop_remainder=True))
    seeds = tf.data.Dataset.counter().map(lambda step: tf.stack([tf.cast(seed, tf.int64), step]))
    return (tf.data.Dataset.zip(rows, seeds)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
