"""tf.data input pipelines: user interaction rows and alignment triples, zipped per step (CGIR);
(user, bought item, sampled item) triples with their photos (the recommenders)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfgrad.data.catalogue import Catalogue, items_by_user
from tfgrad.data.images import normalize_images
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


def bpr_triples_dataset(train: np.ndarray, num_items: int, batch_size: int, seed: int,
                        num_negatives: int = 1, images: Optional[np.ndarray] = None,
                        flip_photos: bool = False) -> tf.data.Dataset:
    """Endless batches of {"user", "positive", "negative"} int64 [B] (BPR's (u, i, j)).

    Negatives are drawn uniformly from the items the user did not buy in training. With
    `num_negatives` > 1 batches also carry "negatives" [B, Q] ("negative" is their first
    column), for WARP. With `images` ([M, S, S, 3] uint8, the decoded photo table), batches
    carry "positive_image" and "negative_image", normalised to [-1, 1]; with `flip_photos`
    each photo is mirrored left-right with probability 1/2 (a garment's mirror image is the
    same garment, so Φ sees twice the photos without new labels).
    """
    if not len(train):
        raise ValueError("no training purchases")
    num_users = int(train[:, 0].max()) + 1
    bought = items_by_user(np.unique(train, axis=0), num_users)  # sorted, distinct
    if min(num_items - len(items) for items in bought) < 1:
        raise ValueError("a user bought every item: no negative to sample")
    # Row u holds b_k - k for u's sorted purchases b_k (padded with num_items): the r-th item
    # u did not buy is r + #{k : b_k - k <= r}, an exact draw without rejection.
    width = max(len(items) for items in bought)
    shifted = np.full((num_users, width), num_items, dtype=np.int64)
    for user, items in enumerate(bought):
        shifted[user, :len(items)] = items - np.arange(len(items))
    shifted = tf.constant(shifted)
    allowed = tf.constant([num_items - len(items) for items in bought], dtype=tf.int64)

    def add_negatives(batch, step_seed):
        users = batch["user"]
        uniform = tf.random.stateless_uniform(tf.stack([tf.shape(users)[0], num_negatives]),
                                              step_seed, dtype=tf.float64)
        ranks = tf.cast(tf.floor(uniform * tf.cast(tf.gather(allowed, users)[:, None],
                                                    tf.float64)), tf.int64)
        skipped = tf.reduce_sum(tf.cast(
            tf.gather(shifted, users)[:, :, None] <= ranks[:, None, :], tf.int64), axis=1)
        negatives = ranks + skipped
        batch = {**batch, "negative": negatives[:, 0]}
        if num_negatives > 1:
            batch["negatives"] = negatives
        return batch

    dataset = (tf.data.Dataset.from_tensor_slices({"user": train[:, 0].astype(np.int64),
                                                   "positive": train[:, 1].astype(np.int64)})
               .shuffle(len(train), seed=seed, reshuffle_each_iteration=True)
               .repeat()
               .batch(batch_size, drop_remainder=True))
    seeds = tf.data.Dataset.counter().map(lambda step: tf.stack([tf.cast(seed, tf.int64), step]))
    dataset = tf.data.Dataset.zip(dataset, seeds).map(add_negatives,
                                                      num_parallel_calls=tf.data.AUTOTUNE)
    if images is not None:
        table = tf.constant(images)

        def add_photos(batch, step_seed):
            photos = {}
            for offset, side in enumerate(("positive", "negative")):
                photo = normalize_images(tf.gather(table, batch[side]))
                if flip_photos:
                    photo = tf.image.stateless_random_flip_left_right(
                        photo, step_seed + tf.constant([1, 0], tf.int64) * (offset + 1))
                photos[f"{side}_image"] = photo
            return {**batch, **photos}

        dataset = tf.data.Dataset.zip(dataset, seeds).map(add_photos,
                                                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def manipulation_triplets_dataset(images: np.ndarray, labels: np.ndarray, references,
                                  targets: np.ndarray, positives, negatives, batch_size: int,
                                  seed: int) -> tf.data.Dataset:
    """Endless shuffled batches of ADDE's triplets: {"reference", "positive", "negative"}
    [B, S, S, 3] photos in [-1, 1] and {"reference_labels", "target_labels",
    "negative_labels"} [B, A] int64 (-1 missing).

    Args:
      images: [M, S, S, 3] uint8, the split's photo table.
      labels: [M, A] its label vectors.
      references, positives, negatives: [Q] rows of the table per training query.
      targets: [Q, A] the queries' wanted label vectors.
    """
    if not len(references):
        raise ValueError("no training query")
    table, label_table = tf.constant(images), tf.constant(np.asarray(labels, np.int64))

    def gather(rows):
        return {"reference": normalize_images(tf.gather(table, rows["reference"])),
                "positive": normalize_images(tf.gather(table, rows["positive"])),
                "negative": normalize_images(tf.gather(table, rows["negative"])),
                "reference_labels": tf.gather(label_table, rows["reference"]),
                "target_labels": rows["target_labels"],
                "negative_labels": tf.gather(label_table, rows["negative"])}

    rows = {"reference": np.asarray(references, np.int64),
            "positive": np.asarray(positives, np.int64),
            "negative": np.asarray(negatives, np.int64),
            "target_labels": np.asarray(targets, np.int64)}
    return (tf.data.Dataset.from_tensor_slices(rows)
            .shuffle(len(rows["reference"]), seed=seed, reshuffle_each_iteration=True)
            .repeat().batch(batch_size, drop_remainder=True)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
