"""The interaction VAE with an item representation table (CGIR.md, "Model", part 1)."""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

SIMILARITIES = ("dot", "cosine")


@keras.saving.register_keras_serializable(package="tfgrad")
class InteractionVAE(keras.layers.Layer):
    """Encodes a user's interaction row to q(z_u | x_u) and decodes against an item table H.

    Encoder: L2-normalised x_u -> dropout -> MLP (tanh) -> (μ_u, log σ²_u) in R^D, as Mult-VAE.
    Decoder: logits_uj = s(z_u, h_j), the dot product, or cosine / temperature as in MacridVAE.
    H is a table (not inferred from interactions) so serving never re-infers items.
    """

    def __init__(self, num_items: int, latent_dim: int, hidden_dims: Sequence[int] = (256,),
                 dropout_rate: float = 0.5, similarity: str = "cosine",
                 temperature: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.num_items = num_items
        self.latent_dim = latent_dim
        self.hidden_dims = tuple(hidden_dims)
        self.dropout_rate = dropout_rate
        self.similarity = similarity
        self.temperature = temperature
        self.input_dropout = keras.layers.Dropout(dropout_rate)
        self.encoder_layers = [keras.layers.Dense(units, activation="tanh", name=f"encoder_{i}")
                               for i, units in enumerate(self.hidden_dims)]
        self.posterior = keras.layers.Dense(2 * latent_dim, name="posterior")
        self.seed_generator = keras.random.SeedGenerator(0)

    def build(self, input_shape):
        self.item_table = self.add_weight(
            name="item_table", shape=(self.num_items, self.latent_dim),
            initializer=keras.initializers.GlorotNormal())
        size = input_shape[-1]
        for layer in self.encoder_layers:
            layer.build((None, size))
            size = layer.units
        self.posterior.build((None, size))

    def item_vectors(self, items: Optional[tf.Tensor] = None) -> tf.Tensor:
        """[M, D] the item space searched at inference (unit vectors under cosine similarity),
        or [..., D] the vectors of the `items` given (a sampled softmax touches only those)."""
        table = (tf.convert_to_tensor(self.item_table) if items is None
                 else tf.gather(self.item_table, items))
        if self.similarity == "cosine":
            return tf.math.l2_normalize(table, axis=-1)
        return table

    def scale(self, scores: tf.Tensor) -> tf.Tensor:
        """Turns inner products with `item_vectors()` into logits."""
        return scores / self.temperature if self.similarity == "cosine" else scores

    def encode(self, interactions: tf.Tensor, training: bool = False):
        """[B, M] rows -> (mean, log_variance), each [B, D]."""
        hidden = tf.math.l2_normalize(interactions, axis=-1)
        hidden = self.input_dropout(hidden, training=training)
        for layer in self.encoder_layers:
            hidden = layer(hidden)
        mean, log_variance = tf.split(self.posterior(hidden), 2, axis=-1)
        return mean, log_variance

    def user_vectors(self, interactions: tf.Tensor, training: bool = False):
        """[B, M] rows -> (z_u [B, D] as the decoder scores it, mean [B, D], log_variance
        [B, D]); z_u is the reparameterised sample in training, the mean otherwise."""
        mean, log_variance = self.encode(interactions, training=training)
        user = mean
        if training:
            noise = keras.random.normal(tf.shape(mean), seed=self.seed_generator)
            user = mean + tf.exp(0.5 * log_variance) * noise
        if self.similarity == "cosine":
            user = tf.math.l2_normalize(user, axis=-1)
        return user, mean, log_variance

    def call(self, interactions: tf.Tensor, training: bool = False):
        """Returns (logits [B, M], mean [B, D], log_variance [B, D])."""
        user, mean, log_variance = self.user_vectors(interactions, training=training)
        logits = self.scale(tf.matmul(user, self.item_vectors(), transpose_b=True))
        return logits, mean, log_variance

    def get_config(self):
        return {**super().get_config(), "num_items": self.num_items,
                "latent_dim": self.latent_dim, "hidden_dims": list(self.hidden_dims),
                "dropout_rate": self.dropout_rate, "similarity": self.similarity,
                "temperature": self.temperature}
