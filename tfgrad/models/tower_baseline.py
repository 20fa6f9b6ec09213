"""The common frame of the composed-retrieval baselines CBIR, DSCMR and TIRG: items from their
interaction columns, modification text from mean word vectors, both in one D-dimensional
space; each baseline adds its own composer and loss."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad.models.base import RetrievalModel
from tfgrad.models.towers import ItemInteractionTower, WordAttributeTower


@keras.saving.register_keras_serializable(package="tfgrad")
class TowerBaseline(RetrievalModel):
    """Args:
      interactions: [K, 2] (user, item) training pairs; num_users, num_items: N, M.
      word_vectors, attribute_word_matrix: the training attributes' words.
      latent_dim: D; hidden_dims: hidden sizes of the item tower and the composer MLPs.
      temperature: τ of the cosine scores.
    """

    def __init__(self, interactions: np.ndarray, num_users: int, num_items: int, word_vectors,
                 attribute_word_matrix, latent_dim: int = 64, hidden_dims: Sequence[int] = (256,),
                 temperature: float = 0.1, **kwargs):
        super().__init__(temperature=temperature, **kwargs)
        self.latent_dim = latent_dim
        self.hidden_dims = tuple(hidden_dims)
        self.item_tower = ItemInteractionTower(interactions, num_users, num_items, hidden_dims,
                                               latent_dim, name="item_tower")
        self.text_tower = WordAttributeTower(word_vectors, attribute_word_matrix, latent_dim,
                                             name="text_tower")

    @property
    def num_items(self) -> int:
        return self.item_tower.num_items

    @property
    def num_attributes(self) -> int:
        return self.text_tower.attribute_word_matrix.shape[0]

    def build(self, input_shape=None):
        self.item_tower.build()
        self.text_tower.build()
        if self.composer is not None:
            self.composer.build(None)
        self.built = True

    def item_vectors(self) -> tf.Tensor:
        return self.item_tower()

    def attribute_vectors(self, word_vectors=None, attribute_word_matrix=None) -> tf.Tensor:
        if word_vectors is None:
            return self.text_tower()
        return self.text_tower.encode(word_vectors, attribute_word_matrix)

    def get_config(self):
        return {
            **super().get_config(),
            "interactions": self.item_tower.interactions.tolist(),
            "num_users": self.item_tower.num_users, "num_items": self.num_items,
            "word_vectors": self.text_tower.word_vectors.tolist(),
            "attribute_word_matrix": self.text_tower.attribute_word_matrix.tolist(),
            "latent_dim": self.latent_dim, "hidden_dims": list(self.hidden_dims),
            "temperature": self.temperature,
        }
