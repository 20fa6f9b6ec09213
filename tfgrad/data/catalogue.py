"""The in-memory catalogue every loader returns and every model trains on."""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from tfgrad.data.triples import tag_set_groups


class UnknownItemError(KeyError):
    """An item id that is not in the catalogue."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0])


class UnknownAttributeError(KeyError):
    """An attribute string that is not in the catalogue."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclasses.dataclass(frozen=True, eq=False)
class Catalogue:
    """Items, their attributes and the users' interactions with them.

    Attributes:
      name: a short name used in logs and export paths.
      item_ids: [M] str, the external ids clients send (unique).
      item_names: [M] str, human-readable names for printing walks.
      attributes: the T attribute strings ("floral", "dark comedy", ...).
      item_attributes: [M, T] float32 in {0, 1}, the binary tags a_{i,t}.
      interactions: [K, 2] int64 (user index, item index) pairs, x_{u,i} = 1.
      num_users: N; user indices are 0..N-1.
      relevance: [M, T] float32 graded relevance in [0, 1] where the source has it
        (synthetic ground truth, MovieLens tag genome), NaN for items it does not cover;
        None when the source has none (shop data with binary tags only).
      attribute_columns: [T] int, for tags made from categorical columns (one value per
        item and column, e.g. H&M's colour), the column of each tag; None for free tags.
      item_families: [M] int, each item's family where the source makes items as variants of
        one design (synthetic); None otherwise.
      image_paths: [M] str, each item's photo file ("" for an item without one) where the
        source has photos (H&M), so that walks can be shown as photos; None otherwise.
    """

    name: str
    item_ids: np.ndarray
    item_names: np.ndarray
    attributes: tuple[str, ...]
    item_attributes: np.ndarray
    interactions: np.ndarray
    num_users: int
    relevance: Optional[np.ndarray] = None
    attribute_columns: Optional[np.ndarray] = None
    item_families: Optional[np.ndarray] = None
    image_paths: Optional[np.ndarray] = None

    def __post_init__(self):
        num_items = len(self.item_ids)
        if len(set(self.item_ids.tolist())) != num_items:
            raise ValueError(f"catalogue {self.name!r}: item ids are not unique")
        if len(self.item_names) != num_items:
            raise ValueError(
                f"catalogue {self.name!r}: {len(self.item_names)} names for {num_items} items")
        if self.item_attributes.shape != (num_items, len(self.attributes)):
            raise ValueError(
                f"catalogue {self.name!r}: item_attributes has shape "
                f"{self.item_attributes.shape}, expected {(num_items, len(self.attributes))}")
        if self.relevance is not None and self.relevance.shape != self.item_attributes.shape:
            raise ValueError(
                f"catalogue {self.name!r}: relevance has shape {self.relevance.shape}, "
                f"expected {self.item_attributes.shape}")
        if (self.attribute_columns is not None
                and self.attribute_columns.shape != (len(self.attributes),)):
            raise ValueError(
                f"catalogue {self.name!r}: attribute_columns has shape "
                f"{self.attribute_columns.shape}, expected {(len(self.attributes),)}")
        if self.item_families is not None and (
                self.item_families.shape != (num_items,)
                or not np.issubdtype(self.item_families.dtype, np.integer)):
            raise ValueError(
                f"catalogue {self.name!r}: item_families must be [M] int, got "
                f"{self.item_families.dtype} of shape {self.item_families.shape} for "
                f"{num_items} items")
        if self.image_paths is not None and len(self.image_paths) != num_items:
            raise ValueError(
                f"catalogue {self.name!r}: {len(self.image_paths)} image paths for {num_items} "
                f"items")
        if self.interactions.ndim != 2 or self.interactions.shape[1] != 2:
            raise ValueError(
                f"catalogue {self.name!r}: interactions must be [K, 2] (user, item) pairs, "
                f"got shape {self.interactions.shape}")
        if len(self.interactions):
            users, items = self.interactions[:, 0], self.interactions[:, 1]
            if users.min() < 0 or users.max() >= self.num_users:
                raise ValueError(f"catalogue {self.name!r}: user index out of range")
            if items.min() < 0 or items.max() >= num_items:
                raise ValueError(f"catalogue {self.name!r}: item index out of range")

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def num_attributes(self) -> int:
        return len(self.attributes)

    @functools.cached_property
    def _item_index(self) -> dict[str, int]:
        return {item_id: index for index, item_id in enumerate(self.item_ids.tolist())}

    @functools.cached_property
    def _attribute_index(self) -> dict[str, int]:
        return {attribute: index for index, attribute in enumerate(self.attributes)}

    def item_index(self, item_ids: Sequence[str]) -> np.ndarray:
        """Maps external item ids to row indices; raises UnknownItemError naming them."""
        unknown = [item_id for item_id in item_ids if item_id not in self._item_index]
        if unknown:
            raise UnknownItemError(
                f"unknown item id(s) {', '.join(map(repr, unknown))} in catalogue {self.name!r}")
        return np.array([self._item_index[item_id] for item_id in item_ids], dtype=np.int64)

    def attribute_index(self, attributes: Sequence[str]) -> np.ndarray:
        """Maps attribute strings to column indices; raises UnknownAttributeError naming them."""
        unknown = [attribute for attribute in attributes if attribute not in self._attribute_index]
        if unknown:
            raise UnknownAttributeError(
                f"unknown attribute(s) {', '.join(map(repr, unknown))} in catalogue "
                f"{self.name!r}; known: {', '.join(self.attributes)}")
        return np.array([self._attribute_index[a] for a in attributes], dtype=np.int64)

    def graded_items(self) -> np.ndarray:
        """Indices of the items with graded relevance for every attribute (MGS's pool)."""
        if self.relevance is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(~np.isnan(self.relevance).any(axis=1))

    def near_duplicate_groups(self) -> np.ndarray:
        """[M] int64 group of each item: its family where the catalogue has families, else its
        tag set. A held-out triple whose two groups are joined by a training triple can be
        answered from memory (`tfgrad.data.triples.near_duplicate_leakage`)."""
        if self.item_families is not None:
            return self.item_families.astype(np.int64)
        return tag_set_groups(self.item_attributes)

    def with_attributes(self, indices: Sequence[int]) -> "Catalogue":
        """The same catalogue restricted to the attribute columns `indices`."""
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(
            self, attributes=tuple(self.attributes[i] for i in indices),
            item_attributes=self.item_attributes[:, indices],
            relevance=None if self.relevance is None else self.relevance[:, indices],
            attribute_columns=(None if self.attribute_columns is None
                               else self.attribute_columns[indices]))

    def item_popularity(self) -> np.ndarray:
        """[M] number of interactions of each item."""
        return np.bincount(self.interactions[:, 1], minlength=self.num_items)

    def user_items(self) -> list[np.ndarray]:
        """The item indices of each user, a list of N int64 arrays."""
        return items_by_user(self.interactions, self.num_users)


