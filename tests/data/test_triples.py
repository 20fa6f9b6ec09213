"""Tests for tfgrad.data.triples against an O(M²) brute force and hand-made examples."""

import numpy as np
import pytest

from tfgrad.data.triples import (Triples, grouped_split, make_categorical_triples, make_triples,
                                 near_duplicate_leakage, split_triples, tag_set_groups)


def _brute_force(tags):
    """{(reference, target, attribute, direction)} for every ordered pair differing in one tag."""
    tags = (np.asarray(tags) > 0.5).astype(np.int64)
    result = set()
    for reference in range(len(tags)):
        for target in range(len(tags)):
            if reference == target:
                continue
            difference = tags[target] - tags[reference]
            nonzero = np.flatnonzero(difference)
            if len(nonzero) == 1:
                attribute = int(nonzero[0])
                result.add((reference, target, attribute, int(difference[attribute])))
    return result


def _as_set(triples):
    return set(zip(triples.reference.tolist(), triples.target.tolist(),
                   triples.attribute.tolist(), triples.direction.tolist()))


def _unordered_pairs(triples):
    return {(min(r, t), max(r, t)) for r, t in zip(triples.reference.tolist(),
                                                 triples.target.tolist())}


def _random_tags(seed, num_items=60, num_attributes=5, density=0.5):
    rng = np.random.default_rng(seed)
    return (rng.random((num_items, num_attributes)) < density).astype(np.float32)


def _check_pair_layout(triples, tags):
    """Pair p at 2p ("more": direction +1) and 2p+1 (its reverse, "less")."""
    tags = np.asarray(tags) > 0.5
    assert len(triples) % 2 == 0
    for field in ("reference", "target", "attribute", "direction"):
        assert getattr(triples, field).dtype == np.int64, field
    more, less = slice(0, None, 2), slice(1, None, 2)
    assert np.all(triples.direction[more] == 1)
    assert np.all(triples.direction[less] == -1)
    np.testing.assert_array_equal(triples.reference[more], triples.target[less])
    np.testing.assert_array_equal(triples.target[more], triples.reference[less])
    np.testing.assert_array_equal(triples.attribute[more], triples.attribute[less])
    # "More t": the target has the tag, the reference does not.
    assert np.all(tags[triples.target[more], triples.attribute[more]])
    assert not np.any(tags[triples.reference[more], triples.attribute[more]])


# ---------------------------------------------------------------- make_triples


def test_hand_example_exact_triples():
    tags = np.array([
        [1, 0, 0],  # 0
        [1, 1, 0],  # 1: item 0 + "1"; item 2 + "0"
        [0, 1, 0],  # 2
        [1, 1, 0],  # 3: same tags as item 1 (so 1-3 is not a pair)
    ], dtype=np.float32)
    triples = make_triples(tags)
    expected = {
        (0, 1, 1, +1), (1, 0, 1, -1),
        (0, 3, 1, +1), (3, 0, 1, -1),
        (2, 1, 0, +1), (1, 2, 0, -1),
        (2, 3, 0, +1), (3, 2, 0, -1),
    }
    assert len(triples) == 8
    assert _as_set(triples) == expected
    _check_pair_layout(triples, tags)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_brute_force_on_random_tags(seed):
    tags = _random_tags(seed)
    triples = make_triples(tags)
    expected = _brute_force(tags)
    assert len(expected) > 100  # the example is not trivially small
    assert len(triples) == len(expected)  # no duplicates
    assert _as_set(triples) == expected
    _check_pair_layout(triples, tags)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force_with_more_than_eight_attributes(seed):
    # More than 8 attributes: tag signatures span more than one packed byte.
    tags = _random_tags(seed, num_items=80, num_attributes=11, density=0.15)
    triples = make_triples(tags)
    expected = _brute_force(tags)
    assert len(expected) > 100
    assert len(triples) == len(expected)
    assert _as_set(triples) == expected
    _check_pair_layout(triples, tags)


