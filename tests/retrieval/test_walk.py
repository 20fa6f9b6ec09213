"""Tests for tfgrad.retrieval.walk against a NumPy reference walk written here."""

import numpy as np
import pytest
import tensorflow as tf

from tfgrad.retrieval.index import BruteForceIndex, ScannIndex, ScannSettings
from tfgrad.retrieval.walk import Walker, pick_distinct, walk_strengths
from tfgrad.spaces import ItemSpace, LinearMove


def numpy_walk(items, attributes, reference, weights, steps, step_size, distinct=True):
    """CGIR.md "Inference: the walk", one query at a time, over all items (no index).

    q_n = h_ref + step_size·n·(w @ F); seq@n = the best-scoring item that is not the reference
    and (if distinct) not picked before; (-1, -inf) when no such item exists.
    """
    items = items.astype(np.float32)
    walk_items = np.full((len(reference), steps), -1, dtype=np.int64)
    walk_scores = np.full((len(reference), steps), -np.inf, dtype=np.float32)
    for b, (ref, w) in enumerate(zip(reference, weights)):
        modification = w.astype(np.float32) @ attributes.astype(np.float32)
        picked = []
        for n in range(1, steps + 1):
            query = items[ref] + np.float32(step_size * n) * modification
            scores = items @ query
            for j in np.argsort(-scores, kind="stable"):
                if j == ref or (distinct and j in picked):
                    continue
                walk_items[b, n - 1], walk_scores[b, n - 1] = j, scores[j]
                picked.append(j)
                break
    return walk_items, walk_scores


@pytest.fixture
def space():
    """Item vectors H [200, 16] and non-negative attribute vectors F [3, 16] (as clip gives)."""
    rng = np.random.default_rng(0)
    items = rng.normal(size=(200, 16)).astype(np.float32)
    attributes = np.clip(rng.normal(size=(3, 16)), 0, None).astype(np.float32)
    return items, attributes


def _brute_force_walker(items, attributes):
    return Walker(items, LinearMove(attributes), BruteForceIndex(items))


def _one_hot(attribute, direction, num_attributes=3):
    weights = np.zeros((len(attribute), num_attributes), np.float32)
    weights[np.arange(len(attribute)), attribute] = direction
    return weights


