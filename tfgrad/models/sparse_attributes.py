"""The sparse attribute encoder F(t) = Σ_{w ∈ W(t)} clip(W e_w + b, 0, 1) (CGIR.md, part 2)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfgrad")
class SparseAttributeEncoder(keras.layers.Layer):
    """Maps pre-trained word vectors to sparse codes and sums them per attribute string.

    The word vectors and the attribute-word incidence are constants of the layer (models never
    read files: the caller loads them, see `tfgrad.data.word_vectors`); W and b are learnt.

    Args:
      word_vectors: [V, E] pre-trained vectors e_w of the attribute words.
      attribute_word_matrix: [T, V] 1 where word w belongs to attribute t.
      output_dim: D, the item table's dimension.
    """

    def __init__(self, word_vectors, attribute_word_matrix, output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.word_vectors = np.asarray(word_vectors, dtype=np.float32)
        self.attribute_word_matrix = np.asarray(attribute_word_matrix, dtype=np.float32)
        if self.word_vectors.ndim != 2 or self.attribute_word_matrix.ndim != 2:
            raise ValueError("word_vectors and attribute_word_matrix must be 2-D")
        if self.attribute_word_matrix.shape[1] != self.word_vectors.shape[0]:
            raise ValueError(
                f"attribute_word_matrix has {self.attribute_word_matrix.shape[1]} word columns "
                f"but there are {self.word_vectors.shape[0]} word vectors")
        self.output_dim = output_dim
        self.projection = keras.layers.Dense(output_dim, name="projection")

    def build(self, input_shape=None):
        self.projection.build((None, self.word_vectors.shape[1]))

    def word_activations(self, word_vectors=None) -> tf.Tensor:
        """[V, D] f(w) in [0, 1] for every attribute word (or for the given [V', E] vectors)."""
        word_vectors = self.word_vectors if word_vectors is None else word_vectors
        return tf.clip_by_value(
            self.projection(tf.convert_to_tensor(word_vectors, tf.float32)), 0.0, 1.0)

    def encode(self, word_vectors, attribute_word_matrix) -> tf.Tensor:
        """[T', D] F(t) of any attribute strings given their words: f(w) is defined for every
        word with a vector, so attributes unseen in training get codes too."""
        return tf.matmul(tf.convert_to_tensor(attribute_word_matrix, tf.float32),
                         self.word_activations(word_vectors))

    def call(self, inputs=None) -> tf.Tensor:
        """[T, D] F(t) for every attribute."""
        return self.encode(self.word_vectors, self.attribute_word_matrix)

    def get_config(self):
        return {**super().get_config(), "word_vectors": self.word_vectors.tolist(),
                "attribute_word_matrix": self.attribute_word_matrix.tolist(),
                "output_dim": self.output_dim}
