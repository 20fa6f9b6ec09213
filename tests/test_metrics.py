"""Tests for tfgrad.metrics against hand-worked examples and loop-based NumPy references."""

import warnings

import numpy as np
import pytest

from tfgrad import metrics

# ---------------------------------------------------------------- loop-based references
# Written straight from the formulas in CGIR.md, one query / walk / step at a time.


def _reference_rank(scores, target, excluded):
    rank = 1
    for j, score in enumerate(scores):
        if j != target and j != excluded and score >= scores[target]:
            rank += 1
    return rank


def _reference_consistency(relevance, alpha):
    steps = len(relevance) - 1
    return sum(alpha * relevance[k] < alpha * relevance[k + 1] for k in range(steps)) / steps


def _reference_restrictiveness(relevance, alpha):
    steps = len(relevance) - 1
    total = sum(1 if alpha * relevance[k] < alpha * relevance[k + 1] else -1 for k in range(steps))
    return 1 - abs(total / steps)


def _reference_independence(item_vectors):
    num_dims = item_vectors.shape[1]
    total = 0.0
    for d in range(num_dims):
        for e in range(num_dims):
            if d != e:
                x, y = item_vectors[:, d], item_vectors[:, e]
                if x.std() == 0 or y.std() == 0:
                    continue
                total += abs(np.corrcoef(x, y)[0, 1])
    return 1 - total / (num_dims * (num_dims - 1))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- target_ranks


def test_target_ranks_hand_example():
    scores = np.array(
        [
            [0.1, 0.9, 0.5, 0.3],  # target 2: only item 1 above → 2
            [0.1, 0.9, 0.5, 0.3],  # target 1, nothing above → 1
            [0.4, 0.2, 0.3, 0.1],  # target 3 is lowest → 4
        ]
    )
    ranks = metrics.target_ranks(scores, np.array([2, 1, 3]))
    np.testing.assert_array_equal(ranks, [2, 1, 4])
    assert ranks.dtype == np.int64


def test_target_ranks_ties_are_pessimistic():
    # Everything scored equal: rank = number of candidates (4 without exclusion, 3 with).
    scores = np.zeros((2, 4))
    np.testing.assert_array_equal(metrics.target_ranks(scores, np.array([0, 3])), [4, 4])
    np.testing.assert_array_equal(
        metrics.target_ranks(scores, np.array([0, 3]), excluded=np.array([1, 0])), [3, 3]
    )
    # One tie with the target plus one item strictly above → rank 3.
    scores = np.array([[0.5, 0.9, 0.5, 0.1]])
    np.testing.assert_array_equal(metrics.target_ranks(scores, np.array([0])), [3])


def test_target_ranks_excluded_item_with_higher_score_does_not_count():
    scores = np.array([[0.99, 0.5, 0.7, 0.1], [0.3, 0.3, 0.3, 0.9]])
    targets = np.array([2, 0])
    excluded = np.array([0, 3])
    np.testing.assert_array_equal(metrics.target_ranks(scores, targets), [2, 4])
    # Query 0: reference 0 scores above the target but is not a candidate → rank 1.
    # Query 1: reference 3 is removed; items 1, 2 tie with the target → rank 3.
    np.testing.assert_array_equal(metrics.target_ranks(scores, targets, excluded), [1, 3])


def test_target_ranks_matches_loop_reference(rng):
    # Rounded scores so that ties occur.
    scores = np.round(rng.random((30, 12)), 1)
    targets = rng.integers(0, 12, size=30)
    excluded = (targets + rng.integers(1, 12, size=30)) % 12
    expected = [_reference_rank(s, t, e) for s, t, e in zip(scores, targets, excluded)]
    np.testing.assert_array_equal(metrics.target_ranks(scores, targets, excluded), expected)
    expected = [_reference_rank(s, t, None) for s, t in zip(scores, targets)]
    np.testing.assert_array_equal(metrics.target_ranks(scores, targets), expected)


def test_target_ranks_allows_minus_inf_masks():
    scores = np.array([[-np.inf, 0.2, -np.inf, 0.1]])
    np.testing.assert_array_equal(metrics.target_ranks(scores, np.array([3])), [2])
    np.testing.assert_array_equal(metrics.target_ranks(scores, np.array([0])), [4])


@pytest.mark.parametrize(
    "targets, excluded, message",
    [
        ([1, 2], [1, 0], "target equals its excluded"),
        ([1, 4], None, "targets out of range"),
        ([1, -1], None, "targets out of range"),
        ([1, 2], [0, 9], "excluded out of range"),
        ([1, 2, 3], None, "targets has 3 entries"),
        ([1, 2], [0], "excluded has 1 entries"),
        ([1.0, 2.0], None, "integer"),
    ],
)
def test_target_ranks_rejects_bad_ids(targets, excluded, message):
    scores = np.zeros((2, 4))
    excluded = None if excluded is None else np.array(excluded)
    with pytest.raises(ValueError, match=message):
        metrics.target_ranks(scores, np.array(targets), excluded)


def test_target_ranks_rejects_bad_scores():
    with pytest.raises(ValueError, match="2-D"):
        metrics.target_ranks(np.zeros(4), np.array([0]))
    with pytest.raises(ValueError, match="NaN"):
        metrics.target_ranks(np.array([[0.0, np.nan]]), np.array([0]))


# ---------------------------------------------------------------- hit_rate, MRR


