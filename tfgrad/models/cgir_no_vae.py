"""CGIR w/o VAE (CGIR.md ablation): the item table is an MLP over each item's interaction
column, trained by alignment (and the sparsity loss) only — no reconstruction, no KL."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.base import RetrievalModel
from tfgrad.models.sparse_attributes import SparseAttributeEncoder
from tfgrad.models.towers import ItemInteractionTower


@keras.saving.register_keras_serializable(package="tfgrad")
class CGIRWithoutVAE(RetrievalModel):
    """L = λ_align·align + λ_sparse·SL, items from `ItemInteractionTower`, attributes from the
    sparse encoder, the linear composer q = h_i + γ Σ y_t F(t).

    Args:
      interactions: [K, 2] (user, item) training pairs; num_users, num_items: N, M.
      word_vectors, attribute_word_matrix: the attributes' words (see `SparseAttributeEncoder`).
      latent_dim, hidden_dims: D and the item MLP's hidden sizes.
      temperature: τ of the cosine scores.
      alignment_weight, sparsity_weight, target_sparsity: λ_align, λ_sparse, ρ.
    """

    LOSS_NAMES = ("loss", "alignment", "sparsity")

    def __init__(self, interactions: np.ndarray, num_users: int, num_items: int, word_vectors,
                 attribute_word_matrix, latent_dim: int = 64, hidden_dims: Sequence[int] = (256,),
                 temperature: float = 0.1, alignment_weight: float = 1.0,
                 sparsity_weight: float = 0.1, target_sparsity: float = 0.1, **kwargs):
        super().__init__(temperature=temperature, **kwargs)
        self.item_tower = ItemInteractionTower(interactions, num_users, num_items, hidden_dims,
                                               latent_dim, name="item_tower")
        self.attribute_encoder = SparseAttributeEncoder(
            word_vectors, attribute_word_matrix, latent_dim, name="sparse_attribute_encoder")
        self.alignment_weight = alignment_weight
        self.sparsity_weight = sparsity_weight
        self.target_sparsity = target_sparsity

    @property
    def num_items(self) -> int:
        return self.item_tower.num_items

    @property
    def num_attributes(self) -> int:
        return self.attribute_encoder.attribute_word_matrix.shape[0]

    def build(self, input_shape=None):
        self.item_tower.build()
        self.attribute_encoder.build()
        self.built = True

    def item_vectors(self) -> tf.Tensor:
        return self.item_tower()

    def attribute_vectors(self, word_vectors=None, attribute_word_matrix=None) -> tf.Tensor:
        if word_vectors is None:
            return self.attribute_encoder()
        return self.attribute_encoder.encode(word_vectors, attribute_word_matrix)

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        alignment = tf.nn.compute_average_loss(losses.alignment_nll(
            self.alignment_logits(batch["reference"], batch["attribute"], batch["direction"]),
            batch["target"]))
        sparsity = tf.nn.scale_regularization_loss(losses.sparsity_loss(
            self.attribute_encoder.word_activations(), self.target_sparsity))
        total = self.alignment_weight * alignment + self.sparsity_weight * sparsity
        return {"loss": total, "alignment": alignment, "sparsity": sparsity}

    def get_config(self):
        return {
            **super().get_config(),
            "interactions": self.item_tower.interactions.tolist(),
            "num_users": self.item_tower.num_users, "num_items": self.num_items,
            "word_vectors": self.attribute_encoder.word_vectors.tolist(),
            "attribute_word_matrix": self.attribute_encoder.attribute_word_matrix.tolist(),
            "latent_dim": self.item_tower.output_dim,
            "hidden_dims": list(self.item_tower.hidden_dims), "temperature": self.temperature,
            "alignment_weight": self.alignment_weight, "sparsity_weight": self.sparsity_weight,
            "target_sparsity": self.target_sparsity,
        }
