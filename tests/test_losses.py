"""Tests for tfgrad.losses against hand computations and independent NumPy references."""

import numpy as np
import pytest
import tensorflow as tf

from tfgrad import losses


def _np_log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- multinomial_nll


def test_multinomial_nll_hand_example():
    # Uniform logits over 4 items: log softmax = −log 4 each; user 0 has 2 interactions,
    # user 1 has a count of 3 on one item.
    logits = np.zeros((2, 4), np.float32)
    interactions = np.array([[1, 0, 1, 0], [0, 3, 0, 0]], np.float32)
    result = losses.multinomial_nll(logits, interactions).numpy()
    np.testing.assert_allclose(result, [2 * np.log(4.0), 3 * np.log(4.0)], rtol=1e-6)


def test_multinomial_nll_matches_numpy(rng):
    logits = rng.normal(size=(5, 7)).astype(np.float32) * 3
    interactions = (rng.random((5, 7)) < 0.4).astype(np.float32)
    expected = -(interactions * _np_log_softmax(logits.astype(np.float64))).sum(axis=1)
    result = losses.multinomial_nll(tf.constant(logits), tf.constant(interactions))
    assert result.shape == (5,)
    assert result.dtype == tf.float32
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5)


def test_multinomial_nll_is_stable_and_ignores_masked_items():
    # Huge logits would overflow a naive exp; a −inf logit on a non-interacted item must not
    # produce 0 · (−inf) = NaN.
    logits = np.array([[1000.0, 0.0, -np.inf]], np.float32)
    interactions = np.array([[1.0, 1.0, 0.0]], np.float32)
    result = losses.multinomial_nll(logits, interactions).numpy()
    np.testing.assert_allclose(result, [1000.0], rtol=1e-6)


# ---------------------------------------------------------------- sampled_multinomial_nll


def _positive_pairs(logits, interactions):
    """The flat (row, item) pairs of x > 0: their logits, counts and rows."""
    rows, items = np.nonzero(interactions)
    return logits[rows, items], interactions[rows, items], rows


def test_sampled_multinomial_nll_hand_example():
    # One positive (logit 0) and two draws with logits [ln 2, 0] and expected counts [2, 1]:
    # corrected [0, 0]; the second draw is the positive itself, so Ẑ = e^0 + e^0 = 2.
    result = losses.sampled_multinomial_nll(
        [0.0], [1.0], [0], [[np.log(2.0), 0.0]], np.log([2.0, 1.0]), [[False, True]]).numpy()
    np.testing.assert_allclose(result, [np.log(2.0)], rtol=1e-6)


def test_sampled_multinomial_nll_of_a_row_without_positives_is_zero():
    result = losses.sampled_multinomial_nll(
        [1.0], [2.0], [1], [[0.5, 0.0], [0.5, 0.0]], [0.0, 0.0], [[True, True], [False, True]])
    assert result[0] == 0.0 and np.isfinite(result.numpy()).all()


def test_sampled_multinomial_nll_with_every_item_drawn_once_is_the_full_nll(rng):
    logits = (rng.normal(size=(5, 9)) * 3).astype(np.float32)
    interactions = (rng.random((5, 9)) < 0.4).astype(np.float32)
    interactions[:, 0], interactions[2, 4] = 1.0, 3.0
    order = rng.permutation(9)  # the draw's order does not matter
    # Every item once: its expected count is 1, the correction log 1 = 0.
    result = losses.sampled_multinomial_nll(*_positive_pairs(logits, interactions),
                                            logits[:, order],
                                            np.zeros(9, np.float32),
                                            interactions[:, order] > 0).numpy()
    expected = -(interactions * _np_log_softmax(logits.astype(np.float64))).sum(axis=1)
    np.testing.assert_allclose(result, expected, rtol=1e-5)


