"""WARP (DVBPR.md's baseline): BPR-MF's scorer trained with the weighted approximate-rank
pairwise loss (`losses.warp_loss`) over several sampled negatives per positive."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.bpr_mf import BPRMF
from tfgrad.models.recommender import per_example_squares


@keras.saving.register_keras_serializable(package="tfgrad")
class WARP(BPRMF):
    """Batches carry "negatives" [B, Q]; "negative" (the first of them) is what BPR-MF's
    regulariser reads. Its config is BPR-MF's."""

    LOSS_NAMES = ("loss", "warp", "regularization")

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        users, negatives = batch["user"], batch["negatives"]
        positive = self.score_pairs(users, batch["positive"])
        num_negatives = tf.shape(negatives)[1]
        negative = tf.reshape(
            self.score_pairs(tf.repeat(users, num_negatives), tf.reshape(negatives, [-1])),
            tf.shape(negatives))
        warp = tf.nn.compute_average_loss(losses.warp_loss(positive, negative, self.num_items))
        regularization = self.regularization_weight * tf.nn.compute_average_loss(
            per_example_squares(self.user_embedding(users),
                                self.item_embedding(batch["positive"]),
                                self.item_bias(batch["positive"])))
        return {"loss": warp + regularization, "warp": warp, "regularization": regularization}
