"""Pure TensorFlow losses for CGIR and the recommenders built beside it.

Every function takes and returns tensors, has no Keras state and does no Python-side
conversion, so it runs eagerly, inside `tf.function` and inside `strategy.run`.

Per-example losses return one value per example ([B]) and leave the reduction across the
batch to the caller: under `tf.distribute`, reduce them with
`tf.nn.compute_average_loss(per_example, global_batch_size=...)` so that the gradients the
optimizer sums across replicas are scaled correctly. The sparsity losses are the exception:
they are statistics *of a batch of words* (a mean activation), so they return a scalar for the
batch they are given, and the caller scales it (e.g. by `1 / num_replicas_in_sync`).

Equations are those of /work/shared/design/CGIR.md, section "Model", and DVBPR.md.
"""

import tensorflow as tf

# A left-out candidate's logit: far below any real one, finite so that gradients stay finite.
MASKED_LOGIT = -1e9

__all__ = [
    "multinomial_nll",
    "sampled_multinomial_nll",
    "gaussian_kl",
    "alignment_nll",
    "average_sparsity_loss",
    "partial_sparsity_loss",
    "sparsity_loss",
    "bpr_loss",
    "warp_loss",
    "binary_matching_loss",
    "batch_softmax_loss",
    "label_space_loss",
    "invariance_loss",
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


def sampled_multinomial_nll(positive_logits, positive_counts, positive_rows, sampled_logits,
                            sampled_log_expected_counts, accidental_hits):
    """`multinomial_nll` with the softmax's normaliser estimated from sampled items, log-Q
    corrected (Bengio & Senécal 2008; Jean et al. 2015; Yi et al. 2019).

    CGIR.md: "full softmax for small M, sampled softmax with log-Q correction for large M". With
    P_u the items of row u (x_uj > 0, always candidates) and S items s drawn from a proposal Q
    (with replacement; E[count_s] = S·Q(s)), the normaliser Z_u = Σ_j exp(l_uj) is estimated by

        Ẑ_u = Σ_{j ∈ P_u} exp(l_uj) + Σ_s 1[s ∉ P_u] · exp(l_us − log E[count_s])

    which is unbiased for Z_u (the second sum is an importance-sampling estimate of the items
    outside P_u; a draw that hits P_u is dropped, not counted twice), and

        nll_u ≈ −Σ_{j ∈ P_u} x_uj · (l_uj − log Ẑ_u).

    With every item drawn exactly once (E[count] = 1) Ẑ_u = Z_u and this is `multinomial_nll`.
    One positive per row is the sampled form of a categorical NLL (`alignment_nll`); items the
    full softmax leaves out (a masked reference) are marked as hits too.

    Positives come as one flat list with their rows (users have very different numbers of
    items: padding every row to the longest would cost more than the softmax saved).

    Args:
      positive_logits: float tensor [N], the logit l_uj of each (row u, item j ∈ P_u) pair.
      positive_counts: tensor [N], x_uj of those pairs.
      positive_rows: int tensor [N], u of each pair, in [0, B).
      sampled_logits: float tensor [B, S], the logits of the sampled items for each row.
      sampled_log_expected_counts: float tensor [S] (or [B, S]), log(S·Q(s)) of each draw.
      accidental_hits: bool tensor [B, S], true where a draw is one of the row's positives
        (or an item the full softmax leaves out); such draws leave the normaliser.

    Returns:
      Float tensor [B], the estimated negative log-likelihood of each row (0 for a row with no
      positives).
    """
    positive_logits = tf.convert_to_tensor(positive_logits)
    dtype = positive_logits.dtype
    positive_counts = tf.cast(positive_counts, dtype)
    sampled_logits = tf.cast(sampled_logits, dtype)
    rows = tf.shape(sampled_logits)[0]
    corrected = tf.where(accidental_hits, tf.cast(MASKED_LOGIT, dtype),
                         sampled_logits - tf.cast(sampled_log_expected_counts, dtype))
    # log Ẑ_u by a per-row max shift, positives (segments of the flat list) and draws alike.
    shift = tf.stop_gradient(tf.maximum(
        tf.math.unsorted_segment_max(positive_logits, positive_rows, rows),
        tf.reduce_max(corrected, axis=-1)))
    normaliser = (tf.math.unsorted_segment_sum(
        tf.exp(positive_logits - tf.gather(shift, positive_rows)), positive_rows, rows)
        + tf.reduce_sum(tf.exp(corrected - shift[:, None]), axis=-1))
    log_normaliser = shift + tf.math.log(normaliser)
    return -(tf.math.unsorted_segment_sum(positive_counts * positive_logits, positive_rows, rows)
             - tf.math.unsorted_segment_sum(positive_counts, positive_rows, rows)
             * log_normaliser)


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


def ordinal_nll(reference_scores, target_scores, directions):
    """Pairwise ordinal term on the training triples (issue 15: levels the walk can follow).

    A triple (i, t, y, i') says i' has more (y = +1) or less (y = −1) of t than i. With
    s(j, t) = ⟨h_j, F(t)⟩ / τ, the item's score on the attribute's code,

        ordinal = −log σ(y · (s(i', t) − s(i, t)))

    so that the projection on F(t) orders items as the triples do: the walk's estimated levels.

    Args:
      reference_scores: float tensor [B], s(i, t) of each triple's reference.
      target_scores: float tensor [B], s(i', t) of its target.
      directions: tensor [B] of ±1, y.

    Returns:
      Float tensor [B], the per-triple loss.
    """
    signs = tf.cast(directions, target_scores.dtype)
    return tf.nn.softplus(-signs * (target_scores - reference_scores))


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


def warp_loss(positive_scores, negative_scores, num_items):
    """WARP (weighted approximate-rank pairwise) loss, with Q negatives sampled at once.

    The first sampled negative that violates the margin, s⁻ > s⁺ − 1, found after n draws,
    estimates the positive's rank as r = ⌊(M − 1) / n⌋; the hinge on that negative is weighted
    by L(r) = Σ_{k=1}^{r} 1/k, so positives ranked low get large updates:

        warp = L(r) · max(0, 1 − s⁺ + s⁻_first)

    and 0 when no sampled negative violates the margin. L(r) is computed as ψ(r + 1) + γ_Euler
    and carries no gradient.

    Args:
      positive_scores: float tensor [B].
      negative_scores: float tensor [B, Q], scores of Q sampled negatives (in draw order).
      num_items: M, the number of items a positive is ranked among.

    Returns:
      Float tensor [B].
    """
    positive_scores = tf.convert_to_tensor(positive_scores)
    negative_scores = tf.cast(negative_scores, positive_scores.dtype)
    hinges = 1.0 - positive_scores[:, None] + negative_scores
    violates = hinges > 0
    first = tf.argmax(tf.cast(violates, tf.int32), axis=1, output_type=tf.int32)
    any_violation = tf.reduce_any(violates, axis=1)
    draws = tf.cast(first + 1, positive_scores.dtype)
    rank = tf.floor((tf.cast(num_items, positive_scores.dtype) - 1.0) / draws)
    weight = tf.stop_gradient(tf.math.digamma(rank + 1.0) + 0.5772156649015329)
    hinge = tf.gather(hinges, first, batch_dims=1)
    return tf.where(any_violation, weight * hinge, tf.zeros_like(hinge))


def binary_matching_loss(positive_logits, negative_logits):
    """CBIR's matching loss: binary cross-entropy of a matching (query, target) pair labelled 1
    and K non-matching pairs labelled 0, averaged over the 1 + K pairs.

    Args:
      positive_logits: [B] logit of each query against its target.
      negative_logits: [B, K] logits against K sampled other items.

    Returns:
      [B] per-example losses (softplus(-s+) + Σ_k softplus(s-_k)) / (1 + K).
    """
    positive = tf.nn.softplus(-positive_logits)
    negative = tf.reduce_sum(tf.nn.softplus(negative_logits), axis=-1)
    count = tf.cast(tf.shape(negative_logits)[-1] + 1, positive.dtype)
    return (positive + negative) / count


def batch_softmax_loss(queries, targets, scale):
    """TIRG's ranking loss: each query's softmax over the batch's targets, its own the label.

    Args:
      queries: [B, D] composed queries.
      targets: [B, D] their targets' vectors.
      scale: logit scale (1/τ).

    Returns:
      [B] -log softmax_b(scale · q_b · t_b') at b' = b.
    """
    logits = scale * tf.matmul(queries, targets, transpose_b=True)
    labels = tf.range(tf.shape(queries)[0])
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def label_space_loss(predicted_labels, labels):
    """DSCMR's label-space loss ‖Pᵀu - y‖²: a shared linear classifier P maps common-space
    vectors to the label space, where they should reproduce the item's tags.

    Args:
      predicted_labels: [B, T] Pᵀu.
      labels: [B, T] the tags y (0/1).

    Returns:
      [B] per-example squared errors.
    """
    return tf.reduce_sum(tf.square(predicted_labels - labels), axis=-1)


def invariance_loss(first, second):
    """DSCMR's cross-modal invariance ‖u - v‖²: the two modalities' vectors of the same item
    should coincide in the common space. [B, D], [B, D] -> [B]."""
    return tf.reduce_sum(tf.square(first - second), axis=-1)


def lsgan_discriminator_loss(real_scores, fake_scores):
    """The conditional LSGAN's discriminator loss (DVBPR.md, "Design: conditional LSGAN").

    With L_real(x, c) = (D(x, c) − 1)² and L_fake(x, c) = D(x, c)², D minimises
    E[L_real(x, c)] + E[L_fake(G(z, c), c)]; example b pairs the b-th real photo with the b-th
    generated one:

        loss_b = (D(x_b, c_b) − 1)² + D(G(z_b, c_b), c_b)²

    The scores are D's linear outputs (no sigmoid): least squares pull real scores to 1 and
    fake ones to 0. (The authors' code halves this sum; DVBPR.md does not, nor do we.)

    Args:
      real_scores: float tensor [B], D(x, c) of real photos.
      fake_scores: float tensor [B], D(G(z, c), c) of generated images.

    Returns:
      Float tensor [B], the per-example loss.
    """
    real_scores = tf.convert_to_tensor(real_scores)
    fake_scores = tf.cast(fake_scores, real_scores.dtype)
    return tf.square(real_scores - 1.0) + tf.square(fake_scores)


def lsgan_generator_loss(fake_scores):
    """The conditional LSGAN's generator loss: G minimises E[L_real(G(z, c), c)] (DVBPR.md),
    i.e. it wants D to score its images as real:

        loss_b = (D(G(z_b, c_b), c_b) − 1)²

    Args:
      fake_scores: float tensor [B], D(G(z, c), c) of generated images.

    Returns:
      Float tensor [B], the per-example loss.
    """
    fake_scores = tf.convert_to_tensor(fake_scores)
    return tf.square(fake_scores - 1.0)


__all__ += ["lsgan_discriminator_loss", "lsgan_generator_loss"]


def gaussian_kl_to_standard_normal(codes):
    """AGE's divergence of a batch of codes from Y = N(0, I) (AGE.md): the Gaussian fitted per
    dimension j to the batch (mean μ_j, standard deviation σ_j) against N(0, 1), summed over
    the dimensions:

        KL = Σ_j ( (μ_j² + σ_j²)/2 − log σ_j − 1/2 )

    The authors' code (DmitryUlyanov/AGE, `KLN01Loss`) squares the *variance* where σ_j² belongs
    and takes log of the variance for log σ_j, and averages over j instead of summing; this is
    the closed-form KL of the Gaussian (the sum only rescales λ and μ by d).

    Args:
      codes: float tensor [B, d], B ≥ 2 (σ is the batch's population standard deviation).

    Returns:
      Float scalar.
    """
    codes = tf.convert_to_tensor(codes)
    mean, variance = tf.nn.moments(codes, axes=[0])
    # log σ = ½ log σ²; the floor keeps a collapsed dimension finite (and heavily penalised).
    log_std = 0.5 * tf.math.log(tf.maximum(variance, 1e-12))
    return tf.reduce_sum((tf.square(mean) + variance) / 2.0 - log_std - 0.5)


def age_divergence(generated_codes, real_codes):
    """V(g, e) = KL(e(g(Z)) ‖ Y) − KL(e(X) ‖ Y) (AGE.md): the generator minimises it, the encoder
    maximises it (it wants real codes near Y and generated codes far from it).

    Args:
      generated_codes: float tensor [B, d], e(g(z)).
      real_codes: float tensor [B', d], e(x).

    Returns:
      Float scalar.
    """
    return (gaussian_kl_to_standard_normal(generated_codes)
            - gaussian_kl_to_standard_normal(real_codes))


def l1_reconstruction_loss(images, reconstructions):
    """L_X = E‖x − g(e(x))‖₁ (AGE.md, data space), the mean absolute error per pixel and channel.

    Args:
      images, reconstructions: float tensors [B, H, W, C] in the same range.

    Returns:
      Float tensor [B], per image.
    """
    images = tf.convert_to_tensor(images)
    reconstructions = tf.cast(reconstructions, images.dtype)
    return tf.reduce_mean(tf.abs(images - reconstructions), axis=[1, 2, 3])


def cosine_latent_loss(latents, reconstructed_latents):
    """L_Z = E‖z − e(g(z))‖² on the unit sphere (AGE.md), as the cosine distance 1 − z·ẑ (for
    unit vectors ‖z − ẑ‖² = 2(1 − z·ẑ): the same up to a factor 2).

    Args:
      latents, reconstructed_latents: float tensors [B, d]; normalised here.

    Returns:
      Float tensor [B] in [0, 2].
    """
    latents = tf.math.l2_normalize(tf.convert_to_tensor(latents), axis=-1)
    reconstructed = tf.math.l2_normalize(tf.cast(reconstructed_latents, latents.dtype), axis=-1)
    return 1.0 - tf.reduce_sum(latents * reconstructed, axis=-1)


__all__ += ["gaussian_kl_to_standard_normal", "age_divergence", "l1_reconstruction_loss",
            "cosine_latent_loss"]


def semi_hard_triplet_loss(labels, embeddings, margin):
    """ADDE's label triplet loss (ADDE.md; the authors' `TripletSemiHardLoss`): for every
    anchor a and positive p of the batch (another row with the same whole label vector), the
    semi-hard negative n — the nearest row of another label vector farther from a than p is,
    or, when there is none, the farthest such row — and

        L = mean over (a, p) of max(0, margin + D(a, p) − D(a, n)).

    D is the *squared* Euclidean distance, as in the authors' port of TensorFlow Addons'
    semi-hard loss (Addons' own default is the distance itself).

    Args:
      labels: int tensor [B, A] (or [B]): rows with equal vectors are positives.
      embeddings: float tensor [B, D], L2-normalised by the caller.
      margin: float.

    Returns:
      Float scalar (0 when the batch has no positive pair); a statistic of the batch.
    """
    embeddings = tf.convert_to_tensor(embeddings)
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == 1:
        labels = labels[:, None]
    squared = tf.reduce_sum(tf.square(embeddings), axis=1)
    distances = tf.maximum(squared[:, None] - 2.0 * tf.matmul(embeddings, embeddings,
                                                               transpose_b=True)
                           + squared[None, :], 0.0)
    size = tf.shape(embeddings)[0]
    distances = distances * (1.0 - tf.eye(size, dtype=distances.dtype))
    same = tf.reduce_all(tf.equal(labels[:, None, :], labels[None, :, :]), axis=-1)
    positives = tf.logical_and(same, tf.logical_not(tf.eye(size, dtype=tf.bool)))
    negatives = tf.logical_not(same)
    # [a, p, n]: n is a negative of a farther from a than p is.
    farther = tf.logical_and(negatives[:, None, :],
                             distances[:, None, :] > distances[:, :, None])
    large = tf.reduce_max(distances) + 1.0
    nearest_farther = tf.reduce_min(tf.where(farther, distances[:, None, :], large), axis=2)
    farthest = tf.reduce_max(tf.where(negatives, distances, 0.0), axis=1)
    semi_hard = tf.where(tf.reduce_any(farther, axis=2), nearest_farther, farthest[:, None])
    losses = tf.maximum(margin + distances - semi_hard, 0.0)
    mask = tf.cast(positives, distances.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * mask), tf.reduce_sum(mask))


