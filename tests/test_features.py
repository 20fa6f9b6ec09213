"""Pixel features, PCA against NumPy's SVD, and the linear probe on separable and random
labels."""

import numpy as np
import pytest

from tfgrad import features


def test_pixels_are_flattened_into_minus_one_to_one():
    images = np.array([[[[0, 255, 0]]]], np.uint8)
    np.testing.assert_allclose(features.pixel_features(images), [[-1, 1, -1]])


@pytest.mark.parametrize("count", [200, 8])  # covariance route, Gram route
def test_pca_spans_the_svds_top_directions(count):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(count, 12)) * np.linspace(5, 0.1, 12)
    pca = features.fit_pca(data, 3)
    _, _, vt = np.linalg.svd(data - data.mean(0), full_matrices=False)
    # The same subspace (signs may flip).
    np.testing.assert_allclose(np.abs(pca.components.T @ vt[:3].T), np.eye(3), atol=1e-3)
    np.testing.assert_allclose(pca.transform(data), (data - data.mean(0)) @ pca.components,
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="PCA dims"):
        features.fit_pca(data, 13)


def test_the_probe_separates_separable_classes_and_not_random_ones():
    rng = np.random.default_rng(0)
    labels = rng.integers(3, size=600)
    separable = rng.normal(size=(600, 5)) + 4 * np.eye(3, 5)[labels]
    train, test = features.linear_probe(separable[:400], labels[:400], separable[400:],
                                        labels[400:], 3, steps=300)
    assert train > 0.95 and test > 0.95
    noise = rng.normal(size=(600, 5))
    _, test = features.linear_probe(noise[:400], labels[:400], noise[400:], labels[400:], 3,
                                    steps=300)
    assert test < 0.5