def test_sampled_multinomial_nll_expectation_and_gradient_approach_the_full_ones(rng):
    """Monte Carlo over 2,000 draws of S items from a popularity-skewed Q on 8 items: the
    corrected loss and its gradient average to the full ones as S grows (the log of an
    unbiased Ẑ is biased by O(1/S)); treating the draws as uniform misses by far more."""
    num_items, replicates = 8, 2000
    logits = rng.normal(size=num_items)
    interactions = np.array([[2.0, 0, 1, 0, 0, 0, 0, 1]])
    proposal = np.arange(num_items, 0, -1.0) ** 2
    proposal /= proposal.sum()
    full = float(-(interactions * _np_log_softmax(logits[None])).sum())
    full_gradient = interactions.sum() * np.exp(_np_log_softmax(logits)) - interactions[0]
    positives = np.flatnonzero(interactions[0])

    def mean_loss_and_gradient(size, corrected=True):
        draws = rng.choice(num_items, size=(replicates, size), p=proposal)
        variable = tf.Variable(logits)
        with tf.GradientTape() as tape:
            rows = losses.sampled_multinomial_nll(
                tf.tile(tf.gather(variable, positives), [replicates]),
                np.tile(interactions[0, positives], replicates),
                np.repeat(np.arange(replicates), len(positives)),
                tf.gather(variable, draws),
                np.log(size * proposal[draws]) if corrected
                else np.full(draws.shape, np.log(size / num_items)),
                np.isin(draws, positives))
            mean = tf.reduce_mean(rows)
        return float(mean) - full, tf.convert_to_tensor(tape.gradient(mean, variable)).numpy()

    few, _ = mean_loss_and_gradient(32)
    many, gradient = mean_loss_and_gradient(512)
    assert abs(many) < 0.05 < abs(few)
    np.testing.assert_allclose(gradient, full_gradient, atol=0.05)
    uncorrected, _ = mean_loss_and_gradient(512, corrected=False)
    assert abs(uncorrected) > 0.5


# ---------------------------------------------------------------- gaussian_kl


def test_gaussian_kl_is_zero_at_the_prior():
    zeros = tf.zeros((3, 4))
    np.testing.assert_array_equal(losses.gaussian_kl(zeros, zeros).numpy(), np.zeros(3))


def test_gaussian_kl_hand_example():
    # 0.5 · [(e^0 + 1 − 1 − 0) + (e^{ln 2} + 0 − 1 − ln 2)] = 0.5 · (2 − ln 2)
    mean = np.array([[1.0, 0.0]], np.float32)
    log_variance = np.array([[0.0, np.log(2.0)]], np.float32)
    result = losses.gaussian_kl(mean, log_variance).numpy()
    np.testing.assert_allclose(result, [0.5 * (2.0 - np.log(2.0))], rtol=1e-6)


def test_gaussian_kl_matches_numpy_closed_form(rng):
    # Independent reference: KL of two Gaussians per dimension with σ₁² = exp(lv), σ₂ = 1,
    # log(σ₂/σ₁) + (σ₁² + μ²) / 2 − 1/2.
    mean = rng.normal(size=(6, 5))
    log_variance = rng.normal(size=(6, 5))
    sigma = np.exp(0.5 * log_variance)
    expected = (-np.log(sigma) + (sigma**2 + mean**2) / 2 - 0.5).sum(axis=1)
    result = losses.gaussian_kl(mean.astype(np.float32), log_variance.astype(np.float32))
    assert result.shape == (6,)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5)
    assert (result.numpy() >= 0).all()


# ---------------------------------------------------------------- alignment_nll


def test_ordinal_nll_hand_example():
    # Target above the reference by ln 3 with y = +1: −log σ(ln 3) = log(4/3); with y = −1,
    # −log σ(−ln 3) = log 4; no margin: log 2.
    reference = np.array([0.0, 0.0, 1.5], np.float32)
    target = np.array([np.log(3.0), np.log(3.0), 1.5], np.float32)
    directions = np.array([1, -1, 1], np.int32)
    result = losses.ordinal_nll(reference, target, directions).numpy()
    np.testing.assert_allclose(result, [np.log(4 / 3), np.log(4.0), np.log(2.0)], rtol=1e-6)


def test_alignment_nll_hand_example():
    # logits [0, ln 3]: softmax = [1/4, 3/4]; target 1 → −log 3/4, target 0 → log 4.
    logits = np.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]], np.float32)
    targets = np.array([1, 0], np.int32)
    result = losses.alignment_nll(logits, targets).numpy()
    np.testing.assert_allclose(result, [-np.log(0.75), np.log(4.0)], rtol=1e-6)


