"""Tests for tfgrad.data.pipelines on tiny hand-made and small synthetic catalogues."""

import numpy as np
import pytest
import tensorflow as tf

from tfgrad.data.catalogue import Catalogue
from tfgrad.data.pipelines import (attribute_weights, cgir_training_dataset, triples_dataset,
                                   user_interactions_dataset)
from tfgrad.data.synthetic import SyntheticCatalogueConfig, generate_catalogue
from tfgrad.data.triples import Triples, make_triples

TRIPLE_KEYS = {"reference", "target", "attribute", "direction"}


def _tiny_catalogue(interactions=None):
    """5 items, 4 users: user 2 has no interactions; user 3 has a duplicate interaction."""
    if interactions is None:
        interactions = np.array(
            [[0, 0], [0, 3], [1, 4], [3, 1], [1, 2], [3, 1], [3, 4], [0, 1]], dtype=np.int64)
    return Catalogue(
        name="tiny",
        item_ids=np.array([f"i{k}" for k in range(5)]),
        item_names=np.array([f"item {k}" for k in range(5)]),
        attributes=("floral", "dark"),
        item_attributes=np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0]], dtype=np.float32),
        interactions=interactions,
        num_users=4,
    )


def _multi_hot_rows(catalogue):
    """{user: multi-hot row} for users with interactions, built with a plain loop."""
    rows = {}
    for user, item in catalogue.interactions.tolist():
        rows.setdefault(user, np.zeros(catalogue.num_items, dtype=np.float32))[item] = 1.0
    return rows


def _match_user(row, rows_by_user):
    matches = [user for user, expected in rows_by_user.items() if np.array_equal(row, expected)]
    assert matches, f"row {row} is no user's item set"
    return matches


def _hand_triples():
    return Triples(
        reference=np.array([0, 1, 0, 3, 2, 1, 2, 3], dtype=np.int64),
        target=np.array([1, 0, 3, 0, 1, 2, 3, 2], dtype=np.int64),
        attribute=np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.int64),
        direction=np.array([1, -1, 1, -1, 1, -1, 1, -1], dtype=np.int64))


def _triple_set(triples):
    return set(zip(triples.reference.tolist(), triples.target.tolist(),
                   triples.attribute.tolist(), triples.direction.tolist()))


def _batch_rows(batch):
    return list(zip(*(batch[key].numpy().tolist()
                      for key in ("reference", "target", "attribute", "direction"))))


# ---------------------------------------------------------------- user_interactions_dataset


def test_user_rows_are_multi_hot_user_sets_and_epochs_are_permutations():
    catalogue = _tiny_catalogue()
    # Sanity of the independent reference: user 3's duplicate counts once.
    expected = _multi_hot_rows(catalogue)
    assert set(expected) == {0, 1, 3}
    np.testing.assert_array_equal(expected[3], [0, 1, 0, 0, 1])

    dataset = user_interactions_dataset(catalogue, batch_size=2, seed=0)
    assert dataset.element_spec.shape.as_list() == [2, 5]
    assert dataset.element_spec.dtype == tf.float32
    rows = []
    for batch in dataset.take(3):
        assert batch.shape == (2, 5)
        assert batch.dtype == tf.float32
        rows.extend(batch.numpy())
    users = [_match_user(row, expected)[0] for row in rows]
    # 6 rows = two epochs of the 3 active users; each epoch is a permutation of them.
    assert sorted(users[:3]) == [0, 1, 3]
    assert sorted(users[3:]) == [0, 1, 3]


def test_user_rows_match_catalogue_user_items_on_synthetic():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(
        num_items=60, num_users=40, num_attributes=4, mean_interactions_per_user=8.0, seed=1))
    by_user = {}
    for user, items in enumerate(catalogue.user_items()):
        row = np.zeros(catalogue.num_items, dtype=np.float32)
        for item in items.tolist():
            row[item] = 1.0
        by_user[user] = row
    rows = np.concatenate([batch.numpy() for batch in
                           user_interactions_dataset(catalogue, batch_size=8, seed=2).take(3)])
    assert rows.shape == (24, 60)
    assert set(np.unique(rows).tolist()) == {0.0, 1.0}
    users = [tuple(_match_user(row, by_user)) for row in rows]
    # 24 rows are within the first epoch of 40 users: no user twice.
    assert len(set(users)) == 24


def test_user_dataset_is_deterministic_per_seed():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(
        num_items=40, num_users=30, num_attributes=3, mean_interactions_per_user=6.0, seed=0))

    def draw(seed):
        return np.concatenate([b.numpy() for b in
                               user_interactions_dataset(catalogue, 6, seed).take(3)])

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))


