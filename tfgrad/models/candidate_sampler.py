"""The negatives of a sampled softmax (`losses.sampled_multinomial_nll`): items drawn from a
proposal Q over the catalogue, with the log expected counts their logits are corrected by."""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tfgrad.models.tracked import replica_step_seed

# Which softmax a model's item likelihoods take: over every item, or sampled (this module).
SOFTMAXES = ("full", "sampled")
PROPOSALS = ("uniform", "popularity")


def popularity_proposal(item_counts, power: float) -> np.ndarray:
    """[M] float64 Q(j) ∝ (count_j + 1)^power: popular items are drawn more often, and the +1
    keeps every item drawable (the estimate of the normaliser is unbiased only if Q(j) > 0
    wherever exp(l_j) > 0). power = 0 is the uniform proposal; 1 the items' frequencies."""
    weights = np.power(np.asarray(item_counts, np.float64) + 1.0, power)
    return weights / weights.sum()


@keras.saving.register_keras_serializable(package="tfgrad")
class CandidateSampler(keras.layers.Layer):
    """Draws `num_sampled` items with replacement from Q, a fresh draw per call and per replica.

    The popularity proposal is kept as its cumulative distribution (float64), so a draw costs
    O(S log M) by binary search, not O(M).

    Args:
      num_items: M.
      num_sampled: S, the draws per step (shared by every row of the batch).
      proposal: "uniform" or "popularity".
      item_counts: [M] interaction counts of the items (the training data's); required by the
        popularity proposal, unused by the uniform one.
      power: α of `popularity_proposal`.
      seed: seed of the draws.
    """

    def __init__(self, num_items: int, num_sampled: int, proposal: str = "uniform",
                 item_counts=None, power: float = 1.0, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if proposal not in PROPOSALS:
            raise ValueError(f"proposal must be one of {PROPOSALS}, got {proposal!r}")
        if num_sampled <= 0:
            raise ValueError(f"num_sampled must be positive, got {num_sampled}")
        if proposal == "popularity" and item_counts is None:
            raise ValueError("the popularity proposal needs the items' interaction counts")
        if item_counts is not None and len(item_counts) != num_items:
            raise ValueError(f"item_counts has {len(item_counts)} entries for {num_items} items")
        self.num_items = num_items
        self.num_sampled = num_sampled
        self.proposal = proposal
        self.power = power
        self.seed = seed
        self.item_counts = None if item_counts is None else np.asarray(item_counts, np.int64)
        self.seed_generator = keras.random.SeedGenerator(seed, name="sampler_seed")
        if proposal == "popularity":
            self.cumulative = np.cumsum(popularity_proposal(self.item_counts, power))
            self.cumulative[-1] = 1.0  # no draw may fall past the last item by rounding

    def build(self, input_shape=None):
        self.built = True  # no weights: the proposal is a constant

    def sample(self):
        """One draw: (items [S] int32, log expected counts log(S·Q(s)) [S] float32)."""
        seed = replica_step_seed(self.seed_generator)
        size, log_size = [self.num_sampled], np.log(self.num_sampled)
        if self.proposal == "uniform":
            items = tf.random.stateless_uniform(size, seed, minval=0, maxval=self.num_items,
                                                dtype=tf.int32)
            return items, tf.fill(size, tf.cast(log_size - np.log(self.num_items), tf.float32))
        cumulative = tf.constant(self.cumulative)
        uniform = tf.random.stateless_uniform(size, seed, dtype=tf.float64)
        items = tf.minimum(tf.searchsorted(cumulative, uniform, side="right",
                                           out_type=tf.int32), self.num_items - 1)
        below = tf.where(items > 0, tf.gather(cumulative, tf.maximum(items - 1, 0)),
                         tf.zeros_like(uniform))
        probabilities = tf.gather(cumulative, items) - below
        return items, tf.cast(log_size + tf.math.log(probabilities), tf.float32)

    def get_config(self):
        return {**super().get_config(), "num_items": self.num_items,
                "num_sampled": self.num_sampled, "proposal": self.proposal,
                "item_counts": None if self.item_counts is None else self.item_counts.tolist(),
                "power": self.power, "seed": self.seed}
