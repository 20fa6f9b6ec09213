"""Pure TensorFlow losses for CGIR and the recommenders built beside it.

Every function takes and returns tensors, has no Keras state and does no Python-side
conversion, so it runs eagerly, inside `tf.function` and inside `strategy.run`.

Per-example losses return one value per example ([B]) and leave the reduction across the
batch to the caller: under `tf.distribute`, reduce them with
`tf.nn.compute_average_loss(per_example, global_batch_size=...)` so that the gradients the
optimizer sums across replicas are scaled correctly. The sparsity losses are the exception:
they are statistics *of a batch of words* (a mean activation), so they return a scalar for the
batch they are given, and the caller scales it (e.g. by `1 / num_replicas_in_sync`).

Equations are those of /work/shared/design/CGIR.md, section "Model".
"""

import tensorflow as tf

__all__ = [
    "multinomial_nll",
    "gaussian_kl",
    "alignment_nll",
    "average_sparsity_loss",
    "partial_sparsity_loss",
    "sparsity_loss",
    "bpr_loss",
]


def multinomial_nll(logits, interactions):
    """Multinomial negative log-likelihood of a user's interactions (Mult-VAE reconstruction).

    CGIR.md, Model part 1: the decoder is a softmax over all items, and the loss term is

        nll_u = −Σ_j x_uj · log softmax(logits_u)_j

    Items with x_uj = 0 contribute exactly 0, even if their logit is −inf (masked items).

    Args:
      logits: float tensor [B, M], the decoder scores s(z_u, h_j) of every item for each user.
      interactions: tensor [B, M], the interactions x_u (0/1 or counts); cast to the dtype of
        `logits`.

    Returns:
      Float tensor [B], the negative log-likelihood of each user's interactions.
    """
    logits = tf.convert_to_tensor(logits)
    interactions = tf.cast(interactions, logits.dtype)
    log_probabilities = tf.nn.log_softmax(logits, axis=-1)
    # multiply_no_nan gives 0 where x_uj == 0, so a −inf log-probability of a masked,
    # non-interacted item cannot turn the sum into NaN.
    return -tf.reduce_sum(tf.math.multiply_no_nan(log_probabilities, interactions), axis=-1)


def gaussian_kl(mean, log_variance):
    """KL divergence of a diagonal Gaussian from the standard normal prior.

    CGIR.md, Model part 1 (the user KL term, weighted by β outside this function):

        KL(N(μ, diag(exp(lv))) ‖ N(0, I)) = 0.5 · Σ_d (exp(lv_d) + μ_d² − 1 − lv_d)

    Args:
      mean: float tensor [B, D], the posterior means μ_u.
      log_variance: float tensor [B, D], the posterior log-variances log σ²_u.

    Returns:
      Float tensor [B], the KL divergence of each example (0 when μ = 0 and lv = 0).
    """
    mean = tf.convert_to_tensor(mean)
    log_variance = tf.cast(log_variance, mean.dtype)
    return 0.5 * tf.reduce_sum(
        tf.exp(log_variance) + tf.square(mean) - 1.0 - log_variance, axis=-1
    )


def alignment_nll(logits, targets):
    """Negative log-likelihood of the target item under the modified query (alignment loss).

    CGIR.md, Model part 3 (the paper's eq. 6, maximised there): with q = h_i + γ Σ_t y_t F(t),
    p(i' | i, y) = softmax_j ⟨h_j, q⟩, and the loss minimised is

        align = −log softmax(logits)[i']

    Args:
      logits: float tensor [B, M], the scores ⟨h_j, q⟩ of every item j for each modified query.
      targets: int32 or int64 tensor [B], the target item i' of each query, in [0, M). Out-of-range
        targets raise on CPU but silently give NaN on GPU (a property of the underlying op), so
        validate ids where they are read.

    Returns:
      Float tensor [B], −log p(i' | i, y) for each query.
    """
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)


def average_sparsity_loss(activations, target_sparsity):
    """Average sparsity loss (ASL) of SPINE over a batch of word activations.

    CGIR.md, Model part 2:

        ASL = Σ_d max(mean_{w ∈ W_b} f_d(w) − ρ, 0)²

    A dimension is penalised only when its mean activation over the batch exceeds ρ.

    Args:
      activations: float tensor [W, D], the word activations f(w) ∈ [0, 1] of a batch of W words.
      target_sparsity: ρ, a Python float or scalar tensor (≈ 0.05–0.15).

    Returns:
      Float scalar tensor, the ASL of this batch (a batch statistic, not a per-example loss).
    """
    activations = tf.convert_to_tensor(activations)
    target_sparsity = tf.cast(target_sparsity, activations.dtype)
    mean_activation = tf.reduce_mean(activations, axis=0)  # [D]
    return tf.reduce_sum(tf.square(tf.nn.relu(mean_activation - target_sparsity)))


def partial_sparsity_loss(activations):
    """Partial sparsity loss (PSL) of SPINE: pushes every activation towards 0 or 1.

    CGIR.md, Model part 2:

        PSL = mean_{w ∈ W_b} Σ_d f_d(w) (1 − f_d(w))

    Args:
      activations: float tensor [W, D], the word activations f(w) ∈ [0, 1] of a batch of W words.

    Returns:
      Float scalar tensor, the PSL of this batch (0 for binary activations).
    """
    activations = tf.convert_to_tensor(activations)
    return tf.reduce_mean(tf.reduce_sum(activations * (1.0 - activations), axis=-1))


def sparsity_loss(activations, target_sparsity):
    """SPINE sparsity loss SL = ASL + PSL (CGIR.md, Model part 2).

    Args:
      activations: float tensor [W, D], the word activations f(w) ∈ [0, 1] of a batch of W words.
      target_sparsity: ρ, a Python float or scalar tensor (≈ 0.05–0.15).

    Returns:
      Float scalar tensor, `average_sparsity_loss + partial_sparsity_loss` of this batch.
    """
    return average_sparsity_loss(activations, target_sparsity) + partial_sparsity_loss(
        activations
    )


def bpr_loss(positive_scores, negative_scores):
    """Bayesian personalised ranking loss (used by DVBPR).

        bpr = −log σ(s⁺ − s⁻) = softplus(s⁻ − s⁺)

    The softplus form is exact and never overflows: a large positive margin gives ≈ 0, a large
    negative margin gives ≈ |margin| instead of inf.

    Args:
      positive_scores: float tensor [B], the scores of the positive (interacted) items.
      negative_scores: float tensor [B], the scores of the sampled negative items.

    Returns:
      Float tensor [B], the BPR loss of each (positive, negative) pair.
    """
    positive_scores = tf.convert_to_tensor(positive_scores)
    negative_scores = tf.cast(negative_scores, positive_scores.dtype)
    return tf.nn.softplus(negative_scores - positive_scores)
