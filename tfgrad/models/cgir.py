"""CGIR: controllable gradient item retrieval (CGIR.md; seeds 000 and 001).

L = recon + β·KL + λ_align·align + λ_sparse·SL, trained end to end by `train_step`.
Every tfgrad model exposes its item space the same way — `item_vectors()`,
`attribute_vectors()` and the linear `compose_queries()` — so the walk, the index, evaluation
and export are written once (`tfgrad.retrieval`).
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.interaction_vae import InteractionVAE
from tfgrad.models.sparse_attributes import SparseAttributeEncoder

# A masked logit: far below any real logit, finite so that softmax gradients stay finite.
_MASKED_LOGIT = -1e9


@keras.saving.register_keras_serializable("tfgrad")
class CGIR(keras.Model):
    """Interaction VAE + sparse attribute encoder, aligned by q = h_i + γ Σ_t y_t F(t).

    Args:
      num_items: M.
      word_vectors: [V, E] pre-trained vectors of the attribute words.
      attribute_word_matrix: [T, V] which words make each attribute.
      latent_dim: D, shared by the item table and the attribute codes.
      hidden_dims: the VAE encoder's hidden layer sizes.
      dropout_rate: input dropout of the VAE encoder.
      similarity: "cosine" (MacridVAE) or "dot".
      temperature: τ of the cosine similarity.
      beta: β of the KL term.
      alignment_weight: λ_align.
      sparsity_weight: λ_sparse; 0 gives the "CGIR w/o Sparse" ablation.
      target_sparsity: ρ of the average sparsity loss.
    """

    def __init__(self, num_items: int, word_vectors, attribute_word_matrix,
                 latent_dim: int = 64, hidden_dims: Sequence[int] = (256,),
                 dropout_rate: float = 0.5, similarity: str = "cosine",
                 temperature: float = 0.1, beta: float = 0.2, alignment_weight: float = 1.0,
                 sparsity_weight: float = 0.1, target_sparsity: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.vae = InteractionVAE(num_items, latent_dim, hidden_dims, dropout_rate,
                                  similarity, temperature, name="interaction_vae")
        self.attribute_encoder = SparseAttributeEncoder(
            word_vectors, attribute_word_matrix, latent_dim, name="sparse_attribute_encoder")
        self.beta = beta
        self.alignment_weight = alignment_weight
        self.sparsity_weight = sparsity_weight
        self.target_sparsity = target_sparsity
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in
                              ("loss", "reconstruction", "kl", "alignment", "sparsity")}

    @property
    def num_items(self) -> int:
        return self.vae.num_items

    @property
    def num_attributes(self) -> int:
        return self.attribute_encoder.attribute_word_matrix.shape[0]

    def build(self, input_shape=None):
        self.vae.build((None, self.num_items))
        self.attribute_encoder.build()
        self.built = True

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    # --- the item space shared by walk, index, evaluation and export ---------------------------

    def item_vectors(self) -> tf.Tensor:
        """[M, D] the searched item table."""
        return self.vae.item_vectors()

    def attribute_vectors(self) -> tf.Tensor:
        """[T, D] F(t)."""
        return self.attribute_encoder()

    def compose_queries(self, reference_vectors: tf.Tensor, attribute_weights: tf.Tensor
                        ) -> tf.Tensor:
        """q = h_i + Σ_t w_t F(t), with w_t = γ·y_t: [B, D], [B, T] -> [B, D].

        Linear in w on purpose (CGIR.md: no non-linearity between h_i and F(t)), so a walk's
        γ steps are one matmul.
        """
        return reference_vectors + tf.matmul(attribute_weights, self.attribute_vectors())

    # --- training ------------------------------------------------------------------------------

    def alignment_logits(self, reference: tf.Tensor, attribute: tf.Tensor,
                         direction: tf.Tensor) -> tf.Tensor:
        """[B, M] logits of p(i' | i, y) for γ = 1, the reference itself masked out.

        The reference is never a candidate at inference (the walk excludes it), so it is not
        one in training either; otherwise small modifications would be taught to stay put.
        """
        items = self.item_vectors()
        weights = tf.one_hot(attribute, self.num_attributes) * tf.cast(
            direction, items.dtype)[:, None]
        queries = self.compose_queries(tf.gather(items, reference), weights)
        logits = self.vae.scale(tf.matmul(queries, items, transpose_b=True))
        is_reference = tf.one_hot(reference, self.num_items, on_value=True, off_value=False)
        return tf.where(is_reference, tf.cast(_MASKED_LOGIT, logits.dtype), logits)

    def call(self, inputs, training=False):
        interaction_logits, _, _ = self.vae(inputs["interactions"], training=training)
        return {
            "interaction_logits": interaction_logits,
            "alignment_logits": self.alignment_logits(
                inputs["reference"], inputs["attribute"], inputs["direction"]),
        }

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        """The objective's terms, each already averaged over the global batch."""
        interaction_logits, mean, log_variance = self.vae(batch["interactions"], training=training)
        reconstruction = tf.nn.compute_average_loss(
            losses.multinomial_nll(interaction_logits, batch["interactions"]))
        kl = tf.nn.compute_average_loss(losses.gaussian_kl(mean, log_variance))
        alignment = tf.nn.compute_average_loss(losses.alignment_nll(
            self.alignment_logits(batch["reference"], batch["attribute"], batch["direction"]),
            batch["target"]))
        # Not a per-example loss: every replica computes it whole, so share it across replicas.
        sparsity = tf.nn.scale_regularization_loss(losses.sparsity_loss(
            self.attribute_encoder.word_activations(), self.target_sparsity))
        total = (reconstruction + self.beta * kl + self.alignment_weight * alignment
                 + self.sparsity_weight * sparsity)
        return {"loss": total, "reconstruction": reconstruction, "kl": kl,
                "alignment": alignment, "sparsity": sparsity}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.compute_losses(data, training=True)
        gradients = tape.gradient(terms["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        for name, value in terms.items():
            # Trackers average over steps; values are per-replica shares, so undo the scaling.
            self.loss_trackers[name].update_state(
                value * tf.distribute.get_strategy().num_replicas_in_sync)
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}

    def get_config(self):
        return {
            **super().get_config(),
            "num_items": self.num_items,
            "word_vectors": self.attribute_encoder.word_vectors.tolist(),
            "attribute_word_matrix": self.attribute_encoder.attribute_word_matrix.tolist(),
            "latent_dim": self.vae.latent_dim, "hidden_dims": list(self.vae.hidden_dims),
            "dropout_rate": self.vae.dropout_rate, "similarity": self.vae.similarity,
            "temperature": self.vae.temperature, "beta": self.beta,
            "alignment_weight": self.alignment_weight, "sparsity_weight": self.sparsity_weight,
            "target_sparsity": self.target_sparsity,
        }
