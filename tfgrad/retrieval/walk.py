"""The walk: q_n = move(h_i, γ_n Σ_t α_t φ_t), γ_n = step_size·n (CGIR.md; the move is the
item space's, `tfgrad.spaces`), decoded into one item per step.

All N steps of all B queries go to the index as one [B·N, D] batch. Two decodings read those
candidates: "greedy" (the paper's) takes each step's top item not already used — over N+1
candidates, not M items; "gradual" (`tfgrad.retrieval.gradual`) keeps K per step and chooses
the whole path at once from the items' estimated levels. The same `Walker` serves evaluation,
the CLI (through the SavedModel) and export.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfgrad.retrieval.gradual import DECODINGS, GradualSettings, decode_gradual
from tfgrad.retrieval.index import as_constant_variable, build_index
from tfgrad.retrieval.walk_search import search_walk

# Anchor searches' width in walk-aware search (`tfgrad.retrieval.walk_search`), as a multiple
# of the k each step needs; 0 searches every step. Measured in benchmarks/index_benchmark.py.
SEARCH_WIDTH_PER_K = 16
# Walk-aware search only where the ends' candidates are at most 1/16 of the catalogue (the
# greedy walk's from ≈ 5.6k items, the gradual one's from ≈ 16k): below that, searching every
# step was faster (benchmarks/index_benchmark.py at 3k items).
CANDIDATES_PER_CATALOGUE = 16


class Walk(NamedTuple):
    """A batch of walks.

    Attributes:
      items: [B, N] int32 item indices, seq@1..seq@N.
      scores: [B, N] float32 inner product of each step's query and its item.
      strengths: [N] float32 γ_n.
    """

    items: tf.Tensor
    scores: tf.Tensor
    strengths: tf.Tensor


def walk_strengths(steps, step_size) -> tf.Tensor:
    """[N] γ_n = step_size · n for n = 1..N."""
    steps = tf.convert_to_tensor(steps, tf.int32)
    return tf.cast(tf.range(1, steps + 1), tf.float32) * tf.cast(step_size, tf.float32)


def _minimum(a, b):
    """min(a, b), a Python int when both are (a static walk length stays static)."""
    return min(a, b) if isinstance(a, int) and isinstance(b, int) else tf.minimum(a, b)


def _maximum(a, b):
    """max(a, b), a Python int when both are."""
    return max(a, b) if isinstance(a, int) and isinstance(b, int) else tf.maximum(a, b)


def pick_distinct(candidate_scores: tf.Tensor, candidate_items: tf.Tensor,
                  reference: tf.Tensor, distinct: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """Per step, the best candidate that is not the reference and (if distinct) not yet picked.

    Args:
      candidate_scores: [B, N, k] best first.
      candidate_items: [B, N, k] int32; negative ids (an index's padding) are never picked.
      reference: [B] int32.
      distinct: whether an item may appear at several steps.

    Returns:
      (items [B, N] int32, scores [B, N]). With k ≥ N + 1 a valid candidate always exists;
      otherwise a step with none gets item -1 and score -inf.
    """
    # One step at a time. Fixed-point rounds over all steps at once ("take the first candidate
    # no earlier step took", until nothing changes) give the same answer, but a batch needs as
    # many rounds as its longest chain of displaced picks: 0.1 ms faster for one walk, 1.2×
    # slower for 4 walks and 4× for 64 (what batched serving and evaluation send).
    steps_first_items = tf.transpose(candidate_items, [1, 0, 2])
    steps_first_scores = tf.transpose(candidate_scores, [1, 0, 2])
    batch_size = tf.shape(candidate_items)[0]
    num_steps = tf.shape(candidate_items)[1]

    def choose(picked, step):
        items, scores, index = step
        unusable = (items < 0) | (items == reference[:, None])
        if distinct:
            unusable |= tf.reduce_any(items[:, :, None] == picked[:, None, :], axis=-1)
        first = tf.argmax(tf.cast(~unusable, tf.int32), axis=-1, output_type=tf.int32)
        found = tf.reduce_any(~unusable, axis=-1)
        item = tf.where(found, tf.gather(items, first, batch_dims=1), -1)
        score = tf.where(found, tf.gather(scores, first, batch_dims=1),
                         tf.constant(-np.inf, scores.dtype))
        picked = tf.where(tf.range(num_steps)[None, :] == index, item[:, None], picked)
        return picked, (item, score)

    initial = tf.fill([batch_size, num_steps], tf.constant(-1, tf.int32))
    _, (items, scores) = tf.scan(
        lambda carry, step: choose(carry[0], step),
        (steps_first_items, steps_first_scores, tf.range(num_steps)),
        initializer=(initial, (tf.zeros([batch_size], tf.int32),
                               tf.zeros([batch_size], candidate_scores.dtype))))
    return tf.transpose(items), tf.transpose(scores)


class Walker(tf.Module):
    """Walks an item space: item vectors H [M, D], the space's attribute move and an index
    over H.

    Args:
      item_vectors: [M, D].
      move: the `AttributeMove` that gives each step's query (linear for CGIR, a trained
        composer for the baselines).
      index: a `BruteForceIndex` or `ScannIndex` over the item vectors.
      reference_vectors: [M, D'] what the move starts from when it is not the searched
        vector (an item space's `move_vectors`); None: the item vectors.
      levels: [M, T] estimated levels of every item in the move's attributes (an item
        space's `levels`), which gradual decoding needs; None: greedy decoding only.
      gradual: the gradual decoder's candidates and weights.
      search_width_per_k: walk-aware search (`tfgrad.retrieval.walk_search`): the walk's two
        ends are searched for this many times the k each step needs, their candidates
        rescored for every step, and only steps they do not cover searched on their own;
        0: every step searched (N searches a walk).
    """

    def __init__(self, item_vectors, move, index: tf.Module, name: str = "walker",
                 reference_vectors=None, levels=None,
                 gradual: GradualSettings = GradualSettings(),
                 search_width_per_k: int = SEARCH_WIDTH_PER_K):
        super().__init__(name=name)
        self.item_vectors = as_constant_variable(item_vectors, "item_vectors")
        self.max_item_norm = tf.constant(float(tf.reduce_max(tf.norm(self.item_vectors,
                                                                      axis=1))))
        self.search_width_per_k = search_width_per_k
        self.reference_vectors = (self.item_vectors if reference_vectors is None else
                                  as_constant_variable(reference_vectors, "reference_vectors"))
        self.move = move
        self.index = index
        self.levels = None if levels is None else as_constant_variable(levels, "levels")
        self.gradual = gradual

    @classmethod
    def over(cls, space, index_kind: str = "brute_force", scann_settings=None,
             gradual: GradualSettings = GradualSettings()) -> "Walker":
        """A walker over an `ItemSpace` with a fresh index ("brute_force" or "scann"; ScaNN's
        settings chosen by catalogue size when None)."""
        if space.move is None:
            raise ValueError("this item space cannot be walked: it has no attribute move")
        return cls(space.item_vectors, space.move,
                   build_index(space.item_vectors, index_kind, scann_settings),
                   reference_vectors=space.move_vectors, levels=space.levels, gradual=gradual)

    def with_gradual(self, gradual: GradualSettings, levels=None) -> "Walker":
        """The same walker (same index and tables) decoding with other settings, or other
        levels (e.g. a ceiling fed the true relevance)."""
        return Walker(self.item_vectors, self.move, self.index, name=self.name,
                      reference_vectors=self.reference_vectors,
                      levels=self.levels if levels is None else levels, gradual=gradual,
                      search_width_per_k=self.search_width_per_k)

    @property
    def num_items(self) -> int:
        return int(self.item_vectors.shape[0])

    def queries(self, reference: tf.Tensor, attribute_weights: tf.Tensor,
                strengths: tf.Tensor) -> tf.Tensor:
        """[B], [B, T], [N] -> [B, N, D] the query of every step."""
        return self.move.queries(tf.gather(self.reference_vectors, reference),
                                 attribute_weights, strengths)

    def walk(self, reference, attribute_weights, steps=10, step_size=0.1,
             distinct: bool = True, decoding: str = "greedy") -> Walk:
        """Walks from each reference item along its signed attribute weights.

        Args:
          reference: [B] int item indices i.
          attribute_weights: [B, T] α_t per attribute (±1 for one attribute, several non-zero
            entries for a combined request).
          steps: N.
          step_size: γ_1; γ_n = step_size·n.
          distinct: no item twice in a walk (default); False gives the paper's exact protocol,
            where consecutive γ may return the same item (greedy decoding only: a gradual
            walk's items are always distinct).
          decoding: "greedy" (each step its top item) or "gradual" (the whole path at once,
            `tfgrad.retrieval.gradual`; a walk with no path that progresses at every step
            falls back to greedy).

        Returns:
          A `Walk` with [B, N] items and scores.
        """
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, got {decoding!r}")
        if decoding == "gradual" and self.levels is None:
            raise ValueError("gradual decoding needs the items' estimated levels; this walker "
                             "has none")
        reference = tf.cast(reference, tf.int32)
        attribute_weights = tf.cast(attribute_weights, tf.float32)
        strengths = walk_strengths(steps, step_size)
        queries = self.queries(reference, attribute_weights, strengths)
        # A Python int where the walk's length is static, so that search_steps chooses its
        # search in Python rather than in a tf.cond (≈ 0.5 ms a call at 1M items).
        num_steps = queries.shape[1] or tf.shape(queries)[1]
        # Enough candidates that the reference and all earlier picks can be skipped.
        k = num_steps + 1 if distinct or decoding == "gradual" else 2
        if decoding == "gradual":
            k = _maximum(k, self.gradual.candidates)
        k = _minimum(k, self.num_items)
        scores, items = self.search_steps(queries, k)
        greedy_items, greedy_scores = pick_distinct(scores, items, reference,
                                                    distinct or decoding == "gradual")
        if decoding == "greedy":
            return Walk(items=greedy_items, scores=greedy_scores, strengths=strengths)
        choice, found = decode_gradual(
            scores, items, tf.gather(self.levels, tf.maximum(items, 0)),
            tf.gather(self.levels, reference), attribute_weights, reference,
            self.gradual.as_tensor())
        return Walk(items=tf.where(found[:, None], tf.gather(items, choice, batch_dims=2),
                                   greedy_items),
                    scores=tf.where(found[:, None], tf.gather(scores, choice, batch_dims=2),
                                    greedy_scores),
                    strengths=strengths)

    def search_steps(self, queries: tf.Tensor, k) -> tuple[tf.Tensor, tf.Tensor]:
        """[B, N, D] step queries → (scores, items [B, N, k] int32), each step's top-k.

        Walk-aware where the ends' candidates are a small part of the catalogue; where they
        would be a large part (small catalogues, wide gradual candidate lists), rescoring
        them costs more than searching every step.
        """
        if not self.search_width_per_k:
            return self.search_each_step(queries, k)
        width = self.search_width_per_k * k
        walk_aware = 2 * width * CANDIDATES_PER_CATALOGUE <= self.num_items

        def search_from_anchors():
            return search_walk(self.index, self.item_vectors, self.max_item_norm, queries, k,
                               width)[:2]

        if isinstance(walk_aware, bool):  # k is known here: no tf.cond in the graph
            return search_from_anchors() if walk_aware else self.search_each_step(queries, k)
        return tf.cond(walk_aware, search_from_anchors, lambda: self.search_each_step(queries, k))

    def search_each_step(self, queries: tf.Tensor, k) -> tuple[tf.Tensor, tf.Tensor]:
        batch_size, num_steps = tf.shape(queries)[0], tf.shape(queries)[1]
        scores, items = self.index.search(tf.reshape(queries, [-1, tf.shape(queries)[2]]), k)
        return (tf.reshape(scores, [batch_size, num_steps, -1]),
                tf.reshape(tf.cast(items, tf.int32), [batch_size, num_steps, -1]))

    def rank_scores(self, reference, attribute_weights) -> tf.Tensor:
        """[B, M] the exact score of every item for the γ = 1 query (for HR@K and MRR)."""
        reference = tf.cast(reference, tf.int32)
        queries = self.queries(reference, tf.cast(attribute_weights, tf.float32),
                               tf.ones([1], tf.float32))[:, 0, :]
        return tf.matmul(queries, self.item_vectors, transpose_b=True)
