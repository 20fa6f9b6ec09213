"""Preference maximisation, inversion and the softmax draw on tiny G, D and Φ."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgrad import preference


class TinyGenerator(keras.Model):
    """z [B, 4], c [B] -> [B, 8, 8, 3] in (−1, 1)."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(8 * 8 * 3)
        self.embedding = keras.layers.Embedding(2, 8 * 8 * 3)

    def call(self, z, c, training=False):
        return tf.reshape(tf.tanh(self.dense(z) + self.embedding(c)), [-1, 8, 8, 3])


class TinyDiscriminator(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)

    def call(self, x, c, training=False):
        return self.dense(tf.reshape(x, [tf.shape(x)[0], -1]))[:, 0] + tf.cast(c, tf.float32)


class TinyPhi(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x, training=False):
        return self.dense(tf.reshape(x, [tf.shape(x)[0], -1]))


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    generator, discriminator, phi = TinyGenerator(), TinyDiscriminator(), TinyPhi()
    generator(tf.zeros([1, 4]), tf.zeros([1], tf.int32))
    discriminator(tf.zeros([1, 8, 8, 3]), tf.zeros([1], tf.int32))
    phi(tf.zeros([1, 6, 6, 3]))
    users = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    return generator, discriminator, preference.VisualPreference(phi, users, image_size=6)


def test_objective_is_preference_minus_eta_times_the_realism_penalty(models):
    generator, discriminator, model = models
    z_prime = preference.random_starts(5, 4, seed=1)
    result = preference.objective(generator, discriminator, model, 2, 1, z_prime, eta=0.5)
    images = generator(tf.tanh(z_prime), tf.ones([5], tf.int32)).numpy()
    resized = tf.image.resize(images, [6, 6], antialias=True)
    expected_preference = model.phi(resized).numpy() @ model.user_vectors.numpy()[2]
    expected_penalty = (discriminator(images, tf.ones([5], tf.int32)).numpy() - 1) ** 2
    np.testing.assert_allclose(result.preference, expected_preference, rtol=1e-5)
    np.testing.assert_allclose(result.penalty, expected_penalty, rtol=1e-5)
    np.testing.assert_allclose(result.value, expected_preference - 0.5 * expected_penalty,
                               rtol=1e-5)


def test_starts_are_stateless_and_tanh_keeps_z_inside_the_cube():
    first = preference.random_starts(64, 4, seed=3).numpy()
    np.testing.assert_array_equal(first, preference.random_starts(64, 4, seed=3).numpy())
    assert not np.allclose(first, preference.random_starts(64, 4, seed=4).numpy())
    z = np.tanh(first)
    assert np.all(np.abs(z) < 1) and z.min() < -0.9 and z.max() > 0.9


def test_preference_maximisation_raises_every_starts_objective(models):
    generator, discriminator, model = models
    start = preference.random_starts(16, 4, seed=0)
    before = preference.objective(generator, discriminator, model, 0, 0, start, 1.0).value
    z_prime, after = preference.maximise_preference(generator, discriminator, model, 0, 0,
                                                    start, eta=1.0, steps=20,
                                                    learning_rate=0.05)
    assert z_prime.shape == (16, 4)
    assert np.all(after.value.numpy() > before.numpy())
    assert np.all(np.abs(np.tanh(z_prime.numpy())) < 1)


def test_ascent_inside_a_tf_function_equals_the_eager_one(models):
    generator, discriminator, model = models
    start = preference.random_starts(4, 4, seed=2)

    @tf.function
    def traced(steps):
        return preference.maximise_preference(generator, discriminator, model, 1, 1, start,
                                              1.0, steps, 0.05)[1].value

    eager = preference.maximise_preference(generator, discriminator, model, 1, 1, start, 1.0, 5,
                                           0.05)[1].value
    np.testing.assert_allclose(traced(tf.constant(5)), eager, rtol=1e-5, atol=1e-6)


def test_inversion_lowers_the_reconstruction_error(models):
    generator, _, _ = models
    target = generator(tf.tanh(preference.random_starts(1, 4, seed=9)),
                       tf.zeros([1], tf.int32))[0]
    start = preference.random_starts(8, 4, seed=5)
    before = preference.reconstruction_error(generator, 0, start, target).numpy().min()
    z_prime, image = preference.invert(generator, 0, target, start, steps=60,
                                       learning_rate=0.05)
    after = float(np.mean(np.abs(image.numpy() - target.numpy())))
    assert z_prime.shape == (4,) and after < before


def test_softmax_sample_draws_distinct_items_and_follows_the_values():
    values = tf.constant([0.0, 10.0, -10.0, 9.0, 0.5])
    drawn = preference.softmax_sample(values, 2, seed=0).numpy()
    assert sorted(drawn.tolist()) == [1, 3]
    draws = np.array([preference.softmax_sample(tf.constant([0.0, 1.0, 2.0]), 1, seed).numpy()[0]
                      for seed in range(300)])
    shares = np.bincount(draws, minlength=3) / 300
    np.testing.assert_allclose(shares, np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum(), atol=0.07)


def test_best_and_drawn_puts_the_best_first_and_never_repeats():
    values = tf.constant([0.1, 5.0, 0.2, 0.3, 4.0])
    for seed in range(5):
        chosen = preference.best_and_drawn(values, 3, seed).numpy()
        assert chosen[0] == 1 and len(set(chosen.tolist())) == 3
