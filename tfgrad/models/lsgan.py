"""The conditional LSGAN of DVBPR.md ("Design: conditional LSGAN"): a generator G(z, c) of
S×S RGB photos (S = 64 in the paper) of top-level category c, and a discriminator D(x, c) with a
linear score, trained with least-squares losses by alternating D and G updates.

    G: [z, one_hot(c)] → Dense 4·4·256 → BN, leaky ReLU → (5×5 transposed conv /2, BN, leaky
       ReLU) × (log2 S − 3), channels halving → 5×5 transposed conv /2 to 3 channels → tanh
    D: [x, tile(one_hot(c))] → (5×5 conv /2, BN except on the first, leaky ReLU 0.2,
       ‖ tile(one_hot(c))) × 4 with 64-128-256-512 channels → flatten → Dense(1), no sigmoid

Noise: z ~ U(−1, 1)^100, as the paper says and as preference maximisation assumes (it
searches z = tanh(z')); the authors' code samples N(0, 1)^256. Each replica draws its own z
(the model's `SeedGenerator` alone would give every replica the same draw).

Losses (`tfgrad.losses`): D minimises mean_b (D(x_b, c_b) − 1)² + D(G(z_b, c_b), c_b)², G
minimises mean_b (D(G(z_b, c_b), c_b) − 1)², each step reduced with
`tf.nn.compute_average_loss` over the global batch so that the gradients the optimizers sum
across replicas are the global batch's. Optimizers: Adam with β1 = 0.5 (`make_optimizers`).

Batch norm runs in training mode (batch statistics) in both steps, as in the authors' code;
`generate` and `test_step` use the moving statistics.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.alternating import AlternatingModel

LEAKY_RELU_SLOPE = 0.2
# DCGAN's initialisation and batch norm settings (the authors' code is DCGAN-tensorflow's).
INIT_STDDEV = 0.02
BN_MOMENTUM, BN_EPSILON = 0.9, 1e-5


def check_image_size(image_size: int) -> int:
    """Returns `image_size` if it is a power of two ≥ 16, else raises ValueError naming it: G
    doubles 4×4 up to S, and D's four stride-2 convolutions halve S down to at least 1×1."""
    if image_size < 16 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two ≥ 16, got {image_size}")
    return image_size


def _channels(channels: float, width: float) -> int:
    return max(1, round(channels * width))


def _normal(seed: int):
    return keras.initializers.RandomNormal(stddev=INIT_STDDEV, seed=seed)


def leaky_relu(features: tf.Tensor, slope: float = 0.2) -> tf.Tensor:
    """max(x, slope·x), leaky ReLU for 0 < slope < 1. Written out rather than tf.nn.leaky_relu:
    grappler fuses Conv2D + BiasAdd + LeakyRelu and then fails on the gradient graph of that
    fusion (the designs' ascent differentiates D), printing an error at every call."""
    return tf.maximum(features, slope * features)


def build_conv_stages(stages, shape: tuple) -> tuple:
    """Builds a chain of (convolution, batch norm or None) pairs from the input `shape`;
    returns the chain's output shape (also AGE's networks)."""
    for convolution, norm in stages:
        convolution.build(shape)
        shape = convolution.compute_output_shape(shape)
        if norm is not None:
            norm.build(shape)
    return shape


def tiled_condition(one_hot: tf.Tensor, features: tf.Tensor) -> tf.Tensor:
    """[B, K] one-hot, [B, H, W, C] features -> [B, H, W, C + K]: the one-hot copied to every
    position and appended to the channels (DCGAN-tensorflow's `conv_cond_concat`)."""
    # The one-hot's width is static (K), so the result keeps a static channel count.
    shape = tf.shape(features)
    tiled = tf.broadcast_to(tf.cast(one_hot, features.dtype)[:, None, None, :],
                            tf.concat([shape[:3], [one_hot.shape[-1]]], axis=0))
    return tf.concat([features, tiled], axis=-1)


