"""Versioned SavedModels that recommend: user id in, the user's top-k new items out.

`<export_dir>/<name>/<version>/` holds, over user vectors and item vectors computed once at
export (for DVBPR, Φ(X_i) of every photo):
  recommend        top-k by ScaNN (loading needs `import scann` first);
  recommend_exact  top-k by brute force with stock ops (also `serving_default`);
  score            x_{u,i} of given (user, items).
Recommendations leave out the items the user bought in training. `<name>_stock/` holds
`recommend_exact` and `score` alone, for stock TF Serving. Inputs are checked in the graph;
bad ones fail with InvalidArgumentError naming them (the server's INVALID_ARGUMENT).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad.export import (STOCK_SUFFIX, check_input, save_versioned, string_to_index_table,
                           write_models_config)
from tfgrad.retrieval.index import BruteForceIndex, ScannIndex, ScannSettings, as_constant_variable

RECOMMEND_SIGNATURE = "recommend"
RECOMMEND_EXACT_SIGNATURE = "recommend_exact"
SCORE_SIGNATURE = "score"

_RECOMMEND_INPUTS = [tf.TensorSpec([None], tf.string, name="user_id"),
                     tf.TensorSpec([], tf.int32, name="k")]
_SCORE_INPUTS = [tf.TensorSpec([None], tf.string, name="user_id"),
                 tf.TensorSpec([None, None], tf.string, name="item_id")]


class RecommenderServingModule(tf.Module):
    """Signatures over fixed user and item vectors (scores are their dot products).

    Args:
      user_vectors: [N, D]; item_vectors: [M, D].
      user_ids, item_ids, item_names: external ids and names.
      bought: per user, the training items left out of their recommendations.
      with_scann: also a ScaNN `recommend` signature.
    """

    def __init__(self, user_vectors, item_vectors, user_ids: Sequence[str],
                 item_ids: Sequence[str], item_names: Sequence[str],
                 bought: Sequence[np.ndarray], with_scann: bool = True,
                 scann_settings: Optional[ScannSettings] = None):
        super().__init__(name="tfgrad_recommend")
        self.user_vectors = as_constant_variable(user_vectors, "user_vectors")
        item_vectors = as_constant_variable(item_vectors, "item_vectors")
        self.num_items = int(item_vectors.shape[0])
        self.exact = BruteForceIndex(item_vectors)
        self.user_lookup = string_to_index_table(user_ids)
        self.item_lookup = string_to_index_table(item_ids)
        self.item_ids = tf.Variable(list(item_ids), dtype=tf.string, trainable=False)
        self.item_names = tf.Variable(list(item_names), dtype=tf.string, trainable=False)
        keys = np.concatenate([user * self.num_items + np.asarray(items, dtype=np.int64)
                               for user, items in enumerate(bought)] or [np.zeros(0, np.int64)])
        self.bought = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys, tf.int64), tf.ones(len(keys), tf.int64)), default_value=0)
        # A user's top k + (their purchases) candidates always hold k items they did not buy.
        self.max_bought = max((len(items) for items in bought), default=0)
        self.with_scann = with_scann
        self.recommend_exact = tf.function(lambda user_id, k: self._recommend(
            self.exact, user_id, k), input_signature=_RECOMMEND_INPUTS)
        self.score = tf.function(self._score, input_signature=_SCORE_INPUTS)
        if with_scann:
            self.approximate = ScannIndex(item_vectors.numpy(), scann_settings)
            self.recommend = tf.function(lambda user_id, k: self._recommend(
                self.approximate, user_id, k), input_signature=_RECOMMEND_INPUTS)

    def signatures(self) -> dict:
        signatures = {RECOMMEND_EXACT_SIGNATURE: self.recommend_exact,
                      "serving_default": self.recommend_exact, SCORE_SIGNATURE: self.score}
        if self.with_scann:
            signatures[RECOMMEND_SIGNATURE] = self.recommend
        return signatures

    def _users(self, user_id):
        users = self.user_lookup.lookup(user_id)
        return users, check_input(tf.reduce_all(users >= 0), "unknown user id(s):",
                                  tf.boolean_mask(user_id, users < 0))

    def _recommend(self, index, user_id, k):
        users, known = self._users(user_id)
        largest = self.num_items - self.max_bought
        k_check = check_input((k >= 1) & (k <= largest), f"k must be in 1..{largest}, got", k)
        with tf.control_dependencies([known, k_check]):
            queries = tf.gather(self.user_vectors, users)
            scores, items = index.search(queries, k + self.max_bought)
        # Drop bought items (and ScaNN's -1 padding), then keep the best k.
        keys = tf.cast(users, tf.int64)[:, None] * self.num_items + tf.cast(items, tf.int64)
        hidden = (self.bought.lookup(keys) > 0) | (items < 0)
        scores = tf.where(hidden, tf.constant(-np.inf, scores.dtype), scores)
        scores, positions = tf.math.top_k(scores, k=k)
        items = tf.gather(items, positions, batch_dims=1)
        return {"item_ids": tf.gather(self.item_ids, tf.maximum(items, 0)),
                "item_names": tf.gather(self.item_names, tf.maximum(items, 0)),
                "scores": scores}

    def _score(self, user_id, item_id):
        users, known_users = self._users(user_id)
        items = self.item_lookup.lookup(item_id)
        checks = [known_users,
                  check_input(tf.equal(tf.shape(item_id)[0], tf.shape(user_id)[0]),
                              "item_id needs one row per user_id; got rows",
                              tf.stack([tf.shape(item_id)[0], tf.shape(user_id)[0]])),
                  check_input(tf.reduce_all(items >= 0), "unknown item id(s):",
                              tf.boolean_mask(item_id, items < 0))]
        with tf.control_dependencies(checks):
            item_vectors = tf.gather(self.exact.item_vectors, tf.maximum(items, 0))
            user_vectors = tf.gather(self.user_vectors, users)
        return {"scores": tf.einsum("bd,bnd->bn", user_vectors, item_vectors)}


def export_recommender(model, data, config) -> str:
    """Exports a trained recommender; returns the ScaNN export's version path.

    Args:
      model: a `Recommender`.
      data: the `PreparedPurchases` it was trained on.
      config: the ExperimentConfig (export_dir, name).
    """
    from tfgrad.recommendation import item_vectors

    purchases = data.purchases
    items = np.asarray(item_vectors(model, data), dtype=np.float32)
    users = np.asarray(model.user_vectors(tf.range(purchases.num_users)), dtype=np.float32)
    table = pd.DataFrame({"item_id": purchases.item_ids, "name": purchases.item_names,
                          "image": purchases.image_paths})
    metadata = {"model": type(model).__name__, "catalogue": purchases.name,
                "num_items": purchases.num_items, "num_users": purchases.num_users,
                "dims": int(items.shape[1]),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "config": dataclasses.asdict(config)}
    paths = []
    for suffix, with_scann in (("", True), (STOCK_SUFFIX, False)):
        module = RecommenderServingModule(users, items, purchases.user_ids, purchases.item_ids,
                                          purchases.item_names, purchases.train_items(),
                                          with_scann=with_scann)
        paths.append(save_versioned(module, os.path.join(config.export_dir, config.name + suffix),
                                    table, metadata))
    write_models_config(config.export_dir)
    return paths[0]
