"""Maximum inner product search over an item table: brute force and ScaNN behind one interface.

Both are `tf.Module`s with `search(queries [Q, D], k) -> (scores [Q, k], indices [Q, k] int32)`,
best first, so the walk, evaluation and export never ask which one they hold.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
import weakref
from typing import Optional

import numpy as np
import tensorflow as tf

# ScaNN's guidance: below about 20k points brute force is as fast as partitioning and exact.
SCANN_BRUTE_FORCE_BELOW = 20_000

# ScannIndex.searcher's handles: traced graph -> {id(index): searcher}.
_SEARCHERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def as_constant_variable(values, name: str) -> tf.Variable:
    """`values` as a non-trainable float32 variable; an existing variable is shared, not copied
    (so an export holding several indices over one table stores the table once)."""
    if isinstance(values, tf.Variable):
        return values
    return tf.Variable(np.asarray(values, dtype=np.float32), trainable=False, name=name)


class BruteForceIndex(tf.Module):
    """Exact search with stock TensorFlow ops (a matmul and top-k), so stock TF Serving loads it."""

    def __init__(self, item_vectors, name: str = "brute_force_index"):
        super().__init__(name=name)
        self.item_vectors = as_constant_variable(item_vectors, "item_vectors")

    def search(self, queries: tf.Tensor, k) -> tuple[tf.Tensor, tf.Tensor]:
        scores = tf.matmul(queries, self.item_vectors, transpose_b=True)
        return tf.math.top_k(scores, k=k)


@dataclasses.dataclass(frozen=True)
class ScannSettings:
    """How ScaNN partitions, scores and rescores; `for_catalogue` applies ScaNN's rules of thumb.

    Attributes:
      num_leaves: k-means partitions; 0 means no partitioning (ScaNN brute force).
      num_leaves_to_search: partitions searched per query.
      dimensions_per_block: asymmetric hashing block size (2 is ScaNN's recommendation).
      anisotropic_quantization_threshold: ScaNN's η for MIPS (0.2 recommended for dot product).
      reorder_candidates: candidates rescored exactly after hashing.
      training_sample_size: points sampled to train the partitioner.
    """

    num_leaves: int = 0
    num_leaves_to_search: int = 0
    dimensions_per_block: int = 2
    anisotropic_quantization_threshold: float = 0.2
    reorder_candidates: int = 100
    training_sample_size: int = 250_000

    @classmethod
    def for_catalogue(cls, num_items: int) -> "ScannSettings":
        if num_items < SCANN_BRUTE_FORCE_BELOW:
            return cls()
        # √n leaves (ScaNN's rule). How many to search was measured (benchmarks/
        # index_benchmark.py, docs/PERFORMANCE.md): on clustered item tables a tenth of the
        # leaves gave recall@10 0.80 at 1M items, a third 0.97, still ~40x faster than exact.
        num_leaves = int(round(math.sqrt(num_items)))
        return cls(num_leaves=num_leaves, num_leaves_to_search=max(num_leaves // 3, 10),
                   reorder_candidates=500)


class ScannIndex(tf.Module):
    """Approximate search with ScaNN's TF ops (the SavedModel then needs `import scann` to load).

    The searcher is kept as its serialised tensors (`ScannState`), the form that saves into a
    SavedModel; a search re-creates the handle from them, as TFRS's ScaNN layer does.
    """

    def __init__(self, item_vectors, settings: Optional[ScannSettings] = None,
                 name: str = "scann_index"):
        super().__init__(name=name)
        from scann.scann_ops.py import scann_ops  # registers the ScaNN ops with TensorFlow

        item_vectors = np.asarray(item_vectors, dtype=np.float32)
        num_items = item_vectors.shape[0]
        self.settings = settings or ScannSettings.for_catalogue(num_items)
        builder = scann_ops.builder(item_vectors, 10, "dot_product")
        if self.settings.num_leaves:
            builder = builder.tree(
                num_leaves=self.settings.num_leaves,
                num_leaves_to_search=self.settings.num_leaves_to_search,
                training_sample_size=min(num_items, self.settings.training_sample_size))
            builder = builder.score_ah(
                self.settings.dimensions_per_block,
                anisotropic_quantization_threshold=self.settings.anisotropic_quantization_threshold)
            builder = builder.reorder(self.settings.reorder_candidates)
        else:
            builder = builder.score_brute_force()
        self.state = builder.build(shared_name=f"tfgrad-{uuid.uuid4()}").serialize_to_module()
        self._searcher_from_module = scann_ops.searcher_from_module

    def searcher(self):
        """The ScaNN searcher, made once per traced function (in its outermost graph).

        Each op that recreates the handle builds a searcher of its own from the serialised
        tensors the first time it runs (0.9 s at 1M items), so a function that searches in
        two places — the walk's anchors, and its uncovered steps inside a `tf.cond` — must
        share one handle, or its first uncovered step stalls.
        """
        if tf.executing_eagerly():
            return self._searcher_from_module(self.state)
        graph = tf.compat.v1.get_default_graph()
        while isinstance(getattr(graph, "outer_graph", None), tf.__internal__.FuncGraph):
            graph = graph.outer_graph
        searchers = _SEARCHERS.setdefault(graph, {})
        if id(self) not in searchers:
            with graph.as_default():
                searchers[id(self)] = self._searcher_from_module(self.state)
        return searchers[id(self)]

    def search(self, queries: tf.Tensor, k) -> tuple[tf.Tensor, tf.Tensor]:
        result = self.searcher().search_batched(queries, final_num_neighbors=k)
        # When the searched leaves hold fewer than k items ScaNN returns fewer columns and pads
        # short rows with id 0 and a NaN score; make padding what callers expect: -1, -inf.
        missing = k - tf.shape(result.indices)[1]
        items = tf.pad(result.indices, [[0, 0], [0, missing]], constant_values=-1)
        scores = tf.pad(result.distances, [[0, 0], [0, missing]], constant_values=-np.inf)
        is_padding = tf.math.is_nan(scores)
        return (tf.where(is_padding, tf.constant(-np.inf, scores.dtype), scores),
                tf.where(is_padding, -1, items))


def build_index(item_vectors, kind: str, scann_settings: Optional[ScannSettings] = None
                ) -> tf.Module:
    """`kind` is "brute_force" or "scann"."""
    if kind == "brute_force":
        return BruteForceIndex(item_vectors)
    if kind == "scann":
        return ScannIndex(item_vectors, scann_settings)
    raise ValueError(f"index kind must be 'brute_force' or 'scann', got {kind!r}")
