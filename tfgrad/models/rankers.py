"""The rankers of DVBPR.md's Table III that are computed, not trained: RAND, PopRank and
VisRank. They are `Recommender`s, so they are evaluated, pictured and exported like the rest."""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad.models.recommender import Recommender


@keras.saving.register_keras_serializable(package="tfgrad")
class _FixedVectors(Recommender):
    """A ranker given as fixed user and item vectors (its config holds them; the subclasses'
    configs hold the training data the vectors are computed from instead)."""

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

    def get_config(self):
        return {**super().get_config(),
                "user_vectors": self.fixed_user_vectors.numpy().tolist(),
                "item_vectors": self.fixed_item_vectors.numpy().tolist()}

    def _base_config(self):
        """The config of a subclass without the fixed vectors it recomputes."""
        return super().get_config()


@keras.saving.register_keras_serializable(package="tfgrad")
class RandomRanker(_FixedVectors):
    """RAND: scores from independent Gaussian user and item vectors (AUC 0.5 in expectation)."""

    def __init__(self, num_users: int, num_items: int, dims: int = 128, seed: int = 0,
                 **kwargs):
        rng = np.random.default_rng(seed)
        super().__init__(rng.standard_normal((num_users, dims)),
                         rng.standard_normal((num_items, dims)), **kwargs)
        self.dims = dims
        self.seed = seed

    def get_config(self):
        return {**self._base_config(), "num_users": self.num_users, "num_items": self.num_items,
                "dims": self.dims, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfgrad")
class PopRank(_FixedVectors):
    """PopRank: every user ranks items by their number of training purchases."""

    def __init__(self, num_users: int, train_counts: np.ndarray, **kwargs):
        train_counts = np.asarray(train_counts)
        super().__init__(np.ones((num_users, 1)), train_counts[:, None], **kwargs)
        self.train_counts = train_counts

    def get_config(self):
        return {**self._base_config(), "num_users": self.num_users,
                "train_counts": self.train_counts.tolist()}


@keras.saving.register_keras_serializable(package="tfgrad")
class VisRank(_FixedVectors):
    """VisRank: items by their mean squared Euclidean distance in feature space to the user's
    training items, nearest first.

        −mean_{j∈I_u} ‖f_i − f_j‖² = 2 f_i·m_u − ‖f_i‖² + const_u,   m_u = mean_{j∈I_u} f_j

    so the user vector is [2 m_u, −1] and the item vector [f_i, ‖f_i‖²].
    """

    def __init__(self, features: np.ndarray, train_items: Sequence[np.ndarray], **kwargs):
        given_features = np.asarray(features)
        features = np.asarray(given_features, dtype=np.float64)
        train_items = [np.asarray(items, dtype=np.int64) for items in train_items]
        means = np.stack([features[items].mean(axis=0) if len(items)
                          else np.zeros(features.shape[1]) for items in train_items])
        super().__init__(np.concatenate([2 * means, -np.ones((len(means), 1))], axis=1),
                         np.concatenate([features, (features ** 2).sum(axis=1)[:, None]],
                                        axis=1), **kwargs)
        # Kept for get_config as flat arrays: a list attribute is tracked item by item.
        self.features = given_features
        self._train_item_counts = np.array([len(items) for items in train_items], np.int64)
        self._train_items = np.concatenate([np.zeros(0, np.int64), *train_items])

    def get_config(self):
        per_user = np.split(self._train_items, np.cumsum(self._train_item_counts)[:-1])
        return {**self._base_config(), "features": self.features.tolist(),
                "train_items": [items.tolist() for items in per_user]}
