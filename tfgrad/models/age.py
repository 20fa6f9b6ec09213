"""AGE's encoder e and generator g (AGE.md), DCGAN-style, for 32×32 and 64×64 images: latent
codes on the unit sphere of R^d (d = 128), no discriminator.

    e: x → (4×4 conv /2, BN except on the first, leaky ReLU 0.2) × (log2 S − 2), channels
       64·w doubling → 4×4 conv /2 to d → 2×2 average pool → ‖·‖ = 1
    g: z → 4×4 transposed conv from 1×1 to 4×4 (512·w) → (4×4 transposed conv ×2, BN, ReLU)
       × (log2 S − 2), channels halving (the last stage keeps them) → 1×1 conv to 3 → tanh

At width 1 and S = 32 these are the networks of the authors' CIFAR-10 setting (encoder 1.18M,
generator 3.93M parameters), so their speed can be compared on the same nets.

Training (`AGE.train_step`), per batch of real images X and fresh latents Z on the sphere:

    encoder (once):  min_e  KL(e(X) ‖ Y) − KL(e(g(Z)) ‖ Y) + μ L_X(x, g(e(x)))
    generator (n×):  min_g  KL(e(g(Z)) ‖ Y) + λ L_Z(z, e(g(z)))      (a fresh Z each time)

with Y = N(0, I), KL the Gaussian fitted per dimension to the batch (`losses.
gaussian_kl_to_standard_normal`), L_X the L1 distance in data space and L_Z the cosine distance
on the sphere. The authors' CIFAR-10 setting is n = 2, λ = 1000, μ = 10, with their KL averaged
over the d dimensions (their `KLN01Loss`, which also puts the variance where the standard
deviation belongs — see the loss's docstring); here the KL is the closed form, divided by d so
that λ and μ keep the authors' units. The authors also decay the learning rate by 0.96 every
40 epochs; runs here are far shorter than one such period, so there is no decay.

`adversarial=False` is the plain autoencoder of the same e and g: one joint step on μ L_X alone
(what the adversarial terms add is the difference between the two).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.alternating import AlternatingModel
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


def codes_on_sphere(count, latent_dim: int, seed: tf.Tensor) -> tf.Tensor:
    """[count, latent_dim] latents uniform on the unit sphere (normalised Gaussians) from a
    stateless seed pair."""
    return tf.math.l2_normalize(tf.random.stateless_normal(tf.stack([count, latent_dim]), seed),
                                axis=-1)


def random_codes(count, latent_dim: int, seed) -> tf.Tensor:
    """[count, latent_dim] latents on the sphere from an int seed: the same seed gives the same
    codes (fixed latents of sample grids, tests)."""
    return codes_on_sphere(count, latent_dim,
                           tf.stack([tf.cast(seed, tf.int64), tf.constant(2, tf.int64)]))


@keras.saving.register_keras_serializable(package="tfgrad")
class AGE(AlternatingModel):
    """AGE's encoder e and generator g, trained by alternating updates (see the module
    docstring); or, with `adversarial=False`, the plain autoencoder of the same networks.

    Batches: [B, S, S, 3] images in [−1, 1]. `call` (and `encode`) gives e(x).

    Args:
      latent_dim, image_size, width: both networks' shape (see `AGEEncoder`).
      latent_weight: λ, the weight of L_Z in the generator's objective.
      reconstruction_weight: μ, the weight of L_X in the encoder's objective.
      generator_steps: generator updates per encoder update (the authors' 2).
      adversarial: False trains the plain autoencoder (L_X only, e and g together).
      seed: initialiser seed (e: seed, g: seed + 100) and the latents' seed.
    """

    TRACKED = ("encoder_loss", "generator_loss", "kl_real", "kl_fake", "reconstruction_x",
               "reconstruction_z", "code_mean", "code_std")
    AUTOENCODER_TRACKED = ("encoder_loss", "reconstruction_x", "code_mean", "code_std")

    def __init__(self, latent_dim: int = 128, image_size: int = 32, width: float = 1.0,
                 latent_weight: float = 1000.0, reconstruction_weight: float = 10.0,
                 generator_steps: int = 2, adversarial: bool = True, seed: int = 0, **kwargs):
        super().__init__(seed, **kwargs)
        if generator_steps < 1:
            raise ValueError(f"generator_steps must be at least 1, got {generator_steps}")
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.width = width
        self.latent_weight = latent_weight
        self.reconstruction_weight = reconstruction_weight
        self.generator_steps = generator_steps
        self.adversarial = adversarial
        if not adversarial:
            # The autoencoder has no generator objective or KL terms to report.
            self.trackers = {name: tracker for name, tracker in self.trackers.items()
                             if name in self.AUTOENCODER_TRACKED}
        self.seed = seed
        self.encoder = AGEEncoder(latent_dim, image_size, width, seed, name="encoder")
        self.generator = AGEGenerator(latent_dim, image_size, width, seed + 100,
                                      name="generator")
        self.e_optimizer = self.g_optimizer = None

    def build(self, input_shape=None):
        self.encoder.build()
        self.generator.build()
        self.built = True

    def compile(self, e_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, **kwargs):
        """Two optimizers (see `lsgan.make_optimizers`); call it inside the strategy's
        scope."""
        self.e_optimizer, self.g_optimizer = e_optimizer, g_optimizer
        self.compile_pair(e_optimizer, self.encoder, g_optimizer, self.generator, **kwargs)

    def call(self, images, training=False):
        return self.encoder(images, training=training)

    def encode(self, images) -> tf.Tensor:
        """[B, S, S, 3] images in [−1, 1] -> [B, d] unit codes (inference mode)."""
        return self.encoder(images, training=False)

    def decode(self, codes) -> tf.Tensor:
        """[B, d] codes -> [B, S, S, 3] images in (−1, 1) (inference mode)."""
        return self.generator(codes, training=False)

    def sample_latents(self, batch_size) -> tf.Tensor:
        """[batch_size, d] fresh latents on the sphere, per call and per replica."""
        return codes_on_sphere(batch_size, self.latent_dim, self.step_seed())

    def _kl(self, codes):
        # Per dimension, so that λ and μ are in the authors' units.
        return losses.gaussian_kl_to_standard_normal(codes) / self.latent_dim

    def _code_statistics(self, codes) -> dict[str, tf.Tensor]:
        """Mean |μ_j| and mean σ_j of the batch's codes (healthy training: μ_j near 0), as
        replica shares."""
        mean, variance = tf.nn.moments(codes, axes=[0])
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return {"code_mean": tf.reduce_mean(tf.abs(mean)) / replicas,
                "code_std": tf.reduce_mean(tf.sqrt(variance)) / replicas}

    def encoder_step(self, images, latents) -> dict[str, tf.Tensor]:
        """One update of e: real codes towards Y, generated codes away, L_X down (g fixed).

        The KL terms are the batch's, per replica (a Gaussian fitted to each replica's codes);
        their replica shares are divided by the replicas so that summed gradients average
        them.

        Returns:
          {"encoder_loss", "kl_real", "kl_fake", "reconstruction_x", "code_mean",
          "code_std"}: replica shares, before the update.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        fakes = self.generator(latents, training=True)
        with tf.GradientTape() as tape:
            real_codes = self.encoder(images, training=True)
            fake_codes = self.encoder(fakes, training=True)
            kl_real = self._kl(real_codes) / replicas
            kl_fake = self._kl(fake_codes) / replicas
            reconstruction = self._average(losses.l1_reconstruction_loss(
                images, self.generator(real_codes, training=True)))
            loss = kl_real - kl_fake + self.reconstruction_weight * reconstruction
            scaled = self.e_optimizer.scale_loss(loss)
        weights = self.encoder.trainable_weights
        self.e_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return {"encoder_loss": loss, "kl_real": kl_real, "kl_fake": kl_fake,
                "reconstruction_x": reconstruction, **self._code_statistics(real_codes)}

    def generator_step(self, latents) -> dict[str, tf.Tensor]:
        """One update of g: generated codes towards Y, e(g(z)) back to z (e fixed).

        Returns:
          {"generator_loss", "reconstruction_z"}: replica shares, before the update.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            fake_codes = self.encoder(self.generator(latents, training=True), training=True)
            latent_error = self._average(losses.cosine_latent_loss(latents, fake_codes))
            loss = self._kl(fake_codes) / replicas + self.latent_weight * latent_error
            scaled = self.g_optimizer.scale_loss(loss)
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return {"generator_loss": loss, "reconstruction_z": latent_error}

    def autoencoder_step(self, images) -> dict[str, tf.Tensor]:
        """One joint update of e and g on μ L_X alone (the plain autoencoder).

        Returns:
          {"encoder_loss", "reconstruction_x", "code_mean", "code_std"}: replica shares.
        """
        with tf.GradientTape() as tape:
            codes = self.encoder(images, training=True)
            reconstruction = self._average(losses.l1_reconstruction_loss(
                images, self.generator(codes, training=True)))
            loss = self.reconstruction_weight * reconstruction
            scaled = self.g_optimizer.scale_loss(loss)
        encoder, generator = self.encoder.trainable_weights, self.generator.trainable_weights
        gradients = tape.gradient(scaled, encoder + generator)
        # Each network's own Adam (the same settings): one joint Adam step.
        self.e_optimizer.apply_gradients(zip(gradients[:len(encoder)], encoder))
        self.g_optimizer.apply_gradients(zip(gradients[len(encoder):], generator))
        return {"encoder_loss": loss, "reconstruction_x": reconstruction,
                **self._code_statistics(codes)}

    def train_step(self, images):
        batch_size = tf.shape(images)[0]
        if not self.adversarial:
            return self._track(self.autoencoder_step(images))
        terms = self.encoder_step(images, self.sample_latents(batch_size))
        for _ in range(self.generator_steps):
            # A fresh Z every generator update, as the authors' loop draws.
            terms.update(self.generator_step(self.sample_latents(batch_size)))
        return self._track(terms)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim,
                "image_size": self.image_size, "width": self.width,
                "latent_weight": self.latent_weight,
                "reconstruction_weight": self.reconstruction_weight,
                "generator_steps": self.generator_steps, "adversarial": self.adversarial,
                "seed": self.seed}