def _assert_walk_equal(walk, expected_items, expected_scores):
    np.testing.assert_array_equal(walk.items.numpy(), expected_items)
    np.testing.assert_allclose(walk.scores.numpy(), expected_scores, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- Walker.walk


@pytest.mark.parametrize("direction", [1.0, -1.0], ids=["more", "less"])
def test_walk_matches_numpy_reference(space, direction):
    items, attributes = space
    reference = np.array([0, 17, 42, 99, 150, 199])
    attribute = np.array([0, 1, 2, 0, 1, 2])
    weights = _one_hot(attribute, direction)

    walk = _brute_force_walker(items, attributes).walk(reference, weights, steps=10,
                                                       step_size=0.5)

    expected_items, expected_scores = numpy_walk(items, attributes, reference, weights, 10, 0.5)
    assert walk.items.shape == (6, 10) and walk.items.dtype == tf.int32
    assert walk.scores.shape == (6, 10)
    _assert_walk_equal(walk, expected_items, expected_scores)
    # The walk moves: several distinct items, none of them the reference.
    assert np.all(walk.items.numpy() != reference[:, None])
    assert all(len(set(row)) == 10 for row in walk.items.numpy())


def test_less_walk_differs_from_more_walk(space):
    items, attributes = space
    walker = _brute_force_walker(items, attributes)
    reference = np.array([3, 4, 5])
    more = walker.walk(reference, _one_hot([1, 1, 1], 1.0), steps=5, step_size=1.0)
    less = walker.walk(reference, _one_hot([1, 1, 1], -1.0), steps=5, step_size=1.0)
    # Relevance to the attribute (⟨h, F(t)⟩) of the last item rises one way, falls the other.
    relevance = items @ attributes[1]
    assert np.all(relevance[more.items.numpy()[:, -1]] > relevance[reference])
    assert np.all(relevance[less.items.numpy()[:, -1]] < relevance[reference])


def test_two_attribute_walk_matches_numpy_reference(space):
    items, attributes = space
    reference = np.array([5, 60, 120])
    weights = np.array([[1.0, -1.0, 0.0], [0.0, 0.5, 1.0], [-1.0, 0.0, 2.0]], np.float32)

    walk = _brute_force_walker(items, attributes).walk(reference, weights, steps=8,
                                                       step_size=0.3)

    expected_items, expected_scores = numpy_walk(items, attributes, reference, weights, 8, 0.3)
    _assert_walk_equal(walk, expected_items, expected_scores)
    # A combined request is not the walk of either attribute alone.
    single = _brute_force_walker(items, attributes).walk(
        reference, weights * np.array([1.0, 0.0, 0.0], np.float32), steps=8, step_size=0.3)
    assert not np.array_equal(single.items.numpy(), walk.items.numpy())


def test_walk_strengths_returned_with_walk(space):
    items, attributes = space
    walk = _brute_force_walker(items, attributes).walk([1], _one_hot([0], 1.0), steps=4,
                                                       step_size=0.25)
    np.testing.assert_allclose(walk.strengths.numpy(), [0.25, 0.5, 0.75, 1.0], rtol=1e-6)


def test_walk_without_distinct_allows_repeats_but_never_the_reference(space):
    items, attributes = space
    reference = np.array([0, 17, 42, 99, 150, 199])
    weights = _one_hot([0, 1, 2, 0, 1, 2], 1.0)
    # Small steps: consecutive queries have the same best non-reference item.
    walk = _brute_force_walker(items, attributes).walk(reference, weights, steps=10,
                                                       step_size=0.05, distinct=False)

    expected_items, expected_scores = numpy_walk(items, attributes, reference, weights, 10,
                                                 0.05, distinct=False)
    _assert_walk_equal(walk, expected_items, expected_scores)
    walk_items = walk.items.numpy()
    assert np.all(walk_items != reference[:, None])
    assert np.all(walk_items >= 0)
    assert any(len(set(row)) < 10 for row in walk_items)  # repeats do occur
    # The distinct walk over the same queries differs exactly where repeats were.
    distinct = _brute_force_walker(items, attributes).walk(reference, weights, steps=10,
                                                           step_size=0.05)
    assert all(len(set(row)) == 10 for row in distinct.items.numpy())


def test_walk_longer_than_catalogue_pads_with_minus_one():
    rng = np.random.default_rng(1)
    items = rng.normal(size=(4, 3)).astype(np.float32)
    attributes = rng.uniform(size=(1, 3)).astype(np.float32)
    weights = np.ones((2, 1), np.float32)
    reference = np.array([0, 3])

    walk = _brute_force_walker(items, attributes).walk(reference, weights, steps=5,
                                                       step_size=0.2)

    expected_items, expected_scores = numpy_walk(items, attributes, reference, weights, 5, 0.2)
    np.testing.assert_array_equal(walk.items.numpy(), expected_items)
    # Only three items besides the reference: steps 4 and 5 find nothing.
    np.testing.assert_array_equal(walk.items.numpy()[:, 3:], -1)
    assert np.all(np.isneginf(walk.scores.numpy()[:, 3:]))
    np.testing.assert_allclose(walk.scores.numpy()[:, :3], expected_scores[:, :3], rtol=1e-5)
    for row, ref in zip(walk.items.numpy(), reference):
        assert sorted(row[:3]) == sorted(set(range(4)) - {ref})


def test_walk_in_tf_function(space):
    items, attributes = space
    walker = _brute_force_walker(items, attributes)
    reference = np.array([7, 8])
    weights = _one_hot([2, 0], -1.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([None, 3], tf.float32),
                                  tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])
    def walk(reference, weights, steps, step_size):
        return walker.walk(reference, weights, steps, step_size)

    result = walk(tf.constant(reference, tf.int32), tf.constant(weights), tf.constant(6),
                  tf.constant(0.4))
    expected_items, expected_scores = numpy_walk(items, attributes, reference, weights, 6, 0.4)
    _assert_walk_equal(result, expected_items, expected_scores)


# ---------------------------------------------------------------- walk_strengths


def test_walk_strengths_values():
    np.testing.assert_allclose(walk_strengths(10, 0.1).numpy(), 0.1 * np.arange(1, 11),
                               rtol=1e-6)
    np.testing.assert_allclose(walk_strengths(3, 0.5).numpy(), [0.5, 1.0, 1.5], rtol=1e-6)
    strengths = walk_strengths(tf.constant(4), tf.constant(2.0))
    assert strengths.dtype == tf.float32
    np.testing.assert_allclose(strengths.numpy(), [2.0, 4.0, 6.0, 8.0])