def test_hit_rate_and_mrr_hand_example():
    ranks = np.array([1, 2, 5, 20, 21])
    assert metrics.hit_rate(ranks, 1) == pytest.approx(0.2)
    assert metrics.hit_rate(ranks, 20) == pytest.approx(0.8)
    assert metrics.hit_rate(ranks, 50) == pytest.approx(1.0)
    expected = (1 + 1 / 2 + 1 / 5 + 1 / 20 + 1 / 21) / 5
    assert metrics.mean_reciprocal_rank(ranks) == pytest.approx(expected)
    assert isinstance(metrics.hit_rate(ranks, 20), float)
    assert isinstance(metrics.mean_reciprocal_rank(ranks), float)


def test_hit_rate_and_mrr_reject_bad_input():
    with pytest.raises(ValueError, match=">= 1"):
        metrics.mean_reciprocal_rank(np.array([0, 1]))
    with pytest.raises(ValueError, match="non-empty"):
        metrics.hit_rate(np.array([], dtype=int), 5)
    with pytest.raises(ValueError, match="k must be"):
        metrics.hit_rate(np.array([1, 2]), 0)


# ---------------------------------------------------------------- consistency


def test_consistency_hand_examples():
    relevance = np.array(
        [
            [0.1, 0.2, 0.3, 0.4],  # α=+1, rising: 3/3
            [0.1, 0.2, 0.3, 0.4],  # α=−1, rising: 0/3
            [0.4, 0.3, 0.35, 0.1],  # α=−1: falls, rises, falls → 2/3
            [0.2, 0.2, 0.5, 0.5],  # α=+1 with ties / repeated items: only the middle step → 1/3
        ]
    )
    direction = np.array([1, -1, -1, 1])
    np.testing.assert_allclose(
        metrics.consistency(relevance, direction), [1.0, 0.0, 2 / 3, 1 / 3]
    )


def test_consistency_ties_count_as_not_increasing_in_both_directions():
    constant = np.full((2, 5), 0.7)
    np.testing.assert_array_equal(metrics.consistency(constant, np.array([1, -1])), [0.0, 0.0])


def test_consistency_matches_loop_reference(rng):
    relevance = np.round(rng.random((25, 6)), 1)
    direction = rng.choice([-1, 1], size=25)
    expected = [_reference_consistency(r, a) for r, a in zip(relevance, direction)]
    np.testing.assert_allclose(metrics.consistency(relevance, direction), expected)


# ---------------------------------------------------------------- restrictiveness


def test_restrictiveness_monotone_drift_is_zero_alternating_is_one():
    # Walk 0: t'0 rises steadily (drift) → 0, t'1 alternates (4 steps: 2 up, 2 down) → 1.
    # Walk 1: same sequences with α = −1: the absolute value makes a falling-relative-to-α
    # drift score 0 too.
    drift = [0.1, 0.2, 0.3, 0.4, 0.5]
    alternating = [0.5, 0.6, 0.5, 0.6, 0.5]
    walk = np.stack([drift, alternating], axis=-1)  # [N, T']
    other_relevance = np.stack([walk, walk])  # [P=2, N=5, T'=2]
    result = metrics.restrictiveness(other_relevance, np.array([1, -1]))
    assert result.shape == (2, 2)
    np.testing.assert_allclose(result, [[0.0, 1.0], [0.0, 1.0]])
    # A falling drift is also 0 in either direction.
    falling = np.array(drift[::-1])[None, :, None]
    np.testing.assert_allclose(metrics.restrictiveness(falling, np.array([1])), [[0.0]])
    np.testing.assert_allclose(metrics.restrictiveness(falling, np.array([-1])), [[0.0]])


def test_restrictiveness_hand_example_with_ties():
    # Steps of [0.3, 0.5, 0.5, 0.2]: up, tie, down.
    # α=+1: s = [+1, −1, −1] → mean −1/3 → 1 − 1/3 = 2/3.
    # α=−1: s = [−1, −1, +1] → mean −1/3 → 2/3 as well.
    # A level t' (all ties) is s = −1 everywhere → 0, exactly as the formula says.
    relevance = np.array([0.3, 0.5, 0.5, 0.2])
    level = np.full(4, 0.4)
    other_relevance = np.stack([relevance, level], axis=-1)[None]  # [1, 4, 2]
    np.testing.assert_allclose(
        metrics.restrictiveness(other_relevance, np.array([1])), [[2 / 3, 0.0]]
    )
    np.testing.assert_allclose(
        metrics.restrictiveness(other_relevance, np.array([-1])), [[2 / 3, 0.0]]
    )
    # Ties make the score depend on α: steps up, tie, tie.
    # α=+1: [+1, −1, −1] → 2/3; α=−1: [−1, −1, −1] → 0.
    rising_then_level = np.array([0.1, 0.4, 0.4, 0.4])[None, :, None]
    np.testing.assert_allclose(
        metrics.restrictiveness(rising_then_level, np.array([1])), [[2 / 3]]
    )
    np.testing.assert_allclose(
        metrics.restrictiveness(rising_then_level, np.array([-1])), [[0.0]], atol=1e-12
    )


def test_restrictiveness_matches_loop_reference(rng):
    other_relevance = np.round(rng.random((15, 7, 4)), 1)
    direction = rng.choice([-1, 1], size=15)
    expected = [
        [_reference_restrictiveness(other_relevance[p, :, t], direction[p]) for t in range(4)]
        for p in range(15)
    ]
    np.testing.assert_allclose(metrics.restrictiveness(other_relevance, direction), expected)


# ---------------------------------------------------------------- gradual_scores


