"""tensorflow-recommenders as a peer: its process, its top-k, its two-tower, and the error when
it is not installed. Each TFRS call starts a child process (≈ 5 s of TensorFlow start-up)."""

import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

from tfgrad import evaluation, metrics
from tfgrad.data.purchases import Purchases
from tfgrad.data.triples import Triples
from tfgrad.peers import process
from tfgrad.peers.process import PeerError, PeerNotInstalledError, require_tfrs, run_tfrs
from tfgrad.systems import dvbpr

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow_recommenders") is None,
                                reason='needs the peers extra: pip install -e ".[peers]"')


def test_tfrs_brute_force_top_k_is_numpy_top_k_and_keeps_this_process_keras_3():
    rng = np.random.default_rng(0)
    candidates = rng.normal(size=(60, 8)).astype(np.float32)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    _, answer = run_tfrs("top_k", {"candidates": candidates, "queries": queries},
                         {"kind": "brute_force", "k": 7})
    scores = queries @ candidates.T
    expected = np.argsort(-scores, axis=1)[:, :7]
    np.testing.assert_array_equal(answer["ids"], expected)
    np.testing.assert_allclose(answer["scores"], np.take_along_axis(scores, expected, 1),
                               rtol=1e-5)
    # Keras 2 was the child's alone.
    assert "TF_USE_LEGACY_KERAS" not in os.environ
    assert tf.keras.__version__.startswith("3.")


def test_a_failing_peer_task_is_an_error_naming_its_cause():
    with pytest.raises(PeerError, match="TFRS top-k kind must be one of"):
        run_tfrs("top_k", {"candidates": np.eye(4, dtype=np.float32),
                           "queries": np.eye(4, dtype=np.float32)}, {"kind": "annoy", "k": 2})


def test_missing_tfrs_says_how_to_install_it(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(process.importlib.util, "find_spec",
                        lambda name, *args: None if name == "tensorflow_recommenders"
                        else real_find_spec(name, *args))
    with pytest.raises(PeerNotInstalledError, match=r'tensorflow-recommenders not installed.*'
                                                     r'pip install -e "\.\[peers\]"'):
        require_tfrs()
    with pytest.raises(PeerNotInstalledError):
        run_tfrs("top_k", {}, {})


# A tiny shop: 4 groups of 3 users, each group buying its own 6 items; every item a user holds
# out (validation, test) was bought in training by the group's other users, so a trained
# two-tower ranks it above the other groups' items.
GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP = 4, 3, 6
NUM_USERS, NUM_ITEMS = GROUPS * USERS_PER_GROUP, GROUPS * ITEMS_PER_GROUP


def tiny_purchases() -> dvbpr.PreparedPurchases:
    train, validation, test = [], [], []
    for user in range(NUM_USERS):
        group, member = divmod(user, USERS_PER_GROUP)
        items = group * ITEMS_PER_GROUP + (np.arange(ITEMS_PER_GROUP) + 2 * member) % (
            ITEMS_PER_GROUP)
        validation.append(items[0])
        test.append(items[1])
        train += [(user, item) for item in items[2:]]
    ids = np.array([f"i{item}" for item in range(NUM_ITEMS)])
    purchases = Purchases(
        name="tiny", user_ids=np.array([f"u{u}" for u in range(NUM_USERS)]), item_ids=ids,
        item_names=ids, image_paths=ids, labels=np.full(NUM_ITEMS, -1), label_names=(),
        train=np.array(train, dtype=np.int64), validation=np.array(validation),
        test=np.array(test))
    sampled = metrics.sample_negatives(purchases.known_items(), NUM_ITEMS, 5,
                                       np.random.default_rng(0))
    return dvbpr.PreparedPurchases(purchases=purchases, images=None, features=None,
                                   features_source="", sampled_negatives={
                                       "validation": sampled, "test": sampled})


@pytest.fixture(scope="module")
def trained_two_tower():
    data = tiny_purchases()
    purchases = data.purchases
    figures, answer = run_tfrs(
        "two_tower", {"train_queries": purchases.train[:, :1],
                      "train_candidates": purchases.train[:, 1],
                      "eval_queries": np.arange(NUM_USERS)[:, None],
                      "eval_candidates": purchases.test},
        {"seed": 0, "query_vocabularies": [NUM_USERS], "num_candidates": NUM_ITEMS, "dim": 8,
         "learning_rate": 0.1, "steps": 300, "batch_size": 16, "ks": [3]})
    return data, figures, answer["query_vectors"] @ answer["candidate_vectors"].T


def test_two_tower_learns_the_groups_and_its_auc_is_numpy_auc(trained_two_tower):
    data, figures, scores = trained_two_tower
    purchases = data.purchases
    assert scores.shape == (NUM_USERS, NUM_ITEMS) and np.isfinite(figures["final_loss"])
    expected = []
    for user in range(NUM_USERS):
        negatives = np.setdiff1d(np.arange(NUM_ITEMS), purchases.known_items()[user])
        positive = scores[user, purchases.test[user]]
        expected.append(np.mean((scores[user, negatives] < positive)
                                + 0.5 * (scores[user, negatives] == positive)))
    table = dvbpr.auc_table(scores, data)
    assert table["auc_all"] == pytest.approx(np.mean(expected))
    # Chance is 0.5; the groups are there to be learnt.
    assert table["auc_all"] > 0.8


def test_two_tower_vectors_are_the_models_and_hr_is_numpy_hr(trained_two_tower):
    data, figures, scores = trained_two_tower
    purchases = data.purchases
    # TFRS's own FactorizedTopK (computed in the child) from the vectors it handed back.
    top_3 = np.argsort(-scores, axis=1)[:, :3]
    assert figures["top_3_categorical_accuracy"] == pytest.approx(
        np.mean([target in row for target, row in zip(purchases.test, top_3)]))
    # HR@K as the CGIR table computes it: the query's reference item is no candidate.
    triples = Triples(reference=purchases.validation, target=purchases.test,
                      attribute=np.zeros(NUM_USERS, np.int64),
                      direction=np.ones(NUM_USERS, np.int64))
    ranks = [1 + sum(scores[q, j] >= scores[q, target] for j in range(NUM_ITEMS)
                     if j not in (target, reference))
             for q, (reference, target) in enumerate(zip(triples.reference, triples.target))]
    ranking = evaluation.ranking_metrics(scores, triples)
    assert ranking["hr@20"] == pytest.approx(np.mean(np.array(ranks) <= 20))
    assert ranking["mrr"] == pytest.approx(np.mean(1 / np.array(ranks)))
