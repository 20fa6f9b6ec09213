"""AGE's encoder and generator: shapes, codes on the sphere and the authors' parameter counts
at width 1 (their save/load round trip is in test_serialization)."""

import numpy as np
import pytest
import tensorflow as tf

from tfgrad.models.age import AGEEncoder, AGEGenerator, random_codes


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

