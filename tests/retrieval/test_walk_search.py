"""Tests for tfgrad.retrieval.walk_search: the anchors' candidates give every step's exact
top-k where the certificate says so, and the other steps are searched on their own."""

import numpy as np
import pytest
import tensorflow as tf

from tfgrad.retrieval.index import BruteForceIndex
from tfgrad.retrieval.walk import Walker
from tfgrad.retrieval.walk_search import (ROUNDING_SLACK, anchor_steps, distinct_candidates,
                                          search_walk, step_bounds)
from tfgrad.spaces import LinearMove


def numpy_top_k(items, queries, k):
    """[B, N, D] queries → every step's exact top-k ids and scores over all items."""
    scores = np.einsum("bnd,md->bnm", queries, items)
    order = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(scores, order, axis=-1), order


@pytest.fixture(scope="module")
def catalogue():
    rng = np.random.default_rng(3)
    items = rng.normal(size=(500, 8)).astype(np.float32)
    references = items[rng.integers(500, size=6)]
    direction = rng.normal(size=(6, 1, 8)).astype(np.float32)
    gammas = (0.1 * np.arange(1, 11, dtype=np.float32))[None, :, None]
    line_queries = references[:, None, :] + gammas * direction
    return items, line_queries, rng


def max_norm(items):
    return tf.constant(float(np.linalg.norm(items, axis=1).max()))


@pytest.mark.parametrize("width", [11, 22, 44, 500])
def test_walk_search_equals_every_step_searched(catalogue, width):
    items, queries, _ = catalogue
    scores, found, covered = search_walk(BruteForceIndex(items), tf.constant(items),
                                         max_norm(items), tf.constant(queries), 11, width)
    want_scores, want_items = numpy_top_k(items, queries, 11)
    np.testing.assert_array_equal(found.numpy(), want_items)
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-5, atol=1e-5)
    if width == 500:
        assert covered.numpy().all()


def test_narrow_anchors_leave_steps_uncovered_and_wider_cover_more(catalogue):
    items, queries, _ = catalogue
    index, vectors = BruteForceIndex(items), tf.constant(items)
    shares = [float(tf.reduce_mean(tf.cast(search_walk(index, vectors, max_norm(items),
                                                       tf.constant(queries), 11, w)[2],
                                           tf.float32))) for w in (11, 44, 200)]
    assert shares[0] < 1.0
    assert shares[0] <= shares[1] <= shares[2]
    # The ends are always covered: their candidates are their own search's.
    covered = search_walk(index, vectors, max_norm(items), tf.constant(queries), 11, 11)[2]
    assert covered.numpy()[:, [0, -1]].all()


def test_covered_steps_satisfy_the_certificate(catalogue):
    """No item outside the anchors' candidates beats a covered step's k-th score."""
    items, queries, _ = catalogue
    index = BruteForceIndex(items)
    scores, _, covered = search_walk(index, tf.constant(items), max_norm(items),
                                     tf.constant(queries), 5, 20)
    _, end_items = numpy_top_k(items, queries[:, [0, -1]], 20)
    all_scores = np.einsum("bnd,md->bnm", queries, items)
    for b in range(queries.shape[0]):
        outside = np.setdiff1d(np.arange(len(items)), end_items[b].ravel())
        for n in np.flatnonzero(covered.numpy()[b]):
            assert all_scores[b, n, outside].max() <= scores.numpy()[b, n, -1] + 1e-5


def test_queries_off_the_line_are_searched_on_their_own(catalogue):
    """A move that is not linear in γ: steps far off the ends' segment are never covered by
    the anchors, and the answer is still every step's exact top-k."""
    items, queries, rng = catalogue
    bent = queries + rng.normal(size=queries.shape).astype(np.float32) * 2.0
    scores, found, covered = search_walk(BruteForceIndex(items), tf.constant(items),
                                         max_norm(items), tf.constant(bent), 7, 28)
    want_scores, want_items = numpy_top_k(items, bent, 7)
    np.testing.assert_array_equal(found.numpy(), want_items)
    assert not covered.numpy()[:, 1:-1].all()


