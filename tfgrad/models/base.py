"""What every tfgrad model shares (a training step over its loss terms) and what every retrieval
model shares: the item table, the attribute move, the alignment logits and the training step.

A retrieval model exposes `item_vectors()` [M, D] and `attribute_move()`, the `AttributeMove`
q = compose(h_i, γ·Σ_t α_t φ_t) its walks take; the CGIR system turns them into an `ItemSpace`
(`tfgrad.spaces`), which is all the walk, the index, evaluation and export read. So every model
(CGIR, its ablations and the baselines) is walked, searched and scored by the same code; only
the composer, the encoders and the losses differ.
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tfgrad.losses import MASKED_LOGIT
from tfgrad.spaces import AttributeMove, ComposedMove, LinearMove


class LossTrainedModel(keras.Model):
    """A model trained by `tfgrad.trainer` through its `compute_losses`: `LOSS_NAMES` lists the
    terms it returns ("loss", the one minimised, first); each is logged to TensorBoard.

    With a `LossScaleOptimizer` (mixed float16) the loss is scaled before the gradients and
    `apply_gradients` unscales them; other optimizers leave the loss as is.
    """

    LOSS_NAMES: tuple[str, ...] = ("loss",)
    # False for models computed from the training data in one go (RAND, PopRank, VisRank).
    learns = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in self.LOSS_NAMES}

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        """The objective's terms, each already averaged over the global batch."""
        raise NotImplementedError

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.compute_losses(data, training=True)
            scaled_loss = self.optimizer.scale_loss(terms["loss"])
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        for name, value in terms.items():
            # Trackers average over steps; values are per-replica shares, so undo the scaling.
            self.loss_trackers[name].update_state(
                tf.cast(value, tf.float32) * tf.distribute.get_strategy().num_replicas_in_sync)
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}


class RetrievalModel(LossTrainedModel):
    """Base of the retrieval models: subclasses define the encoders, the composer and
    `compute_losses`.

    Attributes:
      uses_user_batches: whether training batches carry users' interaction rows (the VAE
        models) or triples only.
      composer: None for the linear composer q = h_i + m (walks then cost one matmul), or a
        layer mapping ([K, D] reference vectors, [K, E] modifications) -> [K, D] queries.
    """

    uses_user_batches = False

    def __init__(self, temperature: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.temperature = temperature
        self.composer = None

    @property
    def num_items(self) -> int:
        raise NotImplementedError

    @property
    def num_attributes(self) -> int:
        raise NotImplementedError

    def item_vectors(self) -> tf.Tensor:
        """[M, D] the searched item table."""
        raise NotImplementedError

    def attribute_vectors(self, word_vectors=None, attribute_word_matrix=None) -> tf.Tensor:
        """[T, E] the attribute codes; given other words ([V', 50], [T', V']) it encodes those
        attribute strings instead (attributes never seen in training, e.g. soft attributes)."""
        raise NotImplementedError

    def attribute_move(self, word_vectors=None, attribute_word_matrix=None) -> AttributeMove:
        """The move walks take: linear (q = h_i + m) without a composer, else the composer's.
        Given other words, it moves along those attribute strings (see `attribute_vectors`)."""
        vectors = np.asarray(self.attribute_vectors(word_vectors, attribute_word_matrix))
        if self.composer is None:
            return LinearMove(vectors)
        return ComposedMove(vectors, self.composer)

    def compose_queries(self, reference_vectors: tf.Tensor, modifications: tf.Tensor
                        ) -> tf.Tensor:
        """[K, D], [K, E] -> [K, D]: the query of reference h_i under modification γ·Σ α_t φ_t."""
        if self.composer is None:
            return reference_vectors + modifications
        return self.composer(reference_vectors, modifications)

    def scale(self, scores: tf.Tensor) -> tf.Tensor:
        return scores / self.temperature

    def composed_queries(self, reference: tf.Tensor, attribute: tf.Tensor,
                         direction: tf.Tensor, items: Optional[tf.Tensor] = None
                         ) -> tf.Tensor:
        """[B] triples -> [B, D] the γ = 1 queries q = compose(h_i, y_t φ_t)."""
        items = self.item_vectors() if items is None else items
        return self.compose_queries(tf.gather(items, reference),
                                    self.modifications(attribute, direction))

    def modifications(self, attribute: tf.Tensor, direction: tf.Tensor) -> tf.Tensor:
        """[B] attributes and ±1 directions -> [B, E] the γ = 1 modifications y_t φ_t."""
        attributes = self.attribute_vectors()
        return tf.gather(attributes, attribute) * tf.cast(direction, attributes.dtype)[:, None]

    def alignment_logits(self, reference: tf.Tensor, attribute: tf.Tensor,
                         direction: tf.Tensor) -> tf.Tensor:
        """[B, M] logits of p(i' | i, y) at γ = 1, the reference itself masked out.

        The reference is never a candidate at inference (the walk excludes it), so it is not
        one in training either; otherwise small modifications would be taught to stay put.
        """
        items = self.item_vectors()
        return self.candidate_logits(
            self.composed_queries(reference, attribute, direction, items), items, reference)

    def candidate_logits(self, queries: tf.Tensor, items: tf.Tensor, reference: tf.Tensor
                         ) -> tf.Tensor:
        """[B, D] queries -> [B, M] scaled scores of every item, the reference masked out."""
        logits = self.scale(tf.matmul(queries, items, transpose_b=True))
        is_reference = tf.one_hot(reference, self.num_items, on_value=True, off_value=False)
        return tf.where(is_reference, tf.cast(MASKED_LOGIT, logits.dtype), logits)