def test_user_dataset_without_interactions_raises():
    catalogue = _tiny_catalogue(interactions=np.zeros((0, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="no interactions"):
        user_interactions_dataset(catalogue, batch_size=2, seed=0)


def test_user_dataset_shards_users_across_input_pipelines():
    catalogue = _tiny_catalogue()
    expected = _multi_hot_rows(catalogue)
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2)
        dataset = user_interactions_dataset(catalogue, batch_size=1, seed=0,
                                            input_context=context)
        # Enough rows to cover this shard's users several times over.
        users = {_match_user(batch.numpy()[0], expected)[0] for batch in dataset.take(6)}
        seen.append(users)
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == {0, 1, 3}


# ---------------------------------------------------------------- triples_dataset


def test_triples_dataset_yields_int64_dicts_drawn_from_triples():
    triples = _hand_triples()
    all_triples = _triple_set(triples)
    dataset = triples_dataset(triples, batch_size=4, seed=0)
    assert set(dataset.element_spec) == TRIPLE_KEYS
    rows = []
    for batch in dataset.take(3):
        assert set(batch) == TRIPLE_KEYS
        for key in TRIPLE_KEYS:
            assert batch[key].dtype == tf.int64, key
            assert batch[key].shape == (4,), key
        rows.extend(_batch_rows(batch))
    # Whole triples stay together (fields are not shuffled independently).
    assert set(rows) <= all_triples
    # The first two batches are one epoch: every triple exactly once.
    assert sorted(rows[:8]) == sorted(all_triples)


def test_triples_dataset_on_made_triples_is_deterministic_per_seed():
    tags = (np.random.default_rng(0).random((30, 4)) < 0.5).astype(np.float32)
    triples = make_triples(tags)
    all_triples = _triple_set(triples)

    def draw(seed):
        rows = []
        for batch in triples_dataset(triples, batch_size=5, seed=seed).take(3):
            rows.extend(_batch_rows(batch))
        return rows

    first = draw(1)
    assert len(first) == 15 and set(first) <= all_triples
    assert draw(1) == first
    assert draw(2) != first


def test_triples_dataset_empty_raises():
    empty = np.zeros(0, dtype=np.int64)
    with pytest.raises(ValueError, match="no training triples"):
        triples_dataset(Triples(empty, empty, empty, empty), batch_size=2, seed=0)


# ---------------------------------------------------------------- cgir_training_dataset


def test_cgir_training_dataset_zips_users_and_triples():
    catalogue = _tiny_catalogue()
    triples = _hand_triples()
    expected_rows = _multi_hot_rows(catalogue)
    all_triples = _triple_set(triples)
    dataset = cgir_training_dataset(catalogue, triples, user_batch_size=3,
                                    triple_batch_size=2, seed=0)
    assert set(dataset.element_spec) == TRIPLE_KEYS | {"interactions"}
    assert dataset.element_spec["interactions"].shape.as_list() == [3, 5]
    for key in TRIPLE_KEYS:
        assert dataset.element_spec[key].shape.as_list() == [2], key
    steps = list(dataset.take(3))
    assert len(steps) == 3
    for step in steps:
        assert set(step) == TRIPLE_KEYS | {"interactions"}
        interactions = step["interactions"]
        assert interactions.dtype == tf.float32 and interactions.shape == (3, 5)
        users = [_match_user(row, expected_rows)[0] for row in interactions.numpy()]
        # Batch size 3 = exactly one epoch of the 3 active users per step.
        assert sorted(users) == [0, 1, 3]
        for key in TRIPLE_KEYS:
            assert step[key].dtype == tf.int64 and step[key].shape == (2,), key
        assert set(_batch_rows(step)) <= all_triples


def test_cgir_training_dataset_uses_per_replica_batch_sizes():
    catalogue = _tiny_catalogue()
    context = tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    dataset = cgir_training_dataset(catalogue, _hand_triples(), user_batch_size=4,
                                    triple_batch_size=6, seed=0, input_context=context)
    step = next(iter(dataset.take(1)))
    assert step["interactions"].shape == (2, 5)
    for key in TRIPLE_KEYS:
        assert step[key].shape == (3,), key


def test_cgir_training_dataset_empty_inputs_raise():
    empty = np.zeros(0, dtype=np.int64)
    with pytest.raises(ValueError, match="no training triples"):
        cgir_training_dataset(_tiny_catalogue(), Triples(empty, empty, empty, empty),
                              user_batch_size=2, triple_batch_size=2, seed=0)
    no_interactions = _tiny_catalogue(interactions=np.zeros((0, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="no interactions"):
        cgir_training_dataset(no_interactions, _hand_triples(),
                              user_batch_size=2, triple_batch_size=2, seed=0)


# ---------------------------------------------------------------- attribute_weights


def test_attribute_weights_signed_one_hot():
    attributes = np.array([0, 2, 1, 2, 3], dtype=np.int64)
    directions = np.array([1, -1, -1, 1, 1], dtype=np.int64)
    weights = attribute_weights(attributes, directions, num_attributes=4)
    expected = np.zeros((5, 4), dtype=np.float32)
    for row in range(5):
        expected[row, attributes[row]] = directions[row]
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights, expected)
    # One non-zero per row, of magnitude 1.
    np.testing.assert_array_equal(np.count_nonzero(weights, axis=1), np.ones(5))
    np.testing.assert_array_equal(np.abs(weights).sum(axis=1), np.ones(5))


def test_attribute_weights_from_triples_reproduce_tag_difference():
    tags = (np.random.default_rng(3).random((25, 4)) < 0.5).astype(np.float32)
    triples = make_triples(tags)
    weights = attribute_weights(triples.attribute, triples.direction, num_attributes=4)
    # y = a_target − a_reference, the CGIR convention.
    np.testing.assert_array_equal(weights, tags[triples.target] - tags[triples.reference])


def test_attribute_weights_empty():
    weights = attribute_weights(np.zeros(0, np.int64), np.zeros(0, np.int64), num_attributes=3)
    assert weights.shape == (0, 3) and weights.dtype == np.float32
