"""CGIR: controllable gradient item retrieval (CGIR.md; seeds 000 and 001).

L = recon + β·KL + λ_align·align + λ_sparse·SL (+ λ_ord·ordinal, beyond the paper; 0 by
default), trained end to end by `train_step`.
The composer is the linear q = h_i + γ Σ_t y_t F(t) (`RetrievalModel`'s default): no
non-linearity between h_i and F(t), so a walk's γ steps are one matmul.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.base import RetrievalModel
from tfgrad.models.candidate_sampler import SOFTMAXES, CandidateSampler
from tfgrad.models.interaction_vae import InteractionVAE
from tfgrad.models.sparse_attributes import SparseAttributeEncoder


@keras.saving.register_keras_serializable(package="tfgrad")
class CGIR(RetrievalModel):
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
      ordinal_weight: λ_ord of the pairwise ordinal term on the triples (`losses.ordinal_nll`),
        which makes the projection on F(t) order items as the triples do; 0 is the paper's
        objective.
      softmax: "full" (every item in the reconstruction's and the alignment's softmax) or
        "sampled" (the users' items, the triple's target and `num_sampled` drawn items, log-Q
        corrected: `losses.sampled_multinomial_nll`), for catalogues too large to score whole
        each step.
      num_sampled: S, the items drawn per step (sampled softmax).
      proposal: Q of the draws, "uniform" or "popularity" (sampled softmax).
      proposal_power: α of the popularity proposal, Q(j) ∝ (count_j + 1)^α.
      item_counts: [M] the items' interaction counts in the training data (the popularity
        proposal's).
    """

    LOSS_NAMES = ("loss", "reconstruction", "kl", "alignment", "sparsity", "ordinal")
    uses_user_batches = True

    def __init__(self, num_items: int, word_vectors, attribute_word_matrix,
                 latent_dim: int = 64, hidden_dims: Sequence[int] = (256,),
                 dropout_rate: float = 0.5, similarity: str = "cosine",
                 temperature: float = 0.1, beta: float = 0.2, alignment_weight: float = 1.0,
                 sparsity_weight: float = 0.1, target_sparsity: float = 0.1,
                 ordinal_weight: float = 0.0, softmax: str = "full", num_sampled: int = 1024,
                 proposal: str = "uniform", proposal_power: float = 1.0, item_counts=None,
                 **kwargs):
        super().__init__(temperature=temperature, **kwargs)
        self.vae = InteractionVAE(num_items, latent_dim, hidden_dims, dropout_rate,
                                  similarity, temperature, name="interaction_vae")
        self.attribute_encoder = SparseAttributeEncoder(
            word_vectors, attribute_word_matrix, latent_dim, name="sparse_attribute_encoder")
        self.beta = beta
        self.alignment_weight = alignment_weight
        self.sparsity_weight = sparsity_weight
        self.target_sparsity = target_sparsity
        self.ordinal_weight = ordinal_weight
        if softmax not in SOFTMAXES:
            raise ValueError(f"softmax must be one of {SOFTMAXES}, got {softmax!r}")
        self.softmax = softmax
        self.candidate_sampler = None if softmax == "full" else CandidateSampler(
            num_items, num_sampled, proposal, item_counts, proposal_power,
            name="candidate_sampler")
        # Kept for the config: the sampler only exists for a sampled softmax.
        self.num_sampled, self.proposal, self.proposal_power = (
            num_sampled, proposal, proposal_power)
        self.item_counts = None if item_counts is None else np.asarray(item_counts, np.int64)

    @property
    def num_items(self) -> int:
        return self.vae.num_items

    @property
    def num_attributes(self) -> int:
        return self.attribute_encoder.attribute_word_matrix.shape[0]

    def build(self, input_shape=None):
        self.vae.build((None, self.num_items))
        self.attribute_encoder.build()
        if self.candidate_sampler is not None:
            self.candidate_sampler.build()
        self.built = True

    def item_vectors(self) -> tf.Tensor:
        return self.vae.item_vectors()

    def attribute_vectors(self, word_vectors=None, attribute_word_matrix=None) -> tf.Tensor:
        """[T, D] F(t); other attribute strings' F through their words if given."""
        if word_vectors is None:
            return self.attribute_encoder()
        return self.attribute_encoder.encode(word_vectors, attribute_word_matrix)

    def scale(self, scores: tf.Tensor) -> tf.Tensor:
        return self.vae.scale(scores)

    def call(self, inputs, training=False):
        interaction_logits, _, _ = self.vae(inputs["interactions"], training=training)
        return {
            "interaction_logits": interaction_logits,
            "alignment_logits": self.alignment_logits(
                inputs["reference"], inputs["attribute"], inputs["direction"]),
        }

    def compute_losses(self, batch, training: bool = False) -> dict[str, tf.Tensor]:
        """The objective's terms, each already averaged over the global batch."""
        likelihoods = (self.full_likelihoods if self.candidate_sampler is None
                       else self.sampled_likelihoods)
        reconstructions, alignments, mean, log_variance = likelihoods(batch, training)
        reconstruction = tf.nn.compute_average_loss(reconstructions)
        kl = tf.nn.compute_average_loss(losses.gaussian_kl(mean, log_variance))
        alignment = tf.nn.compute_average_loss(alignments)
        # Not a per-example loss: every replica computes it whole, so share it across replicas.
        sparsity = tf.nn.scale_regularization_loss(losses.sparsity_loss(
            self.attribute_encoder.word_activations(), self.target_sparsity))
        ordinal = tf.nn.compute_average_loss(self.ordinal_losses(
            batch["reference"], batch["attribute"], batch["direction"], batch["target"]))
        total = (reconstruction + self.beta * kl + self.alignment_weight * alignment
                 + self.sparsity_weight * sparsity + self.ordinal_weight * ordinal)
        return {"loss": total, "reconstruction": reconstruction, "kl": kl,
                "alignment": alignment, "sparsity": sparsity, "ordinal": ordinal}

    def full_likelihoods(self, batch, training: bool):
        """The reconstruction [B_u] and alignment [B_t] NLLs over every item, and the users'
        posteriors (mean, log_variance), each [B_u, D]."""
        interaction_logits, mean, log_variance = self.vae(batch["interactions"], training=training)
        reconstruction = losses.multinomial_nll(interaction_logits, batch["interactions"])
        alignment = losses.alignment_nll(
            self.alignment_logits(batch["reference"], batch["attribute"], batch["direction"]),
            batch["target"])
        return reconstruction, alignment, mean, log_variance

    def sampled_likelihoods(self, batch, training: bool):
        """`full_likelihoods` with each softmax over its positives and one shared draw of
        S items (`losses.sampled_multinomial_nll`): only those items' vectors are touched."""
        interactions = batch["interactions"]
        user, mean, log_variance = self.vae.user_vectors(interactions, training=training)
        sampled, log_expected_counts = self.candidate_sampler.sample()
        sampled_vectors = self.vae.item_vectors(sampled)  # [S, D]

        pairs = tf.where(interactions > 0)  # [N, 2] (row, item) of every positive
        rows, items = pairs[:, 0], pairs[:, 1]
        reconstruction = losses.sampled_multinomial_nll(
            self.scale(tf.reduce_sum(tf.gather(user, rows) * self.vae.item_vectors(items),
                                     axis=-1)),
            tf.gather_nd(interactions, pairs), rows,
            self.scale(tf.matmul(user, sampled_vectors, transpose_b=True)),
            log_expected_counts, tf.gather(interactions, sampled, axis=1) > 0)

        reference, target = batch["reference"], batch["target"]
        queries = self.compose_queries(self.vae.item_vectors(reference), self.modifications(
            batch["attribute"], batch["direction"]))
        target_logits = self.scale(tf.reduce_sum(queries * self.vae.item_vectors(target),
                                                 axis=-1))
        # The reference is masked out of the full softmax: a draw of it leaves the estimate.
        sampled = tf.cast(sampled, reference.dtype)[None, :]
        alignment = losses.sampled_multinomial_nll(
            target_logits, tf.ones_like(target_logits), tf.range(tf.shape(target)[0]),
            self.scale(tf.matmul(queries, sampled_vectors, transpose_b=True)),
            log_expected_counts,
            (sampled == target[:, None]) | (sampled == reference[:, None]))
        return reconstruction, alignment, mean, log_variance

    def ordinal_losses(self, reference, attribute, direction, target) -> tf.Tensor:
        """[B] `losses.ordinal_nll` of the triples on the items' scores along F(t)."""
        codes = tf.gather(self.attribute_vectors(), attribute)

        def scores(item):
            # Gathered, not the whole table: a step touches only its triples' items.
            return self.scale(tf.reduce_sum(self.vae.item_vectors(item) * codes, axis=-1))
        return losses.ordinal_nll(scores(reference), scores(target), direction)

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
            "target_sparsity": self.target_sparsity, "ordinal_weight": self.ordinal_weight,
            "softmax": self.softmax, "num_sampled": self.num_sampled, "proposal": self.proposal,
            "proposal_power": self.proposal_power,
            "item_counts": None if self.item_counts is None else self.item_counts.tolist(),
        }

