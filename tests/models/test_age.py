"""AGE's encoder and generator: shapes, codes on the sphere, the authors' parameter counts at
width 1; the alternating steps move their objectives the right way, the plain autoencoder, the
train_step under one device and 2 replicas (the save/load round trip is in
test_serialization)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgrad import losses
from tfgrad.distribute import get_strategy
from tfgrad.models.age import AGE, AGEEncoder, AGEGenerator, random_codes
from tfgrad.models.lsgan import make_optimizers


@pytest.mark.parametrize("size", [32, 64])
def test_codes_lie_on_the_sphere_and_images_have_the_input_size(size):
    encoder, generator = AGEEncoder(16, size, width=0.125), AGEGenerator(16, size, width=0.125)
    encoder.build()
    generator.build()
    images = tf.random.stateless_uniform([5, size, size, 3], [0, 1], -1, 1)
    codes = encoder(images)
    assert codes.shape == (5, 16)
    np.testing.assert_allclose(tf.norm(codes, axis=1), 1.0, rtol=1e-5)
    generated = generator(codes)
    assert generated.shape == (5, size, size, 3)
    assert float(tf.reduce_max(tf.abs(generated))) < 1.0


def test_width_one_at_32_px_has_the_authors_parameter_counts():
    encoder, generator = AGEEncoder(128, 32), AGEGenerator(128, 32)
    encoder.build()
    generator.build()
    # The authors' CIFAR-10 nets: encoder 1.18M, generator 3.93M parameters (trainable ones:
    # batch norm's moving statistics are not parameters in PyTorch's count either).
    trainable = lambda model: sum(int(np.prod(w.shape)) for w in model.trainable_weights)  # noqa
    assert round(trainable(encoder) / 1e6, 2) == 1.18
    assert round(trainable(generator) / 1e6, 2) == 3.93


def test_random_codes_are_unit_and_repeat_per_seed():
    codes = random_codes(7, 12, 3)
    np.testing.assert_allclose(tf.norm(codes, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(codes, random_codes(7, 12, 3))
    assert not np.allclose(codes, random_codes(7, 12, 4))


def test_other_image_sizes_are_refused():
    with pytest.raises(ValueError, match="32 or 64 px"):
        AGEEncoder(image_size=28)



SIZE, LATENT = 32, 8


def _age(adversarial=True, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    model = AGE(LATENT, SIZE, width=0.0625, seed=seed, adversarial=adversarial, **kwargs)
    model.compile(*make_optimizers(1e-3, 0.5))
    return model


def _images(batch_size=16, seed=0):
    # Smooth images (a few random blobs): something an encoder can learn to tell apart.
    rng = np.random.default_rng(seed)
    grid = np.linspace(-1, 1, SIZE)
    centres = rng.uniform(-0.7, 0.7, size=(batch_size, 1, 1, 3, 2))
    distance = (grid[None, :, None, None] - centres[..., 0]) ** 2 + (
        grid[None, None, :, None] - centres[..., 1]) ** 2
    return (2 * np.exp(-distance / 0.1) - 1).astype(np.float32)


def test_one_encoder_step_raises_v_lowers_l_x_and_one_generator_step_lowers_its_objective():
    model = _age()
    images = tf.constant(_images())
    latents = random_codes(16, LATENT, 1)

    def divergence_and_reconstruction():
        real = model.encoder(images, training=True)
        fake = model.encoder(model.generator(latents, training=True), training=True)
        reconstruction = losses.l1_reconstruction_loss(images, model.generator(real,
                                                                               training=True))
        return (float(losses.age_divergence(fake, real)),
                float(tf.reduce_mean(reconstruction)))

    def generator_objective():
        fake = model.encoder(model.generator(latents, training=True), training=True)
        return float(losses.gaussian_kl_to_standard_normal(fake) / LATENT
                     + model.latent_weight * tf.reduce_mean(
                         losses.cosine_latent_loss(latents, fake)))

    divergence, reconstruction = divergence_and_reconstruction()
    objective = -divergence / LATENT + model.reconstruction_weight * reconstruction
    model.encoder_step(images, latents)
    after_divergence, after_reconstruction = divergence_and_reconstruction()
    assert -after_divergence / LATENT + model.reconstruction_weight * after_reconstruction < (
        objective)
    before = generator_objective()
    model.generator_step(latents)
    assert generator_objective() < before


def test_each_step_leaves_the_other_network_unchanged():
    model = _age()
    images, latents = tf.constant(_images(8)), random_codes(8, LATENT, 2)
    generator = [w.numpy() for w in model.generator.trainable_weights]
    model.encoder_step(images, latents)
    for kept, weight in zip(generator, model.generator.trainable_weights):
        np.testing.assert_array_equal(weight.numpy(), kept, err_msg=weight.path)
    encoder = [w.numpy() for w in model.encoder.trainable_weights]
    model.generator_step(latents)
    for kept, weight in zip(encoder, model.encoder.trainable_weights):
        np.testing.assert_array_equal(weight.numpy(), kept, err_msg=weight.path)


def test_the_encoder_steps_terms_are_the_hand_computed_ones():
    model = _age()
    images, latents = tf.constant(_images(8)), random_codes(8, LATENT, 3)
    real = model.encoder(images, training=True)
    fake = model.encoder(model.generator(latents, training=True), training=True)
    kl = lambda codes: np.sum(  # noqa: E731
        (codes.mean(0) ** 2 + codes.var(0)) / 2 - 0.5 * np.log(codes.var(0)) - 0.5) / LATENT
    reconstruction = np.mean(np.abs(images.numpy() - model.generator(real, training=True)))
    terms = model.encoder_step(images, latents)
    np.testing.assert_allclose(terms["kl_real"], kl(real.numpy()), rtol=1e-4)
    np.testing.assert_allclose(terms["kl_fake"], kl(fake.numpy()), rtol=1e-4)
    np.testing.assert_allclose(terms["reconstruction_x"], reconstruction, rtol=1e-4)
    np.testing.assert_allclose(
        terms["encoder_loss"], kl(real.numpy()) - kl(fake.numpy()) + 10 * reconstruction,
        rtol=1e-4)
    np.testing.assert_allclose(terms["code_mean"], np.abs(real.numpy().mean(0)).mean(),
                               rtol=1e-4)


def test_the_autoencoder_trains_both_networks_on_reconstruction_alone():
    model = _age(adversarial=False)
    images = tf.constant(_images())
    error = lambda: float(tf.reduce_mean(losses.l1_reconstruction_loss(  # noqa: E731
        images, model.generator(model.encoder(images, training=True), training=True))))
    before, encoder = error(), [w.numpy() for w in model.encoder.trainable_weights]
    for _ in range(3):
        terms = model.autoencoder_step(images)
    assert error() < before and "kl_real" not in terms
    assert not np.allclose(encoder[0], model.encoder.trainable_weights[0].numpy())


def test_generator_steps_per_encoder_step_is_counted_in_the_optimizers():
    model = _age(generator_steps=3)
    model.fit(tf.data.Dataset.from_tensors(_images(8)).repeat(), epochs=1, steps_per_epoch=2,
              verbose=0)
    assert int(model.e_optimizer.iterations) == 2
    assert int(model.g_optimizer.iterations) == 6
    with pytest.raises(ValueError, match="generator_steps"):
        AGE(LATENT, SIZE, generator_steps=0)


@pytest.mark.parametrize("strategy", ["one_device", "mirrored"])
@pytest.mark.parametrize("adversarial", [True, False])
def test_fit_trains_under_each_strategy(strategy, adversarial):
    with get_strategy(strategy).scope():
        model = _age(adversarial)
    history = model.fit(tf.data.Dataset.from_tensors(_images(8)).repeat(), epochs=1,
                        steps_per_epoch=2, verbose=0).history
    assert np.isfinite(history["encoder_loss"]).all()
    assert np.isfinite(history["reconstruction_x"]).all()
    assert ("generator_loss" in history) == adversarial


def test_latents_are_fresh_each_draw_and_distinct_per_replica():
    model = _age()
    first, second = model.sample_latents(4).numpy(), model.sample_latents(4).numpy()
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(first, second)
    strategy = get_strategy("mirrored")
    with strategy.scope():
        mirrored = _age()
    draws = strategy.experimental_local_results(
        strategy.run(tf.function(lambda: mirrored.sample_latents(2))))
    assert len(draws) == 2 and not np.allclose(draws[0].numpy(), draws[1].numpy())
