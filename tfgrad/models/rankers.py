"""The rankers of DVBPR.md's Table III that are computed, not trained: RAND, PopRank and
VisRank. They are `Recommender`s, so they are evaluated, pictured and exported like the rest."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfgrad.models.recommender import Recommender


class _FixedVectors(Recommender):
    """A ranker given as fixed user and item vectors."""

    learns = False

    def __init__(self, user_vectors: np.ndarray, item_vectors: np.ndarray, **kwargs):
        super().__init__(len(user_vectors), len(item_vectors), **kwargs)
        self.fixed_user_vectors = tf.constant(np.asarray(user_vectors, dtype=np.float32))
        self.fixed_item_vectors = tf.constant(np.asarray(item_vectors, dtype=np.float32))

    def build(self, input_shape=None):
        self.built = True

    def user_vectors(self, users):
        return tf.gather(self.fixed_user_vectors, users)

    def item_vectors(self, images: Optional[tf.data.Dataset] = None):
        return self.fixed_item_vectors

    def score_pairs(self, users, items, images=None, training: bool = False):
        return tf.reduce_sum(self.user_vectors(users)
                             * tf.gather(self.fixed_item_vectors, items), axis=1)


class RandomRanker(_FixedVectors):
    """RAND: scores from independent Gaussian user and item vectors (AUC 0.5 in expectation)."""

    def __init__(self, num_users: int, num_items: int, dims: int = 128, seed: int = 0):
        rng = np.random.default_rng(seed)
        super().__init__(rng.standard_normal((num_users, dims)),
                         rng.standard_normal((num_items, dims)))


class PopRank(_FixedVectors):
    """PopRank: every user ranks items by their number of training purchases."""

    def __init__(self, num_users: int, train_counts: np.ndarray):
        super().__init__(np.ones((num_users, 1)), np.asarray(train_counts)[:, None])


class VisRank(_FixedVectors):
    """VisRank: items by their mean squared Euclidean distance in feature space to the user's
    training items, nearest first.

        −mean_{j∈I_u} ‖f_i − f_j‖² = 2 f_i·m_u − ‖f_i‖² + const_u,   m_u = mean_{j∈I_u} f_j

    so the user vector is [2 m_u, −1] and the item vector [f_i, ‖f_i‖²].
    """

    def __init__(self, features: np.ndarray, train_items: Sequence[np.ndarray]):
        features = np.asarray(features, dtype=np.float64)
        means = np.stack([features[items].mean(axis=0) if len(items)
                          else np.zeros(features.shape[1]) for items in train_items])
        super().__init__(np.concatenate([2 * means, -np.ones((len(means), 1))], axis=1),
                         np.concatenate([features, (features ** 2).sum(axis=1)[:, None]],
                                        axis=1))
