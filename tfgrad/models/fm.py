"""FM (DVBPR.md's baseline): a factorisation machine over the fields user, item and visual
feature, BPR-optimised, with the user×item and user×visual-feature interactions:

    x_{u,i} = w_i + w·f_i + ⟨v_u, v_i⟩ + ⟨v_u, V f_i⟩ = w_i + w·f_i + ⟨v_u, v_i + V f_i⟩

Unlike VBPR, one user factor v_u serves both the item and the visual interactions.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgrad.models.vbpr import VisualMF


@keras.saving.register_keras_serializable(package="tfgrad")
class FM(VisualMF):
    """VisualMF with V f_i added to v_i (so visual_dim is latent_dim)."""

    def __init__(self, num_users, num_items, features, latent_dim: int = 50,
                 regularization: float = 1e-4, seed: int = 0, **kwargs):
        super().__init__(num_users, num_items, features, latent_dim=latent_dim,
                         visual_dim=latent_dim, regularization=regularization, seed=seed,
                         **kwargs)

    def item_parts(self, items):
        visual, bias = self.visual_parts(items)
        return self.item_embedding(items) + visual, bias

    def get_config(self):
        config = super().get_config()
        del config["visual_dim"]  # always latent_dim: not an argument of FM
        return config