def test_alignment_nll_matches_numpy(rng):
    logits = rng.normal(size=(8, 11)).astype(np.float32) * 5
    targets = rng.integers(0, 11, size=8)
    expected = -_np_log_softmax(logits.astype(np.float64))[np.arange(8), targets]
    result = losses.alignment_nll(tf.constant(logits), tf.constant(targets, tf.int64))
    assert result.shape == (8,)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5)


# ---------------------------------------------------------------- sparsity losses


def test_average_sparsity_loss_hand_example():
    # Column means: [0.5, 0.1, 0.0]; ρ = 0.2 → only the first exceeds: (0.5 − 0.2)² = 0.09.
    activations = np.array([[1.0, 0.2, 0.0], [0.0, 0.0, 0.0]], np.float32)
    result = losses.average_sparsity_loss(activations, 0.2)
    assert result.shape == ()
    np.testing.assert_allclose(result.numpy(), 0.09, rtol=1e-5)


def test_average_sparsity_loss_is_zero_when_mean_at_or_below_target():
    activations = np.array([[0.1, 0.0], [0.1, 0.2]], np.float32)  # means 0.1, 0.1
    assert losses.average_sparsity_loss(activations, 0.1).numpy() == 0.0
    assert losses.average_sparsity_loss(activations, 0.15).numpy() == 0.0


def test_partial_sparsity_loss_hand_example_and_binary_zero():
    # Word 0: 0.5·0.5 + 0 = 0.25; word 1: 0.25·0.75 + 0.25·0.75 = 0.375; mean = 0.3125.
    activations = np.array([[0.5, 1.0], [0.25, 0.75]], np.float32)
    np.testing.assert_allclose(losses.partial_sparsity_loss(activations).numpy(), 0.3125)
    binary = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], np.float32)
    assert losses.partial_sparsity_loss(binary).numpy() == 0.0


def test_sparsity_losses_match_loop_reference(rng):
    activations = rng.random((9, 6)).astype(np.float32)
    rho = 0.3
    asl = 0.0
    for d in range(6):
        asl += max(activations[:, d].astype(np.float64).mean() - rho, 0.0) ** 2
    psl = np.mean([sum(f * (1 - f) for f in word.astype(np.float64)) for word in activations])
    np.testing.assert_allclose(losses.average_sparsity_loss(activations, rho).numpy(), asl,
                               rtol=1e-5)
    np.testing.assert_allclose(losses.partial_sparsity_loss(activations).numpy(), psl, rtol=1e-5)
    np.testing.assert_allclose(losses.sparsity_loss(activations, rho).numpy(), asl + psl,
                               rtol=1e-5)


# ---------------------------------------------------------------- bpr_loss


def test_bpr_loss_matches_numpy_and_hand_values(rng):
    positive = rng.normal(size=10)
    negative = rng.normal(size=10)
    expected = -np.log(1.0 / (1.0 + np.exp(-(positive - negative))))
    result = losses.bpr_loss(positive.astype(np.float32), negative.astype(np.float32))
    assert result.shape == (10,)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5)
    # Equal scores: −log σ(0) = log 2.
    np.testing.assert_allclose(losses.bpr_loss([0.0], [0.0]).numpy(), [np.log(2.0)], rtol=1e-6)


def test_bpr_loss_is_stable_for_large_differences():
    positive = tf.constant([1000.0, -1000.0, 50.0])
    negative = tf.constant([-1000.0, 1000.0, 50.0])
    result = losses.bpr_loss(positive, negative).numpy()
    assert np.isfinite(result).all()
    np.testing.assert_allclose(result, [0.0, 2000.0, np.log(2.0)], rtol=1e-6, atol=1e-30)
    with tf.GradientTape() as tape:
        tape.watch(positive)
        loss = tf.reduce_sum(losses.bpr_loss(positive, negative))
    gradient = tape.gradient(loss, positive).numpy()
    assert np.isfinite(gradient).all()
    np.testing.assert_allclose(gradient, [0.0, -1.0, -0.5], atol=1e-6)


# ---------------------------------------------------------------- graph mode and tf.distribute


