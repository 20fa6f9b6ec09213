"""The conditional LSGAN: shapes, conditioning, one D step and one G step on a fixed tiny
batch, and the custom train_step under one device and 2 replicas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgrad import losses
from tfgrad.distribute import get_strategy
from tfgrad.models.lsgan import (ConditionalDiscriminator, ConditionalGenerator,
                                 ConditionalLSGAN, make_optimizers)

SIZE, NOISE, CATEGORIES = 16, 8, 3


def _batch(batch_size=4, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.uniform(-1, 1, size=(batch_size, SIZE, SIZE, 3)).astype(np.float32),
            "category": rng.integers(CATEGORIES, size=batch_size).astype(np.int32)}


def _gan(seed=0):
    keras.utils.set_random_seed(seed)
    model = ConditionalLSGAN(CATEGORIES, noise_dim=NOISE, image_size=SIZE, width=0.0625,
                             seed=seed)
    model.compile(*make_optimizers(1e-3, 0.5))
    return model


def test_generator_gives_images_in_tanh_range_and_conditioning_matters():
    generator = ConditionalGenerator(CATEGORIES, noise_dim=NOISE, image_size=SIZE,
                                     width=0.0625, seed=0)
    z = np.random.default_rng(0).uniform(-1, 1, size=(2, NOISE)).astype(np.float32)
    first = generator(z, np.array([0, 0], np.int32)).numpy()
    other = generator(z, np.array([1, 2], np.int32)).numpy()
    assert first.shape == (2, SIZE, SIZE, 3) and np.all(np.abs(first) < 1)
    assert np.abs(first - other).mean() > 1e-4


def test_discriminator_scores_each_image_and_reads_the_category():
    discriminator = ConditionalDiscriminator(CATEGORIES, image_size=SIZE, width=0.0625, seed=0)
    images = _batch()["image"]
    scores = discriminator(images, np.zeros(4, np.int32)).numpy()
    assert scores.shape == (4,) and scores.dtype == np.float32
    assert not np.allclose(scores, discriminator(images, np.full(4, 2, np.int32)).numpy())


@pytest.mark.parametrize("image_size", [10, 24])
def test_image_size_must_be_a_power_of_two(image_size):
    with pytest.raises(ValueError, match="power of two"):
        ConditionalGenerator(CATEGORIES, image_size=image_size)


def test_one_d_step_lowers_ds_loss_and_one_g_step_lowers_gs():
    model, batch = _gan(), _batch()
    noise = tf.constant(np.random.default_rng(1).uniform(-1, 1, size=(4, NOISE)), tf.float32)

    def d_loss():
        fakes = model.generator(noise, batch["category"], training=False)
        return float(tf.reduce_mean(losses.lsgan_discriminator_loss(
            model.discriminator(batch["image"], batch["category"], training=False),
            model.discriminator(fakes, batch["category"], training=False))))

    def g_loss():
        fakes = model.generator(noise, batch["category"], training=False)
        return float(tf.reduce_mean(losses.lsgan_generator_loss(
            model.discriminator(fakes, batch["category"], training=False))))

    # A few steps: batch norm's moving statistics (read at inference) need them to follow.
    before = d_loss()
    for _ in range(5):
        model.discriminator_step(batch["image"], batch["category"], noise)
    assert d_loss() < before
    before = g_loss()
    for _ in range(5):
        model.generator_step(batch["category"], noise)
    assert g_loss() < before


def test_the_steps_trackers_hold_the_batch_means():
    model, batch = _gan(), _batch()
    noise = tf.constant(np.random.default_rng(2).uniform(-1, 1, size=(4, NOISE)), tf.float32)
    fakes = model.generator(noise, batch["category"], training=True)
    real = model.discriminator(batch["image"], batch["category"], training=True).numpy()
    fake = model.discriminator(fakes, batch["category"], training=True).numpy()
    terms = model.discriminator_step(batch["image"], batch["category"], noise)
    np.testing.assert_allclose(terms["d_real"], real.mean(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(terms["d_fake"], fake.mean(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(terms["d_loss"], np.mean((real - 1) ** 2 + fake ** 2),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("strategy", ["one_device", "mirrored"])
def test_fit_trains_under_each_strategy(strategy):
    batches = tf.data.Dataset.from_tensors(_batch(8)).repeat()
    with get_strategy(strategy).scope():
        model = _gan()
    history = model.fit(batches, epochs=1, steps_per_epoch=2, verbose=0)
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert np.isfinite(history.history[name]).all(), name


def test_each_step_leaves_the_other_network_unchanged():
    model, batch = _gan(), _batch()
    noise = tf.constant(np.random.default_rng(3).uniform(-1, 1, size=(4, NOISE)), tf.float32)
    generator = [w.numpy() for w in model.generator.trainable_weights]
    model.discriminator_step(batch["image"], batch["category"], noise)
    for kept, weight in zip(generator, model.generator.trainable_weights):
        np.testing.assert_array_equal(weight.numpy(), kept, err_msg=weight.path)
    discriminator = [w.numpy() for w in model.discriminator.trainable_weights]
    model.generator_step(batch["category"], noise)
    for kept, weight in zip(discriminator, model.discriminator.trainable_weights):
        np.testing.assert_array_equal(weight.numpy(), kept, err_msg=weight.path)


def test_fits_trackers_hold_the_hand_computed_means_of_one_step():
    """fit's logs after one single-device step: the batch means, computed by hand on a twin
    with the same weights and the same two noise draws train_step takes."""
    model, twin, batch = _gan(), _gan(), _batch()
    twin.set_weights(model.get_weights())
    # The twin's seed generator starts where the model's does.
    d_noise, g_noise = twin.sample_noise(4), twin.sample_noise(4)
    images, categories = tf.constant(batch["image"]), tf.constant(batch["category"])
    real = twin.discriminator(images, categories, training=True).numpy()
    fake = twin.discriminator(twin.generator(d_noise, categories, training=True), categories,
                              training=True).numpy()
    twin.discriminator_step(images, categories, d_noise)  # G's loss is taken after D's step
    fake_after = twin.discriminator(twin.generator(g_noise, categories, training=True),
                                    categories, training=True).numpy()
    expected = {"d_loss": np.mean((real - 1) ** 2 + fake ** 2), "d_real": np.mean(real),
                "d_fake": np.mean(fake), "g_loss": np.mean((fake_after - 1) ** 2)}

    history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0).history
    assert set(history) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(history[name][0], value, rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_noise_is_uniform_fresh_each_draw_and_distinct_per_replica():
    model = _gan()
    first, second = model.sample_noise(512).numpy(), model.sample_noise(512).numpy()
    assert first.shape == (512, NOISE)
    assert first.min() >= -1 and first.max() < 1 and abs(first.mean()) < 0.05
    assert not np.allclose(first, second)
    # The SeedGenerator's state is shared by the replicas; the replica id must tell them apart.
    strategy = get_strategy("mirrored")
    with strategy.scope():
        mirrored = _gan()
    draws = strategy.experimental_local_results(
        strategy.run(tf.function(lambda: mirrored.sample_noise(2))))
    assert len(draws) == 2 and not np.allclose(draws[0].numpy(), draws[1].numpy())