def test_gradual_scores_hand_example():
    # Walk 0: walked t0 with α=+1 rises 3/3 → c=1; t1 drifts (r=0), t2 alternates... over 3
    # steps up, down, up → mean 1/3 → r = 2/3. Mean r = (0 + 2/3) / 2 = 1/3.
    # Walk 1: walked t2 with α=−1; t2 falls, rises, falls → c = 2/3; t0 constant → r = 0;
    # t1 up, down, up with α=−1: s = [−1, +1, −1] → r = 2/3. Mean r = 1/3.
    walk0 = np.array([[0.1, 0.1, 0.5], [0.2, 0.2, 0.6], [0.3, 0.3, 0.5], [0.4, 0.4, 0.6]])
    walk1 = np.array([[0.5, 0.1, 0.9], [0.5, 0.3, 0.8], [0.5, 0.2, 0.85], [0.5, 0.4, 0.7]])
    relevance = np.stack([walk0, walk1])  # [2, 4, 3]
    scores = metrics.gradual_scores(relevance, np.array([0, 2]), np.array([1, -1]),
                                    per_walk=True)
    np.testing.assert_allclose(scores["consistency"], [1.0, 2 / 3])
    np.testing.assert_allclose(scores["restrictiveness"], [1 / 3, 1 / 3])
    assert scores["mgs_c"] == pytest.approx(5 / 6)
    assert scores["mgs_r"] == pytest.approx(1 / 3)
    assert scores["mgs"] == pytest.approx((1 * 1 / 3 + 2 / 3 * 1 / 3) / 2)
    without = metrics.gradual_scores(relevance, np.array([0, 2]), np.array([1, -1]))
    assert set(without) == {"mgs", "mgs_c", "mgs_r"}
    assert all(isinstance(value, float) for value in without.values())


def test_gradual_scores_matches_loop_reference(rng):
    num_walks, num_steps, num_attributes = 20, 6, 5
    relevance = np.round(rng.random((num_walks, num_steps, num_attributes)), 1)
    attributes = rng.integers(0, num_attributes, size=num_walks)
    directions = rng.choice([-1, 1], size=num_walks)
    c, r = [], []
    for p in range(num_walks):
        t = attributes[p]
        c.append(_reference_consistency(relevance[p, :, t], directions[p]))
        others = [u for u in range(num_attributes) if u != t]
        r.append(np.mean([_reference_restrictiveness(relevance[p, :, u], directions[p])
                          for u in others]))
    c, r = np.array(c), np.array(r)
    scores = metrics.gradual_scores(relevance, attributes, directions, per_walk=True)
    np.testing.assert_allclose(scores["consistency"], c)
    np.testing.assert_allclose(scores["restrictiveness"], r)
    assert scores["mgs"] == pytest.approx(np.mean(c * r))
    assert scores["mgs_c"] == pytest.approx(np.mean(c))
    assert scores["mgs_r"] == pytest.approx(np.mean(r))


def test_length_one_walks_raise():
    with pytest.raises(ValueError, match="at least 2 steps, got 1"):
        metrics.consistency(np.zeros((3, 1)), np.ones(3))
    with pytest.raises(ValueError, match="at least 2 steps, got 1"):
        metrics.restrictiveness(np.zeros((3, 1, 2)), np.ones(3))
    with pytest.raises(ValueError, match="at least 2 steps, got 1"):
        metrics.gradual_scores(np.zeros((3, 1, 2)), np.zeros(3, int), np.ones(3))


def test_gradual_scores_rejects_single_attribute_and_bad_columns():
    with pytest.raises(ValueError, match="at least 2 attributes"):
        metrics.gradual_scores(np.zeros((2, 4, 1)), np.zeros(2, int), np.ones(2))
    with pytest.raises(ValueError, match="attributes out of range"):
        metrics.gradual_scores(np.zeros((2, 4, 3)), np.array([0, 3]), np.ones(2))
    with pytest.raises(ValueError, match="at least one walk"):
        metrics.gradual_scores(np.zeros((0, 4, 3)), np.zeros(0, int), np.ones(0))


@pytest.mark.parametrize("direction", [[1, 0], [1, 2], [0.5, -1], [1, 1, 1]])
def test_directions_other_than_plus_minus_one_raise(direction):
    direction = np.array(direction)
    with pytest.raises(ValueError, match="direction"):
        metrics.consistency(np.zeros((2, 3)), direction)
    with pytest.raises(ValueError, match="direction"):
        metrics.restrictiveness(np.zeros((2, 3, 2)), direction)
    with pytest.raises(ValueError, match="direction"):
        metrics.gradual_scores(np.zeros((2, 3, 2)), np.zeros(2, int), direction)


