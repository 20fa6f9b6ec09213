"""Tests for tfgrad.retrieval.index: brute force against NumPy, ScaNN against brute force."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfgrad.retrieval.index import (
    SCANN_BRUTE_FORCE_BELOW,
    BruteForceIndex,
    ScannIndex,
    ScannSettings,
    as_constant_variable,
    build_index,
)

# Forced partitioning + asymmetric hashing on a catalogue far below the brute-force threshold.
FORCED_AH = ScannSettings(num_leaves=30, num_leaves_to_search=10)


def _numpy_top_k(queries, items, k):
    """(scores [Q, k], ids [Q, k]) of the k largest inner products, best first."""
    scores = queries.astype(np.float64) @ items.astype(np.float64).T
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, axis=1), ids


def _recall(found_ids, true_ids):
    k = true_ids.shape[1]
    return np.mean([len(set(f.tolist()) & set(t.tolist())) / k
                    for f, t in zip(found_ids, true_ids)])


def _clustered_vectors(rng, num_items, dim, num_clusters=30, spread=0.5):
    """Item vectors around a few centres, the shape learnt item tables have.

    (Isotropic Gaussian vectors are the worst case for any partitioning: there, searching 10 of
    30 leaves finds only ~80% of the true top 10, by construction of the data, not of the code.)
    """
    centres = rng.normal(size=(num_clusters, dim))
    labels = rng.integers(num_clusters, size=num_items)
    return (centres[labels] + spread * rng.normal(size=(num_items, dim))).astype(np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- BruteForceIndex


@pytest.mark.parametrize("k", [1, 5])
def test_brute_force_matches_numpy_top_k(rng, k):
    items = rng.normal(size=(200, 16)).astype(np.float32)
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    index = BruteForceIndex(items)

    scores, ids = index.search(tf.constant(queries), k)

    expected_scores, expected_ids = _numpy_top_k(queries, items, k)
    assert scores.shape == (7, k) and ids.shape == (7, k)
    assert ids.dtype == tf.int32
    np.testing.assert_array_equal(ids.numpy(), expected_ids)
    np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-5, atol=1e-5)


def test_brute_force_scores_are_best_first(rng):
    items = rng.normal(size=(100, 8)).astype(np.float32)
    scores, _ = BruteForceIndex(items).search(tf.constant(rng.normal(size=(4, 8)), tf.float32), 10)
    assert np.all(np.diff(scores.numpy(), axis=1) <= 0)


@pytest.mark.parametrize("k", [1, 5])
def test_brute_force_k_as_tensor_and_in_tf_function(rng, k):
    items = rng.normal(size=(120, 12)).astype(np.float32)
    queries = rng.normal(size=(5, 12)).astype(np.float32)
    index = BruteForceIndex(items)
    expected_scores, expected_ids = _numpy_top_k(queries, items, k)

    eager_scores, eager_ids = index.search(tf.constant(queries), tf.constant(k))
    np.testing.assert_array_equal(eager_ids.numpy(), expected_ids)
    np.testing.assert_allclose(eager_scores.numpy(), expected_scores, rtol=1e-5, atol=1e-5)

    @tf.function(input_signature=[tf.TensorSpec([None, 12], tf.float32),
                                  tf.TensorSpec([], tf.int32)])
    def search(queries, k):
        return index.search(queries, k)

    scores, ids = search(tf.constant(queries), tf.constant(k, tf.int32))
    np.testing.assert_array_equal(ids.numpy(), expected_ids)
    np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-5, atol=1e-5)


def test_brute_force_item_vectors_are_a_non_trainable_float32_copy(rng):
    items = rng.normal(size=(10, 4))  # float64 in
    index = BruteForceIndex(items)
    assert index.item_vectors.dtype == tf.float32
    assert not index.item_vectors.trainable
    np.testing.assert_allclose(index.item_vectors.numpy(), items.astype(np.float32))
    assert index.trainable_variables == ()


# ---------------------------------------------------------------- as_constant_variable


def test_as_constant_variable_shares_an_existing_variable(rng):
    table = tf.Variable(rng.normal(size=(6, 3)).astype(np.float32), trainable=False)
    shared = as_constant_variable(table, "item_vectors")
    assert shared is table

    # Two indices over one table hold the one variable: an update shows in both.
    first, second = BruteForceIndex(table), BruteForceIndex(table)
    assert first.item_vectors is table and second.item_vectors is table
    table.assign(tf.zeros_like(table))
    np.testing.assert_array_equal(first.item_vectors.numpy(), np.zeros((6, 3)))


def test_as_constant_variable_copies_an_array(rng):
    values = rng.normal(size=(4, 2)).astype(np.float32)
    variable = as_constant_variable(values, "item_vectors")
    assert isinstance(variable, tf.Variable)
    assert not variable.trainable
    values[0, 0] = 123.0  # the variable holds its own copy
    assert variable.numpy()[0, 0] != 123.0


# ---------------------------------------------------------------- ScannSettings


@pytest.mark.parametrize("num_items", [10, 3000, SCANN_BRUTE_FORCE_BELOW - 1])
def test_for_catalogue_is_brute_force_below_threshold(num_items):
    settings = ScannSettings.for_catalogue(num_items)
    assert SCANN_BRUTE_FORCE_BELOW == 20_000
    assert settings.num_leaves == 0
    assert settings == ScannSettings()


@pytest.mark.parametrize("num_items", [SCANN_BRUTE_FORCE_BELOW, 100_000, 1_000_000])
def test_for_catalogue_partitions_into_about_sqrt_n_leaves(num_items):
    settings = ScannSettings.for_catalogue(num_items)
    assert abs(settings.num_leaves - math.sqrt(num_items)) <= 1
    assert 1 <= settings.num_leaves_to_search <= settings.num_leaves
    # A third of the leaves (at least 10) are searched: the measured recall@10 ≥ 0.95 setting.
    assert settings.num_leaves_to_search == max(settings.num_leaves // 3, 10)


def test_for_catalogue_sqrt_n_examples():
    assert ScannSettings.for_catalogue(1_000_000).num_leaves == 1000
    assert ScannSettings.for_catalogue(1_000_000).num_leaves_to_search == 333
    assert ScannSettings.for_catalogue(40_000).num_leaves == 200
    assert ScannSettings.for_catalogue(40_000).num_leaves_to_search == 66


# ---------------------------------------------------------------- ScannIndex


def test_scann_default_settings_below_threshold_are_exact(rng):
    items = rng.normal(size=(2000, 16)).astype(np.float32)
    queries = rng.normal(size=(30, 16)).astype(np.float32)
    index = ScannIndex(items)
    assert index.settings.num_leaves == 0  # brute force below 20k items

    scores, ids = index.search(tf.constant(queries), 10)
    brute_scores, brute_ids = BruteForceIndex(items).search(tf.constant(queries), 10)
    expected_scores, expected_ids = _numpy_top_k(queries, items, 10)

    assert scores.shape == (30, 10)
    np.testing.assert_array_equal(ids.numpy(), brute_ids.numpy())
    np.testing.assert_array_equal(ids.numpy(), expected_ids)
    np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-4, atol=1e-4)


def test_scann_forced_partitioning_has_high_recall(rng):
    items = _clustered_vectors(rng, 3000, 32)
    queries = rng.normal(size=(100, 32)).astype(np.float32)
    index = ScannIndex(items, FORCED_AH)
    assert index.settings == FORCED_AH

    scores, ids = index.search(tf.constant(queries), 10)
    _, brute_ids = BruteForceIndex(items).search(tf.constant(queries), 10)

    assert ids.shape == (100, 10)
    assert _recall(ids.numpy(), brute_ids.numpy()) >= 0.9
    # Reordering rescoring is exact: each returned score is the true inner product of its item.
    returned = ids.numpy()
    valid = returned >= 0
    true_scores = np.einsum("qd,qkd->qk", queries, items[np.maximum(returned, 0)])
    np.testing.assert_allclose(scores.numpy()[valid], true_scores[valid], rtol=1e-3, atol=1e-3)


def test_scann_searching_every_leaf_is_near_exact(rng):
    # Isotropic data, but all 30 leaves searched: only hashing + reordering can lose items.
    items = rng.normal(size=(3000, 32)).astype(np.float32)
    queries = rng.normal(size=(100, 32)).astype(np.float32)
    index = ScannIndex(items, ScannSettings(num_leaves=30, num_leaves_to_search=30))
    _, ids = index.search(tf.constant(queries), 10)
    _, expected_ids = _numpy_top_k(queries, items, 10)
    assert _recall(ids.numpy(), expected_ids) >= 0.97


def test_scann_search_in_tf_function(rng):
    items = rng.normal(size=(500, 8)).astype(np.float32)
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    index = ScannIndex(items)

    @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32)])
    def search(queries):
        return index.search(queries, 5)

    _, ids = search(tf.constant(queries))
    np.testing.assert_array_equal(ids.numpy(), _numpy_top_k(queries, items, 5)[1])


def test_a_function_that_searches_twice_builds_one_scann_searcher(rng):
    """Each handle op builds its own searcher on first run (0.9 s at 1M items): a search in a
    tf.cond branch must reuse the function's handle, not make a second one."""
    items = rng.normal(size=(500, 8)).astype(np.float32)
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    index = ScannIndex(items)

    @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32)])
    def twice(queries):
        first = index.search(queries, 5)[1]
        second = tf.cond(tf.shape(queries)[0] > 0, lambda: index.search(queries, 5)[1],
                         lambda: first)
        return first, second

    graph = twice.get_concrete_function().graph.as_graph_def()
    nodes = [*graph.node, *(node for f in graph.library.function for node in f.node_def)]
    # The handle comes from ScannState.recreate_handle, a tf.function: one call of it.
    assert sum("recreate_handle" in node.attr["f"].func.name for node in nodes) == 1
    assert sum(node.op.endswith("ScannSearchBatched") for node in nodes) == 2
    first, second = twice(tf.constant(queries))
    np.testing.assert_array_equal(first.numpy(), _numpy_top_k(queries, items, 5)[1])
    np.testing.assert_array_equal(second.numpy(), first.numpy())


