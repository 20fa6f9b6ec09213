"""The contracts every system's trained model is read through: an item space and a user space.

Walks, the index, every export and the server read only these, never a model class, so a new
system plugs in by supplying its spaces:

  ItemSpace   ids, names, vectors [M, D] (the searched table), optional photos and metadata,
              and — where items can be walked — the `AttributeMove` that turns a reference and
              signed attribute weights into each step's query;
  UserSpace   ids, vectors [N, D] and the items each user already has; the score of (u, i)
              is ⟨user_vectors[u], item_vectors[i]⟩, as for every tfgrad recommender.

An `AttributeMove` is how a model moves a reference toward attributes: CGIR's is linear
(q = h_i + γ·Σ_t α_t F(t)), and so is ADDE's prototype swap (q = f + γ·M·indicator, from the
space's `move_vectors`); CBIR's and TIRG's apply their trained composer; a model whose move is
neither (a generator's latent move) subclasses `AttributeMove`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad.retrieval.index import as_constant_variable


class AttributeMove(tf.Module):
    """Maps (reference vectors, signed attribute weights, strengths γ) to every step's query.

    Args:
      attribute_vectors: [T, E] one vector per attribute (F(t) for CGIR).
    """

    def __init__(self, attribute_vectors, name: str = "attribute_move"):
        super().__init__(name=name)
        self.attribute_vectors = as_constant_variable(attribute_vectors, "attribute_vectors")

    @property
    def num_attributes(self) -> int:
        return int(self.attribute_vectors.shape[0])

    def modifications(self, attribute_weights: tf.Tensor) -> tf.Tensor:
        """[B, T] α -> [B, E] Σ_t α_t φ_t."""
        return tf.matmul(attribute_weights, self.attribute_vectors)

    def queries(self, reference_vectors: tf.Tensor, attribute_weights: tf.Tensor,
                strengths: tf.Tensor) -> tf.Tensor:
        """[B, D], [B, T], [N] -> [B, N, D] the query of every step."""
        raise NotImplementedError

    def with_attribute_vectors(self, attribute_vectors) -> "AttributeMove":
        """The same move along other attributes' vectors (e.g. strings never trained on)."""
        raise NotImplementedError


class LinearMove(AttributeMove):
    """q_n = h_i + γ_n Σ_t α_t φ_t: one broadcast for all steps (CGIR and its ablations)."""

    def queries(self, reference_vectors, attribute_weights, strengths):
        modification = self.modifications(attribute_weights)
        return reference_vectors[:, None, :] + strengths[None, :, None] * modification[:, None, :]

    def with_attribute_vectors(self, attribute_vectors) -> "LinearMove":
        return LinearMove(attribute_vectors, name=self.name)


class ComposedMove(AttributeMove):
    """q_n = composer(h_i, γ_n Σ_t α_t φ_t) with a trained composer layer
    ([K, D], [K, E]) -> [K, D] (CBIR, DSCMR's common space, TIRG), applied to every step."""

    def __init__(self, attribute_vectors, composer, name: str = "composed_move"):
        super().__init__(attribute_vectors, name=name)
        self.composer = composer

    def queries(self, reference_vectors, attribute_weights, strengths):
        modification = self.modifications(attribute_weights)
        batch_size, num_steps = tf.shape(reference_vectors)[0], tf.shape(strengths)[0]
        scaled = strengths[None, :, None] * modification[:, None, :]
        repeated = tf.repeat(reference_vectors, num_steps, axis=0)
        queries = self.composer(repeated, tf.reshape(scaled, [batch_size * num_steps, -1]))
        return tf.reshape(queries, [batch_size, num_steps, -1])

    def with_attribute_vectors(self, attribute_vectors) -> "ComposedMove":
        return ComposedMove(attribute_vectors, self.composer, name=self.name)