def test_step_bounds_by_hand():
    """Ends q_a = (1, 0), q_b = (3, 0); thresholds 1 and 3; max norm 1. The middle step (2, 0)
    is halfway (t = ½) on the segment: bound 2. A step (2, 1) is off it by 1: bound 2 + 1.
    A step (4, 0) lies beyond the end (t = 1.5): never covered."""
    queries = tf.constant([[[1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [4.0, 0.0], [3.0, 0.0]]])
    anchors = tf.constant([0, 4])
    bounds = step_bounds(queries, anchors, tf.constant([[1.0, 3.0]]), tf.constant(1.0))
    slack = ROUNDING_SLACK * np.linalg.norm(queries.numpy()[0], axis=-1)
    np.testing.assert_allclose(bounds.numpy()[0, [0, 1, 2, 4]],
                               np.array([1.0, 2.0, 3.0, 3.0]) + slack[[0, 1, 2, 4]], rtol=1e-6)
    assert np.isinf(bounds.numpy()[0, 3])


def test_step_bounds_with_three_anchors_uses_each_steps_segment():
    """Steps 0..4 on a line with anchors 0, 2, 4 and thresholds 0, 4, 2: step 1 is halfway
    between the first two (bound 2), step 3 between the last two (bound 3)."""
    queries = tf.constant([[[float(n), 0.0] for n in range(5)]])
    bounds = step_bounds(queries, tf.constant([0, 2, 4]), tf.constant([[0.0, 4.0, 2.0]]),
                         tf.constant(1.0)).numpy()[0]
    np.testing.assert_allclose(bounds, [0.0, 2.0, 4.0, 3.0, 2.0], atol=1e-4)


def test_anchor_steps_spread_from_first_to_last():
    np.testing.assert_array_equal(anchor_steps(tf.constant(10), 2).numpy(), [0, 9])
    np.testing.assert_array_equal(anchor_steps(tf.constant(9), 3).numpy(), [0, 4, 8])
    np.testing.assert_array_equal(anchor_steps(tf.constant(1), 2).numpy(), [0])


def test_distinct_candidates_keeps_the_first_of_equal_ids_and_drops_padding():
    ordered, usable = distinct_candidates(tf.constant([[5, 2, -1, 5, 7, 2]]))
    np.testing.assert_array_equal(ordered.numpy(), [[-1, 2, 2, 5, 5, 7]])
    np.testing.assert_array_equal(usable.numpy(), [[False, True, False, True, False, True]])


class CountingIndex(BruteForceIndex):
    """Exact search that records how many queries each search held."""

    def __init__(self, items):
        super().__init__(items)
        self.query_counts = []

    def search(self, queries, k):
        self.query_counts.append(queries.shape[0])  # None in a graph of unknown batch
        return super().search(queries, k)


WALK_REFERENCES = tf.constant([0, 7, 99, 250])
WALK_WEIGHTS = tf.constant([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]])


def walker_over(num_items, width):
    rng = np.random.default_rng(5)
    items = rng.normal(size=(num_items, 8)).astype(np.float32)
    attributes = np.abs(rng.normal(size=(3, 8))).astype(np.float32)
    return Walker(items, LinearMove(attributes), CountingIndex(items),
                  levels=tf.sigmoid(items @ attributes.T), search_width_per_k=width)


@pytest.mark.parametrize("decoding", ["greedy", "gradual"])
def test_walker_walks_the_same_with_and_without_walk_aware_search(decoding):
    per_step, *walk_aware = (walker_over(3000, width).walk(
        WALK_REFERENCES, WALK_WEIGHTS, 10, 0.1, decoding=decoding) for width in (0, 1, 2))
    for walk in walk_aware:
        np.testing.assert_array_equal(walk.items.numpy(), per_step.items.numpy())
        np.testing.assert_allclose(walk.scores.numpy(), per_step.scores.numpy(), rtol=1e-5)


def test_walker_searches_the_ends_of_a_large_catalogue_and_every_step_of_a_small_one():
    """4 walks of 10 steps: the ends are 8 queries; every step is 40. 16·11 = 176 candidates
    per end are a small part of 10,000 items but not of 3,000 with 16·32 for gradual."""
    large = walker_over(10_000, 16)
    large.walk(WALK_REFERENCES, WALK_WEIGHTS, 10, 0.1)
    assert large.index.query_counts[0] == 8
    small = walker_over(3000, 16)
    small.walk(WALK_REFERENCES, WALK_WEIGHTS, 10, 0.1, decoding="gradual")
    assert small.index.query_counts == [40]


def test_a_walk_of_static_length_chooses_its_search_without_a_graph_conditional():
    walker = walker_over(10_000, 16)
    static = tf.function(lambda: walker.walk(WALK_REFERENCES, WALK_WEIGHTS, 10, 0.1).items)
    dynamic = tf.function(lambda steps: walker.walk(WALK_REFERENCES, WALK_WEIGHTS, steps,
                                                    0.1).items,
                          input_signature=[tf.TensorSpec([], tf.int32)])
    np.testing.assert_array_equal(static().numpy(), dynamic(tf.constant(10)).numpy())

    def conditionals(concrete):
        """tf.cond ops in the graph and in the functions it calls (their branches)."""
        graph = concrete.graph.as_graph_def()
        nodes = [*graph.node, *(node for f in graph.library.function for node in f.node_def)]
        return sum(node.op in ("If", "StatelessIf") for node in nodes)

    assert conditionals(static.get_concrete_function()) + 1 == conditionals(
        dynamic.get_concrete_function())


class ShortIndex(tf.Module):
    """Exact search that returns at most 8 results and pads the rest (-inf, -1), as ScaNN
    does when it rescored fewer candidates than asked for."""

    def __init__(self, items):
        super().__init__()
        self.exact = BruteForceIndex(items)

    def search(self, queries, k):
        scores, items = self.exact.search(queries, tf.minimum(k, 8))
        missing = k - tf.shape(items)[1]
        return (tf.pad(scores, [[0, 0], [0, missing]], constant_values=-np.inf),
                tf.pad(items, [[0, 0], [0, missing]], constant_values=-1))


def test_an_index_that_returns_fewer_than_asked_certifies_from_its_last_result(catalogue):
    """Padding is not a score: the anchors' thresholds are their 8th results, so steps the 8
    do not cover are searched on their own and every step is its exact top-5."""
    items, queries, _ = catalogue
    _, found, covered = search_walk(ShortIndex(items), tf.constant(items), max_norm(items),
                                    tf.constant(queries), 5, 40)
    np.testing.assert_array_equal(found.numpy(), numpy_top_k(items, queries, 5)[1])
    assert not covered.numpy().all()
