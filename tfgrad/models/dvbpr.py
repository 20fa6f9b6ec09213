"""DVBPR (DVBPR.md, "Recommendation"): x_{u,i} = θ_u·Φ(X_i), Φ a CNN-F trained end to end from
the photos with BPR; no item bias and no non-visual item factor.

The two photos of a triple go through the one Φ in one call (the Siamese network).
Regularisation: the paper's objective Σ_{(u,i,j)} ln σ(x_ui − x_uj) − λ_θ‖Θ‖² counts ‖Θ‖² once
against a sum over the training triples; one step sees B of the K training purchases, so it
adds λ_θ‖Θ‖²/K to the batch's mean BPR loss (a per-triple λ_θ‖θ_u‖², Rendle's SGD form, would
weigh Θ K/N times more and, at λ_θ = 1, drives θ and Φ to the all-equal fixed point θ = 0).
Weight decay 1e-3 on Φ's kernels is decoupled (AdamW: W ← W − lr·wd·W each step, as SGD's
weight decay acts), not an L2 term in the loss: under Adam such a term, being most of the
gradient while θ is small, shrinks Φ to a constant within a few dozen steps. Dropout in fc6/fc7.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from tfgrad.models.cnn_f import CNNF
from tfgrad.models.recommender import Recommender


@keras.saving.register_keras_serializable(package="tfgrad")
class DVBPR(Recommender):
    """Args:
      num_users, num_items: N, M.
      latent_dim: K, the width of θ_u and Φ(X_i).
      image_size, cnn_width, dropout_rate, compute_dtype: Φ's (see `CNNF`).
      user_regularization: λ_θ.
      num_train_purchases: K, the training triples one epoch sees (scales λ_θ‖Θ‖² per step).
      weight_decay: the decoupled weight decay of Φ's kernels (see `make_optimizer`).
    """

    uses_images = True

    def __init__(self, num_users: int, num_items: int, latent_dim: int = 50,
                 image_size: int = 224, cnn_width: float = 1.0, dropout_rate: float = 0.5,
                 user_regularization: float = 1.0, num_train_purchases: int = 1,
                 weight_decay: float = 1e-3, compute_dtype: str = "float32", seed: int = 0,
                 **kwargs):
        super().__init__(num_users, num_items, **kwargs)
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.user_regularization = user_regularization
        self.num_train_purchases = num_train_purchases
        self.weight_decay = weight_decay
        self.seed = seed
        self.user_embedding = keras.layers.Embedding(
            num_users, latent_dim, name="theta",
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01, seed=seed))
        self.cnn = CNNF(latent_dim, image_size, cnn_width, dropout_rate, compute_dtype,
                        seed=seed + 1, name="phi")

    def build(self, input_shape=None):
        self.user_embedding.build((None,))
        self.cnn.build()
        self.built = True

    def user_vectors(self, users):
        return self.user_embedding(users)

    def item_vectors(self, images: Optional[tf.data.Dataset] = None) -> tf.Tensor:
        if images is None:
            raise ValueError("DVBPR's item vectors are Φ of the item photos: pass them")
        return tf.concat([self.encode_images(batch) for batch in images], axis=0)

    @tf.function(reduce_retracing=True)
    def encode_images(self, images: tf.Tensor) -> tf.Tensor:
        """[B, S, S, 3] normalised photos -> [B, K] Φ (inference: no dropout)."""
        return self.cnn(images, training=False)

    def score_pairs(self, users, items, images=None, training: bool = False):
        return tf.reduce_sum(self.user_embedding(users) * self.cnn(images, training=training),
                             axis=1)

    def pair_scores(self, batch, training: bool = False):
        both = self.cnn(tf.concat([batch["positive_image"], batch["negative_image"]], axis=0),
                        training=training)
        positive_phi, negative_phi = tf.split(both, 2, axis=0)
        theta = self.user_embedding(batch["user"])
        return (tf.reduce_sum(theta * positive_phi, axis=1),
                tf.reduce_sum(theta * negative_phi, axis=1))

    def regularization(self, batch):
        return self.user_regularization / self.num_train_purchases * (
            tf.nn.scale_regularization_loss(tf.reduce_sum(tf.square(
                self.user_embedding.embeddings))))

    def make_optimizer(self, learning_rate: float) -> keras.optimizers.Optimizer:
        """AdamW decaying Φ's kernels only (θ has λ_θ; biases are not decayed)."""
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=self.weight_decay)
        kernels = {id(kernel) for kernel in self.cnn.kernels()}
        optimizer.exclude_from_weight_decay(
            var_list=[v for v in self.trainable_weights if id(v) not in kernels])
        return optimizer

    def get_config(self):
        return {
            **super().get_config(), "num_users": self.num_users, "num_items": self.num_items,
            "latent_dim": self.latent_dim, "image_size": self.image_size,
            "cnn_width": self.cnn.width, "dropout_rate": self.cnn.dropout_rate,
            "user_regularization": self.user_regularization,
            "num_train_purchases": self.num_train_purchases, "weight_decay": self.weight_decay,
            "compute_dtype": self.cnn.body_dtype, "seed": self.seed,
        }