def triplet_margin_loss(anchors, positives, negatives, margin):
    """ADDE's manipulation triplet loss (PyTorch's `TripletMarginLoss`, as the authors use it):
    max(0, ‖a − p‖ − ‖a − n‖ + margin), Euclidean distances.

    Args:
      anchors, positives, negatives: float tensors [B, D].
      margin: float.

    Returns:
      Float tensor [B].
    """
    anchors = tf.convert_to_tensor(anchors)

    def distance(others):
        return tf.sqrt(tf.reduce_sum(tf.square(anchors - others), axis=1) + 1e-12)

    return tf.maximum(distance(positives) - distance(negatives) + margin, 0.0)


def masked_cross_entropy(labels, logits):
    """Softmax cross-entropy averaged over the rows whose label is known (-1: missing, as
    PyTorch's `ignore_index=-1`); 0 when none is.

    Args:
      labels: int tensor [B], -1 where unknown.
      logits: float tensor [B, V].

    Returns:
      Float scalar; a statistic of the batch.
    """
    labels = tf.convert_to_tensor(labels)
    known = labels >= 0
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.where(known, labels, tf.zeros_like(labels)), logits=logits)
    weights = tf.cast(known, losses.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * weights), tf.reduce_sum(weights))


def off_block_l1(memory, block_mask):
    """ADDE's memory-block regulariser: Σ |M ∘ (1 − B)|, the L1 norm of the memory matrix
    outside its attribute blocks (B is 1 where a value's prototype may live).

    Args:
      memory: float tensor [ΣV, D] (row = one attribute value's prototype).
      block_mask: same shape, 1 inside the blocks, 0 outside.

    Returns:
      Float scalar.
    """
    memory = tf.convert_to_tensor(memory)
    return tf.reduce_sum(tf.abs(memory * (1.0 - tf.cast(block_mask, memory.dtype))))


def consistency_l1(prototypes, representations):
    """ADDE's consistency loss: mean |p(labels) − f| per example, between the memory block's
    prototype representation of an item's labels and the item's (or a manipulated query's)
    representation (the authors' `F.l1_loss`, a mean over the dimensions).

    Args:
      prototypes, representations: float tensors [B, D].

    Returns:
      Float tensor [B].
    """
    prototypes = tf.convert_to_tensor(prototypes)
    return tf.reduce_mean(tf.abs(prototypes - tf.cast(representations, prototypes.dtype)),
                          axis=1)


__all__ += ["semi_hard_triplet_loss", "triplet_margin_loss", "masked_cross_entropy",
            "off_block_l1", "consistency_l1"]
