"""Walk-aware search: the top-k of every step of a walk from a few searches, not one per step.

A walk's N queries lie near one segment (q_n = h + γ_n·d for a linear move). Searching every
step costs N searches; here only a few anchor steps are searched (the two ends by default),
with a wider top-w each, and the union of their candidates is rescored exactly for every step.

Why that is the exact answer where it says so (a certificate, per step): let c_a be the w-th
best score an anchor's search returned, and write step n, which lies between anchors a and b,
as q_n = (1 − t)·q_a + t·q_b + r_n with t ∈ [0, 1] (the least-squares t; r_n = 0 for a linear
move, up to rounding). Any item v that neither anchor returned scores below both c_a and c_b
there, so

    ⟨q_n, v⟩ ≤ (1 − t)·c_a + t·c_b + ‖r_n‖·max‖v‖  =: bound_n.

If the k-th best rescored candidate of step n scores at least bound_n, no item outside the
candidates can enter step n's top-k: the step is covered. Steps that are not covered (a walk
that leaves the anchors' neighbourhoods, a move that is not linear in γ) are searched on
their own, so the result is always what searching every step would give — exactly so for
brute force, and as far as the index's own search of the anchors is exact for ScaNN.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Rescored scores and the index's differ by float32 rounding (≈ D·ε·‖q‖·‖v‖); a bound this
# much stricter keeps rounding from certifying a step that is not covered.
ROUNDING_SLACK = 1e-5


def anchor_steps(num_steps: tf.Tensor, num_anchors: int) -> tf.Tensor:
    """[P] the searched steps: `num_anchors` steps spread evenly from the first to the last."""
    num_anchors = tf.minimum(num_anchors, num_steps)
    positions = tf.linspace(0.0, tf.cast(num_steps - 1, tf.float32), num_anchors)
    return tf.cast(tf.round(positions), tf.int32)


def step_bounds(queries: tf.Tensor, anchors: tf.Tensor, anchor_thresholds: tf.Tensor,
                max_item_norm: tf.Tensor) -> tf.Tensor:
    """[B, N] the score no item outside the anchors' candidates can exceed at each step
    (+inf where a step is not between its anchors on their segment, so it is never covered).

    Args:
      queries: [B, N, D].
      anchors: [P] increasing step indices, the first 0 and the last N − 1.
      anchor_thresholds: [B, P] the w-th best score of each anchor's search.
      max_item_norm: scalar, the largest item vector norm.
    """
    num_steps = tf.shape(queries)[1]
    steps = tf.range(num_steps)
    # Each step's segment: the last anchor at or before it, and the next one.
    segment = tf.clip_by_value(tf.searchsorted(anchors, steps, side="right") - 1,
                               0, tf.maximum(tf.size(anchors) - 2, 0))
    first = tf.gather(anchors, segment)
    last = tf.gather(anchors, tf.minimum(segment + 1, tf.size(anchors) - 1))
    start = tf.gather(queries, first, axis=1)
    end = tf.gather(queries, last, axis=1)
    span = end - start
    span_norm2 = tf.reduce_sum(tf.square(span), axis=-1)
    t = tf.math.divide_no_nan(tf.reduce_sum((queries - start) * span, axis=-1), span_norm2)
    residual = queries - start - t[..., None] * span
    start_threshold = tf.gather(anchor_thresholds, segment, axis=1)
    end_threshold = tf.gather(anchor_thresholds, tf.minimum(segment + 1,
                                                           tf.size(anchors) - 1), axis=1)
    bound = ((1.0 - t) * start_threshold + t * end_threshold
             + tf.norm(residual, axis=-1) * max_item_norm
             + ROUNDING_SLACK * tf.norm(queries, axis=-1) * max_item_norm)
    between = (t >= -ROUNDING_SLACK) & (t <= 1.0 + ROUNDING_SLACK)
    return tf.where(between, bound, tf.constant(np.inf, queries.dtype))


def distinct_candidates(items: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """[B, C] candidate ids (several anchors may return one item; -1 is padding) → (sorted ids
    [B, C], usable [B, C]: the first of equal ids, not padding)."""
    ordered = tf.sort(items, axis=-1)
    repeated = tf.concat([tf.zeros_like(ordered[:, :1], tf.bool),
                          ordered[:, 1:] == ordered[:, :-1]], axis=-1)
    return ordered, ~repeated & (ordered >= 0)


def search_walk(index: tf.Module, item_vectors: tf.Tensor, max_item_norm: tf.Tensor,
                queries: tf.Tensor, k, width, num_anchors: int = 2
                ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The top-k of every step of every walk, as `index.search` of each step would give it.

    Args:
      index: anything with `search(queries [Q, D], k) -> (scores, int ids)`, best first.
      item_vectors: [M, D] the indexed vectors (candidates are rescored from them).
      max_item_norm: scalar max_i ‖item_vectors[i]‖.
      queries: [B, N, D] each walk's step queries.
      k: results per step.
      width: w, results per anchor search (at least k; more covers more steps).
      num_anchors: P ≥ 2 anchor steps searched per walk.

    Returns:
      (scores [B, N, k], items [B, N, k] int32, covered [B, N] bool: whether the step came
      from the anchors' candidates rather than a search of its own).
    """
    batch_size, num_steps, dim = (tf.shape(queries)[0], tf.shape(queries)[1],
                                  tf.shape(queries)[2])
    num_items = tf.shape(item_vectors)[0]
    k = tf.minimum(tf.convert_to_tensor(k, tf.int32), num_items)
    width = tf.minimum(tf.maximum(tf.convert_to_tensor(width, tf.int32), k), num_items)
    anchors = anchor_steps(num_steps, num_anchors)
    anchor_queries = tf.gather(queries, anchors, axis=1)
    anchor_scores, anchor_items = index.search(tf.reshape(anchor_queries, [-1, dim]), width)
    anchor_scores = tf.reshape(anchor_scores, [batch_size, -1, width])
    candidates, usable = distinct_candidates(
        tf.reshape(tf.cast(anchor_items, tf.int32), [batch_size, -1]))
    candidate_vectors = tf.gather(item_vectors, tf.maximum(candidates, 0))
    rescored = tf.einsum("bnd,bcd->bnc", queries, candidate_vectors)
    rescored = tf.where(usable[:, None, :], rescored, tf.constant(-np.inf, rescored.dtype))
    scores, positions = tf.math.top_k(rescored, k=k)
    items = tf.gather(candidates, positions, batch_dims=1)
    items = tf.where(tf.math.is_finite(scores), items, -1)
    # An anchor's threshold is the last score its search returned: an index may return fewer
    # than w (ScaNN rescores a fixed number of candidates), and what it did not return scores
    # below that as far as the index knows, which is what its per-step search would know too.
    thresholds = tf.reduce_min(tf.where(tf.math.is_finite(anchor_scores), anchor_scores,
                                        tf.constant(np.inf, anchor_scores.dtype)), axis=-1)
    bounds = step_bounds(queries, anchors, thresholds, max_item_norm)
    # An anchor's own search is among the candidates; and every item was a candidate when
    # the anchors' searches returned the whole catalogue.
    is_anchor = tf.reduce_any(tf.range(num_steps)[:, None] == anchors[None, :], axis=-1)
    covered = (scores[:, :, -1] >= bounds) | is_anchor[None, :] | (width >= num_items)
    return (*_search_uncovered(index, queries, k, scores, items, covered), covered)


def _search_uncovered(index, queries, k, scores, items, covered):
    """Searches each step that is not covered on its own and puts its answer in place."""
    uncovered = tf.cast(tf.where(~covered), tf.int32)

    def search_each():
        step_scores, step_items = index.search(tf.gather_nd(queries, uncovered), k)
        return (tf.tensor_scatter_nd_update(scores, uncovered, step_scores),
                tf.tensor_scatter_nd_update(items, uncovered, tf.cast(step_items, tf.int32)))

    return tf.cond(tf.shape(uncovered)[0] > 0, search_each, lambda: (scores, items))
