"""The item and user spaces every walk, index and export reads, against NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from tfgrad.spaces import ComposedMove, ItemSpace, LinearMove, UserSpace


def test_linear_move_is_reference_plus_gamma_times_the_weighted_attributes():
    rng = np.random.default_rng(0)
    attributes = rng.normal(size=(3, 4)).astype(np.float32)
    reference = rng.normal(size=(2, 4)).astype(np.float32)
    weights = np.array([[1, 0, -1], [0, 1, 0]], np.float32)
    strengths = np.array([0.5, 1.0], np.float32)
    queries = LinearMove(attributes).queries(reference, weights, strengths).numpy()
    expected = reference[:, None] + strengths[None, :, None] * (weights @ attributes)[:, None]
    np.testing.assert_allclose(queries, expected, rtol=1e-6)


def test_composed_move_applies_the_composer_at_every_strength():
    attributes = np.eye(2, dtype=np.float32)

    def composer(reference, modification):
        return reference * 2.0 + tf.reduce_sum(modification, axis=1, keepdims=True)

    queries = ComposedMove(attributes, composer).queries(
        np.array([[1.0, 1.0]], np.float32), np.array([[1.0, -3.0]], np.float32),
        np.array([0.1, 1.0], np.float32)).numpy()
    np.testing.assert_allclose(queries, [[[2 - 0.2, 2 - 0.2], [0.0, 0.0]]], atol=1e-6)
    assert isinstance(ComposedMove(attributes, composer).with_attribute_vectors(
        attributes[:1]), ComposedMove)


def test_item_space_subset_along_and_items_table():
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    space = ItemSpace(np.array(list("abcd")), np.array(["A", "B", "C", "D"]), vectors,
                      LinearMove(np.ones((2, 3))), ("x", "y"))
    pool = space.subset([3, 1])
    assert pool.item_ids.tolist() == ["d", "b"]
    np.testing.assert_array_equal(pool.item_vectors, vectors[[3, 1]])
    moved = pool.along(np.zeros((1, 3)), ["z"])
    assert moved.attributes == ("z",) and moved.move.num_attributes == 1
    assert space.items_table().columns.tolist() == ["item_id", "name"]
    with pytest.raises(ValueError, match="3 attribute names for a move along 2"):
        ItemSpace(space.item_ids, space.item_names, vectors, LinearMove(np.ones((2, 3))),
                  ("x", "y", "z"))
    with pytest.raises(ValueError, match="no attribute move"):
        ItemSpace(space.item_ids, space.item_names, vectors).along(np.ones((1, 3)))


def test_user_space_scores_are_dot_products():
    users = UserSpace(np.array(["u", "v"]), np.array([[1.0, 0.0], [0.5, 2.0]]),
                      [np.array([0]), np.array([], int)])
    items = ItemSpace(np.array(["a", "b", "c"]), np.array(["A", "B", "C"]),
                      np.array([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]]))
    np.testing.assert_allclose(users.scores([1, 0], items), [[2.5, 2.0, 1.0], [1.0, 0.0, 2.0]])
    with pytest.raises(ValueError, match="2 user ids, 2 user vectors and 1 known-item lists"):
        UserSpace(users.user_ids, users.user_vectors, [np.array([0])])
