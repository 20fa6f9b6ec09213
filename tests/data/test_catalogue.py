"""Tests for tfgrad.data.catalogue: validation, id look-ups and interaction summaries."""

import numpy as np
import pytest

from tfgrad.data.catalogue import Catalogue, UnknownAttributeError, UnknownItemError


def _catalogue(**overrides):
    """A tiny hand-made catalogue: 4 items, 3 attributes, 4 users (user 2 has no interactions)."""
    fields = dict(
        name="tiny",
        item_ids=np.array(["a", "b", "c", "d"]),
        item_names=np.array(["item a", "item b", "item c", "item d"]),
        attributes=("floral", "dark", "warm"),
        item_attributes=np.array(
            [[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]], dtype=np.float32),
        # Deliberately unsorted by user so user_items has to group.
        interactions=np.array(
            [[3, 0], [0, 1], [1, 3], [0, 0], [3, 1], [1, 1], [0, 3], [3, 2]], dtype=np.int64),
        num_users=4,
        relevance=None,
    )
    fields.update(overrides)
    return Catalogue(**fields)


# ---------------------------------------------------------------- validation


def test_valid_catalogue_properties():
    catalogue = _catalogue()
    assert catalogue.num_items == 4
    assert catalogue.num_attributes == 3


def test_duplicate_item_ids_raise():
    with pytest.raises(ValueError, match="not unique"):
        _catalogue(item_ids=np.array(["a", "b", "a", "d"]))


def test_wrong_number_of_names_raises():
    with pytest.raises(ValueError, match="3 names for 4 items"):
        _catalogue(item_names=np.array(["x", "y", "z"]))


@pytest.mark.parametrize("shape", [(4, 2), (3, 3), (4, 4)])
def test_wrong_item_attributes_shape_raises(shape):
    with pytest.raises(ValueError, match=r"item_attributes has shape"):
        _catalogue(item_attributes=np.zeros(shape, dtype=np.float32))


def test_wrong_relevance_shape_raises():
    with pytest.raises(ValueError, match=r"relevance has shape"):
        _catalogue(relevance=np.zeros((4, 2), dtype=np.float32))


def test_matching_relevance_is_accepted():
    relevance = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)
    catalogue = _catalogue(relevance=relevance)
    np.testing.assert_array_equal(catalogue.relevance, relevance)


@pytest.mark.parametrize("interactions", [
    np.zeros((5,), dtype=np.int64),
    np.zeros((5, 3), dtype=np.int64),
    np.zeros((2, 2, 2), dtype=np.int64),
])
def test_interactions_wrong_shape_raises(interactions):
    with pytest.raises(ValueError, match=r"interactions must be \[K, 2\]"):
        _catalogue(interactions=interactions)


@pytest.mark.parametrize("pair", [[4, 0], [-1, 0], [10, 1]])
def test_user_index_out_of_range_raises(pair):
    interactions = np.array([[0, 0], pair], dtype=np.int64)
    with pytest.raises(ValueError, match="user index out of range"):
        _catalogue(interactions=interactions)


@pytest.mark.parametrize("pair", [[0, 4], [1, -1], [2, 100]])
def test_item_index_out_of_range_raises(pair):
    interactions = np.array([[0, 0], pair], dtype=np.int64)
    with pytest.raises(ValueError, match="item index out of range"):
        _catalogue(interactions=interactions)


def test_boundary_indices_are_accepted():
    # The largest legal user (N-1) and item (M-1) indices must not be rejected.
    catalogue = _catalogue(interactions=np.array([[3, 3], [0, 0]], dtype=np.int64))
    assert len(catalogue.interactions) == 2


def test_empty_interactions_are_accepted():
    catalogue = _catalogue(interactions=np.zeros((0, 2), dtype=np.int64))
    np.testing.assert_array_equal(catalogue.item_popularity(), [0, 0, 0, 0])
    assert [len(items) for items in catalogue.user_items()] == [0, 0, 0, 0]


@pytest.mark.parametrize("families", [np.zeros(3, dtype=np.int64), np.zeros((4, 1), np.int64),
                                      np.zeros(4, dtype=np.float32)])
def test_wrong_item_families_raise(families):
    with pytest.raises(ValueError, match=r"item_families must be \[M\] int"):
        _catalogue(item_families=families)


# ---------------------------------------------------------------- near-duplicate groups


def test_near_duplicate_groups_are_tag_sets_without_families():
    # Tags [1,0,0], [1,1,0], [0,0,1], [0,1,1]: four tag sets; without "dark", two.
    catalogue = _catalogue()
    assert len(set(catalogue.near_duplicate_groups().tolist())) == 4
    groups = catalogue.with_attributes([0, 2]).near_duplicate_groups()
    assert groups[0] == groups[1] != groups[2] == groups[3]


