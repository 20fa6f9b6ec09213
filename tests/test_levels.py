"""Estimated levels: quantiles by hand, the level head against a known linear truth."""

import numpy as np
import pytest

from tfgrad import levels


def test_quantile_levels_by_hand_with_ties_and_unknowns():
    scores = np.array([[3.0, 1.0], [1.0, np.nan], [2.0, 5.0], [2.0, 0.0]])
    got = levels.quantile_levels(scores)
    # Column 0: ranks 3, 0, 1.5, 1.5 of 0..3; column 1: 1, -, 2, 0 of 0..2.
    np.testing.assert_allclose(got[:, 0], [1.0, 0.0, 0.5, 0.5])
    np.testing.assert_allclose(got[[0, 2, 3], 1], [0.5, 1.0, 0.0])
    assert np.isnan(got[1, 1])


def _rank_correlation(a, b):
    return np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1]


def test_level_head_orders_held_out_items_by_a_relevance_it_saw_only_as_tags():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 8)).astype(np.float32)
    truth = 1.0 / (1.0 + np.exp(-(vectors @ rng.normal(size=(8, 3)))))
    tags = (truth > 0.5).astype(np.float32)
    fitted = np.arange(1500)
    estimated = levels.head_levels(vectors, tags, fitted)
    held_out = np.arange(1500, 2000)
    for t in range(3):
        # Binary tags alone rank at most ~0.87; the head recovers the graded order.
        assert _rank_correlation(estimated[held_out, t], truth[held_out, t]) > 0.95
    assert estimated.min() == 0.0 and estimated.max() == 1.0


def test_projection_levels_follow_the_direction():
    vectors = np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    got = levels.projection_levels(vectors, np.array([[1.0, 0.0], [0.0, -1.0]]))
    # ⟨h, d_1⟩ = -1, 0, -1: a tie at ranks 0 and 1 (mean 0.5 of 0..2).
    np.testing.assert_allclose(got, [[0.0, 0.25], [1.0, 1.0], [0.5, 0.25]])