def test_scann_pads_short_results_with_negative_ids_not_item_zero(rng):
    # 30 leaves of ~10 items, one leaf searched, 50 neighbours asked for.
    items = rng.normal(size=(300, 8)).astype(np.float32)
    queries = rng.normal(size=(3, 8)).astype(np.float32)
    index = ScannIndex(items, ScannSettings(num_leaves=30, num_leaves_to_search=1))
    scores, ids = index.search(tf.constant(queries), 50)
    scores, ids = scores.numpy(), ids.numpy()
    # Every returned (id, score) is a real result with its true score, or padding (-1, -inf).
    real = ids >= 0
    assert not np.isnan(scores).any()
    np.testing.assert_allclose(scores[real], np.einsum("qd,qkd->qk", queries,
                                                       items[np.maximum(ids, 0)])[real],
                               rtol=1e-3, atol=1e-3)
    assert ids.shape == (3, 50)


# ---------------------------------------------------------------- build_index


def test_build_index_kinds(rng):
    items = rng.normal(size=(500, 4)).astype(np.float32)
    assert isinstance(build_index(items, "brute_force"), BruteForceIndex)
    scann = build_index(items, "scann", FORCED_AH)
    assert isinstance(scann, ScannIndex)
    assert scann.settings == FORCED_AH


@pytest.mark.parametrize("kind", ["annoy", "", "BRUTE_FORCE"])
def test_build_index_rejects_unknown_kind(rng, kind):
    with pytest.raises(ValueError, match="index kind"):
        build_index(rng.normal(size=(5, 2)).astype(np.float32), kind)
