"""Triples (i, y, i'): item pairs whose tags differ in exactly one attribute (CGIR.md, "Data")."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class Triples:
    """P triples; y = a_{target} - a_{reference} is +1 ("more") or -1 ("less") at `attribute`.

    Attributes:
      reference: [P] int64 item indices i.
      target: [P] int64 item indices i'.
      attribute: [P] int64 attribute index t of the one differing tag.
      direction: [P] int64 in {+1, -1}, y_t.
    """

    reference: np.ndarray
    target: np.ndarray
    attribute: np.ndarray
    direction: np.ndarray

    def __len__(self) -> int:
        return len(self.reference)

    def take(self, indices: np.ndarray) -> "Triples":
        return Triples(*(getattr(self, f.name)[indices] for f in dataclasses.fields(self)))

    def walk_queries(self) -> "Triples":
        """The distinct (reference, attribute, direction) queries, targets dropped.

        The returned `target` holds one example target per query (the first seen).
        """
        keys = np.stack([self.reference, self.attribute, self.direction], axis=1)
        _, first = np.unique(keys, axis=0, return_index=True)
        return self.take(np.sort(first))


def make_triples(item_attributes: np.ndarray, max_pairs: Optional[int] = None,
                 seed: int = 0) -> Triples:
    """All (or `max_pairs` sampled) item pairs differing in exactly one tag, in both directions.

    A pair is found from its item with the extra tag: removing one of that item's tags gives the
    other item's tag set, so each item costs one hash look-up per tag it has, not per attribute.

    Args:
      item_attributes: [M, T] binary tags.
      max_pairs: keep at most this many unordered pairs (a seeded uniform sample), since
        catalogues with many identical tag sets have quadratically many pairs.
      seed: the sampling seed.

    Returns:
      Triples holding (i, +t, i') and its reverse (i', -t, i) for every kept pair, the two
      directions of pair p at positions 2p and 2p + 1.
    """
    tags = np.asarray(item_attributes) > 0.5
    num_items = tags.shape[0]
    signature_of = np.packbits(tags, axis=1)
    items_by_signature: dict[bytes, list[int]] = {}
    for item in range(num_items):
        items_by_signature.setdefault(signature_of[item].tobytes(), []).append(item)

    groups_with, groups_without, group_attribute = [], [], []
    for signature, members in items_by_signature.items():
        member_tags = tags[members[0]]
        for attribute in np.flatnonzero(member_tags):
            reduced = member_tags.copy()
            reduced[attribute] = False
            partners = items_by_signature.get(np.packbits(reduced).tobytes())
            if partners:
                groups_with.append(members)
                groups_without.append(partners)
                group_attribute.append(attribute)
    sizes = np.array([len(a) * len(b) for a, b in zip(groups_with, groups_without)], dtype=np.int64)
    total = int(sizes.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Triples(empty, empty, empty, empty)

    pair_ids = np.arange(total)
    if max_pairs is not None and total > max_pairs:
        pair_ids = np.sort(np.random.default_rng(seed).choice(total, max_pairs, replace=False))
    # Decode a flat pair id into (group, member of the with-tag side, member of the other side).
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    group = np.searchsorted(offsets, pair_ids, side="right") - 1
    within = pair_ids - offsets[group]
    num_without = np.array([len(b) for b in groups_without])[group]
    with_tag = np.array([groups_with[g][w] for g, w in zip(group, within // num_without)])
    without_tag = np.array([groups_without[g][w] for g, w in zip(group, within % num_without)])
    attribute = np.array(group_attribute, dtype=np.int64)[group]

    # Pair p: (without, +t, with) "more t", then the reverse (with, -t, without) "less t".
    reference = np.stack([without_tag, with_tag], axis=1).reshape(-1)
    target = np.stack([with_tag, without_tag], axis=1).reshape(-1)
    return Triples(
        reference=reference.astype(np.int64),
        target=target.astype(np.int64),
        attribute=np.repeat(attribute, 2),
        direction=np.tile(np.array([1, -1], dtype=np.int64), len(pair_ids)),
    )


def split_triples(triples: Triples, test_fraction: float = 0.2,
                  seed: int = 0) -> tuple[Triples, Triples]:
    """Splits into (train, test) by unordered item pair, so a triple and its reverse never straddle.

    CGIR.md: the official code's per-triple split leaked the reverse of every test triple into
    training. Deterministic for a given seed.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    low = np.minimum(triples.reference, triples.target)
    high = np.maximum(triples.reference, triples.target)
    pairs, pair_of_triple = np.unique(np.stack([low, high], axis=1), axis=0, return_inverse=True)
    pair_of_triple = pair_of_triple.reshape(-1)
    order = np.random.default_rng(seed).permutation(len(pairs))
    is_test_pair = np.zeros(len(pairs), dtype=bool)
    is_test_pair[order[:int(round(test_fraction * len(pairs)))]] = True
    is_test = is_test_pair[pair_of_triple]
    return triples.take(np.flatnonzero(~is_test)), triples.take(np.flatnonzero(is_test))
