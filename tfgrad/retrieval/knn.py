"""K nearest neighbours by Euclidean distance through tfgrad's dot-product indices (exact or
ScaNN), for visual KNN over any features (codes, pixels, PCA).

An index scores q·x; appending −‖x‖²/2 to every item and 1 to every query makes the score
q·x − ‖x‖²/2 = (‖q‖² − ‖q − x‖²)/2, which ranks items by distance to q: the squared distance
is ‖q‖² − 2·score.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfgrad.retrieval.index import build_index


def l2_item_vectors(item_vectors) -> np.ndarray:
    """[M, D] -> [M, D + 1] vectors whose dot product with `l2_queries` ranks by distance."""
    items = np.asarray(item_vectors, np.float32)
    return np.concatenate([items, -0.5 * np.sum(items ** 2, axis=1, keepdims=True)], axis=1)


def l2_queries(queries: tf.Tensor) -> tf.Tensor:
    """[Q, D] -> [Q, D + 1] (a 1 appended)."""
    queries = tf.cast(queries, tf.float32)
    return tf.concat([queries, tf.ones_like(queries[:, :1])], axis=1)


def distances_from_scores(queries: tf.Tensor, scores: tf.Tensor) -> tf.Tensor:
    """The Euclidean distances of the searched items from their [Q, D] queries, from the [Q, k]
    scores of the augmented search (clipped at 0 against rounding)."""
    squared = tf.reduce_sum(tf.square(tf.cast(queries, tf.float32)), axis=1, keepdims=True)
    return tf.sqrt(tf.maximum(squared - 2.0 * scores, 0.0))


def nearest_neighbours(item_vectors, queries, k: int, index: str = "brute_force",
                       exclude: Optional[np.ndarray] = None, batch_size: int = 512
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest catalogue items of every query.

    Args:
      item_vectors: [M, D] the catalogue.
      queries: [Q, D] in the same space.
      k: neighbours per query, 1 ≤ k < M.
      index: "brute_force" (exact) or "scann".
      exclude: [Q] a catalogue row per query never returned for it (the query item itself
        when the queries are catalogue items), -1 for none.
      batch_size: queries per search.

    Returns:
      (item rows [Q, k] int64, distances [Q, k] float32), nearest first.
    """
    items = np.asarray(item_vectors, np.float32)
    queries = np.asarray(queries, np.float32)
    if items.ndim != 2 or queries.ndim != 2 or items.shape[1] != queries.shape[1]:
        raise ValueError(f"items [M, D] and queries [Q, D] must share D, got {items.shape} and "
                         f"{queries.shape}")
    if not 1 <= k < len(items):
        raise ValueError(f"k must be in 1..{len(items) - 1}, got {k}")
    searcher = build_index(l2_item_vectors(items), index)
    extra = 0 if exclude is None else 1
    rows, distances = [], []
    for start in range(0, len(queries), batch_size):
        batch = tf.constant(queries[start:start + batch_size])
        scores, found = searcher.search(l2_queries(batch), k + extra)
        found, scores = found.numpy().astype(np.int64), scores.numpy()
        if exclude is not None:
            excluded = np.asarray(exclude)[start:start + len(found)]
            keep = found != excluded[:, None]
            # Keep the first k of each row that are not the query itself.
            order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
            found = np.take_along_axis(found, order, axis=1)
            scores = np.take_along_axis(scores, order, axis=1)
        rows.append(found)
        distances.append(distances_from_scores(batch, tf.constant(scores)).numpy())
    return np.concatenate(rows), np.concatenate(distances)