def test_accepts_boolean_and_integer_tags():
    tags = _random_tags(5)
    expected = _brute_force(tags)
    assert _as_set(make_triples(tags.astype(bool))) == expected
    assert _as_set(make_triples(tags.astype(np.int64))) == expected


@pytest.mark.parametrize("tags", [
    np.ones((5, 3), dtype=np.float32),                        # all identical
    np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], np.float32),  # all differ in 2+
    np.ones((1, 4), dtype=np.float32),                        # a single item
    np.zeros((0, 4), dtype=np.float32),                       # no items
])
def test_no_pairs_gives_empty_triples(tags):
    assert _brute_force(tags) == set()
    triples = make_triples(tags)
    assert len(triples) == 0
    for field in ("reference", "target", "attribute", "direction"):
        assert getattr(triples, field).shape == (0,)
        assert getattr(triples, field).dtype == np.int64


@pytest.mark.parametrize("max_pairs", [1, 17, 100])
def test_max_pairs_keeps_a_subset_of_that_many_pairs(max_pairs):
    tags = _random_tags(0)
    full = _brute_force(tags)
    assert len(full) // 2 > max_pairs
    triples = make_triples(tags, max_pairs=max_pairs, seed=4)
    assert len(triples) == 2 * max_pairs
    assert len(_unordered_pairs(triples)) == max_pairs
    assert _as_set(triples) <= full
    _check_pair_layout(triples, tags)


