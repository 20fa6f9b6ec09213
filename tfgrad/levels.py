"""Estimated levels: how much of each attribute every item has, as a model and its training
data know it (never the ground-truth relevance), for gradual decoding (`tfgrad.retrieval.
gradual`).

The level head is one logistic regression per attribute on the model's item vectors, fitted
to the catalogue's binary tags a_{i,t}:

    s(i, t) = ⟨w_t, h_i⟩ + b_t,   min_w  mean_{i,t} BCE(a_{i,t}, σ(s(i, t))) + λ‖w‖²

and an item's level is the catalogue quantile of its score, ℓ(i, t) = rank_t(s(i, t)) / (M − 1)
∈ [0, 1], so levels are comparable across attributes and models. Measured against the other
candidates on the synthetic catalogue's held-out items (Spearman with the true relevance,
docs/RESULTS.md): the projection on the attribute code ⟨h_i, F(t)⟩ .76, a pairwise logistic
head on the training triples (target more t than reference) .80, this pointwise head .84; a
least-squares direction fitted to the true relevance itself (no model has it) .87 — the
ceiling of any linear read-out of that item table.

Attributes the head was not fitted on (SoftAttributes' words) get the projection levels: the
quantile of ⟨h_i, d_t⟩ with d_t the move's mean displacement toward t.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfgrad import metrics

HEAD_STEPS = 300
HEAD_LEARNING_RATE = 0.05
HEAD_L2 = 1e-3


def quantile_levels(scores: np.ndarray) -> np.ndarray:
    """[M, T] scores → [M, T] float32 per-column ranks / (M − 1), ties given their mean rank;
    NaN scores stay NaN and are not ranked."""
    scores = np.asarray(scores, dtype=np.float64)
    levels = np.full(scores.shape, np.nan, dtype=np.float32)
    for column in range(scores.shape[1]):
        known = np.flatnonzero(~np.isnan(scores[:, column]))
        if len(known) < 2:
            levels[known, column] = 0.5
            continue
        ranks = metrics.mean_ranks(scores[known, column][:, None])[:, 0]
        levels[known, column] = ranks / (len(known) - 1)
    return levels


def fit_level_head(item_vectors: np.ndarray, item_attributes: np.ndarray,
                   fit_items: np.ndarray | None = None, steps: int = HEAD_STEPS,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The level head (module docstring) fitted on the tags of `fit_items` (all items when None).

    Args:
      item_vectors: [M, D] the model's item vectors.
      item_attributes: [M, T] binary tags.
      fit_items: item indices whose tags the head sees (held-out items are measured on the
        others).
      steps: full-batch Adam steps.
      seed: unused by the maths (the problem is convex and starts at 0); kept so that callers
        pass their run's seed uniformly.

    Returns:
      (weights [D, T], bias [T]) float32.
    """
    del seed
    vectors = np.asarray(item_vectors, dtype=np.float32)
    tags = np.asarray(item_attributes, dtype=np.float32)
    if fit_items is not None:
        vectors, tags = vectors[fit_items], tags[fit_items]
    # Standardise so one learning rate and λ suit every model's vector scale.
    mean, std = vectors.mean(axis=0), vectors.std(axis=0) + 1e-6
    inputs = tf.constant((vectors - mean) / std)
    targets = tf.constant(tags)
    weights = tf.Variable(tf.zeros([inputs.shape[1], tags.shape[1]]))
    bias = tf.Variable(tf.zeros([tags.shape[1]]))
    optimizer = tf.keras.optimizers.Adam(HEAD_LEARNING_RATE)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = tf.matmul(inputs, weights) + bias
            loss = (tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(targets, logits))
                    + HEAD_L2 * tf.reduce_sum(tf.square(weights)))
        optimizer.apply_gradients(zip(tape.gradient(loss, [weights, bias]), [weights, bias]))

    for _ in range(steps):
        step()
    scaled = weights.numpy() / std[:, None]
    return scaled.astype(np.float32), (bias.numpy() - mean @ scaled).astype(np.float32)


def head_levels(item_vectors: np.ndarray, item_attributes: np.ndarray,
                fit_items: np.ndarray | None = None) -> np.ndarray:
    """[M, T] estimated levels of every item from the level head fitted on `fit_items`."""
    weights, bias = fit_level_head(item_vectors, item_attributes, fit_items)
    return quantile_levels(np.asarray(item_vectors, dtype=np.float32) @ weights + bias)


def projection_levels(item_vectors: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """[M, T] levels as quantiles of ⟨h_i, d_t⟩ for directions d [T, D]."""
    return quantile_levels(np.asarray(item_vectors) @ np.asarray(directions).T)
