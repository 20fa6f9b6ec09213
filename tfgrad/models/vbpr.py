"""VBPR (DVBPR.md's baseline): x_{u,i} = α + β_u + β_i + γ_u·γ_i + θ_u·(E f_i) + β'·f_i, with
pre-extracted visual features f_i, trained with BPR."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfgrad.models.bpr_mf import BPRMF
from tfgrad.models.recommender import per_example_squares


@keras.saving.register_keras_serializable(package="tfgrad")
class VisualMF(BPRMF):
    """BPR-MF plus the visual item terms VBPR and FM share: an embedding E [F, K'] of the
    features and a visual bias β'·f_i, regularised by λ(‖E‖² + ‖β'‖²) once per step.

    Args (beside BPR-MF's):
      features: [M, F] visual features f_i.
      visual_dim: K', the width of E f_i.
    """

    def __init__(self, num_users: int, num_items: int, features: np.ndarray,
                 latent_dim: int = 50, visual_dim: int = 50, regularization: float = 1e-4,
                 seed: int = 0, **kwargs):
        super().__init__(num_users, num_items, latent_dim=latent_dim,
                         regularization=regularization, seed=seed, **kwargs)
        self.features = tf.constant(np.asarray(features, dtype=np.float32))
        self.visual_dim = visual_dim
        self.visual_projection = keras.layers.Dense(
            visual_dim, use_bias=False, name="E",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01, seed=seed + 1))
        self.visual_bias = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros",
                                              name="visual_bias")

    def build(self, input_shape=None):
        super().build(input_shape)
        self.visual_projection.build((None, self.features.shape[1]))
        self.visual_bias.build((None, self.features.shape[1]))

    def visual_parts(self, items):
        """([B, K'] E f_i, [B] β_i + β'·f_i)."""
        features = tf.gather(self.features, items)
        return (self.visual_projection(features),
                self.item_bias(items)[:, 0] + self.visual_bias(features)[:, 0])

    def regularization(self, batch):
        shared = self.regularization_weight * tf.nn.scale_regularization_loss(
            tf.reduce_sum(tf.square(self.visual_projection.kernel))
            + tf.reduce_sum(tf.square(self.visual_bias.kernel)))
        return super().regularization(batch) + shared

    def get_config(self):
        return {**super().get_config(), "features": self.features.numpy().tolist(),
                "visual_dim": self.visual_dim}


@keras.saving.register_keras_serializable(package="tfgrad")
class VBPR(VisualMF):
    """θ_u (visual user factors, regularised per triple like γ_u) beside γ_u. Its config is
    VisualMF's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.visual_user_embedding = keras.layers.Embedding(
            self.num_users, self.visual_dim, name="visual_user_factors",
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01,
                                                                   seed=self.seed + 2))

    def build(self, input_shape=None):
        super().build(input_shape)
        self.visual_user_embedding.build((None,))

    def user_factors(self, users):
        return tf.concat([self.user_embedding(users), self.visual_user_embedding(users)], axis=1)

    def item_parts(self, items):
        visual, bias = self.visual_parts(items)
        return tf.concat([self.item_embedding(items), visual], axis=1), bias

    def regularization(self, batch):
        return super().regularization(batch) + self.regularization_weight * (
            tf.nn.compute_average_loss(per_example_squares(
                self.visual_user_embedding(batch["user"]))))
