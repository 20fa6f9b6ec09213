"""tf.data input pipelines: user interaction rows and alignment triples, zipped per step."""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfgrad.data.catalogue import Catalogue
from tfgrad.data.triples import Triples


def _shard(dataset: tf.data.Dataset, input_context: Optional[tf.distribute.InputContext]):
    if input_context is None or input_context.num_input_pipelines == 1:
        return dataset
    return dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


def user_interactions_dataset(catalogue: Catalogue, batch_size: int, seed: int,
                              input_context: Optional[tf.distribute.InputContext] = None
                              ) -> tf.data.Dataset:
    """Endless shuffled batches of users' multi-hot interaction rows, [batch_size, M] float32.

    Rows are kept as ragged item lists and made dense per batch, so memory stays O(interactions).
    """
    user_items = [items for items in catalogue.user_items() if len(items)]
    if not user_items:
        raise ValueError(f"catalogue {catalogue.name!r} has no interactions to train on")
    ragged = tf.ragged.constant(user_items, dtype=tf.int64)
    num_items = catalogue.num_items
    dataset = _shard(tf.data.Dataset.from_tensor_slices(ragged), input_context)
    return (dataset.shuffle(len(user_items), seed=seed, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch_size, drop_remainder=True)
            .map(lambda rows: tf.ensure_shape(
                     tf.math.bincount(rows, minlength=num_items, maxlength=num_items,
                                      binary_output=True, axis=-1, dtype=tf.float32),
                     [batch_size, num_items]),
                 num_parallel_calls=tf.data.AUTOTUNE))


def triples_dataset(triples: Triples, batch_size: int, seed: int,
                    input_context: Optional[tf.distribute.InputContext] = None
                    ) -> tf.data.Dataset:
    """Endless shuffled batches of {"reference", "target", "attribute", "direction"} int64 [B]."""
    if len(triples) == 0:
        raise ValueError("no training triples: no item pair differs in exactly one attribute")
    dataset = _shard(tf.data.Dataset.from_tensor_slices({
        "reference": triples.reference, "target": triples.target,
        "attribute": triples.attribute, "direction": triples.direction,
    }), input_context)
    return (dataset.shuffle(len(triples), seed=seed, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch_size, drop_remainder=True))


def cgir_training_dataset(catalogue: Catalogue, triples: Triples, user_batch_size: int,
                          triple_batch_size: int, seed: int,
                          input_context: Optional[tf.distribute.InputContext] = None
                          ) -> tf.data.Dataset:
    """One element per training step: {"interactions": [B_u, M], "reference": [B_t], ...}.

    Under a distribution strategy Keras calls this with per-replica batch sizes via
    `input_context`; the two streams are drawn independently (users and triples are unrelated).
    """
    if input_context is not None:
        user_batch_size = input_context.get_per_replica_batch_size(user_batch_size)
        triple_batch_size = input_context.get_per_replica_batch_size(triple_batch_size)
    users = user_interactions_dataset(catalogue, user_batch_size, seed, input_context)
    pairs = triples_dataset(triples, triple_batch_size, seed + 1, input_context)
    return (tf.data.Dataset.zip(users, pairs)
            .map(lambda interactions, batch: {"interactions": interactions, **batch})
            .prefetch(tf.data.AUTOTUNE))


def attribute_weights(attributes: np.ndarray, directions: np.ndarray, num_attributes: int
                      ) -> np.ndarray:
    """[P, T] signed one-hot rows α·e_t: the modification of each single-attribute query."""
    weights = np.zeros((len(attributes), num_attributes), dtype=np.float32)
    weights[np.arange(len(attributes)), attributes] = directions
    return weights
