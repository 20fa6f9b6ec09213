"""DSCMR (CGIR.md baseline; Zhen et al. 2019) for composed queries: the reference item and the
modification text meet in a common space (u = h_i + φ_t); a shared linear classifier P maps
common-space vectors to the tag space (label loss on the query and on the target), the query
and its target are pulled together (invariance), and the query must retrieve its target
(matching: softmax over items)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.tower_baseline import TowerBaseline


@keras.saving.register_keras_serializable(package="tfgrad")
class DSCMR(TowerBaseline):
    """Args (beyond `TowerBaseline`'s): item_attributes [M, T] tags (the label space);
    label_weight and invariance_weight, the weights of those two terms beside matching."""

    LOSS_NAMES = ("loss", "matching", "label", "invariance")

    def __init__(self, *args, item_attributes: np.ndarray, label_weight: float = 1.0,
                 invariance_weight: float = 0.1, **kwargs):
        super().__init__(*args, **kwargs)
        self.item_attributes = np.asarray(item_attributes, dtype=np.float32)
        self.label_weight = label_weight
        self.invariance_weight = invariance_weight
        self.classifier = keras.layers.Dense(self.item_attributes.shape[1], use_bias=False,
                                             name="label_classifier")

    def build(self, input_shape=None):
        super().build(input_shape)
        self.classifier.build((None, self.latent_dim))

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        items = self.item_vectors()
        queries = self.composed_queries(batch["reference"], batch["attribute"],
                                        batch["direction"], items)
        targets = tf.gather(items, batch["target"])
        labels = tf.gather(tf.constant(self.item_attributes), batch["target"])
        matching = tf.nn.compute_average_loss(losses.alignment_nll(
            self.candidate_logits(queries, items, batch["reference"]), batch["target"]))
        label = tf.nn.compute_average_loss(
            losses.label_space_loss(self.classifier(queries), labels)
            + losses.label_space_loss(self.classifier(targets), labels))
        invariance = tf.nn.compute_average_loss(losses.invariance_loss(queries, targets))
        total = matching + self.label_weight * label + self.invariance_weight * invariance
        return {"loss": total, "matching": matching, "label": label, "invariance": invariance}

    def get_config(self):
        return {**super().get_config(), "item_attributes": self.item_attributes.tolist(),
                "label_weight": self.label_weight, "invariance_weight": self.invariance_weight}
