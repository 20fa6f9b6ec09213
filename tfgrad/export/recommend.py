"""The recommend serving module: user id in, the user's top-k new items out.

An export (`tfgrad.export.versioned`) holds, over a user space and an item space computed once
at export (for DVBPR, Φ(X_i) of every photo):
  recommend        top-k by ScaNN (loading needs `import scann` first);
  recommend_exact  top-k by brute force with stock ops (also `serving_default`);
  score            x_{u,i} of given (user, items).
Recommendations leave out the items the user bought in training. `<name>_stock/` holds
`recommend_exact` and `score` alone, for stock TF Serving. Inputs are checked in the graph;
bad ones fail with InvalidArgumentError naming them (the server's INVALID_ARGUMENT).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad.export.versioned import check_input, save_export_pair, string_to_index_table
from tfgrad.retrieval.index import BruteForceIndex, ScannIndex, ScannSettings, as_constant_variable
from tfgrad.spaces import ItemSpace, UserSpace

RECOMMEND_SIGNATURE = "recommend"
RECOMMEND_EXACT_SIGNATURE = "recommend_exact"
SCORE_SIGNATURE = "score"

_RECOMMEND_INPUTS = [tf.TensorSpec([None], tf.string, name="user_id"),
                     tf.TensorSpec([], tf.int32, name="k")]
_SCORE_INPUTS = [tf.TensorSpec([None], tf.string, name="user_id"),
                 tf.TensorSpec([None, None], tf.string, name="item_id")]


class RecommenderServingModule(tf.Module):
    """Signatures over a user space and an item space (scores are their dot products); a
    user's known items (their purchases) are left out of their recommendations.

    Args:
      users: the user space; items: the item space.
      with_scann: also a ScaNN `recommend` signature.
    """

    def __init__(self, users: UserSpace, items: ItemSpace, with_scann: bool = True,
                 scann_settings: Optional[ScannSettings] = None):
        super().__init__(name="tfgrad_recommend")
        self._items_table = items.items_table()
        self.user_vectors = as_constant_variable(users.user_vectors, "user_vectors")
        item_vectors = as_constant_variable(items.item_vectors, "item_vectors")
        self.num_items = int(item_vectors.shape[0])
        self.exact = BruteForceIndex(item_vectors)
        self.user_lookup = string_to_index_table(users.user_ids)
        self.item_lookup = string_to_index_table(items.item_ids)
        self.item_ids = tf.Variable(list(items.item_ids), dtype=tf.string, trainable=False)
        self.item_names = tf.Variable(list(items.item_names), dtype=tf.string, trainable=False)
        bought = users.known_items
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

    def items_table(self) -> pd.DataFrame:
        return self._items_table

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


def export_recommend(users: UserSpace, items: ItemSpace, export_dir: str, name: str,
                     metadata: dict) -> str:
    """Exports a user space and an item space as `<export_dir>/<name>/` and its stock twin;
    returns the ScaNN export's version path."""
    metadata = {**metadata, "num_items": items.num_items, "num_users": users.num_users,
                "dims": int(items.item_vectors.shape[1])}
    return save_export_pair(
        lambda with_scann: RecommenderServingModule(users, items, with_scann=with_scann),
        export_dir, name, metadata)
