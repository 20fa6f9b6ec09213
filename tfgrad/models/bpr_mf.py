"""BPR-MF (DVBPR.md's baseline): x_{u,i} = α + β_u + β_i + γ_u·γ_i, trained with BPR.

α and β_u are the same for all of a user's items, so they cancel in BPR and in any ranking;
the model keeps β_i, γ_u and γ_i. Subclasses (WARP, FM, VBPR) add terms to the item side
through `user_factors` and `item_parts`.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from tfgrad.models.recommender import Recommender, per_example_squares


@keras.saving.register_keras_serializable(package="tfgrad")
class BPRMF(Recommender):
    """Args:
      num_users, num_items: N, M.
      latent_dim: K of γ.
      regularization: λ of the L2 terms on the batch's γ_u, γ_i, γ_j, β_i, β_j (Rendle's SGD
        form: each parameter is penalised where it is used).
    """

    def __init__(self, num_users: int, num_items: int, latent_dim: int = 50,
                 regularization: float = 1e-4, seed: int = 0, **kwargs):
        super().__init__(num_users, num_items, **kwargs)
        self.latent_dim = latent_dim
        self.regularization_weight = regularization
        self.seed = seed
        initializer = keras.initializers.RandomNormal(stddev=0.01, seed=seed)
        self.user_embedding = keras.layers.Embedding(num_users, latent_dim,
                                                     embeddings_initializer=initializer,
                                                     name="user_factors")
        self.item_embedding = keras.layers.Embedding(num_items, latent_dim,
                                                     embeddings_initializer=initializer,
                                                     name="item_factors")
        self.item_bias = keras.layers.Embedding(num_items, 1, embeddings_initializer="zeros",
                                                name="item_bias")

    def build(self, input_shape=None):
        for layer in (self.user_embedding, self.item_embedding, self.item_bias):
            layer.build((None,))
        self.built = True

    def user_factors(self, users: tf.Tensor) -> tf.Tensor:
        return self.user_embedding(users)

    def item_parts(self, items: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """([B, D] the item side of the dot product, [B] the item's bias)."""
        return self.item_embedding(items), self.item_bias(items)[:, 0]

    def user_vectors(self, users: tf.Tensor) -> tf.Tensor:
        factors = self.user_factors(users)
        return tf.concat([factors, tf.ones_like(factors[:, :1])], axis=1)

    def item_vectors(self, images: Optional[tf.data.Dataset] = None) -> tf.Tensor:
        factors, bias = self.item_parts(tf.range(self.num_items))
        return tf.concat([factors, bias[:, None]], axis=1)

    def score_pairs(self, users, items, images=None, training: bool = False) -> tf.Tensor:
        factors, bias = self.item_parts(items)
        return tf.reduce_sum(self.user_factors(users) * factors, axis=1) + bias

    def regularization(self, batch) -> tf.Tensor:
        users, positive, negative = batch["user"], batch["positive"], batch["negative"]
        per_example = per_example_squares(
            self.user_embedding(users), self.item_embedding(positive),
            self.item_embedding(negative), self.item_bias(positive), self.item_bias(negative))
        return self.regularization_weight * tf.nn.compute_average_loss(per_example)

    def get_config(self):
        return {**super().get_config(), "num_users": self.num_users, "num_items": self.num_items,
                "latent_dim": self.latent_dim, "regularization": self.regularization_weight,
                "seed": self.seed}
