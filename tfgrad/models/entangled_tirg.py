"""The entangled baseline of ADDE's table: one CNN-F embedding per photo (no attribute
subspaces, no memory) and TIRG's gated residual composer (`tirg.GatedResidualComposer`) turning
(reference embedding, requested change) into the query; trained on ADDE's triplets with TIRG's
batch softmax against the positives.

The change is ADDE's ±1 indicator over every (attribute, value) (+1 the new value, −1 the old
one), embedded by one linear layer: the same information the memory block reads, so the table
compares where the change is applied (a learnt composer on an entangled vector against a
prototype swap in a disentangled one), not what the models are told.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.adde import one_hot_blocks
from tfgrad.models.cnn_f import CNNF
from tfgrad.models.tirg import GatedResidualComposer
from tfgrad.models.tracked import TrackedModel


@keras.saving.register_keras_serializable(package="tfgrad")
class EntangledTIRG(TrackedModel):
    """Batches as `ADDE`'s (its positives are the targets; negatives and labels unused but
    for the change).

    Args:
      num_values: values per attribute (the indicator's blocks).
      image_size, width, dropout_rate: CNN-F's.
      embedding_dim: the one embedding's size (ADDE's A·d, for the same search cost).
      hidden_dims: the composer's MLP hidden layers.
      temperature: τ of the batch softmax over cosine scores.
      seed: initialisers.
    """

    TRACKED = ("loss",)

    def __init__(self, num_values: Sequence[int], image_size: int = 64, width: float = 0.25,
                 embedding_dim: int = 448, hidden_dims: Sequence[int] = (512,),
                 temperature: float = 0.1, dropout_rate: float = 0.5, seed: int = 0,
                 **kwargs):
        super().__init__(seed, **kwargs)
        self.num_values = tuple(int(count) for count in num_values)
        self.image_size, self.width, self.embedding_dim = image_size, width, embedding_dim
        self.hidden_dims = tuple(hidden_dims)
        self.temperature, self.dropout_rate, self.seed = temperature, dropout_rate, seed
        self.backbone = CNNF(embedding_dim, image_size, width, dropout_rate, seed=seed,
                             name="backbone")
        self.change_embedding = keras.layers.Dense(
            embedding_dim, use_bias=False, name="change_embedding",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 50))
        self.composer = GatedResidualComposer(self.hidden_dims, embedding_dim, name="composer")

    def build(self, input_shape=None):
        self.backbone.build()
        self.change_embedding.build((None, sum(self.num_values)))
        self.composer.build()
        self.built = True

    def call(self, images, training=False):
        return self.backbone(images, training=training)

    def embed(self, images) -> tf.Tensor:
        """[B, S, S, 3] -> [B, D] (inference mode)."""
        return self(images, training=False)

    def manipulate(self, features, indicator) -> tf.Tensor:
        """The composed query of reference embeddings and ±1 change indicators."""
        return self.composer(features, self.change_embedding(indicator))

    def train_step(self, batch):
        indicator = (one_hot_blocks(batch["target_labels"], self.num_values)
                     - one_hot_blocks(batch["reference_labels"], self.num_values))
        with tf.GradientTape() as tape:
            queries = self.manipulate(self(batch["reference"], training=True), indicator)
            targets = self(batch["positive"], training=True)
            loss = self._average(losses.batch_softmax_loss(
                tf.math.l2_normalize(queries, axis=1), tf.math.l2_normalize(targets, axis=1),
                1.0 / self.temperature))
            scaled = self.optimizer.scale_loss(loss)
        weights = self.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return self._track({"loss": loss})

    def get_config(self):
        return {**super().get_config(), "num_values": list(self.num_values),
                "image_size": self.image_size, "width": self.width,
                "embedding_dim": self.embedding_dim, "hidden_dims": list(self.hidden_dims),
                "temperature": self.temperature, "dropout_rate": self.dropout_rate,
                "seed": self.seed}
