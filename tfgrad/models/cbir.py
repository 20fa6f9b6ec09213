"""CBIR (CGIR.md baseline): q = MLP([h_i, φ_t]) matched against items with binary
cross-entropy over the target and sampled non-targets.

CGIR.md describes an MLP scoring the (query, item) pair. Here the pair is scored by the inner
product of the query MLP's output and the item vector, so that CBIR's queries are searched by
the same index and walk code as every other row (an MLP over pairs cannot be indexed).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.tower_baseline import TowerBaseline
from tfgrad.models.towers import mlp


@keras.saving.register_keras_serializable(package="tfgrad")
class ConcatComposer(keras.layers.Layer):
    """q = MLP([h_i, m])."""

    def __init__(self, hidden_dims, output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.query_mlp = mlp(hidden_dims, output_dim, name="query_mlp")
        self.hidden_dims = tuple(hidden_dims)
        self.output_dim = output_dim

    def build(self, input_shape=None):
        self.query_mlp.build((None, 2 * self.output_dim))
        self.built = True

    def call(self, reference_vectors, modifications):
        return self.query_mlp(tf.concat([reference_vectors, modifications], axis=-1))

    def get_config(self):
        return {**super().get_config(), "hidden_dims": list(self.hidden_dims),
                "output_dim": self.output_dim}


@keras.saving.register_keras_serializable(package="tfgrad")
class CBIR(TowerBaseline):
    """Args (beyond `TowerBaseline`'s): num_negatives, the K sampled non-targets per triple."""

    LOSS_NAMES = ("loss",)

    def __init__(self, *args, num_negatives: int = 16, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_negatives = num_negatives
        self.composer = ConcatComposer(self.hidden_dims, self.latent_dim, name="composer")
        self.seed_generator = keras.random.SeedGenerator(0)

    def sample_negatives(self, batch_size) -> tf.Tensor:
        """[B, K] uniformly drawn items (a draw may hit the target: rare, and unbiased)."""
        return keras.random.randint((batch_size, self.num_negatives), 0, self.num_items,
                                    seed=self.seed_generator)

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        items = self.item_vectors()
        queries = self.composed_queries(batch["reference"], batch["attribute"],
                                        batch["direction"], items)
        positive = self.scale(tf.reduce_sum(queries * tf.gather(items, batch["target"]), -1))
        negatives = self.sample_negatives(tf.shape(queries)[0])
        negative = self.scale(tf.einsum("bd,bkd->bk", queries, tf.gather(items, negatives)))
        loss = tf.nn.compute_average_loss(losses.binary_matching_loss(positive, negative))
        return {"loss": loss}

    def get_config(self):
        return {**super().get_config(), "num_negatives": self.num_negatives}
