"""H&M Personalized Fashion Recommendations in its public layout (`articles.csv`,
`transactions_train.csv`, `customers.csv`), as a `Catalogue` with binary tags.

This is CGIR's shop setting (the paper's AliShop): every article gets one tag per chosen
categorical column (its colour, its pattern, ...), so two articles "differ in one attribute"
when they differ in one column, and there is no graded relevance — MGS uses the share of items
with a tag among the top 100 retrieved (CGIR.md).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from tfgrad.data.catalogue import Catalogue, index_interactions
from tfgrad.data.images import find_images

DEFAULT_TAG_COLUMNS = ("colour_group_name", "graphical_appearance_name",
                       "perceived_colour_value_name", "product_type_name")


def read_columns(directory: str, name: str, columns: Sequence[str]) -> pd.DataFrame:
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"H&M file {path!r} is missing")
    header = pd.read_csv(path, nrows=0).columns
    missing = [column for column in columns if column not in header]
    if missing:
        raise ValueError(f"{path!r} has no column(s) {', '.join(missing)}; it has "
                         f"{', '.join(header)}")
    return pd.read_csv(path, usecols=list(columns), dtype=str)


def load_hm(directory: str, tag_columns: Sequence[str] = DEFAULT_TAG_COLUMNS,
            min_user_interactions: int = 5, min_tag_items: int = 2,
            name: str = "hm") -> Catalogue:
    """Reads the H&M layout into a `Catalogue`.

    Interactions are distinct (customer, article) purchases of articles listed in
    articles.csv; customers with fewer than `min_user_interactions` distinct articles are
    dropped; items are the articles left with a purchase. Tags are "<value>" of each column in
    `tag_columns` (lower case); values on fewer than `min_tag_items` items are dropped, and so
    their items have no tag in that column. `attribute_columns` records each tag's column.

    Photos (`image_paths`) are read where the download has them, in
    `<directory>/images/<first 3 digits>/<article_id>.jpg`, as absolute paths: an export's
    items table keeps them, so it shows photos when read on the machine it was made on. An
    article without a photo has ""; without an images folder `image_paths` is None.
    """
    articles = read_columns(directory, "articles.csv", ["article_id", "prod_name", *tag_columns])
    purchases = read_columns(directory, "transactions_train.csv", ["customer_id", "article_id"])
    purchases = purchases[purchases.article_id.isin(set(articles.article_id))]
    customer_ids, article_ids, interactions = index_interactions(
        purchases.customer_id, purchases.article_id, min_user_interactions)
    if not len(interactions):
        raise ValueError(f"no customer in {directory!r} bought {min_user_interactions} "
                         f"distinct listed articles")

    articles = articles.drop_duplicates("article_id").set_index("article_id").loc[article_ids]
    attributes, columns_of_attributes, blocks = [], [], []
    for column_index, column in enumerate(tag_columns):
        values = articles[column].fillna("").map(lambda value: " ".join(value.lower().split()))
        counts = values[values != ""].value_counts()
        kept = sorted(value for value in counts.index[counts >= min_tag_items]
                      if value not in attributes)
        blocks.append(np.stack([(values == value).to_numpy() for value in kept], axis=1)
                      if kept else np.zeros((len(values), 0), dtype=bool))
        attributes.extend(kept)
        columns_of_attributes.extend([column_index] * len(kept))
    images_dir = os.path.join(os.path.abspath(directory), "images")
    image_paths = (find_images(images_dir).match(article_ids)[1]
                   if os.path.isdir(images_dir) else None)
    return Catalogue(
        name=name,
        item_ids=np.array(article_ids, dtype=str),
        item_names=articles.prod_name.fillna("").astype(str).to_numpy(),
        attributes=tuple(attributes),
        item_attributes=np.concatenate(blocks, axis=1).astype(np.float32),
        interactions=interactions,
        num_users=len(customer_ids),
        attribute_columns=np.array(columns_of_attributes, dtype=np.int64),
        image_paths=image_paths,
    )
