"""Gradual decoding against a brute-force enumeration of every path (NumPy, written here from
the objective in tfgrad.retrieval.gradual's docstring), and through the Walker."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfgrad.retrieval.gradual import MIN_SPAN, GradualSettings, decode_gradual
from tfgrad.retrieval.index import BruteForceIndex
from tfgrad.retrieval.walk import Walker
from tfgrad.spaces import LinearMove

V = 1.0 / 12.0


def numpy_objective(path, scores, items, levels, reference_levels, alpha, reference, weights):
    """J of one path (candidate positions per step) of one walk, or -inf if it breaks the
    progress constraint or picks an unusable candidate."""
    even, drift_w, jitter_w = weights
    valid = (items >= 0) & (items != reference)
    asked = alpha != 0
    progress = levels @ alpha / asked.sum()  # [N, K]
    ref_progress = reference_levels @ alpha / asked.sum()
    count = valid.sum()
    mean = scores[valid].mean()
    std = np.sqrt(((scores[valid] - mean) ** 2).mean())
    finals = progress[-1][valid[-1]]
    span = max(finals.mean() - ref_progress, MIN_SPAN) / scores.shape[0]
    del count
    total, previous_p, previous_levels = 0.0, ref_progress, reference_levels
    for step, k in enumerate(path):
        if not valid[step, k]:
            return -np.inf
        best = scores[step][valid[step]].max()
        p = progress[step, k]
        increment = p - previous_p
        if increment <= 0:
            return -np.inf
        others = ~asked
        drift = np.mean((levels[step, k, others] - reference_levels[others]) ** 2) / V
        jitter = np.mean((levels[step, k, others] - previous_levels[others]) ** 2) / V
        total += ((scores[step, k] - best) / (std + 1e-6) - drift_w * drift
                  - even * (increment / span - 1.0) ** 2 - jitter_w * jitter)
        previous_p, previous_levels = p, levels[step, k]
    return total


def _random_walks(rng, batch, steps, candidates, attributes):
    scores = -np.sort(-rng.normal(size=(batch, steps, candidates)), axis=2).astype(np.float32)
    items = rng.integers(0, 40, size=(batch, steps, candidates)).astype(np.int32)
    items[0, 1, 2] = -1  # an index's padding
    levels = rng.uniform(size=(batch, steps, candidates, attributes)).astype(np.float32)
    reference_levels = rng.uniform(0.0, 0.3, size=(batch, attributes)).astype(np.float32)
    alpha = np.zeros((batch, attributes), np.float32)
    alpha[:, 0] = 1.0
    alpha[1, 1] = -1.0  # several attributes at once, one of them "less"
    reference = rng.integers(0, 40, size=batch).astype(np.int32)
    items[1, 0, 0] = reference[1]  # the reference is never picked
    return scores, items, levels, reference_levels, alpha, reference


@pytest.mark.parametrize("weights", [(0.1, 1.0, 0.0), (2.0, 0.5, 3.0), (0.0, 0.0, 0.0)])
def test_viterbi_equals_brute_force_over_all_paths(weights):
    rng = np.random.default_rng(7)
    steps, candidates = 4, 5
    walks = _random_walks(rng, 3, steps, candidates, 3)
    scores, items, levels, reference_levels, alpha, reference = walks
    choice, found = decode_gradual(*walks[:4], alpha, reference, tf.constant(weights))
    for b in range(3):
        values = {path: numpy_objective(np.array(path), scores[b], items[b], levels[b],
                                        reference_levels[b], alpha[b], reference[b],
                                        weights)
                  for path in itertools.product(range(candidates), repeat=steps)}
        best = max(values.values())
        assert bool(found[b]) == np.isfinite(best)
        if np.isfinite(best):
            assert values[tuple(choice[b].numpy())] == pytest.approx(best, rel=1e-4, abs=1e-4)


def test_no_path_that_progresses_is_reported_not_found():
    scores = np.zeros((1, 2, 2), np.float32)
    items = np.array([[[1, 2], [3, 4]]], np.int32)
    # Every candidate is below the reference in the asked attribute.
    levels = np.full((1, 2, 2, 2), 0.1, np.float32)
    _, found = decode_gradual(scores, items, levels, np.array([[0.9, 0.5]], np.float32),
                              np.array([[1.0, 0.0]], np.float32), np.array([0], np.int32),
                              tf.constant([0.1, 1.0, 0.0]))
    assert not bool(found[0])


@pytest.fixture
def walker():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(300, 16)).astype(np.float32)
    attributes = np.clip(rng.normal(size=(3, 16)), 0, None).astype(np.float32)
    levels = rng.uniform(size=(300, 3)).astype(np.float32)
    return Walker(items, LinearMove(attributes), BruteForceIndex(items), levels=levels,
                  gradual=GradualSettings(candidates=24))


def test_gradual_walk_rises_in_its_own_levels_with_distinct_items(walker):
    reference = np.array([0, 5, 77, 123])
    weights = np.zeros((4, 3), np.float32)
    weights[np.arange(4), [0, 1, 2, 0]] = [1.0, -1.0, 1.0, -1.0]
    walk = walker.walk(reference, weights, steps=6, step_size=0.3, decoding="gradual")
    items = walk.items.numpy()
    levels = walker.levels.numpy()
    for row, (ref, w) in enumerate(zip(reference, weights)):
        assert len(set(items[row])) == 6 and ref not in items[row]
        signed = np.concatenate([[levels[ref]], levels[items[row]]]) @ w
        if np.all(np.diff(signed) > 0):
            continue
        # No progressing path among its candidates: the greedy walk instead.
        greedy = walker.walk(reference[row:row + 1], weights[row:row + 1], 6, 0.3)
        np.testing.assert_array_equal(items[row], greedy.items.numpy()[0])
    # The scores are each step's query's scores of the chosen items.
    queries = walker.queries(tf.constant(reference, tf.int32), tf.constant(weights),
                             walk.strengths).numpy()
    expected = np.einsum("bnd,bnd->bn", queries, walker.item_vectors.numpy()[items])
    np.testing.assert_allclose(walk.scores.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_greedy_decoding_is_unchanged_by_levels(walker):
    reference, weights = np.array([3, 9]), np.eye(3, dtype=np.float32)[[0, 2]]
    without_levels = Walker(walker.item_vectors, walker.move, walker.index)
    np.testing.assert_array_equal(
        walker.walk(reference, weights, 5, 0.2).items.numpy(),
        without_levels.walk(reference, weights, 5, 0.2).items.numpy())


def test_bad_decoding_and_missing_levels_are_named(walker):
    with pytest.raises(ValueError, match="decoding must be one of greedy, gradual, got 'best'"):
        walker.walk(np.array([0]), np.eye(3, dtype=np.float32)[:1], decoding="best")
    without_levels = Walker(walker.item_vectors, walker.move, walker.index)
    with pytest.raises(ValueError, match="needs the items' estimated levels"):
        without_levels.walk(np.array([0]), np.eye(3, dtype=np.float32)[:1], decoding="gradual")


@pytest.mark.parametrize("field, value", [("candidates", 1), ("drift_weight", -1.0)])
def test_settings_refuse_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        GradualSettings(**{field: value})


def test_one_step_walks_decode_in_a_graph_too(walker):
    walk = tf.function(lambda steps: walker.walk(
        tf.constant([0, 5]), tf.constant(np.eye(3, dtype=np.float32)[[0, 1]]), steps, 0.3,
        decoding="gradual").items)
    assert walk(tf.constant(1)).shape == (2, 1)
    assert walk(tf.constant(4)).shape == (2, 4)


def test_an_unknown_level_rules_out_its_candidate_only():
    rng = np.random.default_rng(3)
    scores, items, levels, reference_levels, alpha, reference = _random_walks(rng, 2, 3, 4, 3)
    weights = tf.constant([0.1, 1.0, 0.0])
    choice, found = decode_gradual(scores, items, levels, reference_levels, alpha, reference,
                                   weights)
    unpicked = [k for k in range(4) if k != int(choice[0, 1])]
    levels[0, 1, unpicked[0], 2] = np.nan
    again, found_again = decode_gradual(scores, items, levels, reference_levels, alpha,
                                        reference, weights)
    assert bool(found[0]) and bool(found_again[0])
    np.testing.assert_array_equal(again[0], choice[0])
    levels[0, 1, int(choice[0, 1]), 0] = np.nan
    moved, _ = decode_gradual(scores, items, levels, reference_levels, alpha, reference, weights)
    assert int(moved[0, 1]) != int(choice[0, 1])