def test_near_duplicate_groups_are_families_where_given():
    families = np.array([5, 5, 9, 9])
    catalogue = _catalogue(item_families=families)
    np.testing.assert_array_equal(catalogue.near_duplicate_groups(), families)
    np.testing.assert_array_equal(catalogue.with_attributes([0]).near_duplicate_groups(),
                                  families)


# ---------------------------------------------------------------- look-ups


def test_item_index_maps_ids_to_rows():
    catalogue = _catalogue()
    result = catalogue.item_index(["d", "a", "c", "a"])
    np.testing.assert_array_equal(result, [3, 0, 2, 0])
    assert result.dtype == np.int64


def test_item_index_empty_query():
    result = _catalogue().item_index([])
    assert result.shape == (0,)


def test_unknown_item_error_names_all_unknown_ids():
    catalogue = _catalogue()
    with pytest.raises(UnknownItemError) as info:
        catalogue.item_index(["a", "zzz", "b", "qqq"])
    message = str(info.value)
    assert "'zzz'" in message and "'qqq'" in message
    assert "'a'" not in message and "'b'" not in message
    assert "tiny" in message
    # It is a KeyError subclass, and str() is not wrapped in KeyError's extra quotes.
    assert isinstance(info.value, KeyError)
    assert not message.startswith('"')


def test_attribute_index_maps_strings_to_columns():
    catalogue = _catalogue()
    result = catalogue.attribute_index(["warm", "floral", "dark", "warm"])
    np.testing.assert_array_equal(result, [2, 0, 1, 2])
    assert result.dtype == np.int64


def test_unknown_attribute_error_names_unknown_and_known():
    catalogue = _catalogue()
    with pytest.raises(UnknownAttributeError) as info:
        catalogue.attribute_index(["dark", "sparkly"])
    message = str(info.value)
    assert "'sparkly'" in message
    assert "'dark'" not in message.split("known:")[0]
    # The known attributes are listed to help the caller.
    for attribute in ("floral", "dark", "warm"):
        assert attribute in message.split("known:")[1]
    assert isinstance(info.value, KeyError)


# ---------------------------------------------------------------- summaries


def _brute_force(interactions, num_users, num_items):
    popularity = np.zeros(num_items, dtype=np.int64)
    per_user = [[] for _ in range(num_users)]
    for user, item in interactions.tolist():
        popularity[item] += 1
        per_user[user].append(item)
    return popularity, per_user


def test_item_popularity_hand_example():
    # Item 0: users 3, 0; item 1: users 0, 3, 1; item 2: user 3; item 3: users 1, 0.
    np.testing.assert_array_equal(_catalogue().item_popularity(), [2, 3, 1, 2])


def test_item_popularity_counts_unseen_items_as_zero():
    catalogue = _catalogue(interactions=np.array([[0, 1], [1, 1]], dtype=np.int64))
    np.testing.assert_array_equal(catalogue.item_popularity(), [0, 2, 0, 0])


def test_user_items_hand_example_keeps_order_and_empty_user():
    result = _catalogue().user_items()
    assert len(result) == 4
    # Items in the order they appear in `interactions` for each user; user 2 has none.
    expected = [[1, 0, 3], [3, 1], [], [0, 1, 2]]
    for got, want in zip(result, expected):
        assert got.tolist() == want


def test_summaries_match_brute_force_on_random_catalogue():
    rng = np.random.default_rng(7)
    num_items, num_users = 30, 12
    # Users 5 and 11 (the last, an edge case for the boundaries) have no interactions.
    active = np.array([u for u in range(num_users) if u not in (5, 11)])
    interactions = np.stack([rng.choice(active, size=80), rng.integers(num_items, size=80)],
                            axis=1).astype(np.int64)
    catalogue = Catalogue(
        name="random", item_ids=np.array([f"i{k}" for k in range(num_items)]),
        item_names=np.array([f"n{k}" for k in range(num_items)]), attributes=("x",),
        item_attributes=np.zeros((num_items, 1), np.float32), interactions=interactions,
        num_users=num_users)
    popularity, per_user = _brute_force(interactions, num_users, num_items)
    np.testing.assert_array_equal(catalogue.item_popularity(), popularity)
    result = catalogue.user_items()
    assert len(result) == num_users
    for user in range(num_users):
        assert result[user].tolist() == per_user[user], user
    assert len(result[5]) == 0 and len(result[11]) == 0
