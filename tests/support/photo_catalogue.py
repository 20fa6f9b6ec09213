"""A small shop written to disk in the generic layouts a user brings: photos in class folders
(`<colour>/<item>.jpg`, plain colour squares with noise) and an interactions CSV in which each
user buys mostly items of a favourite colour, popular items more often. Every item is bought
several times, so every recommender has something to learn."""

import os

import numpy as np
import pandas as pd
import tensorflow as tf

COLOURS = {"red": (200, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 200),
           "yellow": (220, 200, 40)}


def write_photo_shop(directory, num_items=48, num_users=90, purchases_per_user=8, seed=0):
    """Writes `<directory>/images/<colour>/<id>.jpg` and `<directory>/interactions.csv`;
    returns (images_dir, interactions_path)."""
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    colour_of = np.arange(num_items) % len(names)
    images_dir = os.path.join(directory, "images")
    for item in range(num_items):
        folder = os.path.join(images_dir, names[colour_of[item]])
        os.makedirs(folder, exist_ok=True)
        pixels = np.clip(np.array(COLOURS[names[colour_of[item]]])[None, None]
                         + rng.normal(0, 20, (24, 24, 3)), 0, 255).astype(np.uint8)
        tf.io.write_file(os.path.join(folder, f"item{item:03d}.jpg"),
                         tf.io.encode_jpeg(pixels))
    popularity = 1.0 / (1 + rng.permutation(num_items))
    rows = []
    for user in range(num_users):
        favourite = user % len(names)
        weights = popularity * np.where(colour_of == favourite, 20.0, 1.0)
        items = rng.choice(num_items, size=purchases_per_user, replace=False,
                           p=weights / weights.sum())
        rows.extend((f"u{user:03d}", f"item{item:03d}") for item in items)
    path = os.path.join(directory, "interactions.csv")
    pd.DataFrame(rows, columns=["user_id", "item_id"]).to_csv(path, index=False)
    return images_dir, path