@keras.saving.register_keras_serializable(package="tfgrad")
class ConditionalGenerator(keras.Model):
    """G(z, c): [B, noise_dim] noise and [B] category ids -> [B, S, S, 3] images in (−1, 1).

    Conditioning: one_hot(c) is concatenated to z before the projection only (as the authors'
    code does); the hidden feature maps carry no extra copy of it.

    Args:
      num_categories: K, the number of categories c ranges over.
      noise_dim: the width of z (100 in the paper).
      image_size: S, a power of two ≥ 16; G has log2(S) − 2 up-sampling stages (4 → S).
      base_channels: the channels of the 4×4 projection (256: 4·4·256); each stage halves them,
        and the last one outputs 3.
      width: a channel multiplier (1.0 = the paper's; small values for CPU runs).
      compute_dtype: a Keras dtype policy for every layer but the output convolution
        ("mixed_float16" / "mixed_bfloat16"); the output stays float32.
      seed: initialiser seed.
    """

    def __init__(self, num_categories: int, noise_dim: int = 100, image_size: int = 64,
                 base_channels: int = 256, width: float = 1.0, compute_dtype: str = "float32",
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.num_categories = num_categories
        self.noise_dim = noise_dim
        self.image_size = check_image_size(image_size)
        self.base_channels = base_channels
        self.width = width
        # Not `compute_dtype`: that is the Layer's own (read-only) policy property.
        self.body_dtype = compute_dtype
        self.seed = seed
        policy = dict(dtype=compute_dtype)
        self.projected_channels = _channels(base_channels, width)
        self.projection = keras.layers.Dense(
            4 * 4 * self.projected_channels, kernel_initializer=_normal(seed), name="project",
            **policy)
        self.projection_norm = keras.layers.BatchNormalization(
            momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="project_bn", **policy)
        num_stages = int(math.log2(image_size)) - 2
        self.hidden_stages = []
        for stage in range(1, num_stages):
            self.hidden_stages.append((
                keras.layers.Conv2DTranspose(
                    _channels(base_channels / 2 ** stage, width), 5, strides=2, padding="same",
                    kernel_initializer=_normal(seed + stage), name=f"deconv{stage}", **policy),
                keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                                name=f"deconv{stage}_bn", **policy)))
        self.output_layer = keras.layers.Conv2DTranspose(
            3, 5, strides=2, padding="same", kernel_initializer=_normal(seed + num_stages),
            name=f"deconv{num_stages}", dtype="float32")

    def build(self, input_shape=None):
        self.projection.build((None, self.noise_dim + self.num_categories))
        shape = (None, 4, 4, self.projected_channels)
        self.projection_norm.build(shape)
        self.output_layer.build(build_conv_stages(self.hidden_stages, shape))
        self.built = True

    def call(self, noise, categories, training=False):
        """[B, noise_dim], [B] int -> [B, S, S, 3] float32 in (−1, 1)."""
        noise = tf.cast(noise, tf.float32)
        one_hot = tf.one_hot(tf.cast(categories, tf.int32), self.num_categories)
        features = self.projection(tf.concat([noise, one_hot], axis=-1))
        features = tf.reshape(features, [-1, 4, 4, self.projected_channels])
        features = leaky_relu(self.projection_norm(features, training=training),
                              LEAKY_RELU_SLOPE)
        for convolution, norm in self.hidden_stages:
            features = leaky_relu(norm(convolution(features), training=training),
                                  LEAKY_RELU_SLOPE)
        return tf.tanh(self.output_layer(tf.cast(features, tf.float32)))

    def get_config(self):
        return {**super().get_config(), "num_categories": self.num_categories,
                "noise_dim": self.noise_dim, "image_size": self.image_size,
                "base_channels": self.base_channels, "width": self.width,
                "compute_dtype": self.body_dtype, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfgrad")
class ConditionalDiscriminator(keras.Model):
    """D(x, c): [B, S, S, 3] images in [−1, 1] and [B] category ids -> [B] float32 scores.

    Conditioning: one_hot(c) tiled to the spatial size is concatenated to the image and to the
    output of every convolution block (the authors' code skips the last block; here the
    flattened features also carry it, so the linear score has a per-category term).
    Batch norm on every block but the first (the input layer; as DCGAN and the authors).

    Args:
      num_categories: K.
      image_size: S, a power of two ≥ 16.
      widths: the channels of the 5×5 stride-2 convolutions (64-128-256-512 in the paper).
      width: a multiplier of `widths` (1.0 = the paper's).
      compute_dtype: a Keras dtype policy for every layer but the output Dense; the scores
        stay float32.
      seed: initialiser seed.
    """

    def __init__(self, num_categories: int, image_size: int = 64,
                 widths: tuple[int, ...] = (64, 128, 256, 512), width: float = 1.0,
                 compute_dtype: str = "float32", seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.num_categories = num_categories
        self.image_size = check_image_size(image_size)
        self.widths = tuple(widths)
        self.width = width
        self.body_dtype = compute_dtype
        self.seed = seed
        policy = dict(dtype=compute_dtype)
        self.blocks = []
        for index, channels in enumerate(self.widths):
            convolution = keras.layers.Conv2D(
                _channels(channels, width), 5, strides=2, padding="same",
                kernel_initializer=_normal(seed + index), name=f"conv{index}", **policy)
            norm = None if index == 0 else keras.layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"conv{index}_bn", **policy)
            self.blocks.append((convolution, norm))
        self.flatten = keras.layers.Flatten(name="flatten", **policy)
        self.score = keras.layers.Dense(1, kernel_initializer=_normal(seed + len(self.widths)),
                                        name="score", dtype="float32")

    def build(self, input_shape=None):
        shape = (None, self.image_size, self.image_size, 3 + self.num_categories)
        for convolution, norm in self.blocks:
            convolution.build(shape)
            shape = convolution.compute_output_shape(shape)
            if norm is not None:
                norm.build(shape)
            shape = (*shape[:3], shape[3] + self.num_categories)
        self.flatten.build(shape)
        self.score.build(self.flatten.compute_output_shape(shape))
        self.built = True

    def call(self, images, categories, training=False):
        """[B, S, S, 3], [B] int -> [B] float32 linear scores."""
        one_hot = tf.one_hot(tf.cast(categories, tf.int32), self.num_categories)
        # Float32 here; the first convolution casts to the compute dtype.
        features = tiled_condition(one_hot, tf.cast(images, tf.float32))
        for convolution, norm in self.blocks:
            features = convolution(features)
            if norm is not None:
                features = norm(features, training=training)
            features = tiled_condition(one_hot, leaky_relu(features, LEAKY_RELU_SLOPE))
        return self.score(tf.cast(self.flatten(features), tf.float32))[:, 0]

    def get_config(self):
        return {**super().get_config(), "num_categories": self.num_categories,
                "image_size": self.image_size, "widths": list(self.widths),
                "width": self.width, "compute_dtype": self.body_dtype, "seed": self.seed}


def make_optimizers(learning_rate: float = 2e-4, beta_1: float = 0.5, beta_2: float = 0.999,
                    loss_scale: bool = False
                    ) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """(D's, G's) Adam optimizers with DCGAN's β1 = 0.5 (the authors' code also sets β2 =
    0.99). `loss_scale` wraps both in a `LossScaleOptimizer`, for mixed_float16."""
    optimizers = []
    for name in ("d_optimizer", "g_optimizer"):
        optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2,
                                          name=name)
        if loss_scale:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{name}_scaled")
        optimizers.append(optimizer)
    return optimizers[0], optimizers[1]


