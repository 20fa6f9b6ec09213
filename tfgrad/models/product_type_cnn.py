"""The feature extractor VisRank, FM and VBPR need: a CNN-F trained to classify the catalogue's
own product types (no ImageNet weights can be fetched here, so the "pre-trained CNN" of
DVBPR.md's baselines is trained on this supervised task instead). Its fc8 outputs are f_i."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgrad.models.cnn_f import CNNF


@keras.saving.register_keras_serializable(package="tfgrad")
class ProductTypeCNN(keras.Model):
    """[B, S, S, 3] images in [-1, 1] -> [B, num_labels] logits; `cnn` gives the features."""

    def __init__(self, num_labels: int, feature_dim: int = 64, image_size: int = 64,
                 cnn_width: float = 0.25, dropout_rate: float = 0.5,
                 compute_dtype: str = "float32", seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.image_size = image_size
        self.seed = seed
        self.cnn = CNNF(feature_dim, image_size, cnn_width, dropout_rate, compute_dtype,
                        seed=seed, name="features")
        self.classifier = keras.layers.Dense(num_labels, name="product_type")

    def build(self, input_shape=None):
        self.cnn.build()
        self.classifier.build((None, self.cnn.head.units))
        self.built = True

    def call(self, images, training=False):
        return self.classifier(tf.nn.relu(self.cnn(images, training=training)))

    def features(self, images: tf.data.Dataset) -> tf.Tensor:
        """[M, F] features (after the ReLU the classifier reads) of every batch of images."""
        return tf.concat([self.encode_images(batch) for batch in images], axis=0)

    @tf.function(reduce_retracing=True)
    def encode_images(self, images: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(self.cnn(images, training=False))

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels,
                "feature_dim": self.cnn.output_dim, "image_size": self.image_size,
                "cnn_width": self.cnn.width, "dropout_rate": self.cnn.dropout_rate,
                "compute_dtype": self.cnn.body_dtype, "seed": self.seed}
