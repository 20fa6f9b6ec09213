"""What every recommender shares (DVBPR.md, "Recommendation"): a score x_{u,i} that factorises
as ⟨user_vectors(u), item_vectors()_i⟩ (+ a per-user constant, which no ranking sees), a BPR
training step over sampled (u, i, j) triples, and the vectors evaluation, pictures and the
`recommend` / `score` export signatures use — so DVBPR and every baseline are scored, searched
and served by the same code.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.base import LossTrainedModel


class Recommender(LossTrainedModel):
    """Base of the recommenders. Subclasses define `user_vectors`, `item_vectors` and, when they
    learn, `score_pairs` and `regularization`.

    Attributes:
      learns: False for rankers computed from the training data (RAND, PopRank, VisRank):
        they are not trained by steps.
      uses_images: whether `item_vectors` and `score_pairs` read item photos (DVBPR).
    """

    LOSS_NAMES = ("loss", "bpr", "regularization")
    uses_images = False

    def __init__(self, num_users: int, num_items: int, **kwargs):
        super().__init__(**kwargs)
        self.num_users = num_users
        self.num_items = num_items

    def user_vectors(self, users: tf.Tensor) -> tf.Tensor:
        """[B] user indices -> [B, D]."""
        raise NotImplementedError

    def item_vectors(self, images: Optional[tf.data.Dataset] = None) -> tf.Tensor:
        """[M, D] every item's vector; `images` (batches of normalised photos in item order)
        is read by visual models only."""
        raise NotImplementedError

    def score_pairs(self, users: tf.Tensor, items: tf.Tensor, images=None,
                    training: bool = False) -> tf.Tensor:
        """[B] x_{u,i} of (user, item) pairs; `images` are the items' photos for DVBPR."""
        raise NotImplementedError

    def regularization(self, batch) -> tf.Tensor:
        """The batch's regularisation term, already scaled for the global batch."""
        return tf.constant(0.0)

    def make_optimizer(self, learning_rate: float) -> keras.optimizers.Optimizer:
        """The optimizer this model trains with (Adam; DVBPR adds decoupled weight decay)."""
        return keras.optimizers.Adam(learning_rate)

    def pair_scores(self, batch, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """(x_{u,i}, x_{u,j}) [B] of the batch's triples."""
        return (self.score_pairs(batch["user"], batch["positive"],
                                 batch.get("positive_image"), training),
                self.score_pairs(batch["user"], batch["negative"],
                                 batch.get("negative_image"), training))

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        positive, negative = self.pair_scores(batch, training)
        bpr = tf.nn.compute_average_loss(losses.bpr_loss(positive, negative))
        regularization = self.regularization(batch)
        return {"loss": bpr + regularization, "bpr": bpr, "regularization": regularization}

    def scores(self, users: tf.Tensor, item_vectors: tf.Tensor) -> tf.Tensor:
        """[B] users, [M, D] item vectors -> [B, M] scores (up to a per-user constant)."""
        return tf.matmul(self.user_vectors(users), item_vectors, transpose_b=True)


def per_example_squares(*tensors: tf.Tensor) -> tf.Tensor:
    """Σ over the last axis of every tensor's squares: [B, ...] -> [B] (L2 terms per triple)."""
    return tf.add_n([tf.reduce_sum(tf.reshape(tf.square(t), [tf.shape(t)[0], -1]), axis=1)
                     for t in tensors])