@keras.saving.register_keras_serializable(package="tfgrad")
class ConditionalLSGAN(AlternatingModel):
    """G and D of the conditional LSGAN, trained by alternating one D and one G step.

    Batches: {"image": [B, S, S, 3] photos in [−1, 1], "category": [B] int ids}. `call` takes
    {"noise": [B, noise_dim], "category": [B]} and returns G's images (inference mode).

    Args:
      num_categories, noise_dim, image_size, base_channels: see `ConditionalGenerator`.
      discriminator_widths: see `ConditionalDiscriminator` (its `widths`).
      width: the channel multiplier of both networks.
      compute_dtype: both networks' policy (their outputs stay float32).
      seed: initialiser seed (G: seed, D: seed + 100) and the noise's seed.
    """

    TRACKED = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, num_categories: int, noise_dim: int = 100, image_size: int = 64,
                 base_channels: int = 256,
                 discriminator_widths: tuple[int, ...] = (64, 128, 256, 512),
                 width: float = 1.0, compute_dtype: str = "float32", seed: int = 0,
                 **kwargs):
        super().__init__(seed, **kwargs)
        self.num_categories = num_categories
        self.noise_dim = noise_dim
        self.image_size = image_size
        self.base_channels = base_channels
        self.discriminator_widths = tuple(discriminator_widths)
        self.width = width
        self.body_dtype = compute_dtype
        self.seed = seed
        self.generator = ConditionalGenerator(
            num_categories, noise_dim, image_size, base_channels, width, compute_dtype, seed,
            name="generator")
        self.discriminator = ConditionalDiscriminator(
            num_categories, image_size, self.discriminator_widths, width, compute_dtype,
            seed + 100, name="discriminator")
        self.d_optimizer = self.g_optimizer = None

    def build(self, input_shape=None):
        self.generator.build()
        self.discriminator.build()
        self.built = True

    def compile(self, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, **kwargs):
        """Two optimizers (see `make_optimizers`); call it inside the strategy's scope."""
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.compile_pair(d_optimizer, self.discriminator, g_optimizer, self.generator, **kwargs)

    def call(self, inputs, training=False):
        return self.generator(inputs["noise"], inputs["category"], training=training)

    def generate(self, noise, categories) -> tf.Tensor:
        """[B, noise_dim] z, [B] category ids -> [B, S, S, 3] G(z, c) (inference mode)."""
        return self.generator(noise, categories, training=False)

    def sample_noise(self, batch_size) -> tf.Tensor:
        """[batch_size, noise_dim] z ~ U(−1, 1), a fresh draw per call and per replica."""
        return tf.random.stateless_uniform([batch_size, self.noise_dim], seed=self.step_seed(),
                                           minval=-1.0, maxval=1.0)

    def discriminator_step(self, images, categories, noise) -> dict[str, tf.Tensor]:
        """One update of D on real photos and G(noise, categories) (G unchanged).

        Args:
          images: [B, S, S, 3] real photos in [−1, 1].
          categories: [B] their category ids (also the fakes').
          noise: [B, noise_dim] z of the fakes.

        Returns:
          {"d_loss", "d_real", "d_fake"}: scalar shares of the global batch's mean loss and
          mean scores (summed over replicas they are the global means), before the update.
        """
        fakes = self.generator(noise, categories, training=True)
        with tf.GradientTape() as tape:
            real_scores = self.discriminator(images, categories, training=True)
            fake_scores = self.discriminator(fakes, categories, training=True)
            loss = self._average(losses.lsgan_discriminator_loss(real_scores, fake_scores))
            scaled_loss = self.d_optimizer.scale_loss(loss)
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled_loss, weights), weights))
        return {"d_loss": loss, "d_real": self._average(real_scores),
                "d_fake": self._average(fake_scores)}

    def generator_step(self, categories, noise) -> dict[str, tf.Tensor]:
        """One update of G towards D(G(noise, categories), categories) = 1 (D unchanged).

        Args:
          categories: [B] category ids.
          noise: [B, noise_dim] z.

        Returns:
          {"g_loss"}: the scalar share of the global batch's mean loss, before the update.
        """
        with tf.GradientTape() as tape:
            fakes = self.generator(noise, categories, training=True)
            fake_scores = self.discriminator(fakes, categories, training=True)
            loss = self._average(losses.lsgan_generator_loss(fake_scores))
            scaled_loss = self.g_optimizer.scale_loss(loss)
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled_loss, weights), weights))
        return {"g_loss": loss}

    def train_step(self, data):
        images, categories = data["image"], data["category"]
        batch_size = tf.shape(images)[0]
        terms = self.discriminator_step(images, categories, self.sample_noise(batch_size))
        # A fresh z for G's step, as DVBPR.md's alternating updates sample anew.
        terms.update(self.generator_step(categories, self.sample_noise(batch_size)))
        return self._track(terms)

    def test_step(self, data):
        """The same four values in inference mode (moving statistics), without updates."""
        images, categories = data["image"], data["category"]
        noise = self.sample_noise(tf.shape(images)[0])
        real_scores = self.discriminator(images, categories, training=False)
        fake_scores = self.discriminator(self.generate(noise, categories), categories,
                                         training=False)
        return self._track({
            "d_loss": self._average(losses.lsgan_discriminator_loss(real_scores, fake_scores)),
            "g_loss": self._average(losses.lsgan_generator_loss(fake_scores)),
            "d_real": self._average(real_scores), "d_fake": self._average(fake_scores)})

    def get_config(self):
        return {**super().get_config(), "num_categories": self.num_categories,
                "noise_dim": self.noise_dim, "image_size": self.image_size,
                "base_channels": self.base_channels,
                "discriminator_widths": list(self.discriminator_widths), "width": self.width,
                "compute_dtype": self.body_dtype, "seed": self.seed}