@dataclasses.dataclass(frozen=True, eq=False)
class ItemSpace:
    """A catalogue as a model sees it.

    Attributes:
      item_ids: [M] external ids.
      item_names: [M] display names.
      item_vectors: [M, D] float32, the searched table.
      move: how a reference moves toward attributes; None for a space that is only searched
        or scored (a recommender's).
      attributes: [T] the names of the move's attributes.
      image_paths: [M] photo paths, when items have photos.
      metadata: per-item columns for the export's items table (e.g. true relevance).
      move_vectors: [M, D'] what the move starts from, when it is not the searched vector
        (ADDE moves its unnormalised representation and searches the unit ones); None: the
        item vectors.
      levels: [M, T] estimated levels in [0, 1] of every item in the move's attributes, from
        the model and its training data (`tfgrad.levels`), which gradual walks decode with;
        None: greedy walks only.
    """

    item_ids: np.ndarray
    item_names: np.ndarray
    item_vectors: np.ndarray
    move: Optional[AttributeMove] = None
    attributes: tuple[str, ...] = ()
    image_paths: Optional[np.ndarray] = None
    metadata: Optional[pd.DataFrame] = None
    move_vectors: Optional[np.ndarray] = None
    levels: Optional[np.ndarray] = None

    def __post_init__(self):
        if len(self.item_ids) != len(self.item_vectors):
            raise ValueError(f"{len(self.item_ids)} item ids for {len(self.item_vectors)} item "
                             f"vectors")
        if self.move_vectors is not None and len(self.move_vectors) != len(self.item_ids):
            raise ValueError(f"{len(self.move_vectors)} move vectors for {len(self.item_ids)} "
                             f"items")
        if self.move is not None and len(self.attributes) not in (0, self.move.num_attributes):
            raise ValueError(f"{len(self.attributes)} attribute names for a move along "
                             f"{self.move.num_attributes} attributes")
        if self.levels is not None and (
                self.move is None
                or np.shape(self.levels) != (len(self.item_ids), self.move.num_attributes)):
            raise ValueError(f"levels of shape {np.shape(self.levels)} for {len(self.item_ids)} "
                             f"items and a move along "
                             f"{0 if self.move is None else self.move.num_attributes} attributes")

    @property
    def num_items(self) -> int:
        return int(len(self.item_ids))

    @property
    def walkable(self) -> bool:
        return self.move is not None

    def subset(self, items: Sequence[int]) -> "ItemSpace":
        """The space of `items` only (a walk pool); positions in it index the subset."""
        items = np.asarray(items)
        return dataclasses.replace(
            self, item_ids=self.item_ids[items], item_names=self.item_names[items],
            item_vectors=self.item_vectors[items],
            image_paths=None if self.image_paths is None else self.image_paths[items],
            move_vectors=None if self.move_vectors is None else self.move_vectors[items],
            levels=None if self.levels is None else self.levels[items],
            metadata=None if self.metadata is None
            else self.metadata.iloc[items].reset_index(drop=True))

    def along(self, attribute_vectors, attributes: Sequence[str] = (),
              levels: Optional[np.ndarray] = None) -> "ItemSpace":
        """The space walked along other attributes (their vectors [T', E], names and the
        items' levels [M, T'] in them, if known)."""
        if self.move is None:
            raise ValueError("this item space has no attribute move to walk along")
        return dataclasses.replace(self, move=self.move.with_attribute_vectors(
            np.asarray(attribute_vectors, dtype=np.float32)), attributes=tuple(attributes),
            levels=levels)

    def move_directions(self) -> np.ndarray:
        """[T, D] each attribute's mean displacement of a query, over every reference: F(t) for
        a linear move, what a composer does on average for the others (`tfgrad.levels` reads
        attributes a level head never saw along it)."""
        if self.move is None:
            raise ValueError("this item space has no attribute move")
        starts = self.item_vectors if self.move_vectors is None else self.move_vectors
        num_attributes = self.move.num_attributes
        directions = []
        for attribute in range(num_attributes):
            weights = np.zeros((len(starts), num_attributes), np.float32)
            weights[:, attribute] = 1.0
            queries = self.move.queries(tf.constant(starts, tf.float32), tf.constant(weights),
                                        tf.constant([0.0, 1.0])).numpy()
            directions.append((queries[:, 1] - queries[:, 0]).mean(axis=0))
        return np.stack(directions)

    def items_table(self) -> pd.DataFrame:
        """What an export writes to assets.extra/items.tsv: ids, names, photos, metadata."""
        table = pd.DataFrame({"item_id": self.item_ids, "name": self.item_names})
        if self.image_paths is not None:
            table["image"] = self.image_paths
        if self.metadata is not None:
            table = pd.concat([table, self.metadata.reset_index(drop=True)], axis=1)
        return table


@dataclasses.dataclass(frozen=True, eq=False)
class UserSpace:
    """Users as a recommender sees them: x_{u,i} = ⟨user_vectors[u], item_vectors[i]⟩.

    Attributes:
      user_ids: [N] external ids.
      user_vectors: [N, D] float32.
      known_items: per user, the item indices never recommended to them (their purchases).
    """

    user_ids: np.ndarray
    user_vectors: np.ndarray
    known_items: Sequence[np.ndarray]

    def __post_init__(self):
        if not len(self.user_ids) == len(self.user_vectors) == len(self.known_items):
            raise ValueError(f"{len(self.user_ids)} user ids, {len(self.user_vectors)} user "
                             f"vectors and {len(self.known_items)} known-item lists")

    @property
    def num_users(self) -> int:
        return int(len(self.user_ids))

    def scores(self, users: np.ndarray, items: ItemSpace) -> np.ndarray:
        """[U] user indices -> [U, M] their scores of every item."""
        return self.user_vectors[np.asarray(users)] @ items.item_vectors.T
