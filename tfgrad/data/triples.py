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
                 seed: int = 0, min_tags: int = 0) -> Triples:
    """All (or `max_pairs` sampled) item pairs differing in exactly one tag, in both directions.

    A pair is found from its item with the extra tag: removing one of that item's tags gives the
    other item's tag set, so each item costs one hash look-up per tag it has, not per attribute.

    Args:
      item_attributes: [M, T] binary tags.
      max_pairs: keep at most this many unordered pairs (a seeded uniform sample), since
        catalogues with many identical tag sets have quadratically many pairs.
      seed: the sampling seed.
      min_tags: items with fewer tags are not paired. With user tags (MovieLens) an untagged
        item is not known to lack a tag — nobody tagged it — so pairing it with every
        one-tag item would teach noise; 1 keeps such items out.

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
            if partners and reduced.sum() >= min_tags:
                groups_with.append(members)
                groups_without.append(partners)
                group_attribute.append(attribute)
    with_tag, without_tag, group = sample_block_pairs(groups_with, groups_without, max_pairs,
                                                      seed)
    attribute = np.array(group_attribute, dtype=np.int64)[group]

    # Pair p: (without, +t, with) "more t", then the reverse (with, -t, without) "less t".
    reference = np.stack([without_tag, with_tag], axis=1).reshape(-1)
    target = np.stack([with_tag, without_tag], axis=1).reshape(-1)
    return Triples(
        reference=reference.astype(np.int64),
        target=target.astype(np.int64),
        attribute=np.repeat(attribute, 2),
        direction=np.tile(np.array([1, -1], dtype=np.int64), len(with_tag)),
    )


def sample_block_pairs(blocks_a: list, blocks_b: list, max_pairs: Optional[int], seed: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (a, b) with a in blocks_a[g] and b in blocks_b[g] for some block g, or a seeded
    uniform sample of `max_pairs` of them, without materialising the others.

    Returns:
      (a [P], b [P], block g [P]) int64 arrays; empty when there are no pairs.
    """
    sizes = np.array([len(a) * len(b) for a, b in zip(blocks_a, blocks_b)], dtype=np.int64)
    total = int(sizes.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    pair_ids = np.arange(total)
    if max_pairs is not None and total > max_pairs:
        pair_ids = np.sort(np.random.default_rng(seed).choice(total, max_pairs, replace=False))
    # Decode a flat pair id into (block, member of side a, member of side b).
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    block = np.searchsorted(offsets, pair_ids, side="right") - 1
    within = pair_ids - offsets[block]
    size_b = np.array([len(b) for b in blocks_b])[block]
    a = np.array([blocks_a[g][w] for g, w in zip(block, within // size_b)], dtype=np.int64)
    b = np.array([blocks_b[g][w] for g, w in zip(block, within % size_b)], dtype=np.int64)
    return a, b, block.astype(np.int64)


def make_categorical_triples(item_attributes: np.ndarray, attribute_columns: np.ndarray,
                             max_pairs: Optional[int] = None, seed: int = 0) -> Triples:
    """Triples for tags made from categorical columns (one value per item and column).

    Two items that agree in every column but one differ in two tags there (the old value off,
    the new one on), so the strict one-tag rule of `make_triples` finds no pair. The shopper's
    request is "this, but <new value>": the triple is (i, +v', i') with v' the target's value,
    and the reverse (i', +v, i). Items with no kept tag in the differing column are not paired
    on it.

    Args:
      item_attributes: [M, T] binary tags, at most one per column.
      attribute_columns: [T] the column of each tag.
      max_pairs, seed: as in `make_triples`.

    Returns:
      Triples, pair p's two directions at 2p and 2p + 1, every direction +1.
    """
    tags = np.asarray(item_attributes) > 0.5
    attribute_columns = np.asarray(attribute_columns)
    num_items = tags.shape[0]
    columns = np.unique(attribute_columns)
    # codes[i, c]: the attribute index of item i's tag in column c, or -1.
    codes = np.full((num_items, len(columns)), -1, dtype=np.int64)
    for position, column in enumerate(columns):
        in_column = np.flatnonzero(attribute_columns == column)
        has = tags[:, in_column]
        if (has.sum(axis=1) > 1).any():
            raise ValueError(f"items with several tags in categorical column {column}")
        codes[:, position] = np.where(has.any(axis=1), in_column[np.argmax(has, axis=1)], -1)

    blocks_low, blocks_high, block_column = [], [], []
    for position in range(len(columns)):
        others = np.delete(codes, position, axis=1)
        tagged = np.flatnonzero(codes[:, position] >= 0)
        groups: dict[bytes, dict[int, list[int]]] = {}
        for item in tagged:
            groups.setdefault(others[item].tobytes(), {}).setdefault(
                int(codes[item, position]), []).append(int(item))
        for by_value in groups.values():
            values = sorted(by_value)
            for low in range(len(values)):
                for high in range(low + 1, len(values)):
                    blocks_low.append(by_value[values[low]])
                    blocks_high.append(by_value[values[high]])
                    block_column.append(position)
    first, second, block = sample_block_pairs(blocks_low, blocks_high, max_pairs, seed)
    reference = np.stack([first, second], axis=1).reshape(-1)
    target = np.stack([second, first], axis=1).reshape(-1)
    column = np.repeat(np.array(block_column, dtype=np.int64)[block], 2)
    return Triples(reference=reference, target=target, attribute=codes[target, column],
                   direction=np.ones(len(reference), dtype=np.int64))


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
