"""TIRG (CGIR.md baseline; Vo et al. 2019): f(φ_i, φ_t) = w_g·gate + w_r·res with
gate = σ(MLP([φ_i, φ_t])) ⊙ φ_i and res = MLP([φ_i, φ_t]), trained with a batch softmax
ranking loss against the targets."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.tower_baseline import TowerBaseline
from tfgrad.models.towers import mlp


@keras.saving.register_keras_serializable(package="tfgrad")
class GatedResidualComposer(keras.layers.Layer):
    """TIRG's composition: a gate that keeps parts of the reference plus a residual."""

    def __init__(self, hidden_dims, output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dims = tuple(hidden_dims)
        self.output_dim = output_dim
        self.gate_mlp = mlp(hidden_dims, output_dim, name="gate_mlp", output_activation="sigmoid")
        self.residual_mlp = mlp(hidden_dims, output_dim, name="residual_mlp")

    def build(self, input_shape=None):
        self.gate_mlp.build((None, 2 * self.output_dim))
        self.residual_mlp.build((None, 2 * self.output_dim))
        # TIRG's initialisation: the gate path starts dominant, the residual small but trainable.
        self.gate_weight = self.add_weight(shape=(), initializer=keras.initializers.Constant(1.0),
                                           name="gate_weight")
        self.residual_weight = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(0.1), name="residual_weight")
        self.built = True

    def call(self, reference_vectors, modifications):
        joint = tf.concat([reference_vectors, modifications], axis=-1)
        gate = self.gate_mlp(joint) * reference_vectors
        return self.gate_weight * gate + self.residual_weight * self.residual_mlp(joint)

    def get_config(self):
        return {**super().get_config(), "hidden_dims": list(self.hidden_dims),
                "output_dim": self.output_dim}


@keras.saving.register_keras_serializable(package="tfgrad")
class TIRG(TowerBaseline):
    """`TowerBaseline` with the gated residual composer; its config is `TowerBaseline`'s."""

    LOSS_NAMES = ("loss",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.composer = GatedResidualComposer(self.hidden_dims, self.latent_dim, name="composer")

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        items = self.item_vectors()
        queries = self.composed_queries(batch["reference"], batch["attribute"],
                                        batch["direction"], items)
        loss = tf.nn.compute_average_loss(losses.batch_softmax_loss(
            tf.math.l2_normalize(queries, axis=-1), tf.gather(items, batch["target"]),
            1.0 / self.temperature))
        return {"loss": loss}
