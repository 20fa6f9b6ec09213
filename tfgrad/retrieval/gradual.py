"""Gradual decoding: the whole walk chosen at once, so that it keeps the promise of "more t".

The greedy walk (`tfgrad.retrieval.walk.pick_distinct`, the paper's) takes each step's top
item on its own; nothing makes step n+1 more t than step n, nor keeps the other attributes
where the reference had them. Here every step's query keeps its top-K candidates from the same
batched search, and one path (one candidate per step) is chosen by dynamic programming
(Viterbi, O(N·K²) per walk, batched over walks, TensorFlow ops only so it runs inside the
exported signatures and the stock export).

Levels ℓ(i, t) ∈ [0, 1] are estimated levels of every item in every attribute (`tfgrad.levels`:
from the model and its training data, never the ground truth). For a walk from reference c_0
with signed attribute weights α (the asked attributes A: α_t ≠ 0; the others: α_t = 0), its
progress p(i) = Σ_{t∈A} α_t ℓ(i, t) / |A| and its span δ = max(mean_k p(final step's
candidate k) − p(c_0), MIN_SPAN) / N (where the last step's query points, in equal parts),
the path c_1..c_N maximises

    J = Σ_n  ŝ(c_n)
          − λ_even  · (p(c_n) − p(c_{n−1}) − δ)² / δ²
          − λ_drift · mean_{t∉A} (ℓ(c_n, t) − ℓ(c_0, t))²  / v
          − λ_jitter· mean_{t∉A} (ℓ(c_n, t) − ℓ(c_{n−1}, t))² / v

subject to p(c_n) > p(c_{n−1}) for every n (each step strictly further the asked way by the
estimate — this also makes the items distinct and never the reference). ŝ is the retrieval
score standardised per walk ((s − the step's best) / the walk's candidate score std), so the
weights mean the same for every model; v = 1/12, the variance of a uniform level, makes the
two others' terms unit-free. A candidate with an unknown (NaN) level is never picked. A walk
whose candidates admit no such path falls back to the greedy walk.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfgrad.config import option

DECODINGS = ("greedy", "gradual")
# A span below this is "no room to move": the evenness term then asks for small steps only.
MIN_SPAN = 0.05
UNIFORM_VARIANCE = 1.0 / 12.0


@dataclasses.dataclass(frozen=True)
class GradualSettings:
    """The gradual decoder's candidates and the weights of its objective (module docstring).

    Attributes:
      candidates: K, the top items kept from each step's query.
      evenness_weight: λ_even, how strongly steps keep equal increments of the asked level.
      drift_weight: λ_drift, the cost of other attributes' change from the reference.
      jitter_weight: λ_jitter, the cost of other attributes' change from step to step.
    """

    # Chosen on validation queries of the synthetic catalogue (benchmarks/gradual_tradeoff.py,
    # docs/RESULTS.md): the best MGS-C whose others' drift stays at or below greedy's.
    candidates: int = option(32, flag="gradual_candidates")
    evenness_weight: float = 1.0
    drift_weight: float = 1.0
    jitter_weight: float = 0.0

    def __post_init__(self):
        if self.candidates < 2:
            raise ValueError(f"gradual decoding needs at least 2 candidates per step, got "
                             f"{self.candidates}")
        for name in ("evenness_weight", "drift_weight", "jitter_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def as_tensor(self) -> tf.Tensor:
        """[3] the weights (λ_even, λ_drift, λ_jitter), the form the decoder takes them in."""
        return tf.constant([self.evenness_weight, self.drift_weight, self.jitter_weight],
                           tf.float32)


def configured_first(decoding: str, both: bool = True) -> tuple[str, ...]:
    """The configured decoding (a model's row, an export's default), then the other one if
    `both` (tables show both on the same queries)."""
    others = tuple(d for d in DECODINGS if d != decoding) if both else ()
    return (decoding,) + others


def path_terms(candidate_scores, candidate_levels, reference_levels, attribute_weights,
               valid):
    """The per-candidate terms of J (module docstring) for every walk.

    Args:
      candidate_scores: [B, N, K] retrieval scores.
      candidate_levels: [B, N, K, T] estimated levels of the candidates.
      reference_levels: [B, T] of the references.
      attribute_weights: [B, T] α.
      valid: [B, N, K] bool, candidates that may be picked (not padding, not the reference).

    Returns:
      (score [B, N, K] ŝ, progress [B, N, K] p, reference_progress [B] p(c_0), span [B] δ,
       others [B, N, K, T] and reference_others [B, T]: the levels scaled so that the squared
       distance between two rows is mean_{t∉A} (difference)² / v — asked columns are 0).
    """
    dtype = candidate_scores.dtype
    num_steps = tf.cast(tf.shape(candidate_scores)[1], dtype)
    asked = tf.cast(tf.not_equal(attribute_weights, 0.0), dtype)  # [B, T]
    num_asked = tf.maximum(tf.reduce_sum(asked, axis=1), 1.0)
    num_others = tf.maximum(tf.reduce_sum(1.0 - asked, axis=1), 1.0)

    valid_scores = tf.where(valid, candidate_scores, tf.zeros_like(candidate_scores))
    count = tf.maximum(tf.reduce_sum(tf.cast(valid, dtype), axis=[1, 2]), 1.0)
    mean = tf.reduce_sum(valid_scores, axis=[1, 2]) / count
    variance = tf.reduce_sum(tf.where(valid, tf.square(candidate_scores - mean[:, None, None]),
                                      0.0), axis=[1, 2]) / count
    best = tf.reduce_max(tf.where(valid, candidate_scores, -np.inf), axis=2, keepdims=True)
    best = tf.where(tf.math.is_finite(best), best, 0.0)
    score = (valid_scores - best) / (tf.sqrt(variance)[:, None, None] + 1e-6)

    progress = (tf.einsum("bnkt,bt->bnk", candidate_levels, attribute_weights)
                / num_asked[:, None, None])
    reference_progress = tf.einsum("bt,bt->b", reference_levels, attribute_weights) / num_asked
    final = tf.cast(valid[:, -1], dtype)
    final_progress = (tf.reduce_sum(progress[:, -1] * final, axis=1)
                      / tf.maximum(tf.reduce_sum(final, axis=1), 1.0))
    span = tf.maximum(final_progress - reference_progress, MIN_SPAN) / num_steps

    scale = (1.0 - asked) / tf.sqrt(num_others * UNIFORM_VARIANCE)[:, None]
    return (score, progress, reference_progress, span,
            candidate_levels * scale[:, None, None, :], reference_levels * scale)


def decode_gradual(candidate_scores, candidate_items, candidate_levels, reference_levels,
                   attribute_weights, reference, weights):
    """The best path of every walk (module docstring) by Viterbi over the steps.

    Args:
      candidate_scores: [B, N, K] best first per step.
      candidate_items: [B, N, K] int32, negative for an index's padding.
      candidate_levels: [B, N, K, T] estimated levels of the candidates.
      reference_levels: [B, T].
      attribute_weights: [B, T] α.
      reference: [B] int32 reference items (never picked).
      weights: [3] (λ_even, λ_drift, λ_jitter).

    Returns:
      (choice [B, N] int32 candidate position per step, found [B] bool: a path satisfying the
       progress constraint exists; where it does not, `choice` is meaningless).
    """
    weights = tf.cast(weights, tf.float32)
    candidate_levels = tf.cast(candidate_levels, tf.float32)
    reference_levels = tf.cast(reference_levels, tf.float32)
    known = tf.reduce_all(tf.math.is_finite(candidate_levels), axis=3)
    valid = (candidate_items >= 0) & (candidate_items != reference[:, None, None]) & known
    # NaN times a zero weight is still NaN: unknown levels become 0 after `valid` has them.
    candidate_levels = tf.where(known[..., None], candidate_levels, 0.0)
    score, progress, reference_progress, span, others, reference_others = path_terms(
        tf.cast(candidate_scores, tf.float32), candidate_levels, reference_levels,
        tf.cast(attribute_weights, tf.float32), valid)
    drift = tf.reduce_sum(tf.square(others - reference_others[:, None, None, :]), axis=3)
    unary = tf.where(valid, score - weights[1] * drift, -np.inf)

    def transition(previous_progress, previous_others, progress_now, others_now):
        """[B, J], [B, J, T], [B, K], [B, K, T] → [B, J, K] the pairwise term of a step from
        candidate j to candidate k: evenness, jitter, and the progress constraint."""
        increment = progress_now[:, None, :] - previous_progress[:, :, None]
        evenness = tf.square(increment / span[:, None, None] - 1.0)
        # ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b: a matmul instead of a [B, J, K, T] difference.
        jitter = tf.maximum(
            tf.reduce_sum(tf.square(previous_others), -1)[:, :, None]
            + tf.reduce_sum(tf.square(others_now), -1)[:, None, :]
            - 2.0 * tf.matmul(previous_others, others_now, transpose_b=True), 0.0)
        return tf.where(increment > 0.0, -weights[0] * evenness - weights[2] * jitter, -np.inf)

    first = unary[:, 0] + transition(reference_progress[:, None], reference_others[:, None],
                                     progress[:, 0], others[:, 0])[:, 0]

    def forward(carry, step):
        value, _ = carry
        previous_progress, previous_others, unary_now, progress_now, others_now = step
        total = value[:, :, None] + transition(previous_progress, previous_others,
                                               progress_now, others_now)
        return (unary_now + tf.reduce_max(total, axis=1),
                tf.argmax(total, axis=1, output_type=tf.int32))

    def one_step():
        return (tf.argmax(first, axis=1, output_type=tf.int32)[:, None],
                tf.math.is_finite(tf.reduce_max(first, axis=1)))

    def several_steps():
        steps_first_progress = tf.transpose(progress, [1, 0, 2])
        steps_first_others = tf.transpose(others, [1, 0, 2, 3])
        values, backpointers = tf.scan(
            forward, (steps_first_progress[:-1], steps_first_others[:-1],
                      tf.transpose(unary, [1, 0, 2])[1:], steps_first_progress[1:],
                      steps_first_others[1:]),
            initializer=(first, tf.zeros_like(first, tf.int32)))
        last = values[-1]  # [B, K]
        end = tf.argmax(last, axis=1, output_type=tf.int32)
        # backpointers[n] maps a step n+1 candidate to its step n predecessor.
        earlier = tf.scan(lambda position, back: tf.gather(back, position, batch_dims=1),
                          backpointers, initializer=end, reverse=True)
        return (tf.concat([tf.transpose(earlier), end[:, None]], axis=1),
                tf.math.is_finite(tf.reduce_max(last, axis=1)))

    # A graph cannot stack the scans' outputs over zero steps: one step needs no recursion.
    return tf.cond(tf.shape(unary)[1] > 1, several_steps, one_step)
