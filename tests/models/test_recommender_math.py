"""DVBPR's AUC, WARP's loss, the recommenders' regularisers and factorisations, and CNN-F's
shapes, against NumPy and hand computations."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tfgrad import losses, metrics
from tfgrad.models.bpr_mf import BPRMF
from tfgrad.models.cnn_f import CNNF, first_layer_geometry
from tfgrad.models.dvbpr import DVBPR
from tfgrad.models.fm import FM
from tfgrad.models.rankers import PopRank, RandomRanker, VisRank
from tfgrad.models.vbpr import VBPR
from tfgrad.models.warp import WARP


def test_user_auc_by_hand():
    # User 0: positive 0.5 beats 0.1 and 0.4, loses to 0.9 -> 2/3.
    # User 1: the masked 0.9 does not count; 0.2 ties (half) and 0.1 is below -> 0.75.
    auc = metrics.user_auc([0.5, 0.2], [[0.1, 0.4, 0.9], [0.2, 0.1, 0.9]],
                           [[True, True, True], [True, True, False]])
    np.testing.assert_allclose(auc, [2 / 3, 0.75])


def test_user_auc_matches_a_loop():
    rng = np.random.default_rng(0)
    positive, negative = rng.normal(size=20), rng.normal(size=(20, 30)).round(1)
    mask = rng.random((20, 30)) < 0.7
    expected = [np.mean([1.0 if positive[u] > s else 0.5 if positive[u] == s else 0.0
                         for s, keep in zip(negative[u], mask[u]) if keep]) for u in range(20)]
    np.testing.assert_allclose(metrics.user_auc(positive, negative, mask), expected)


def test_user_auc_without_negatives_is_nan_and_rejects_bad_shapes():
    assert np.isnan(metrics.user_auc([1.0], [[0.0]], [[False]])[0])
    with pytest.raises(ValueError, match="negative_scores"):
        metrics.user_auc([1.0, 2.0], [[0.0]])
    with pytest.raises(ValueError, match="NaN"):
        metrics.user_auc([np.nan], [[0.0]])


def test_sample_negatives_avoids_known_items_without_repeats():
    known = [np.array([0, 1, 2]), np.array([5])]
    negatives = metrics.sample_negatives(known, 10, 7, np.random.default_rng(0))
    assert negatives.shape == (2, 7)
    assert set(negatives[0]) <= set(range(3, 10)) and len(set(negatives[0])) == 7
    assert 5 not in negatives[1] and len(set(negatives[1])) == 7
    with pytest.raises(ValueError, match="fewer than 8"):
        metrics.sample_negatives(known, 10, 8, np.random.default_rng(0))


def _warp_numpy(positive, negatives, num_items):
    losses_ = []
    for s, row in zip(positive, negatives):
        violators = np.flatnonzero(1 - s + row > 0)
        if not len(violators):
            losses_.append(0.0)
            continue
        rank = (num_items - 1) // (violators[0] + 1)
        losses_.append(sum(1 / k for k in range(1, rank + 1)) * (1 - s + row[violators[0]]))
    return np.array(losses_)


def test_warp_loss_matches_numpy():
    rng = np.random.default_rng(1)
    positive, negatives = rng.normal(size=16), rng.normal(size=(16, 5))
    negatives[3] = positive[3] - 2  # no violation: loss 0
    got = losses.warp_loss(positive, negatives, 50).numpy()
    np.testing.assert_allclose(got, _warp_numpy(positive, negatives, 50), rtol=1e-5)
    assert got[3] == 0


def test_warp_weight_is_the_harmonic_number_of_the_estimated_rank():
    # First violator at draw 1 of 9 items: rank ⌊8/1⌋ = 8, L = H_8; hinge 1 - 0 + 0.5.
    got = losses.warp_loss([0.0], [[0.5, 2.0]], 9).numpy()[0]
    np.testing.assert_allclose(got, sum(1 / k for k in range(1, 9)) * 1.5, rtol=1e-6)


def test_bprmf_regularization_by_hand():
    model = BPRMF(3, 4, latent_dim=2, regularization=0.5)
    model.build()
    model.user_embedding.embeddings.assign([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    model.item_embedding.embeddings.assign([[1.0, 1.0], [0.0, 1.0], [3.0, 0.0], [0.0, 0.0]])
    model.item_bias.embeddings.assign([[0.5], [0.0], [-1.0], [2.0]])
    batch = {"user": tf.constant([0, 1]), "positive": tf.constant([0, 1]),
             "negative": tf.constant([2, 3])}
    # Triple 0: 1 + 2 + 9 + 0.25 + 1 = 13.25; triple 1: 4 + 1 + 0 + 0 + 4 = 9.
    np.testing.assert_allclose(model.regularization(batch), 0.5 * (13.25 + 9) / 2, rtol=1e-6)
    terms = model.compute_losses(batch)
    x_pos = np.array([1 + 0.5, 2 + 0.0])
    x_neg = np.array([3 - 1.0, 0 + 2.0])
    np.testing.assert_allclose(terms["bpr"], np.mean(np.log1p(np.exp(x_neg - x_pos))),
                               rtol=1e-6)


def _models(num_users=5, num_items=7):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(num_items, 6)).astype(np.float32)
    train_items = [np.array([0, 1]), np.array([2]), np.array([3, 4]), np.array([5]),
                   np.array([6, 0])]
    models = [BPRMF(num_users, num_items, 4), WARP(num_users, num_items, 4),
              FM(num_users, num_items, features, 4), VBPR(num_users, num_items, features, 4, 3),
              VisRank(features, train_items), PopRank(num_users, rng.integers(0, 9, num_items)),
              RandomRanker(num_users, num_items)]
    for model in models:
        model.build()
        for weight in model.trainable_weights:  # away from zero-initialised biases
            weight.assign(rng.normal(size=weight.shape).astype(np.float32))
    return models, features, train_items


def test_pair_scores_equal_the_factorised_scores():
    models, _, _ = _models()
    users, items = tf.constant([0, 1, 2, 4]), tf.constant([3, 0, 6, 2])
    for model in models:
        full = model.scores(tf.range(5), model.item_vectors()).numpy()
        np.testing.assert_allclose(model.score_pairs(users, items), full[users, items],
                                   rtol=1e-5, atol=1e-5, err_msg=type(model).__name__)


def test_vbpr_and_fm_scores_by_hand():
    models, features, _ = _models()
    fm, vbpr = models[2], models[3]
    u, i = 1, 4
    weights = lambda variable: variable.numpy()  # noqa: E731
    gamma_u, gamma_i = weights(fm.user_embedding.embeddings)[u], weights(
        fm.item_embedding.embeddings)[i]
    expected_fm = (weights(fm.item_bias.embeddings)[i, 0]
                   + features[i] @ weights(fm.visual_bias.kernel)[:, 0]
                   + gamma_u @ (gamma_i + features[i] @ weights(fm.visual_projection.kernel)))
    np.testing.assert_allclose(fm.score_pairs(tf.constant([u]), tf.constant([i]))[0],
                               expected_fm, rtol=1e-5)
    theta_u = weights(vbpr.visual_user_embedding.embeddings)[u]
    expected_vbpr = (weights(vbpr.item_bias.embeddings)[i, 0]
                     + features[i] @ weights(vbpr.visual_bias.kernel)[:, 0]
                     + weights(vbpr.user_embedding.embeddings)[u]
                     @ weights(vbpr.item_embedding.embeddings)[i]
                     + theta_u @ (features[i] @ weights(vbpr.visual_projection.kernel)))
    np.testing.assert_allclose(vbpr.score_pairs(tf.constant([u]), tf.constant([i]))[0],
                               expected_vbpr, rtol=1e-5)


def test_visrank_ranks_by_mean_squared_distance():
    models, features, train_items = _models()
    visrank = models[4]
    scores = visrank.scores(tf.range(5), visrank.item_vectors()).numpy()
    for user, items in enumerate(train_items):
        distance = ((features[:, None] - features[items][None]) ** 2).sum(-1).mean(axis=1)
        # score = -distance + a per-user constant
        offset = scores[user] + distance
        np.testing.assert_allclose(offset, offset[0], atol=1e-4)


def test_poprank_ranks_by_training_purchases():
    counts = np.array([3, 0, 7, 1])
    scores = PopRank(2, counts).scores(tf.constant([0, 1]), PopRank(2, counts).item_vectors())
    np.testing.assert_array_equal(scores.numpy(), np.stack([counts, counts]).astype(float))


@pytest.mark.parametrize("size, width, kernel, stride, final", [
    (224, 1.0, 11, 4, 6), (64, 0.125, 5, 2, 3), (32, 0.25, 3, 1, 3)])
def test_cnn_f_geometry(size, width, kernel, stride, final):
    assert first_layer_geometry(size) == (kernel, stride)
    cnn = CNNF(50, size, width)
    cnn.build()
    shape = (None, size, size, 3)
    for layer in cnn.body:
        if layer.name == "flatten":
            break
        shape = layer.compute_output_shape(shape)
    assert shape[1:3] == (final, final)
    assert shape[3] == round(256 * width)
    assert cnn.body[0].filters == round(64 * width)
    assert cnn.head.units == 50


def test_cnn_f_paper_size_has_the_paper_layers():
    cnn = CNNF(50, 224, 1.0)
    cnn.build()
    names = [layer.name for layer in cnn.body if hasattr(layer, "kernel")] + [cnn.head.name]
    assert names == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    units = [layer.units for layer in cnn.body if hasattr(layer, "units")]
    assert units == [4096, 4096]
    out = cnn(tf.zeros([1, 224, 224, 3]))
    assert out.shape == (1, 50) and out.dtype == tf.float32


def test_cnn_f_starts_from_another_cnn_f_body_and_keeps_its_head():
    source, target = CNNF(64, 32, 0.125, seed=1), CNNF(50, 32, 0.125, seed=2)
    source.build()
    target.build()
    head = target.head.kernel.numpy()
    target.set_body_weights([w.numpy() for layer in source.body for w in layer.weights])
    images = tf.random.stateless_uniform([3, 32, 32, 3], [0, 1], -1, 1)
    features = lambda cnn: functools.reduce(lambda x, layer: layer(x), cnn.body, images)  # noqa
    np.testing.assert_allclose(features(target), features(source), rtol=1e-6)
    np.testing.assert_array_equal(target.head.kernel.numpy(), head)
    wider = CNNF(50, 32, 0.25)
    wider.build()
    with pytest.raises(ValueError, match="another architecture"):
        wider.set_body_weights([w.numpy() for layer in source.body for w in layer.weights])


def test_dvbpr_regularization_by_hand():
    model = DVBPR(2, 3, latent_dim=4, image_size=24, cnn_width=0.125, user_regularization=1.0,
                  num_train_purchases=8)
    model.build()
    model.user_embedding.embeddings.assign(np.ones((2, 4), np.float32))
    # λ_θ‖Θ‖²/K = 1 · 8 / 8, whoever is in the batch.
    np.testing.assert_allclose(model.regularization({"user": tf.constant([0])}), 1.0)


def test_dvbpr_weight_decay_is_decoupled_and_only_on_phi_kernels():
    model = DVBPR(2, 3, latent_dim=4, image_size=24, cnn_width=0.125, weight_decay=0.1)
    model.build()
    optimizer = model.make_optimizer(0.5)
    weights = model.trainable_weights
    before = [w.numpy().copy() for w in weights]
    optimizer.apply_gradients([(tf.zeros_like(w), w) for w in weights])
    kernels = {id(k) for k in model.cnn.kernels()}
    for weight, old in zip(weights, before):
        # With zero gradients only the decay moves a weight: W <- (1 - lr * wd) W.
        expected = old * (1 - 0.05) if id(weight) in kernels else old
        np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_dvbpr_siamese_scores_match_single_image_scores():
    model = DVBPR(3, 4, latent_dim=4, image_size=24, cnn_width=0.125)
    model.build()
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (4, 24, 24, 3)).astype(np.float32))
    batch = {"user": tf.constant([0, 2]), "positive_image": images[:2],
             "negative_image": images[2:]}
    positive, negative = model.pair_scores(batch)
    np.testing.assert_allclose(positive, model.score_pairs(batch["user"], None, images[:2]),
                               rtol=1e-5, atol=1e-6)
    vectors = model.item_vectors(tf.data.Dataset.from_tensor_slices(images).batch(3))
    np.testing.assert_allclose(negative, tf.reduce_sum(
        model.user_vectors(batch["user"]) * vectors[2:], axis=1), rtol=1e-5, atol=1e-6)
