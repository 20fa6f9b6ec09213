"""AGE's encoder e and generator g (AGE.md), DCGAN-style, for 32×32 and 64×64 images: latent
codes on the unit sphere of R^d (d = 128), no discriminator.

    e: x → (4×4 conv /2, BN except on the first, leaky ReLU 0.2) × (log2 S − 2), channels
       64·w doubling → 4×4 conv /2 to d → 2×2 average pool → ‖·‖ = 1
    g: z → 4×4 transposed conv from 1×1 to 4×4 (512·w) → (4×4 transposed conv ×2, BN, ReLU)
       × (log2 S − 2), channels halving (the last stage keeps them) → 1×1 conv to 3 → tanh

At width 1 and S = 32 these are the networks of the authors' CIFAR-10 setting (encoder 1.18M,
generator 3.93M parameters), so their speed can be compared on the same nets.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from tfgrad.models.lsgan import (BN_EPSILON, BN_MOMENTUM, INIT_STDDEV, LEAKY_RELU_SLOPE,
                                 build_conv_stages, leaky_relu)

IMAGE_SIZES = (32, 64)


def _check_image_size(image_size: int) -> int:
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"AGE's networks take {' or '.join(map(str, IMAGE_SIZES))} px images, "
                         f"got {image_size}")
    return image_size


def _init(seed: int):
    return keras.initializers.RandomNormal(stddev=INIT_STDDEV, seed=seed)


def _norm(name: str):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


class _AGENetwork(keras.Model):
    """What e and g share: the latent width, the image size, the width multiplier, the seed."""

    def __init__(self, latent_dim: int = 128, image_size: int = 32, width: float = 1.0,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.image_size = _check_image_size(image_size)
        self.width = width
        self.seed = seed
        self.num_stages = int(math.log2(image_size)) - 2

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim,
                "image_size": self.image_size, "width": self.width, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfgrad")
class AGEEncoder(_AGENetwork):
    """e: [B, S, S, 3] images in [−1, 1] -> [B, latent_dim] unit vectors.

    Args:
      latent_dim: d (128 in the paper).
      image_size: S, 32 or 64.
      width: channel multiplier (1.0: 64-128-256(-512)).
      seed: initialiser seed.
    """

    def __init__(self, latent_dim: int = 128, image_size: int = 32, width: float = 1.0,
                 seed: int = 0, **kwargs):
        super().__init__(latent_dim, image_size, width, seed, **kwargs)
        stages = self.num_stages
        self.stages = []
        for stage in range(stages):
            convolution = keras.layers.Conv2D(
                max(1, round(64 * 2 ** stage * width)), 4, strides=2, padding="same",
                use_bias=False, kernel_initializer=_init(seed + stage), name=f"conv{stage + 1}")
            self.stages.append((convolution, _norm(f"conv{stage + 1}_bn") if stage else None))
        self.to_code = keras.layers.Conv2D(latent_dim, 4, strides=2, padding="same",
                                           kernel_initializer=_init(seed + stages), name="code")

    def build(self, input_shape=None):
        self.to_code.build(build_conv_stages(
            self.stages, (None, self.image_size, self.image_size, 3)))
        self.built = True

    def call(self, images, training=False):
        features = tf.cast(images, tf.float32)
        for convolution, norm in self.stages:
            features = convolution(features)
            if norm is not None:
                features = norm(features, training=training)
            features = leaky_relu(features, LEAKY_RELU_SLOPE)
        codes = tf.reduce_mean(self.to_code(features), axis=[1, 2])
        return tf.math.l2_normalize(codes, axis=-1)


@keras.saving.register_keras_serializable(package="tfgrad")
class AGEGenerator(_AGENetwork):
    """g: [B, latent_dim] codes (on the sphere) -> [B, S, S, 3] images in (−1, 1).

    Args:
      latent_dim: d.
      image_size: S, 32 or 64.
      width: channel multiplier (1.0: 512-256-128-128 at 32 px, 512-256-128-64-64 at 64 px).
      seed: initialiser seed.
    """

    def __init__(self, latent_dim: int = 128, image_size: int = 32, width: float = 1.0,
                 seed: int = 0, **kwargs):
        super().__init__(latent_dim, image_size, width, seed, **kwargs)
        stages = self.num_stages
        channels = [max(1, round(512 / 2 ** k * width)) for k in range(stages)]
        channels.append(channels[-1])
        self.project = keras.layers.Conv2DTranspose(
            channels[0], 4, padding="valid", use_bias=False, kernel_initializer=_init(seed),
            name="project")
        self.project_norm = _norm("project_bn")
        self.stages = [
            (keras.layers.Conv2DTranspose(channels[k + 1], 4, strides=2, padding="same",
                                          use_bias=False, kernel_initializer=_init(seed + k + 1),
                                          name=f"deconv{k + 1}"), _norm(f"deconv{k + 1}_bn"))
            for k in range(stages)]
        self.to_image = keras.layers.Conv2D(3, 1, kernel_initializer=_init(seed + stages + 1),
                                            name="to_image")

    def build(self, input_shape=None):
        shape = (None, 1, 1, self.latent_dim)
        self.project.build(shape)
        shape = self.project.compute_output_shape(shape)
        self.project_norm.build(shape)
        self.to_image.build(build_conv_stages(self.stages, shape))
        self.built = True

    def call(self, codes, training=False):
        features = tf.reshape(tf.cast(codes, tf.float32), [-1, 1, 1, self.latent_dim])
        features = tf.nn.relu(self.project_norm(self.project(features), training=training))
        for convolution, norm in self.stages:
            features = tf.nn.relu(norm(convolution(features), training=training))
        return tf.tanh(self.to_image(features))


def random_codes(count, latent_dim: int, seed) -> tf.Tensor:
    """[count, latent_dim] latents uniform on the unit sphere (normalised Gaussians),
    stateless: the same seed gives the same codes."""
    seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(2, tf.int64)])
    return tf.math.l2_normalize(
        tf.random.stateless_normal(tf.stack([count, latent_dim]), seed), axis=-1)