def items_by_user(pairs: np.ndarray, num_users: int) -> list[np.ndarray]:
    """[K, 2] (user, item) pairs -> each of the N users' items, in the order of `pairs`."""
    order = np.argsort(pairs[:, 0], kind="stable")
    users, items = pairs[order, 0], pairs[order, 1]
    boundaries = np.searchsorted(users, np.arange(num_users + 1))
    return [items[start:end] for start, end in zip(boundaries[:-1], boundaries[1:])]


def index_interactions(users: Sequence, items: Sequence, min_user_interactions: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (user, item) event keys -> indexed interactions, as every loader needs them.

    Repeated events count once; users with fewer than `min_user_interactions` distinct items
    are dropped; items are those left with an interaction.

    Returns:
      (user keys [N] sorted, item keys [M] sorted, interactions [K, 2] int64 (user, item)
      indices); all empty when no user is left.
    """
    events = pd.DataFrame({"user": np.asarray(users), "item": np.asarray(items)})
    events = events.drop_duplicates()
    counts = events.user.value_counts()
    events = events[events.user.isin(counts.index[counts >= min_user_interactions])]
    user_keys = np.sort(events.user.unique())
    item_keys = np.sort(events.item.unique())
    user_of = pd.Series(np.arange(len(user_keys)), index=user_keys)
    item_of = pd.Series(np.arange(len(item_keys)), index=item_keys)
    interactions = np.stack([user_of[events.user].to_numpy(), item_of[events.item].to_numpy()],
                            axis=1).astype(np.int64).reshape(-1, 2)
    return user_keys, item_keys, interactions