# ---------------------------------------------------------------- pick_distinct


def test_pick_distinct_skips_reference_and_earlier_picks():
    # One walk from reference 9, three steps, four candidates per step, best first.
    items = np.array([[[9, 5, 6, 7],      # the reference is best: pick 5
                       [5, 9, 6, 7],      # 5 used, 9 the reference: pick 6
                       [6, 5, 9, 8]]],    # 6, 5 used, 9 the reference: pick 8
                     np.int32)
    scores = np.array([[[4.0, 3.0, 2.0, 1.0],
                        [4.5, 3.5, 2.5, 1.5],
                        [5.0, 4.0, 3.0, 2.0]]], np.float32)
    picked, picked_scores = pick_distinct(tf.constant(scores), tf.constant(items),
                                          tf.constant([9], tf.int32))
    np.testing.assert_array_equal(picked.numpy(), [[5, 6, 8]])
    np.testing.assert_allclose(picked_scores.numpy(), [[3.0, 2.5, 2.0]])

    # Without distinct, only the reference is skipped.
    picked, picked_scores = pick_distinct(tf.constant(scores), tf.constant(items),
                                          tf.constant([9], tf.int32), distinct=False)
    np.testing.assert_array_equal(picked.numpy(), [[5, 5, 6]])
    np.testing.assert_allclose(picked_scores.numpy(), [[3.0, 4.5, 5.0]])


def test_pick_distinct_batches_are_independent():
    # The same candidates for two walks with different references.
    items = np.array([[[1, 2, 3], [1, 2, 3]],
                      [[1, 2, 3], [1, 2, 3]]], np.int32)
    scores = np.array([[[3.0, 2.0, 1.0]] * 2] * 2, np.float32)
    picked, _ = pick_distinct(tf.constant(scores), tf.constant(items),
                              tf.constant([1, 2], tf.int32))
    np.testing.assert_array_equal(picked.numpy(), [[2, 3], [1, 3]])


def test_pick_distinct_no_valid_candidate_gives_minus_one_and_minus_inf():
    # Reference 4; step 1 picks 2; step 2's candidates are only the reference and 2.
    items = np.array([[[4, 2], [2, 4], [7, 4]]], np.int32)
    scores = np.array([[[2.0, 1.0], [3.0, 2.0], [1.5, 1.0]]], np.float32)
    picked, picked_scores = pick_distinct(tf.constant(scores), tf.constant(items),
                                          tf.constant([4], tf.int32))
    np.testing.assert_array_equal(picked.numpy(), [[2, -1, 7]])
    assert picked_scores.numpy()[0, 0] == 1.0
    assert np.isneginf(picked_scores.numpy()[0, 1])
    assert picked_scores.numpy()[0, 2] == 1.5


def test_pick_distinct_never_picks_negative_ids():
    items = np.array([[[-1, -1, 3], [-1, 3, 8]],
                      [[-1, -1, -1], [-5, 0, 1]]], np.int32)
    scores = np.array([[[9.0, 8.0, 1.0], [9.0, 8.0, 7.0]],
                       [[9.0, 8.0, 7.0], [9.0, 8.0, 7.0]]], np.float32)
    picked, picked_scores = pick_distinct(tf.constant(scores), tf.constant(items),
                                          tf.constant([0, 0], tf.int32))
    np.testing.assert_array_equal(picked.numpy(), [[3, 8], [-1, 1]])
    np.testing.assert_allclose(picked_scores.numpy()[0], [1.0, 7.0])
    assert np.isneginf(picked_scores.numpy()[1, 0])
    assert picked_scores.numpy()[1, 1] == 7.0


def test_pick_distinct_equals_one_step_at_a_time_on_crowded_candidates():
    """Candidates drawn from 12 ids for 10 steps, so steps displace each other in long chains
    (what the vectorised rounds must settle exactly as the sequential rule)."""
    rng = np.random.default_rng(11)
    items = np.stack([np.stack([rng.permutation(12)[:6] for _ in range(10)])
                      for _ in range(50)]).astype(np.int32)
    scores = -np.sort(rng.uniform(size=items.shape), axis=-1).astype(np.float32)
    reference = rng.integers(12, size=50).astype(np.int32)
    picked, picked_scores = pick_distinct(tf.constant(scores), tf.constant(items),
                                          tf.constant(reference))
    for b in range(50):
        taken = []
        for n in range(10):
            choices = [j for j in range(6) if items[b, n, j] != reference[b]
                       and items[b, n, j] not in taken]
            want = items[b, n, choices[0]] if choices else -1
            assert picked.numpy()[b, n] == want
            if choices:
                assert picked_scores.numpy()[b, n] == scores[b, n, choices[0]]
                taken.append(want)


