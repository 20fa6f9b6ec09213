"""Euclidean KNN through the dot-product indices, against NumPy's exact distances."""

import numpy as np
import pytest

from tfgrad.retrieval.knn import nearest_neighbours


def _exact(items, queries, k, exclude=None):
    distances = np.linalg.norm(queries[:, None] - items[None], axis=-1)
    if exclude is not None:
        distances[np.arange(len(queries)), exclude] = np.inf
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distances, order, axis=1)


@pytest.mark.parametrize("index", ["brute_force", "scann"])
def test_neighbours_and_distances_are_numpys(index):
    rng = np.random.default_rng(0)
    # Items of very different norms: a plain dot product would rank them wrongly.
    items = rng.normal(size=(300, 6)) * rng.uniform(0.1, 3, size=(300, 1))
    queries = rng.normal(size=(40, 6))
    rows, distances = nearest_neighbours(items, queries, 5, index=index)
    expected_rows, expected_distances = _exact(items, queries, 5)
    if index == "brute_force":
        np.testing.assert_array_equal(rows, expected_rows)
    else:
        assert np.mean(rows == expected_rows) > 0.8
    np.testing.assert_allclose(distances, np.linalg.norm(
        queries[:, None] - items[rows], axis=-1), rtol=1e-3, atol=1e-3)
    if index == "brute_force":
        np.testing.assert_allclose(distances, expected_distances, rtol=1e-3, atol=1e-3)


def test_a_query_item_is_never_its_own_neighbour():
    rng = np.random.default_rng(1)
    items = rng.normal(size=(50, 4))
    rows, _ = nearest_neighbours(items, items[:10], 3, exclude=np.arange(10), batch_size=4)
    expected, _ = _exact(items, items[:10], 3, exclude=np.arange(10))
    np.testing.assert_array_equal(rows, expected)


def test_bad_shapes_and_k_are_named():
    items = np.zeros((5, 3))
    with pytest.raises(ValueError, match="share D"):
        nearest_neighbours(items, np.zeros((2, 4)), 1)
    with pytest.raises(ValueError, match="k must be in 1..4"):
        nearest_neighbours(items, np.zeros((2, 3)), 5)
