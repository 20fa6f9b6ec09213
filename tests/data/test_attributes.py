"""Attributed photos and manipulation queries: the Fashion Product Images and H&M loaders on
the shared data, and the authors' query and triplet construction on hand label tables."""

import numpy as np
import pytest

from support.data_paths import FASHION_PRODUCTS, HM, needs_shared_data
from tfgrad.data import attributes


@needs_shared_data
def test_fashion_product_attributes_as_the_issue_counts_them():
    photos = attributes.load_fashion_product_attributes(FASHION_PRODUCTS)
    assert len(photos) == 9583
    assert photos.attributes == attributes.FASHION_ATTRIBUTES
    # gender 5, masterCategory 4 with >= 20 photos, subCategory 20, articleType 39,
    # baseColour 26, season 4, usage 4.
    assert photos.num_values == (5, 4, 20, 39, 26, 4, 4)
    assert photos.labels.shape == (9583, 7) and photos.labels.max() < 39
    # Values on fewer than 20 photos are missing, never an index of their own.
    assert (photos.labels == attributes.MISSING).any()
    assert all(count < 20 for _, _, count in photos.dropped_values)
    assert photos.value_index("baseColour", photos.values[4][0]) == 0
    with pytest.raises(ValueError, match="unknown attribute 'colour'; known: gender"):
        photos.attribute_index("colour")
    with pytest.raises(ValueError, match="unknown value 'Plaid' of baseColour; known:"):
        photos.value_index("baseColour", "Plaid")


@needs_shared_data
def test_hm_attributes_and_bad_folders():
    photos = attributes.load_hm_attributes(HM)
    assert photos.attributes == attributes.HM_ATTRIBUTES
    assert len(photos) > 0 and min(photos.num_values) >= 2
    with pytest.raises(FileNotFoundError, match="does not exist"):
        attributes.load_hm_attributes(HM + "_nowhere")
    with pytest.raises(ValueError, match="unknown Fashion Product Images attribute"):
        attributes.load_fashion_product_attributes(FASHION_PRODUCTS, ("colour",))


def test_split_items_is_a_seeded_partition():
    split = attributes.split_items(100, 0.1, 0.2, seed=3)
    together = np.concatenate(list(split.values()))
    assert sorted(together) == list(range(100))
    assert (len(split["validation"]), len(split["test"])) == (10, 20)
    again = attributes.split_items(100, 0.1, 0.2, seed=3)
    assert all(np.array_equal(split[name], again[name]) for name in split)


def test_one_hots_and_indicators_by_hand():
    labels = np.array([[1, 0], [-1, 2]])
    np.testing.assert_array_equal(attributes.one_hot_labels(labels, (2, 3)),
                                  [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(
        attributes.indicators(np.array([[1, 0]]), np.array([[1, 2]]), (2, 3)),
        [[0, 0, -1, 0, 1]])


LABELS = np.array([[0, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, -1]])


def test_queries_are_exactly_the_changes_some_item_has():
    queries = attributes.manipulation_queries(LABELS, (2, 2), count=0, seed=0)
    present = {tuple(row) for row in LABELS.tolist()}
    expected = set()
    for row, label in enumerate(LABELS.tolist()):
        for attribute, old in enumerate(label):
            if old < 0:
                continue
            target = list(label)
            target[attribute] = 1 - old
            if tuple(target) in present:
                expected.add((row, attribute, 1 - old))
    got = set(zip(queries.references.tolist(), queries.attributes.tolist(),
                  queries.values.tolist()))
    assert got == expected
    for query in range(len(queries)):
        target = queries.targets[query]
        assert tuple(target) in present
        assert target[queries.attributes[query]] == queries.values[query]
        assert (target != LABELS[queries.references[query]]).sum() == 1
    sample = attributes.manipulation_queries(LABELS, (2, 2), count=3, seed=0)
    assert len(sample) == 3


def test_triplets_have_the_target_vector_and_negatives_do_not():
    queries = attributes.manipulation_queries(LABELS, (2, 2), count=0, seed=0)
    positives, negatives = attributes.manipulation_triplets(LABELS, queries, seed=1)
    assert (LABELS[positives] == queries.targets).all()
    assert not (LABELS[negatives] == queries.targets).all(axis=1).any()