def test_losses_inside_tf_function_match_eager(rng):
    logits = tf.constant(rng.normal(size=(4, 6)), tf.float32)
    interactions = tf.constant(rng.random((4, 6)) < 0.5, tf.float32)
    mean = tf.constant(rng.normal(size=(4, 3)), tf.float32)
    log_variance = tf.constant(rng.normal(size=(4, 3)), tf.float32)
    targets = tf.constant([0, 5, 2, 3], tf.int32)
    activations = tf.constant(rng.random((5, 3)), tf.float32)
    positive, negative = logits[:, 0], logits[:, 1]

    def all_losses(logits, interactions, mean, log_variance, targets, activations, pos, neg):
        return (
            losses.multinomial_nll(logits, interactions),
            losses.gaussian_kl(mean, log_variance),
            losses.alignment_nll(logits, targets),
            losses.average_sparsity_loss(activations, 0.1),
            losses.partial_sparsity_loss(activations),
            losses.sparsity_loss(activations, tf.constant(0.1)),
            losses.bpr_loss(pos, neg),
        )

    arguments = (logits, interactions, mean, log_variance, targets, activations, positive,
                 negative)
    eager = all_losses(*arguments)
    graph = tf.function(all_losses)(*arguments)
    for eager_value, graph_value in zip(eager, graph):
        assert graph_value.dtype == tf.float32
        np.testing.assert_allclose(graph_value.numpy(), eager_value.numpy(), rtol=1e-6)


def test_losses_run_under_a_distribution_strategy(rng):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    logits = tf.constant(rng.normal(size=(4, 6)), tf.float32)
    targets = tf.constant([1, 0, 5, 2], tf.int32)

    @tf.function
    def step(logits, targets):
        def replica_fn(logits, targets):
            per_example = losses.alignment_nll(logits, targets) + losses.multinomial_nll(
                logits, tf.one_hot(targets, 6)
            )
            return tf.nn.compute_average_loss(per_example, global_batch_size=4)

        per_replica = strategy.run(replica_fn, args=(logits, targets))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    expected = 2 * np.mean(-_np_log_softmax(logits.numpy().astype(np.float64))[
        np.arange(4), targets.numpy()])
    np.testing.assert_allclose(step(logits, targets).numpy(), expected, rtol=1e-5)


def _softplus(x):
    return np.log1p(np.exp(x))


def test_binary_matching_loss_matches_numpy_and_hand_values():
    positive = np.array([2.0, -1.0], np.float32)
    negative = np.array([[0.5, -0.5, 1.0], [0.0, 0.0, 0.0]], np.float32)
    expected = (_softplus(-positive) + _softplus(negative).sum(axis=1)) / 4.0
    result = losses.binary_matching_loss(tf.constant(positive), tf.constant(negative)).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    # Hand value: all-zero logits are log 2 per pair.
    zero = losses.binary_matching_loss(tf.zeros([1]), tf.zeros([1, 3])).numpy()
    np.testing.assert_allclose(zero, [np.log(2.0)], rtol=1e-6)


def test_batch_softmax_loss_matches_numpy(rng):
    queries = rng.normal(size=(4, 3)).astype(np.float32)
    targets = rng.normal(size=(4, 3)).astype(np.float32)
    logits = 5.0 * queries @ targets.T
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.diag(log_softmax)
    result = losses.batch_softmax_loss(tf.constant(queries), tf.constant(targets), 5.0).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-5)
    # Hand value: identical targets give log B.
    same = losses.batch_softmax_loss(tf.ones([3, 2]), tf.ones([3, 2]), 1.0).numpy()
    np.testing.assert_allclose(same, np.full(3, np.log(3.0)), rtol=1e-6)


