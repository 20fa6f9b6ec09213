"""The supervised ceiling of visual KNN beside AGE: AGE's encoder network trained to classify
the catalogue's labels, its codes (on the same unit sphere) the features. It sees what AGE
never does, the classes the KNN precision counts, so it bounds what the unsupervised codes
could reach with these networks."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgrad.models.age import AGEEncoder

# Logits are a linear map of unit codes: a fixed temperature lets the softmax get confident
# (cosine-softmax classifiers use the same device).
LOGIT_SCALE = 16.0


@keras.saving.register_keras_serializable(package="tfgrad")
class SupervisedEncoder(keras.Model):
    """[B, S, S, 3] images in [−1, 1] -> [B, num_classes] logits; `encode` gives the codes.

    Args:
      num_classes: the labels' classes.
      latent_dim, image_size, width, seed: the encoder's (see `AGEEncoder`).
    """

    def __init__(self, num_classes: int, latent_dim: int = 128, image_size: int = 32,
                 width: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.width = width
        self.seed = seed
        self.encoder = AGEEncoder(latent_dim, image_size, width, seed, name="encoder")
        self.classifier = keras.layers.Dense(num_classes, name="classifier")

    def build(self, input_shape=None):
        self.encoder.build()
        self.classifier.build((None, self.latent_dim))
        self.built = True

    def call(self, images, training=False):
        return self.classifier(LOGIT_SCALE * self.encoder(images, training=training))

    def encode(self, images) -> tf.Tensor:
        """[B, S, S, 3] -> [B, latent_dim] unit codes (inference mode)."""
        return self.encoder(images, training=False)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "latent_dim": self.latent_dim, "image_size": self.image_size,
                "width": self.width, "seed": self.seed}
