"""Encoders the baselines and the w/o-VAE ablation share (CGIR.md, "Baselines and ablations").

* `ItemInteractionTower`: an item's representation from its interaction column x_{·,i} (which
  users chose it) through an MLP — the item embedding of CBIR, DSCMR, TIRG and CGIR w/o VAE.
* `WordAttributeTower`: an attribute string's representation from the mean of its words'
  pre-trained vectors through a dense layer — the baselines' modification-text embedding.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfgrad")
class ItemInteractionTower(keras.layers.Layer):
    """h_i = MLP(x̃_{·,i}), x̃ the L2-normalised column of item i in the user-item matrix.

    The [M, N] matrix is a sparse constant of the layer, so all M item vectors cost one sparse
    matmul with the first layer's kernel, O(interactions · hidden).

    Args:
      interactions: [K, 2] (user, item) pairs.
      num_users: N.
      num_items: M.
      hidden_dims: hidden layer sizes (tanh).
      output_dim: D.
      normalize: whether item vectors are L2-normalised (cosine scoring).

    The config holds the distinct pairs (as nested lists), which rebuild the same layer.
    """

    def __init__(self, interactions: np.ndarray, num_users: int, num_items: int,
                 hidden_dims: Sequence[int], output_dim: int, normalize: bool = True, **kwargs):
        super().__init__(**kwargs)
        pairs = np.unique(np.asarray(interactions, dtype=np.int64).reshape(-1, 2), axis=0)
        counts = np.bincount(pairs[:, 1], minlength=num_items).astype(np.float32)
        values = 1.0 / np.sqrt(np.maximum(counts[pairs[:, 1]], 1.0))
        order = np.lexsort((pairs[:, 0], pairs[:, 1]))
        self._indices = pairs[order][:, ::-1].copy()
        self._values = values[order].astype(np.float32)
        self.interactions = pairs
        self.num_users = num_users
        self.num_items = num_items
        self.hidden_dims = tuple(hidden_dims)
        self.output_dim = output_dim
        self.normalize = normalize
        sizes = list(hidden_dims) + [output_dim]
        self.first = keras.layers.Dense(sizes[0], activation="tanh" if hidden_dims else None,
                                        name="from_interactions")
        self.rest = [keras.layers.Dense(size, activation="tanh" if k < len(sizes) - 2 else None,
                                        name=f"dense_{k}")
                     for k, size in enumerate(sizes[1:])]

    def build(self, input_shape=None):
        self.first.build((None, self.num_users))
        width = self.first.units
        for layer in self.rest:
            layer.build((None, width))
            width = layer.units
        self.built = True

    def call(self, inputs=None) -> tf.Tensor:
        """[M, D] every item's vector."""
        columns = tf.sparse.SparseTensor(self._indices, self._values,
                                         [self.num_items, self.num_users])
        hidden = tf.sparse.sparse_dense_matmul(columns, self.first.kernel) + self.first.bias
        if self.first.activation is not None:
            hidden = self.first.activation(hidden)
        for layer in self.rest:
            hidden = layer(hidden)
        return tf.math.l2_normalize(hidden, axis=-1) if self.normalize else hidden

    def get_config(self):
        return {**super().get_config(), "interactions": self.interactions.tolist(),
                "num_users": self.num_users, "num_items": self.num_items,
                "hidden_dims": list(self.hidden_dims), "output_dim": self.output_dim,
                "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="tfgrad")
class WordAttributeTower(keras.layers.Layer):
    """φ_t = W · mean_{w ∈ W(t)} e_w + b for any attribute string with word vectors.

    Args:
      word_vectors: [V, E] the training attributes' word vectors.
      attribute_word_matrix: [T, V] which words make each attribute.
      output_dim: the text embedding's size.
    """

    def __init__(self, word_vectors, attribute_word_matrix, output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.word_vectors = np.asarray(word_vectors, dtype=np.float32)
        self.attribute_word_matrix = np.asarray(attribute_word_matrix, dtype=np.float32)
        self.output_dim = output_dim
        self.projection = keras.layers.Dense(output_dim, name="projection")

    def build(self, input_shape=None):
        self.projection.build((None, self.word_vectors.shape[1]))
        self.built = True

    def encode(self, word_vectors, attribute_word_matrix) -> tf.Tensor:
        matrix = tf.convert_to_tensor(attribute_word_matrix, tf.float32)
        mean = tf.math.divide_no_nan(matrix, tf.reduce_sum(matrix, axis=1, keepdims=True))
        return self.projection(tf.matmul(mean, tf.convert_to_tensor(word_vectors, tf.float32)))

    def call(self, inputs=None) -> tf.Tensor:
        """[T, E] φ_t of the training attributes."""
        return self.encode(self.word_vectors, self.attribute_word_matrix)

    def get_config(self):
        return {**super().get_config(), "word_vectors": self.word_vectors.tolist(),
                "attribute_word_matrix": self.attribute_word_matrix.tolist(),
                "output_dim": self.output_dim}


def mlp(hidden_dims: Sequence[int], output_dim: int, name: str,
        output_activation=None) -> keras.Sequential:
    """tanh hidden layers, then a linear (or `output_activation`) output layer."""
    return keras.Sequential(
        [keras.layers.Dense(size, activation="tanh") for size in hidden_dims]
        + [keras.layers.Dense(output_dim, activation=output_activation)], name=name)