def test_label_space_and_invariance_losses_hand_values():
    predicted = tf.constant([[0.5, 1.0], [0.0, 0.0]])
    labels = tf.constant([[1.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(losses.label_space_loss(predicted, labels).numpy(), [0.25, 1.0])
    first = tf.constant([[1.0, 2.0], [0.0, 0.0]])
    second = tf.constant([[1.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(losses.invariance_loss(first, second).numpy(), [4.0, 25.0])


def test_lsgan_discriminator_loss_hand_values():
    # (D(x) − 1)² + D(G(z))²: a perfect D (1 on real, 0 on fake) costs 0; one that scores
    # everything 0.5 costs 0.25 + 0.25; a fooled one (0 on real, 1 on fake) costs 1 + 1.
    real = tf.constant([1.0, 0.5, 0.0, 3.0])
    fake = tf.constant([0.0, 0.5, 1.0, -2.0])
    result = losses.lsgan_discriminator_loss(real, fake).numpy()
    np.testing.assert_allclose(result, [0.0, 0.5, 2.0, 8.0], rtol=1e-6)
    assert result.shape == (4,)


def test_lsgan_generator_loss_hand_values():
    # (D(G(z)) − 1)²: 0 when D takes the fake for real, 1 when D scores it 0.
    result = losses.lsgan_generator_loss(tf.constant([1.0, 0.0, 0.5, -1.0])).numpy()
    np.testing.assert_allclose(result, [0.0, 1.0, 0.25, 4.0], rtol=1e-6)


def test_lsgan_losses_match_numpy_and_their_gradients(rng):
    real = rng.normal(size=6).astype(np.float32)
    fake = rng.normal(size=6).astype(np.float32)
    np.testing.assert_allclose(losses.lsgan_discriminator_loss(real, fake).numpy(),
                               (real - 1.0) ** 2 + fake ** 2, rtol=1e-6)
    np.testing.assert_allclose(losses.lsgan_generator_loss(fake).numpy(), (fake - 1.0) ** 2,
                               rtol=1e-6)
    # d/ds of the least-squares terms: 2(s − 1) on real scores, 2s on fake ones (D's step), and
    # 2(s − 1) on fake ones for G's step: finite and linear in the score, unlike a sigmoid's.
    real_t, fake_t = tf.constant(real), tf.constant(fake)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([real_t, fake_t])
        d_loss = tf.reduce_sum(losses.lsgan_discriminator_loss(real_t, fake_t))
        g_loss = tf.reduce_sum(losses.lsgan_generator_loss(fake_t))
    d_real, d_fake = tape.gradient(d_loss, [real_t, fake_t])
    np.testing.assert_allclose(d_real.numpy(), 2 * (real - 1.0), rtol=1e-5)
    np.testing.assert_allclose(d_fake.numpy(), 2 * fake, rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(g_loss, fake_t).numpy(), 2 * (fake - 1.0),
                               rtol=1e-5)


def test_gaussian_kl_matches_the_closed_form_on_a_known_gaussian_sample():
    rng = np.random.default_rng(0)
    means, stds = np.array([0.0, 0.5, -1.0]), np.array([1.0, 0.3, 2.0])
    codes = rng.normal(means, stds, size=(200_000, 3)).astype(np.float32)
    closed_form = np.sum((means ** 2 + stds ** 2) / 2 - np.log(stds) - 0.5)
    np.testing.assert_allclose(losses.gaussian_kl_to_standard_normal(codes), closed_form,
                               atol=5e-3)
    # By hand on two codes: μ = (1, 0), σ = (1, 2).
    by_hand = (1 + 1) / 2 - 0 - 0.5 + (0 + 4) / 2 - np.log(2) - 0.5
    np.testing.assert_allclose(losses.gaussian_kl_to_standard_normal(
        np.array([[0.0, -2.0], [2.0, 2.0]], np.float32)), by_hand, rtol=1e-6)
    # A standard normal sample is at ~0; a collapsed dimension is heavily penalised.
    assert abs(float(losses.gaussian_kl_to_standard_normal(
        rng.normal(size=(100_000, 4)).astype(np.float32)))) < 5e-3
    assert float(losses.gaussian_kl_to_standard_normal(np.ones((8, 2), np.float32))) > 20


def test_age_divergence_is_the_difference_of_the_two_kls():
    rng = np.random.default_rng(1)
    fake, real = rng.normal(2, 0.5, (64, 5)), rng.normal(0, 1, (64, 5))
    np.testing.assert_allclose(
        losses.age_divergence(fake, real),
        losses.gaussian_kl_to_standard_normal(fake) - losses.gaussian_kl_to_standard_normal(real))
    assert float(losses.age_divergence(fake, real)) > 0


def test_l1_and_cosine_reconstruction_losses_by_hand():
    images = np.zeros((2, 2, 2, 1), np.float32)
    reconstructions = images.copy()
    reconstructions[1] = [[[1.0], [-1.0]], [[0.5], [0.5]]]
    np.testing.assert_allclose(losses.l1_reconstruction_loss(images, reconstructions),
                               [0.0, 0.75])
    latents = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)
    reconstructed = np.array([[3.0, 0.0], [0.0, -1.0], [1.0, 0.0]], np.float32)
    np.testing.assert_allclose(losses.cosine_latent_loss(latents, reconstructed),
                               [0.0, 2.0, 1 - np.sqrt(0.5)], atol=1e-6)


# ---------------------------------------------------------------- ADDE's losses


def _np_semi_hard(labels, embeddings, margin):
    """Loop-based: for every anchor a and positive p, the nearest negative farther than p,
    else the farthest negative; squared Euclidean distances."""
    distance = ((embeddings[:, None] - embeddings[None]) ** 2).sum(-1)
    same = (labels[:, None] == labels[None]).all(-1)
    total, pairs = 0.0, 0
    for a in range(len(labels)):
        negatives = [n for n in range(len(labels)) if not same[a, n]]
        for p in range(len(labels)):
            if p == a or not same[a, p]:
                continue
            farther = [distance[a, n] for n in negatives if distance[a, n] > distance[a, p]]
            chosen = min(farther) if farther else max(distance[a, n] for n in negatives)
            total += max(0.0, margin + distance[a, p] - chosen)
            pairs += 1
    return total / pairs


def test_semi_hard_triplet_loss_equals_the_loop_definition(rng):
    labels = np.array([[0, 1], [0, 1], [1, 1], [0, 1], [1, 0], [1, 1]])
    embeddings = rng.normal(size=(6, 3)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    for margin in (0.1, 0.5, 2.0):
        np.testing.assert_allclose(
            losses.semi_hard_triplet_loss(labels, embeddings, margin).numpy(),
            _np_semi_hard(labels, embeddings.astype(np.float64), margin), rtol=1e-5)


def test_semi_hard_triplet_loss_is_zero_without_positive_pairs():
    assert float(losses.semi_hard_triplet_loss(np.array([0, 1, 2]), np.eye(3, dtype=np.float32),
                                               0.5)) == 0.0


def test_triplet_margin_loss_by_hand():
    anchors = np.array([[0.0, 0.0], [0.0, 0.0]], np.float32)
    positives = np.array([[3.0, 4.0], [1.0, 0.0]], np.float32)  # distances 5 and 1
    negatives = np.array([[0.0, 2.0], [0.0, 3.0]], np.float32)  # distances 2 and 3
    np.testing.assert_allclose(losses.triplet_margin_loss(anchors, positives, negatives,
                                                          0.5).numpy(), [3.5, 0.0], atol=1e-5)


def test_masked_cross_entropy_ignores_missing_labels():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [5.0, -5.0]], np.float32)
    labels = np.array([0, -1, 1])
    expected = -(_np_log_softmax(logits)[0, 0] + _np_log_softmax(logits)[2, 1]) / 2
    np.testing.assert_allclose(losses.masked_cross_entropy(labels, logits).numpy(), expected,
                               rtol=1e-5)
    assert float(losses.masked_cross_entropy(np.array([-1, -1]), logits[:2])) == 0.0


def test_off_block_l1_by_hand():
    memory = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, 6.0]], np.float32)
    mask = np.array([[1, 0, 0], [0, 1, 1]], np.float32)
    assert float(losses.off_block_l1(memory, mask)) == pytest.approx(2.0 + 3.0 + 4.0)


def test_consistency_l1_is_the_mean_absolute_difference_per_example():
    prototypes = np.array([[1.0, 2.0], [0.0, 0.0]], np.float32)
    representations = np.array([[0.0, 4.0], [1.0, -1.0]], np.float32)
    np.testing.assert_allclose(losses.consistency_l1(prototypes, representations).numpy(),
                               [1.5, 1.0])
