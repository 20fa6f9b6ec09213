"""Purchases with photos, split as DVBPR's protocol asks (DVBPR.md, "Protocol").

Sources:
  H&M          articles.csv + transactions_train.csv + images/<3 digits>/<article_id>.jpg;
               product-type labels from an article column (product_type_name).
  interactions a CSV of user_id,item_id rows and an image folder (class-folder or id-folder
               layout, `tfgrad.data.images`); labels are the class folders, when there are.

Items without a photo are reported and left out before users are counted, so every user kept
has at least `min_user_interactions` purchases of items a visual model can see.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np
import pandas as pd

from tfgrad.data.catalogue import index_interactions, items_by_user
from tfgrad.data.images import find_images

COLD_BELOW = 5


@dataclasses.dataclass(frozen=True, eq=False)
class Purchases:
    """Users' purchases of items with photos, with one validation and one test item per user.

    Attributes:
      name: a short name for logs and exports.
      user_ids: [N] str external user ids.
      item_ids: [M] str external item ids.
      item_names: [M] str.
      image_paths: [M] str, one photo per item.
      labels: [M] int product-type label of each item, -1 where unknown.
      label_names: the label strings.
      train: [K, 2] int64 (user, item) training purchases.
      validation: [N] int64 each user's validation item.
      test: [N] int64 each user's test item.
      items_without_image: ids of purchased items left out for want of a photo.
    """

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_names: np.ndarray
    image_paths: np.ndarray
    labels: np.ndarray
    label_names: tuple
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    items_without_image: tuple = ()

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def train_items(self) -> list[np.ndarray]:
        """Each user's training items, sorted."""
        return items_by_user(np.unique(self.train, axis=0), self.num_users)

    def train_counts(self) -> np.ndarray:
        """[M] training purchases per item (PopRank's score; cold items have few)."""
        return np.bincount(self.train[:, 1], minlength=self.num_items)

    def is_cold(self, items: np.ndarray) -> np.ndarray:
        """Whether each item has fewer than 5 training purchases (DVBPR's cold items)."""
        return self.train_counts()[items] < COLD_BELOW

    def known_items(self) -> list[np.ndarray]:
        """Each user's train ∪ validation ∪ test items: what AUC never counts as a negative."""
        return [np.union1d(items, [self.validation[user], self.test[user]])
                for user, items in enumerate(self.train_items())]


def split_leave_two_out(interactions: np.ndarray, num_users: int, seed: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user, one random interaction for validation and another for test; the rest train.

    Returns:
      (train [K - 2N, 2], validation [N], test [N]).
    """
    counts = np.bincount(interactions[:, 0], minlength=num_users)
    if (counts < 3).any():
        raise ValueError(f"{int((counts < 3).sum())} user(s) have fewer than 3 interactions: "
                         f"one validation, one test and one training item each are needed")
    rng = np.random.default_rng(seed)
    # A random order within each user; the user's first two rows are held out.
    order = np.lexsort((rng.random(len(interactions)), interactions[:, 0]))
    ordered = interactions[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    held_out = np.zeros(len(ordered), dtype=bool)
    held_out[starts] = held_out[starts + 1] = True
    return (ordered[~held_out], ordered[starts, 1].astype(np.int64),
            ordered[starts + 1, 1].astype(np.int64))


def _labels(values: pd.Series) -> tuple[np.ndarray, tuple]:
    values = values.fillna("").astype(str)
    names = tuple(sorted(value for value in values.unique() if value))
    position = {name: index for index, name in enumerate(names)}
    return np.array([position.get(value, -1) for value in values], dtype=np.int64), names


def _purchases(name: str, users: pd.Series, items: pd.Series, item_table: pd.DataFrame,
               images_dir: str, min_user_interactions: int, max_users: Optional[int],
               seed: int) -> Purchases:
    """item_table: indexed by item id, with columns "name" and "label"."""
    folder = find_images(images_dir)
    has_image = items.isin(set(folder.paths))
    without_image = tuple(sorted(items[~has_image].unique()))
    if without_image:
        print(f"{len(without_image)} purchased item(s) have no photo in {images_dir!r} and are "
              f"left out, e.g. {', '.join(without_image[:3])}")
    users, items = users[has_image], items[has_image]
    if max_users is not None:
        kept = np.sort(users.unique())[:max_users]
        users, items = users[users.isin(kept)], items[users.isin(kept)]
    user_ids, item_ids, interactions = index_interactions(users, items, min_user_interactions)
    if not len(interactions):
        raise ValueError(f"no user bought {min_user_interactions} distinct items with photos")
    train, validation, test = split_leave_two_out(interactions, len(user_ids), seed)
    table = item_table.reindex(item_ids)
    if "label" in table and table.label.notna().any():
        labels, label_names = _labels(table.label)
    else:
        labels, label_names = np.full(len(item_ids), -1, dtype=np.int64), ()
    return Purchases(
        name=name, user_ids=np.asarray(user_ids, dtype=str),
        item_ids=np.asarray(item_ids, dtype=str),
        item_names=table.name.fillna("").astype(str).to_numpy(),
        image_paths=folder.match(item_ids)[1],
        labels=labels, label_names=label_names, train=train, validation=validation, test=test,
        items_without_image=without_image)


def load_hm_purchases(hm_dir: str, images_dir: Optional[str] = None,
                      min_user_interactions: int = 5, label_column: str = "product_type_name",
                      max_users: Optional[int] = None, seed: int = 0) -> Purchases:
    """H&M's public layout; images default to `<hm_dir>/images`."""
    from tfgrad.data.hm import read_columns

    articles = read_columns(hm_dir, "articles.csv", ["article_id", "prod_name", label_column])
    purchases = read_columns(hm_dir, "transactions_train.csv", ["customer_id", "article_id"])
    items = (articles.drop_duplicates("article_id").set_index("article_id")
             .rename(columns={"prod_name": "name", label_column: "label"}))
    return _purchases("hm", purchases.customer_id, purchases.article_id, items,
                      images_dir or os.path.join(hm_dir, "images"), min_user_interactions,
                      max_users, seed)


def load_interaction_purchases(interactions_path: str, images_dir: str,
                               min_user_interactions: int = 5,
                               max_users: Optional[int] = None, seed: int = 0) -> Purchases:
    """A user's own catalogue: a CSV with user_id,item_id columns and a folder of photos named
    by item id; in a class-folder layout the folders are the items' product-type labels."""
    if not os.path.exists(interactions_path):
        raise FileNotFoundError(f"interactions file {interactions_path!r} is missing")
    rows = pd.read_csv(interactions_path, dtype=str)
    missing = [column for column in ("user_id", "item_id") if column not in rows.columns]
    if missing:
        raise ValueError(f"{interactions_path!r} has no column(s) {', '.join(missing)}; it has "
                         f"{', '.join(rows.columns)}")
    folder = find_images(images_dir)
    items = pd.DataFrame({"name": pd.Series(list(folder.paths), index=list(folder.paths)),
                          "label": pd.Series(folder.classes, dtype=object)})
    name = os.path.splitext(os.path.basename(interactions_path))[0]
    return _purchases(name, rows.user_id, rows.item_id, items, images_dir,
                      min_user_interactions, max_users, seed)