# ---------------------------------------------------------------- rank_scores


def test_rank_scores_is_the_gamma_one_score_of_every_item(space):
    items, attributes = space
    reference = np.array([2, 30, 111])
    weights = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.5, 0.0, 1.0]], np.float32)

    scores = _brute_force_walker(items, attributes).rank_scores(reference, weights)

    expected = (items[reference].astype(np.float64) + weights @ attributes.astype(np.float64)
                ) @ items.astype(np.float64).T
    assert scores.shape == (3, 200)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- ScaNN-backed walker


def test_scann_walker_agrees_with_brute_force_walker():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 32))
    items = (centres[rng.integers(30, size=3000)] + 0.5 * rng.normal(size=(3000, 32))
             ).astype(np.float32)
    attributes = np.clip(rng.normal(size=(4, 32)), 0, None).astype(np.float32)
    reference = rng.choice(3000, size=40, replace=False)
    weights = _one_hot(rng.integers(4, size=40), rng.choice([-1.0, 1.0], size=40), 4)

    brute = Walker(items, LinearMove(attributes), BruteForceIndex(items)).walk(reference, weights)
    scann_index = ScannIndex(items, ScannSettings(num_leaves=30, num_leaves_to_search=10))
    scann = Walker(items, LinearMove(attributes), scann_index).walk(reference, weights)

    scann_items = scann.items.numpy()
    assert scann_items.shape == (40, 10)
    assert np.mean(scann_items == brute.items.numpy()) >= 0.9
    assert np.all(scann_items != reference[:, None])
    # The brute-force walk is itself the NumPy walk (exactness reference).
    expected_items, _ = numpy_walk(items, attributes, reference, weights, 10, 0.1)
    np.testing.assert_array_equal(brute.items.numpy(), expected_items)


def test_scann_walker_never_returns_padding_as_an_item():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(300, 8)).astype(np.float32)
    attributes = np.abs(rng.normal(size=(2, 8))).astype(np.float32)
    # 30 leaves of ~10 items and one searched: the walk runs out of candidates.
    index = ScannIndex(items, ScannSettings(num_leaves=30, num_leaves_to_search=1))
    reference = np.arange(1, 40)
    weights = _one_hot(np.zeros(39, int), 1.0, 2)

    walk = Walker(items, LinearMove(attributes), index).walk(reference, weights, steps=20, step_size=0.05)

    walk_items, walk_scores = walk.items.numpy(), walk.scores.numpy()
    found = walk_items >= 0
    assert np.all(np.isneginf(walk_scores[~found]))
    assert not np.isnan(walk_scores).any()
    # Every found item carries the true score of its step's query.
    strengths = 0.05 * np.arange(1, 21)
    queries = (items[reference][:, None, :]
               + strengths[None, :, None] * (weights @ attributes)[:, None, :])
    true_scores = np.einsum("bnd,bnd->bn", queries, items[np.maximum(walk_items, 0)])
    np.testing.assert_allclose(walk_scores[found], true_scores[found], rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------- Walker.over


def test_walker_over_uses_the_spaces_vectors_and_move(space):
    items, attributes = space
    item_space = ItemSpace(np.array([f"i{k}" for k in range(200)]),
                           np.array([f"item {k}" for k in range(200)]), items,
                           LinearMove(attributes), ("a", "b", "c"))
    walker = Walker.over(item_space)
    assert isinstance(walker.index, BruteForceIndex)
    np.testing.assert_array_equal(walker.item_vectors.numpy(), items)
    np.testing.assert_array_equal(walker.move.attribute_vectors.numpy(), attributes)
    walk = walker.walk([10], _one_hot([1], 1.0), steps=3, step_size=0.5)
    expected_items, _ = numpy_walk(items, attributes, [10], _one_hot([1], 1.0), 3, 0.5)
    np.testing.assert_array_equal(walk.items.numpy(), expected_items)


def test_walker_over_a_space_without_move_is_refused(space):
    items, _ = space
    with pytest.raises(ValueError, match="cannot be walked"):
        Walker.over(ItemSpace(np.arange(200).astype(str), np.arange(200).astype(str), items))