def test_max_pairs_is_deterministic_per_seed():
    tags = _random_tags(1)
    first = make_triples(tags, max_pairs=30, seed=9)
    second = make_triples(tags, max_pairs=30, seed=9)
    for field in ("reference", "target", "attribute", "direction"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    other = make_triples(tags, max_pairs=30, seed=10)
    assert _unordered_pairs(other) != _unordered_pairs(first)


@pytest.mark.parametrize("extra", [0, 1, 1000])
def test_max_pairs_at_or_above_total_keeps_everything(extra):
    tags = _random_tags(2)
    full = _brute_force(tags)
    triples = make_triples(tags, max_pairs=len(full) // 2 + extra, seed=3)
    assert _as_set(triples) == full
    assert len(triples) == len(full)


def test_max_pairs_sample_covers_different_groups():
    # A uniform sample should not be confined to one (signature, attribute) group.
    tags = _random_tags(3)
    triples = make_triples(tags, max_pairs=50, seed=0)
    assert len(np.unique(triples.attribute)) == tags.shape[1]


# ---------------------------------------------------------------- split_triples


@pytest.mark.parametrize("seed, test_fraction", [(0, 0.2), (1, 0.2), (2, 0.5), (3, 0.1)])
def test_split_partitions_by_unordered_pair(seed, test_fraction):
    triples = make_triples(_random_tags(seed))
    train, test = split_triples(triples, test_fraction=test_fraction, seed=seed)
    all_triples = _as_set(triples)
    train_set, test_set = _as_set(train), _as_set(test)
    # Every triple lands exactly once.
    assert len(train) + len(test) == len(triples)
    assert train_set | test_set == all_triples
    assert not train_set & test_set
    # A triple and its reverse never straddle the split.
    train_pairs, test_pairs = _unordered_pairs(train), _unordered_pairs(test)
    assert not train_pairs & test_pairs
    for r, t, a, d in test_set:
        assert (t, r, a, -d) in test_set
    for r, t, a, d in train_set:
        assert (t, r, a, -d) in train_set
    # The test share is the requested fraction of unordered pairs.
    num_pairs = len(_unordered_pairs(triples))
    assert abs(len(test_pairs) - test_fraction * num_pairs) <= 1
    assert len(train_pairs) + len(test_pairs) == num_pairs


def test_split_is_deterministic_per_seed():
    triples = make_triples(_random_tags(0))
    first = split_triples(triples, 0.25, seed=5)
    second = split_triples(triples, 0.25, seed=5)
    for a, b in zip(first, second):
        for field in ("reference", "target", "attribute", "direction"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    other = split_triples(triples, 0.25, seed=6)
    assert _as_set(other[1]) != _as_set(first[1])


def test_split_of_sampled_triples():
    tags = _random_tags(4)
    triples = make_triples(tags, max_pairs=40, seed=1)
    train, test = split_triples(triples, 0.25, seed=0)
    assert len(_unordered_pairs(test)) == 10
    assert len(_unordered_pairs(train)) == 30
    assert not _unordered_pairs(train) & _unordered_pairs(test)


@pytest.mark.parametrize("test_fraction", [0.0, 1.0, -0.2, 1.5])
def test_split_invalid_fraction_raises(test_fraction):
    triples = make_triples(_random_tags(0))
    with pytest.raises(ValueError, match="test_fraction"):
        split_triples(triples, test_fraction=test_fraction)


# ---------------------------------------------------------------- near-duplicate groups


def _triples(pairs):
    """Triples (reference, target) with attribute 0, direction +1."""
    reference, target = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    ones = np.ones(len(reference), dtype=np.int64)
    return Triples(reference, target, 0 * ones, ones)


def _group_pairs(triples, groups):
    return {(min(a, b), max(a, b)) for a, b in zip(groups[triples.reference].tolist(),
                                                 groups[triples.target].tolist())}


def test_tag_set_groups_hand_example():
    tags = np.array([[1, 0, 1],
                     [0, 0, 0],
                     [0.9, 0.2, 0.7],  # item 0's tags after thresholding at 0.5
                     [0, 1, 0],
                     [0, 0, 0],
                     [1, 0, 1]])
    groups = tag_set_groups(tags)
    assert groups.dtype == np.int64 and groups.shape == (6,)
    assert groups[0] == groups[2] == groups[5]
    assert groups[1] == groups[4]
    assert len({groups[0], groups[1], groups[3]}) == 3


def test_tag_set_groups_beyond_one_packed_byte():
    # Items 0 and 1 differ only in the eleventh tag.
    tags = np.zeros((3, 11))
    tags[:, 0] = 1
    tags[1, 10] = 1
    tags[2, 10] = 1
    groups = tag_set_groups(tags)
    assert groups[0] != groups[1] == groups[2]


def test_near_duplicate_leakage_hand_example():
    # Twins: items 0, 1 (group 0); 2, 3 (group 1); 4, 5 (group 2).
    groups = np.array([0, 0, 1, 1, 2, 2])
    train = _triples([(0, 2),    # groups 0 -> 1
                      (1, 4)])   # groups 0 -> 2
    test = _triples([(1, 3),     # 0 -> 1 as in training; target 3 never a training target
                     (0, 4),     # 0 -> 2 as in training; target 4 reached from twin 1
                     (3, 0),     # 1 -> 0: training only has 0 -> 1
                     (5, 4),     # 2 -> 2; target 4 reached only from group 0
                     (1, 4)])    # the training triple itself: item 1 is no twin of itself
    leakage = near_duplicate_leakage(train, test, groups)
    assert leakage == {"test_triples": 5, "same_group_pair": 3, "same_group_pair_share": 0.6,
                       "twin_target": 1}
    # Only the partition matters, not the group numbers.
    assert near_duplicate_leakage(train, test, np.array([7, 7, -3, -3, 100, 100])) == leakage


def test_near_duplicate_leakage_without_test_triples():
    leakage = near_duplicate_leakage(_triples([(0, 1)]), _triples([]), np.array([0, 1]))
    assert (leakage["test_triples"], leakage["same_group_pair"], leakage["twin_target"]) == (
        0, 0, 0)
    assert np.isnan(leakage["same_group_pair_share"])


@pytest.mark.parametrize("groups, message", [
    (np.array([0, 0, 1]), "groups has 3 entries but the triples refer to item 4"),
    (np.zeros((5, 1), dtype=np.int64), "1-D integer array"),
    (np.zeros(5), "1-D integer array"),
])
def test_bad_groups_raise(groups, message):
    triples = _triples([(0, 4), (4, 0)])
    with pytest.raises(ValueError, match=message):
        near_duplicate_leakage(triples, triples, groups)
    with pytest.raises(ValueError, match=message):
        grouped_split(triples, groups)


def _twin_catalogue(seed):
    """Tags with many tag-identical twins (150 items, 32 tag sets) and their triples."""
    tags = _random_tags(seed, num_items=150, num_attributes=5)
    return make_triples(tags), tag_set_groups(tags)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_split_leaks_through_twins(seed):
    triples, groups = _twin_catalogue(seed)
    train, test = split_triples(triples, 0.2, seed=seed)
    leakage = near_duplicate_leakage(train, test, groups)
    assert leakage["same_group_pair_share"] > 0.9
    assert leakage["twin_target"] > 0.5 * len(test)


@pytest.mark.parametrize("seed, test_fraction", [(0, 0.2), (1, 0.3), (2, 0.5)])
@pytest.mark.parametrize("kind", ["tag sets", "families"])
def test_grouped_split_keeps_group_pairs_on_one_side(seed, test_fraction, kind):
    triples, groups = _twin_catalogue(seed)
    if kind == "families":  # arbitrary groups: pairs inside a group too
        groups = np.random.default_rng(seed).integers(0, 20, size=len(groups))
    train, test = grouped_split(triples, groups, test_fraction, seed=seed)
    train_set, test_set = _as_set(train), _as_set(test)
    assert len(train) + len(test) == len(triples)
    assert train_set | test_set == _as_set(triples) and not train_set & test_set
    for part in (train_set, test_set):
        for r, t, a, d in part:
            assert (t, r, a, -d) in part
    train_pairs, test_pairs = _group_pairs(train, groups), _group_pairs(test, groups)
    assert not train_pairs & test_pairs
    num_pairs = len(train_pairs | test_pairs)
    assert abs(len(test_pairs) - test_fraction * num_pairs) <= 1
    leakage = near_duplicate_leakage(train, test, groups)
    assert leakage["same_group_pair"] == leakage["twin_target"] == 0


def test_grouped_split_is_deterministic_per_seed():
    triples, groups = _twin_catalogue(0)
    first = grouped_split(triples, groups, 0.25, seed=5)
    second = grouped_split(triples, groups, 0.25, seed=5)
    for a, b in zip(first, second):
        for field in ("reference", "target", "attribute", "direction"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert _as_set(grouped_split(triples, groups, 0.25, seed=6)[1]) != _as_set(first[1])


def test_grouped_split_of_singleton_groups_is_the_pair_split():
    triples = make_triples(_random_tags(3))
    by_item = grouped_split(triples, np.arange(60), 0.2, seed=4)
    for a, b in zip(by_item, split_triples(triples, 0.2, seed=4)):
        assert _as_set(a) == _as_set(b)


# ---------------------------------------------------------------- Triples helpers


def test_take_selects_rows_of_every_field():
    triples = Triples(np.array([0, 1, 2]), np.array([3, 4, 5]), np.array([6, 7, 8]),
                      np.array([1, -1, 1]))
    taken = triples.take(np.array([2, 0]))
    assert _as_set(taken) == {(2, 5, 8, 1), (0, 3, 6, 1)}
    np.testing.assert_array_equal(taken.reference, [2, 0])
    assert len(taken) == 2


def test_walk_queries_hand_example():
    tags = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    queries = make_triples(tags).walk_queries()
    keys = list(zip(queries.reference.tolist(), queries.attribute.tolist(),
                    queries.direction.tolist()))
    assert sorted(keys) == sorted([(0, 1, 1), (1, 1, -1), (3, 1, -1),
                                   (2, 0, 1), (1, 0, -1), (3, 0, -1)])


def test_walk_queries_keeps_first_target_of_each_query():
    # Hand-made, deliberately unordered: query (5, 2, +1) appears with targets 9 then 4.
    triples = Triples(
        reference=np.array([5, 1, 5, 1, 7], dtype=np.int64),
        target=np.array([9, 2, 4, 3, 8], dtype=np.int64),
        attribute=np.array([2, 0, 2, 0, 2], dtype=np.int64),
        direction=np.array([1, -1, 1, 1, 1], dtype=np.int64))
    queries = triples.walk_queries()
    assert _as_set(queries) == {(5, 9, 2, 1), (1, 2, 0, -1), (1, 3, 0, 1), (7, 8, 2, 1)}
    # The original order of first appearance is kept.
    np.testing.assert_array_equal(queries.reference, [5, 1, 1, 7])


@pytest.mark.parametrize("seed", [0, 1])
def test_walk_queries_distinct_and_covering(seed):
    triples = make_triples(_random_tags(seed))
    queries = triples.walk_queries()
    keys = list(zip(queries.reference.tolist(), queries.attribute.tolist(),
                    queries.direction.tolist()))
    assert len(keys) == len(set(keys))
    all_keys = set(zip(triples.reference.tolist(), triples.attribute.tolist(),
                       triples.direction.tolist()))
    assert set(keys) == all_keys
    assert len(keys) < len(triples)  # duplicates existed and were removed
    # Each example target is a real target of its query, and the first seen.
    first_target = {}
    for r, t, a, d in zip(triples.reference.tolist(), triples.target.tolist(),
                          triples.attribute.tolist(), triples.direction.tolist()):
        first_target.setdefault((r, a, d), t)
    for (r, a, d), t in zip(keys, queries.target.tolist()):
        assert first_target[(r, a, d)] == t


# ---------------------------------------------------------------- categorical triples


def test_categorical_triples_hand_example():
    # Columns: colour (tags 0 black, 1 white), pattern (tags 2 solid, 3 stripe).
    tags = np.array([[1, 0, 1, 0],   # 0 black solid
                     [0, 1, 1, 0],   # 1 white solid
                     [1, 0, 0, 1],   # 2 black stripe
                     [0, 1, 0, 1],   # 3 white stripe
                     [1, 0, 0, 0]])  # 4 black, no pattern tag
    columns = np.array([0, 0, 1, 1])
    triples = make_categorical_triples(tags, columns)
    found = set(zip(triples.reference.tolist(), triples.attribute.tolist(),
                    triples.target.tolist()))
    expected = {(0, 1, 1), (1, 0, 0), (2, 1, 3), (3, 0, 2),   # colour changes
                (0, 3, 2), (2, 2, 0), (1, 3, 3), (3, 2, 1)}   # pattern changes
    assert found == expected
    assert (triples.direction == 1).all()
    # Pair p's two directions sit at 2p and 2p + 1.
    np.testing.assert_array_equal(triples.reference[0::2], triples.target[1::2])


def test_categorical_triples_sample_and_split_by_pair():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, size=(200, 3))
    tags = np.zeros((200, 9))
    for column in range(3):
        tags[np.arange(200), 3 * column + codes[:, column]] = 1
    columns = np.repeat(np.arange(3), 3)
    triples = make_categorical_triples(tags, columns, max_pairs=100, seed=1)
    assert len(triples) == 200
    # Every triple's pair differs in exactly one column, and the attribute is the target's.
    differing = (codes[triples.reference] != codes[triples.target]).sum(axis=1)
    assert (differing == 1).all()
    assert tags[triples.target, triples.attribute].all()
    assert not tags[triples.reference, triples.attribute].any()
    train, test = split_triples(triples, 0.2, seed=0)
    assert len(train) + len(test) == len(triples)


def test_min_tags_keeps_untagged_items_unpaired():
    tags = np.array([[0, 0], [1, 0], [1, 1]])
    assert len(make_triples(tags)) == 4  # {} - {0}, {0} - {0, 1}
    kept = make_triples(tags, min_tags=1)
    assert len(kept) == 2 and 0 not in kept.reference
