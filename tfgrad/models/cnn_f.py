"""CNN-F (Chatfield et al., the Φ of DVBPR.md) at the paper's 224 px, and the same architecture
scaled to smaller photos and narrower layers.

    conv1 64×11×11 /4 | pool | conv2 256×5×5 | pool | conv3-5 256×3×3 | pool | fc6 4096 + dropout
    | fc7 4096 + dropout | fc8 K

Scaling: conv1's kernel and stride shrink with the input (224 px: 11 and 4; 64 px: 5 and 2), so
the feature map after the last pool stays 3×3 to 6×6 (the paper's is 6×6); `width` multiplies
every layer's channels and fc units (1.0 = the paper's).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def first_layer_geometry(image_size: int) -> tuple[int, int]:
    """(kernel, stride) of conv1: the paper's 11 and 4 from 160 px up, 5 and 2 from 48 px, else
    3 and 1, so that the map after pool5 is 3×3 to 6×6 at every size."""
    if image_size >= 160:
        return 11, 4
    if image_size >= 48:
        return 5, 2
    return 3, 1


@keras.saving.register_keras_serializable(package="tfgrad")
class CNNF(keras.layers.Layer):
    """[B, S, S, 3] images in [-1, 1] -> [B, output_dim] float32.

    Args:
      output_dim: units of fc8 (K for DVBPR).
      image_size: S (224 is the paper's).
      width: channel and unit multiplier (1.0: 64/256/4096).
      dropout_rate: after fc6 and fc7.
      compute_dtype: a Keras dtype policy for every layer but fc8 ("mixed_float16" or
        "mixed_bfloat16" for mixed precision); fc8 and the output stay float32.
    """

    def __init__(self, output_dim: int, image_size: int = 224, width: float = 1.0,
                 dropout_rate: float = 0.5, compute_dtype: str = "float32", seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.image_size = image_size
        self.width = width
        self.dropout_rate = dropout_rate
        # Not `compute_dtype`: that is the Layer's own (read-only) policy property.
        self.body_dtype = compute_dtype
        self.seed = seed
        channels = [max(1, round(c * width)) for c in (64, 256, 256, 256, 256)]
        units = max(1, round(4096 * width))
        kernel, stride = first_layer_geometry(image_size)
        init = lambda offset: keras.initializers.GlorotUniform(seed=seed + offset)  # noqa: E731
        policy = dict(dtype=compute_dtype)
        self.body = [
            keras.layers.Conv2D(channels[0], kernel, strides=stride, padding="valid",
                                activation="relu", kernel_initializer=init(0), name="conv1",
                                **policy),
            keras.layers.MaxPooling2D(2, name="pool1", **policy),
            keras.layers.Conv2D(channels[1], 5, padding="same", activation="relu",
                                kernel_initializer=init(1), name="conv2", **policy),
            keras.layers.MaxPooling2D(2, name="pool2", **policy),
            keras.layers.Conv2D(channels[2], 3, padding="same", activation="relu",
                                kernel_initializer=init(2), name="conv3", **policy),
            keras.layers.Conv2D(channels[3], 3, padding="same", activation="relu",
                                kernel_initializer=init(3), name="conv4", **policy),
            keras.layers.Conv2D(channels[4], 3, padding="same", activation="relu",
                                kernel_initializer=init(4), name="conv5", **policy),
            keras.layers.MaxPooling2D(2, name="pool5", **policy),
            keras.layers.Flatten(name="flatten", **policy),
            keras.layers.Dense(units, activation="relu", kernel_initializer=init(5),
                               name="fc6", **policy),
            keras.layers.Dropout(dropout_rate, seed=seed + 6, name="drop6", **policy),
            keras.layers.Dense(units, activation="relu", kernel_initializer=init(7),
                               name="fc7", **policy),
            keras.layers.Dropout(dropout_rate, seed=seed + 8, name="drop7", **policy),
        ]
        self.head = keras.layers.Dense(output_dim, kernel_initializer=init(9), name="fc8",
                                       dtype="float32")

    def build(self, input_shape=None):
        shape = (None, self.image_size, self.image_size, 3)
        for layer in self.body:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        if shape[-1] is None or shape[-1] < 1:
            raise ValueError(f"images of {self.image_size} px are too small for CNN-F")
        self.head.build(shape)
        self.built = True

    def call(self, images, training=False):
        features = images
        for layer in self.body:
            features = layer(features, training=training)
        return self.head(tf.cast(features, tf.float32))

    def set_body_weights(self, weights: list) -> None:
        """Starts conv1–fc7 from another CNN-F's (same size and width; fc8 is kept), e.g. one
        trained on a supervised task."""
        own = [weight for layer in self.body for weight in layer.weights]
        if len(own) != len(weights) or any(tuple(w.shape) != tuple(v.shape)
                                            for w, v in zip(own, weights)):
            raise ValueError("the CNN-F weights to start from have another architecture "
                             "(image size or width)")
        for weight, value in zip(own, weights):
            weight.assign(value)

    def kernels(self) -> list:
        """The weights weight decay applies to (convolution and dense kernels)."""
        return [layer.kernel for layer in (*self.body, self.head) if hasattr(layer, "kernel")]

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim,
                "image_size": self.image_size, "width": self.width,
                "dropout_rate": self.dropout_rate, "compute_dtype": self.body_dtype,
                "seed": self.seed}
