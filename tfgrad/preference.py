"""Designing for a user with a trained generator (DVBPR.md, "Design: conditional LSGAN").

Preference maximisation finds, for user u and category c, the latent z = tanh(z′) that
maximises

    θ_u·Φ(Δ G_c(tanh z′)) − η (D_c(G_c(tanh z′)) − 1)²

(Δ resizes G's image to Φ's input): the user's preference under a frozen DVBPR (Φ, θ_u) minus η
times the LSGAN's realism penalty. z′ is unconstrained and tanh keeps z inside G's (−1, 1)^d.
Gradient ascent runs from m random starts at once, as one [m, d] tensor; the best start is the
design, and several designs are drawn among the m by a softmax of their objectives (more
diverse than the top k). Tailoring first inverts an existing photo (z′ minimising
‖G_c(tanh z′) − Δ′ photo‖₁) and climbs from there.

Every function here is TensorFlow ops only (tf.while_loop, stateless random), so the same code
runs eagerly, in tests, and inside the exported `design` and `tailor` signatures.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf

from tfgrad import losses

# |z| < 1 − ε keeps atanh finite for starts drawn at the edge of U(−1, 1).
_EDGE = 1e-3
_ADAM_BETA_1, _ADAM_BETA_2, _ADAM_EPSILON = 0.9, 0.999, 1e-8



class VisualPreference(tf.Module):
    """A frozen visual preference model: x_{u,x} = θ_u·Φ(x) (a trained DVBPR's Φ and Θ).

    Args:
      phi: [B, S, S, 3] images in [−1, 1] -> [B, K] (DVBPR's CNN-F; called with
        training=False, so dropout is off).
      user_vectors: [N, K] θ.
      image_size: S, Φ's input size.
    """

    def __init__(self, phi, user_vectors, image_size: int, name: str = "visual_preference"):
        super().__init__(name=name)
        self.phi = phi
        self.user_vectors = tf.Variable(tf.cast(user_vectors, tf.float32), trainable=False,
                                        name="user_vectors")
        self.image_size = int(image_size)

    @classmethod
    def from_dvbpr(cls, model) -> "VisualPreference":
        """The preference model of a trained `tfgrad.models.dvbpr.DVBPR`."""
        return cls(model.cnn, model.user_embedding.embeddings, model.image_size)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        """[B, S″, S″, 3] images in [−1, 1] (any size) -> [B, K] Φ(Δ x)."""
        resized = tf.image.resize(images, [self.image_size, self.image_size], antialias=True)
        return tf.cast(self.phi(resized, training=False), tf.float32)

    def scores(self, users: tf.Tensor, images: tf.Tensor) -> tf.Tensor:
        """[B] user indices, [B, S″, S″, 3] images -> [B] θ_u·Φ(Δ x)."""
        return tf.reduce_sum(tf.gather(self.user_vectors, users) * self(images), axis=1)


class Objective(NamedTuple):
    """The objective's parts for a batch of latents.

    Attributes:
      value: [m] preference − η · realism penalty (what is maximised).
      preference: [m] θ_u·Φ(Δ x).
      penalty: [m] (D_c(x) − 1)².
      images: [m, S, S, 3] x = G_c(tanh z′) in (−1, 1).
    """

    value: tf.Tensor
    preference: tf.Tensor
    penalty: tf.Tensor
    images: tf.Tensor


def random_starts(count, noise_dim: int, seed) -> tf.Tensor:
    """[count, noise_dim] z′ = atanh(z) for z ~ U(−1, 1)^d (stateless: the same seed gives the
    same starts, in eager code and in a SavedModel alike)."""
    seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    z = tf.random.stateless_uniform(tf.stack([count, noise_dim]), seed, minval=-1.0, maxval=1.0)
    return tf.atanh(tf.clip_by_value(z, -1.0 + _EDGE, 1.0 - _EDGE))


def objective(generator, discriminator, preference_model: VisualPreference, user,
              category, z_prime: tf.Tensor, eta) -> Objective:
    """The preference-maximisation objective of every latent in z′ [m, d].

    Args:
      generator, discriminator: the conditional LSGAN's G and D (called with training=False).
      preference_model: the frozen θ and Φ.
      user: scalar int, u; category: scalar int, c.
      eta: η, the weight of the realism penalty.
    """
    count = tf.shape(z_prime)[0]
    categories = tf.fill([count], tf.cast(category, tf.int32))
    images = generator(tf.tanh(z_prime), categories, training=False)
    scores = discriminator(images, categories, training=False)
    preference = tf.linalg.matvec(preference_model(images),
                                  tf.gather(preference_model.user_vectors, user))
    penalty = tf.square(tf.cast(scores, tf.float32) - 1.0)
    return Objective(preference - tf.cast(eta, tf.float32) * penalty, preference, penalty,
                     images)


def _adam_ascent(loss_of: Callable[[tf.Tensor], tf.Tensor], start: tf.Tensor, steps,
                 learning_rate) -> tf.Tensor:
    """z′ after `steps` Adam steps minimising the [m] per-start losses (each start on its
    own: the batch's loss is their sum, so one start's gradient never moves another)."""
    learning_rate = tf.cast(learning_rate, tf.float32)

    def step(t, z, first, second):
        with tf.GradientTape() as tape:
            tape.watch(z)
            total = tf.reduce_sum(loss_of(z))
        gradient = tape.gradient(total, z)
        t = t + 1
        first = _ADAM_BETA_1 * first + (1 - _ADAM_BETA_1) * gradient
        second = _ADAM_BETA_2 * second + (1 - _ADAM_BETA_2) * tf.square(gradient)
        corrected = tf.cast(t, tf.float32)
        first_hat = first / (1 - _ADAM_BETA_1 ** corrected)
        second_hat = second / (1 - _ADAM_BETA_2 ** corrected)
        z = z - learning_rate * first_hat / (tf.sqrt(second_hat) + _ADAM_EPSILON)
        return t, z, first, second

    zeros = tf.zeros_like(start)
    _, z, _, _ = tf.while_loop(lambda t, *_: t < tf.cast(steps, tf.int32), step,
                               (tf.constant(0, tf.int32), start, zeros, zeros))
    return z


def maximise_preference(generator, discriminator, preference_model: VisualPreference, user,
                        category, start: tf.Tensor, eta=1.0, steps=10, learning_rate=0.2
                        ) -> tuple[tf.Tensor, Objective]:
    """Gradient ascent of `objective` from every start z′ [m, d] at once.

    Returns:
      (z′ [m, d] after `steps` steps, the `Objective` there).
    """
    def loss(z_prime):
        return -objective(generator, discriminator, preference_model, user, category, z_prime,
                          eta).value

    z_prime = _adam_ascent(loss, start, steps, learning_rate)
    return z_prime, objective(generator, discriminator, preference_model, user, category,
                              z_prime, eta)


def reconstruction_error(generator, category, z_prime: tf.Tensor, target: tf.Tensor
                         ) -> tf.Tensor:
    """[m] mean |G_c(tanh z′) − target| per latent; target [S, S, 3] in [−1, 1] at G's size."""
    count = tf.shape(z_prime)[0]
    images = generator(tf.tanh(z_prime), tf.fill([count], tf.cast(category, tf.int32)),
                       training=False)
    return losses.l1_reconstruction_loss(images, tf.convert_to_tensor(target)[None])


def invert(generator, category, target: tf.Tensor, start: tf.Tensor, steps=50,
           learning_rate=0.05) -> tuple[tf.Tensor, tf.Tensor]:
    """The latent whose image is closest (L1) to `target`, from every start at once.

    Returns:
      (z′ [d] of the best start, its [S, S, 3] image).
    """
    z_prime = _adam_ascent(lambda z: reconstruction_error(generator, category, z, target), start,
                           steps, learning_rate)
    errors = reconstruction_error(generator, category, z_prime, target)
    best = tf.argmin(errors)
    image = generator(tf.tanh(z_prime[best][None]),
                      tf.cast(tf.reshape(category, [1]), tf.int32), training=False)[0]
    return z_prime[best], image


def softmax_sample(values: tf.Tensor, count, seed, temperature=1.0) -> tf.Tensor:
    """[count] distinct positions of `values` [m], drawn without replacement with
    probabilities softmax(values / temperature) (the Gumbel top-k trick), best-first when the
    temperature goes to zero. Stateless: the same seed draws the same positions."""
    seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(1, tf.int64)])
    uniform = tf.random.stateless_uniform(tf.shape(values), seed, minval=1e-9, maxval=1.0)
    gumbel = -tf.math.log(-tf.math.log(uniform))
    keys = tf.cast(values, tf.float32) / tf.cast(temperature, tf.float32) + gumbel
    return tf.math.top_k(keys, k=count).indices


def best_and_drawn(values: tf.Tensor, count, seed) -> tf.Tensor:
    """[count] positions of `values` [m]: the best, then count − 1 softmax draws among the
    rest (DVBPR.md: several designs are sampled by a softmax of their objectives)."""
    best = tf.argmax(values, output_type=tf.int32)
    rest = tf.tensor_scatter_nd_update(tf.cast(values, tf.float32), best[None, None],
                                       tf.constant([-float("inf")]))
    return tf.concat([best[None], tf.cast(softmax_sample(rest, count - 1, seed), tf.int32)],
                     axis=0)