def test_nan_relevance_raises():
    relevance = np.zeros((2, 3))
    relevance[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.consistency(relevance, np.ones(2))


# ---------------------------------------------------------------- independence_level


def test_independence_level_is_one_for_orthogonal_centred_columns():
    # Columns of a Hadamard matrix without its constant column: centred and mutually orthogonal.
    item_vectors = np.array(
        [[1, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]], dtype=np.float64
    ) * np.array([1.0, 3.0, 0.5]) + np.array([2.0, -1.0, 7.0])  # scale / shift change nothing
    assert metrics.independence_level(item_vectors) == pytest.approx(1.0, abs=1e-12)


def test_independence_level_is_zero_for_perfectly_correlated_columns(rng):
    x = rng.normal(size=50)
    item_vectors = np.stack([x, 2 * x + 3, -0.5 * x], axis=1)  # anti-correlation counts too
    assert metrics.independence_level(item_vectors) == pytest.approx(0.0, abs=1e-12)


def test_independence_level_hand_example():
    # corr(x, y) = 0.8 for x = [1, 2, 3, 4], y = [1, 3, 2, 4]; D = 2 → Ind = 1 − 0.8.
    item_vectors = np.array([[1, 1], [2, 3], [3, 2], [4, 4]], dtype=np.float64)
    assert metrics.independence_level(item_vectors) == pytest.approx(0.2)


def test_independence_level_matches_corrcoef_reference(rng):
    item_vectors = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    assert metrics.independence_level(item_vectors) == pytest.approx(
        _reference_independence(item_vectors), abs=1e-12
    )


def test_independence_level_dead_dimension_is_independent_not_nan():
    # Column 2 is constant (a dead unit): np.corrcoef gives NaN for it. With 7 items of 0.1 the
    # float mean is not exactly 0.1, so the column's computed std is ~1e-17, not 0: a dead unit
    # must be recognised as exactly constant (max == min), not by its computed variance.
    x = np.arange(7.0)
    y = np.array([0.0, 2.0, 1.0, 3.0, 5.0, 4.0, 6.0])  # corr(x, y) = 1 − 6·4/(7·48) = 13/14
    dead = np.full(7, 0.1)
    assert dead.std() != 0
    item_vectors = np.stack([x, y, dead], axis=1)
    # Pairs: (0,1) and (1,0) → 13/14 each; pairs with the dead column → 0. D(D−1) = 6.
    result = metrics.independence_level(item_vectors)
    assert np.isfinite(result)
    assert result == pytest.approx(1 - 2 * (13 / 14) / 6)
    # Exactly 0-variance dead columns, and a table of only dead columns.
    item_vectors[:, 2] = 0.0
    assert metrics.independence_level(item_vectors) == pytest.approx(1 - 2 * (13 / 14) / 6)
    assert metrics.independence_level(np.ones((5, 3))) == 1.0


def test_independence_level_rejects_bad_shapes():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        metrics.independence_level(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="at least 2 items"):
        metrics.independence_level(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.independence_level(np.array([[0.0, np.nan], [1.0, 2.0]]))


# --------------------------------------------------------------------------------------------
# gradual_scores_with_missing


@pytest.mark.parametrize("seed", [0, 1])
def test_with_missing_equals_gradual_scores_without_nan(seed):
    rng = np.random.default_rng(seed)
    relevance = rng.random((20, 6, 4))
    attributes = rng.integers(0, 4, 20)
    directions = rng.choice([-1, 1], 20)
    full = metrics.gradual_scores(relevance, attributes, directions)
    partial = metrics.gradual_scores_with_missing(relevance, attributes, directions)
    for name in ("mgs", "mgs_c", "mgs_r"):
        assert partial[name] == pytest.approx(full[name])
    assert partial["walks_scored"] == 20


def test_with_missing_hand_example():
    nan = np.nan
    # One walk "more t0" of 4 items; t0 known at steps 1, 2 and 4 -> one known step (1 -> 2)
    # rising; t1 known everywhere: up, down, up -> signs +1 -1 +1 -> R = 1 - 1/3;
    # t2 unknown everywhere -> left out of the mean.
    relevance = np.array([[[0.1, 0.1, nan], [0.3, 0.5, nan], [nan, 0.2, nan],
                           [0.0, 0.4, nan]]])
    scores = metrics.gradual_scores_with_missing(relevance, [0], [1])
    assert scores["mgs_c"] == pytest.approx(1.0)
    assert scores["mgs_r"] == pytest.approx(2.0 / 3.0)
    assert scores["mgs"] == pytest.approx(2.0 / 3.0)
    # A second walk with no known step of its attribute is left out.
    both = np.concatenate([relevance, np.full((1, 4, 3), nan)])
    assert metrics.gradual_scores_with_missing(both, [0, 2], [1, 1])["walks_scored"] == 1


def test_with_missing_rejects_unscorable():
    with pytest.raises(ValueError, match="no walk"):
        metrics.gradual_scores_with_missing(np.full((2, 3, 2), np.nan), [0, 1], [1, -1])


def test_inception_score_against_hand_values():
    # Confident and evenly spread over C classes: IS = C; all alike: IS = 1.
    assert metrics.inception_score(np.eye(4)) == pytest.approx(4.0)
    assert metrics.inception_score(np.full((5, 3), 1 / 3)) == pytest.approx(1.0)
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    marginal = p.mean(axis=0)
    kl = [np.sum(row * np.log(row / marginal)) for row in p]
    assert metrics.inception_score(p) == pytest.approx(np.exp(np.mean(kl)))


def test_frechet_distance_against_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # Shifted by d: FID = ‖d‖²; scaled by s (isotropic): (1 − s)² per dimension on top.
    shift = np.array([1.0, -2.0, 0.5])
    assert metrics.frechet_distance(a, a + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-6)
    scaled = metrics.frechet_distance(a, 3 * a)
    cov = np.cov(a, rowvar=False)
    mean_term = np.sum((2 * a.mean(axis=0)) ** 2)
    assert scaled == pytest.approx(mean_term + np.trace(cov) + 9 * np.trace(cov)
                                   - 6 * np.trace(cov), rel=1e-6)
    with pytest.raises(ValueError, match="features must be"):
        metrics.frechet_distance(a[:, :2], a)


def test_ssim_diversity_is_zero_for_copies_and_grows_with_difference():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(16, 16, 3)).astype(np.float32)
    assert metrics.ssim_diversity(np.stack([image] * 3)) == pytest.approx(0.0, abs=1e-6)
    others = np.stack([image, rng.uniform(size=(16, 16, 3)), rng.uniform(size=(16, 16, 3))])
    assert metrics.ssim_diversity(others) > 0.5
    with pytest.raises(ValueError, match="k >= 2"):
        metrics.ssim_diversity(image[None])


def test_knn_precision_by_hand():
    neighbours = np.array([[1, 1, 0], [2, 0, 0]])
    queries = np.array([1, 0])
    assert metrics.knn_precision(neighbours, queries) == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert metrics.knn_precision(neighbours, queries, k=1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="k must be in 1..3"):
        metrics.knn_precision(neighbours, queries, k=4)
    with pytest.raises(ValueError, match="query_labels"):
        metrics.knn_precision(neighbours, queries[:1])


def test_chance_knn_precision_is_the_expected_precision_of_random_items():
    catalogue = np.array([0, 0, 0, 1])
    queries = np.array([0, 1])
    assert metrics.chance_knn_precision(catalogue, queries) == pytest.approx(
        0.5 * 0.75 + 0.5 * 0.25)
    rng = np.random.default_rng(0)
    drawn = catalogue[rng.integers(len(catalogue), size=(20000, 2, 3))]
    simulated = np.mean(drawn == queries[None, :, None])
    assert simulated == pytest.approx(0.5, abs=0.01)


# ---------------------------------------------------------------- attribute manipulation


def test_manipulation_hits_need_the_whole_target_vector():
    targets = np.array([[1, 2], [0, -1]])
    retrieved = np.array([[[1, 0], [1, 2], [0, 2]],     # the 2nd is the target
                          [[0, 1], [0, 0], [0, -1]]])   # the 3rd (missing must match missing)
    np.testing.assert_array_equal(metrics.manipulation_hits(retrieved, targets, 1),
                                  [False, False])
    np.testing.assert_array_equal(metrics.manipulation_hits(retrieved, targets, 2),
                                  [True, False])
    np.testing.assert_array_equal(metrics.manipulation_hits(retrieved, targets, 3),
                                  [True, True])
    with pytest.raises(ValueError, match="k must be"):
        metrics.manipulation_hits(retrieved, targets, 4)


def test_manipulation_ndcg_by_hand():
    # Relevance = share of the target's attributes matched: 1/2, 1, 0.
    targets = np.array([[1, 2]])
    retrieved = np.array([[[1, 0], [1, 2], [0, 0]]])
    dcg = (2 ** 0.5 - 1) / np.log(2) + 1 / np.log(3) + 0 / np.log(4)
    ideal = 1 / np.log(2) + 1 / np.log(3) + 1 / np.log(4)
    np.testing.assert_allclose(metrics.manipulation_ndcg(retrieved, targets, 3), [dcg / ideal])
    np.testing.assert_allclose(metrics.manipulation_ndcg(np.array([[[1, 2]] * 3]), targets, 3),
                               [1.0])


def test_chance_manipulation_scores_match_enumerating_every_draw():
    import itertools

    catalogue = np.array([[0, 0], [0, 1], [1, 1], [0, 1], [1, 0]])
    targets = np.array([[0, 1], [1, 1]])
    hits, ndcg = metrics.chance_manipulation_scores(catalogue, targets, (1, 2), 2)
    for query, target in enumerate(targets):
        for k in (1, 2):
            draws = list(itertools.permutations(range(len(catalogue)), k))
            expected_hit = np.mean([metrics.manipulation_hits(
                catalogue[list(draw)][None], target[None], k)[0] for draw in draws])
            assert hits[k][query] == pytest.approx(expected_hit)
        draws = list(itertools.permutations(range(len(catalogue)), 2))
        expected_ndcg = np.mean([metrics.manipulation_ndcg(catalogue[list(draw)][None],
                                                           target[None], 2)[0]
                                 for draw in draws])
        assert ndcg[query] == pytest.approx(expected_ndcg)


# --------------------------------------------------------------------------------------------
# Walk shape: tie-neutral restrictiveness, drift, jitter, unevenness, walk_shape_scores


def _reference_walk_shape(relevance, attributes, directions):
    """Per-walk mgs_r_tn, drift, jitter, uneven straight from the formulas, one walk / attribute
    / step at a time, skipping unknown (NaN) values; NaN where nothing is known."""

    def mean(values):
        values = [v for v in values if not np.isnan(v)]
        return sum(values) / len(values) if values else np.nan

    def tie_neutral(values, alpha):  # values: seq@1..seq@N
        signs = [np.sign(alpha * (values[k + 1] - values[k])) for k in range(len(values) - 1)]
        average = mean(signs)
        return np.nan if np.isnan(average) else 1 - abs(average)

    num_walks, length, num_attributes = relevance.shape
    steps = length - 1
    rows = {"mgs_r_tn": [], "drift": [], "jitter": [], "uneven": []}
    for p in range(num_walks):
        t, alpha = attributes[p], directions[p]
        others = [u for u in range(num_attributes) if u != t]
        rows["mgs_r_tn"].append(mean([tie_neutral(relevance[p, 1:, u], alpha) for u in others]))
        rows["drift"].append(mean([mean([abs(relevance[p, k, u] - relevance[p, 0, u])
                                         for k in range(1, length)]) for u in others]))
        rows["jitter"].append(mean([mean([abs(relevance[p, k, u] - relevance[p, k - 1, u])
                                          for k in range(1, length)]) for u in others]))
        r = relevance[p, :, t]
        delta = alpha * (r[-1] - r[0]) / steps
        rows["uneven"].append(mean([abs(alpha * (r[k] - r[k - 1]) - delta)
                                    for k in range(1, length)]))
    return {name: np.array(values) for name, values in rows.items()}


def test_tie_neutral_restrictiveness_hand_examples():
    # One walk of 4 items, four other attributes:
    #   level  0.4 0.4 0.4 0.4: ties only → MGS-R-style s = −1,−1,−1 → 0; tie-neutral 0,0,0 → 1.
    #   zigzag 0.5 0.6 0.5 0.6: up, down, up → s = +1,−1,+1 → 1 − 1/3 = 2/3 for both.
    #   drift  0.1 0.2 0.3 0.4: up ×3 → |mean| = 1 → 0 for both.
    #   ties   0.3 0.5 0.5 0.2: up, tie, down → MGS-R s = +1,−1,−1 → 2/3; tie-neutral +1,0,−1 → 1.
    columns = [[0.4] * 4, [0.5, 0.6, 0.5, 0.6], [0.1, 0.2, 0.3, 0.4], [0.3, 0.5, 0.5, 0.2]]
    other_relevance = np.array(columns).T[None]  # [1, 4, 4]
    np.testing.assert_allclose(metrics.restrictiveness(other_relevance, np.array([1])),
                               [[0.0, 2 / 3, 0.0, 2 / 3]], atol=1e-12)
    for alpha in (1, -1):  # tie-neutral: α cancels in |·|
        result = metrics.tie_neutral_restrictiveness(other_relevance, np.array([alpha]))
        assert result.shape == (1, 4)
        np.testing.assert_allclose(result, [[1.0, 2 / 3, 0.0, 1.0]], atol=1e-12)


def test_tie_neutral_restrictiveness_equals_restrictiveness_without_ties(rng):
    other_relevance = rng.random((6, 5, 3))  # continuous: no ties
    direction = rng.choice([-1, 1], size=6)
    np.testing.assert_allclose(metrics.tie_neutral_restrictiveness(other_relevance, direction),
                               metrics.restrictiveness(other_relevance, direction))


def test_drift_and_jitter_hand_example():
    # One walk: reference then 3 items, two other attributes.
    #   t'0: 0.5 | 0.6 0.4 0.5 → drift (0.1 + 0.1 + 0.0) / 3 = 0.2/3,
    #                            jitter (0.1 + 0.2 + 0.1) / 3 = 0.4/3
    #   t'1: 0.2 | 0.2 0.2 0.8 → drift (0 + 0 + 0.6) / 3 = 0.2, jitter (0 + 0 + 0.6) / 3 = 0.2
    other_relevance = np.array([[0.5, 0.6, 0.4, 0.5], [0.2, 0.2, 0.2, 0.8]]).T[None]  # [1,4,2]
    np.testing.assert_allclose(metrics.drift_from_reference(other_relevance), [[0.2 / 3, 0.2]])
    np.testing.assert_allclose(metrics.jitter_step_to_step(other_relevance), [[0.4 / 3, 0.2]])
    # Nothing changes → both 0.
    np.testing.assert_array_equal(metrics.drift_from_reference(np.full((2, 4, 3), 0.3)), 0.0)
    np.testing.assert_array_equal(metrics.jitter_step_to_step(np.full((2, 4, 3), 0.3)), 0.0)


def test_unevenness_hand_examples():
    target_relevance = np.array([
        [0.1, 0.3, 0.5, 0.7],  # α=+1, even: d = .2 .2 .2, δ = .2 → 0
        [0.1, 0.1, 0.1, 0.7],  # α=+1, one jump: d = 0 0 .6, δ = .2 → (.2 + .2 + .4)/3 = 0.8/3
        [0.7, 0.7, 0.7, 0.1],  # α=−1, one jump: d = 0 0 .6, δ = .2 → 0.8/3
        [0.9, 0.6, 0.3, 0.0],  # α=−1, even fall: d = .3 .3 .3, δ = .3 → 0
        [0.4, 0.4, 0.4, 0.4],  # never moves: 0 (why it is read beside consistency)
    ])
    direction = np.array([1, 1, -1, -1, 1])
    np.testing.assert_allclose(metrics.unevenness(target_relevance, direction),
                               [0.0, 0.8 / 3, 0.8 / 3, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(metrics.unevenness(target_relevance, -direction),
                               metrics.unevenness(target_relevance, direction))


def _walk_shape_hand_relevance():
    # Walk 0: "more t0". Positions 0 (reference) .. 3.
    #   t0: 0.1 0.3 0.5 0.7 → uneven 0
    #   t1: 0.5 | 0.6 0.4 0.5 → drift 0.2/3, jitter 0.4/3; TN on 0.6 0.4 0.5: −1 +1 → 1
    #   t2: 0.2 | 0.2 0.2 0.8 → drift 0.2,   jitter 0.2;   TN on 0.2 0.2 0.8:  0 +1 → 1/2
    #   walk: mgs_r_tn 3/4, drift 0.4/3, jitter 1/6, uneven 0
    # Walk 1: "less t2".
    #   t2: 0.7 0.7 0.7 0.1 → uneven 0.8/3
    #   t0: 0.4 constant → drift 0, jitter 0, TN 1
    #   t1: 0.1 | 0.2 0.3 0.4 → drift 0.2, jitter 0.1; TN on 0.2 0.3 0.4 with α=−1: −1 −1 → 0
    #   walk: mgs_r_tn 1/2, drift 0.1, jitter 0.05, uneven 0.8/3
    walk0 = np.array([[0.1, 0.3, 0.5, 0.7], [0.5, 0.6, 0.4, 0.5], [0.2, 0.2, 0.2, 0.8]]).T
    walk1 = np.array([[0.4, 0.4, 0.4, 0.4], [0.1, 0.2, 0.3, 0.4], [0.7, 0.7, 0.7, 0.1]]).T
    return np.stack([walk0, walk1]), np.array([0, 2]), np.array([1, -1])  # [2, 4, 3]


def test_walk_shape_scores_hand_example():
    relevance, attributes, directions = _walk_shape_hand_relevance()
    scores = metrics.walk_shape_scores(relevance, attributes, directions, per_walk=True)
    np.testing.assert_allclose(scores["mgs_r_tn_per_walk"], [0.75, 0.5])
    np.testing.assert_allclose(scores["drift_per_walk"], [0.4 / 3, 0.1])
    np.testing.assert_allclose(scores["jitter_per_walk"], [1 / 6, 0.05])
    np.testing.assert_allclose(scores["uneven_per_walk"], [0.0, 0.8 / 3], atol=1e-12)
    assert scores["mgs_r_tn"] == pytest.approx(0.625)
    assert scores["drift"] == pytest.approx(0.7 / 6)
    assert scores["jitter"] == pytest.approx(13 / 120)
    assert scores["uneven"] == pytest.approx(0.4 / 3)
    plain = metrics.walk_shape_scores(relevance, attributes, directions)
    assert set(plain) == {"mgs_r_tn", "drift", "jitter", "uneven"}
    assert all(isinstance(value, float) for value in plain.values())


def test_walk_shape_scores_skip_unknown_values():
    relevance, attributes, directions = _walk_shape_hand_relevance()
    # Walk 0, t1 at position 2 unknown: 0.5 | 0.6 NaN 0.5.
    #   drift t1 = (0.1 + 0) / 2 = 0.05; jitter t1: only step 0→1 known → 0.1;
    #   TN t1 on 0.6 NaN 0.5: no known step → left out, walk mgs_r_tn = TN t2 = 1/2.
    #   walk 0: drift (0.05 + 0.2)/2 = 0.125, jitter (0.1 + 0.2)/2 = 0.15.
    # Walk 1, walked t2 at position 1 unknown: 0.7 NaN 0.7 0.1 → δ = 0.2 from the ends,
    #   only d_3 = 0.6 known → |0.6 − 0.2| = 0.4.
    relevance[0, 2, 1] = np.nan
    relevance[1, 1, 2] = np.nan
    scores = metrics.walk_shape_scores(relevance, attributes, directions, per_walk=True)
    np.testing.assert_allclose(scores["mgs_r_tn_per_walk"], [0.5, 0.5])
    np.testing.assert_allclose(scores["drift_per_walk"], [0.125, 0.1])
    np.testing.assert_allclose(scores["jitter_per_walk"], [0.15, 0.05])
    np.testing.assert_allclose(scores["uneven_per_walk"], [0.0, 0.4], atol=1e-12)
    assert scores["mgs_r_tn"] == pytest.approx(0.5)
    assert scores["drift"] == pytest.approx(0.1125)
    assert scores["jitter"] == pytest.approx(0.1)
    assert scores["uneven"] == pytest.approx(0.2)
    # An unknown end of the walked attribute (no δ) leaves that walk out of "uneven".
    relevance[1, 3, 2] = np.nan
    scores = metrics.walk_shape_scores(relevance, attributes, directions, per_walk=True)
    assert np.isnan(scores["uneven_per_walk"][1])
    assert scores["uneven"] == pytest.approx(0.0)


def test_walk_shape_scores_unscorable_column_is_nan_without_warnings():
    relevance, attributes, directions = _walk_shape_hand_relevance()
    relevance[0, :, 0] = np.nan  # both walked attributes unknown everywhere
    relevance[1, :, 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = metrics.walk_shape_scores(relevance, attributes, directions)
        unknown = metrics.walk_shape_scores(np.full((2, 4, 3), np.nan), attributes, directions)
    assert np.isnan(scores["uneven"])
    # The other attributes are intact: the hand example's values.
    assert scores["mgs_r_tn"] == pytest.approx(0.625)
    assert scores["drift"] == pytest.approx(0.7 / 6)
    assert all(np.isnan(value) for value in unknown.values())


def _one_hot_walk(values_per_step, sizes):
    """[N+1, T] binary tags from one value index per column per step (−1: none)."""
    rows = []
    for values in values_per_step:
        row = []
        for value, size in zip(values, sizes):
            row.extend(1 if k == value else 0 for k in range(size))
        rows.append(row)
    return np.array(rows)


def test_columns_kept_hand_example():
    # Columns: type (3 tags), colour (2 tags), pattern (2 tags); tag 3 is colour's first.
    sizes, columns = (3, 2, 2), np.array([0, 0, 0, 1, 1, 2, 2])
    # Walk 0 walks colour (tag 3): type kept at steps 1, 2, lost at 3; pattern kept always.
    walk0 = _one_hot_walk([(0, 1, 0), (0, 0, 0), (0, 0, 0), (2, 0, 0)], sizes)
    # Walk 1 walks type (tag 1): colour kept 1 of 3 steps; pattern "none" at the reference,
    # and "none" again at step 3 counts as kept.
    walk1 = _one_hot_walk([(0, 1, -1), (1, 0, 1), (1, 1, 0), (1, 0, -1)], sizes)
    kept = metrics.columns_kept(np.stack([walk0, walk1]), columns, np.array([3, 1]))
    # walk 0: (2/3 + 1) / 2; walk 1: (1/3 + 1/3) / 2.
    assert kept == pytest.approx(((2 / 3 + 1) / 2 + (1 / 3 + 1 / 3) / 2) / 2)


def test_columns_kept_rejects_what_it_cannot_score():
    sizes, columns = (2, 2), np.array([0, 0, 1, 1])
    walk = _one_hot_walk([(0, 0), (1, 0), (1, 1)], sizes)[None]
    assert metrics.columns_kept(walk, columns, np.array([0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="two tags of column 0"):
        metrics.columns_kept(np.ones((1, 3, 4)), columns, np.array([0]))
    with pytest.raises(ValueError, match="at least 2 columns"):
        metrics.columns_kept(walk, np.zeros(4, np.int64), np.array([0]))
    with pytest.raises(ValueError, match="attributes must be in"):
        metrics.columns_kept(walk, columns, np.array([4]))
    with pytest.raises(ValueError, match="binary"):
        metrics.columns_kept(walk * 0.5, columns, np.array([0]))


@pytest.mark.parametrize("missing", [0.0, 0.3])
def test_walk_shape_scores_match_loop_reference(missing):
    rng = np.random.default_rng(7)
    num_walks, num_items, num_attributes = 5, 4, 3
    relevance = np.round(rng.random((num_walks, num_items + 1, num_attributes)), 1)  # ties too
    relevance[rng.random(relevance.shape) < missing] = np.nan
    attributes = rng.integers(0, num_attributes, size=num_walks)
    directions = rng.choice([-1, 1], size=num_walks)
    expected = _reference_walk_shape(relevance, attributes, directions)
    scores = metrics.walk_shape_scores(relevance, attributes, directions, per_walk=True)
    for name, values in expected.items():
        np.testing.assert_allclose(scores[f"{name}_per_walk"], values, atol=1e-12)
        known = values[~np.isnan(values)]
        assert scores[name] == pytest.approx(np.mean(known) if known.size else np.nan,
                                             nan_ok=True)


def test_walk_shape_scores_without_nan_agree_with_the_per_walk_functions(rng):
    relevance = rng.random((5, 5, 3))
    attributes = rng.integers(0, 3, size=5)
    directions = rng.choice([-1, 1], size=5)
    scores = metrics.walk_shape_scores(relevance, attributes, directions, per_walk=True)
    others = np.ones((5, 3), dtype=bool)
    others[np.arange(5), attributes] = False
    tn = metrics.tie_neutral_restrictiveness(relevance[:, 1:], directions)
    np.testing.assert_allclose(scores["mgs_r_tn_per_walk"], (tn * others).sum(axis=1) / 2)
    drift = metrics.drift_from_reference(relevance)
    np.testing.assert_allclose(scores["drift_per_walk"], (drift * others).sum(axis=1) / 2)
    jitter = metrics.jitter_step_to_step(relevance)
    np.testing.assert_allclose(scores["jitter_per_walk"], (jitter * others).sum(axis=1) / 2)
    uneven = metrics.unevenness(relevance[np.arange(5), :, attributes], directions)
    np.testing.assert_allclose(scores["uneven_per_walk"], uneven)


def test_walk_shape_functions_reject_bad_input():
    ok, attributes, directions = _walk_shape_hand_relevance()
    cases = [
        ((ok[0], attributes, directions), "must be 3-D"),
        ((ok[:, :2], attributes, directions), "at least 2 walk items"),
        ((ok[:, :, :1], np.zeros(2, int), directions), "at least 2 attributes"),
        ((ok[:0], attributes[:0], directions[:0]), "at least one walk"),
        ((ok, np.array([0, 3]), directions), "attributes out of range"),
        ((ok, np.array([0.0, 2.0]), directions), "integer ids"),
        ((ok, attributes, np.array([1, 0])), "direction values must be"),
        ((ok, attributes, np.array([1])), "direction must have shape"),
        ((np.where(ok == 0.7, np.inf, ok), attributes, directions), "inf"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            metrics.walk_shape_scores(*args)
    # The per-walk functions take no NaN (walk_shape_scores is the NaN-aware one).
    with_nan = ok.copy()
    with_nan[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.tie_neutral_restrictiveness(with_nan, directions)
    with pytest.raises(ValueError, match="NaN"):
        metrics.drift_from_reference(with_nan)
    with pytest.raises(ValueError, match="NaN"):
        metrics.jitter_step_to_step(with_nan)
    with pytest.raises(ValueError, match="NaN"):
        metrics.unevenness(with_nan[:, :, 1], directions)
    with pytest.raises(ValueError, match="at least 2 steps"):
        metrics.tie_neutral_restrictiveness(ok[:, :1], directions)
    with pytest.raises(ValueError, match="at least 2 walk items"):
        metrics.drift_from_reference(ok[:, :2])
    with pytest.raises(ValueError, match="at least 2 walk items"):
        metrics.unevenness(ok[:, :2, 0], directions)
    with pytest.raises(ValueError, match="must be 2-D"):
        metrics.unevenness(ok, directions)
    with pytest.raises(ValueError, match="direction"):
        metrics.unevenness(ok[:, :, 0], np.array([1, 2]))


def test_rank_correlation_by_hand():
    from tfgrad.metrics import rank_correlation

    truth = np.array([[0.1, 1.0], [0.2, 2.0], [0.3, 3.0], [0.4, 4.0]])
    # Column 0 in order (1), column 1 reversed (-1).
    estimated = np.array([[1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0]])
    np.testing.assert_allclose(rank_correlation(estimated, truth), [1.0, -1.0])
    # Ranks 0,1,2,3 against 1,0,3,2: d = (1,1,1,1), ρ = 1 - 6·4/(4·15) = 0.6.
    swapped = np.array([[2.0], [1.0], [4.0], [3.0]])
    np.testing.assert_allclose(rank_correlation(swapped, truth[:, :1]), [0.6])
    # Ties take their mean rank: estimated ranks 0.5, 0.5, 2, 3.
    tied = np.array([[1.0], [1.0], [2.0], [3.0]])
    expected = np.corrcoef([0.5, 0.5, 2, 3], [0, 1, 2, 3])[0, 1]
    np.testing.assert_allclose(rank_correlation(tied, truth[:, :1]), [expected])
    with pytest.raises(ValueError, match="shapes"):
        rank_correlation(tied, truth)
