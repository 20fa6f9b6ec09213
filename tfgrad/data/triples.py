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
    signature_of = _tag_signatures(tags)
    items_by_signature: dict[bytes, list[int]] = {}
    for item in range(num_items):
        items_by_signature.setdefault(signature_of[item].tobytes(), []).append(item)

    groups_with, groups_without, group_attribute = [], [], []
    for signature, members in items_by_signature.items():
        member_tags = tags[members[0]]
        for attribute in np.flatnonzero(member_tags):
            reduced = member_tags.copy()
            reduced[attribute] = False
            partners = items_by_signature.get(_tag_signatures(reduced).tobytes())
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


def _tag_signatures(tags: np.ndarray) -> np.ndarray:
    """[..., T] tags -> [..., ceil(T / 8)] uint8 packed rows, equal exactly when the binary tag
    sets (a_{i,t} > 0.5) are."""
    return np.packbits(np.asarray(tags) > 0.5, axis=-1)


def tag_set_groups(item_attributes: np.ndarray) -> np.ndarray:
    """[M, T] tags -> [M] int64 group of each item, shared by the items with the same binary tag
    set: to a model that learns attributes from tags, such items are interchangeable."""
    item_attributes = np.asarray(item_attributes)
    if item_attributes.ndim != 2:
        raise ValueError(f"item_attributes must be [M, T] tags, got shape "
                         f"{item_attributes.shape}")
    _, group = np.unique(_tag_signatures(item_attributes), axis=0, return_inverse=True)
    return group.reshape(-1).astype(np.int64)


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
    return _split_by_unordered_pair(triples, triples.reference, triples.target, test_fraction,
                                    seed)


def grouped_split(triples: Triples, groups: np.ndarray, test_fraction: float = 0.2,
                  seed: int = 0) -> tuple[Triples, Triples]:
    """Splits into (train, test) by unordered pair of the items' groups (`groups` [M] int).

    Splitting by item pair still lets a test triple be answered from memory: its reference's
    tag-identical twin, or the same pair of tag sets, is usually in training (see
    `near_duplicate_leakage`). Here every triple between two groups, in either direction, is
    on one side, so no training triple joins a test triple's reference group to its target
    group. The test share is `test_fraction` of the group pairs, not of the triples.
    Deterministic for a given seed.
    """
    groups = _checked_groups(groups, triples)
    return _split_by_unordered_pair(triples, groups[triples.reference], groups[triples.target],
                                    test_fraction, seed)


def _split_by_unordered_pair(triples: Triples, first: np.ndarray, second: np.ndarray,
                             test_fraction: float, seed: int) -> tuple[Triples, Triples]:
    """(train, test) holding `test_fraction` of the unordered pairs {first[p], second[p]} (a
    seeded sample) in test, each pair's triples all on one side."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    low, high = np.minimum(first, second), np.maximum(first, second)
    pairs, pair_of_triple = np.unique(np.stack([low, high], axis=1), axis=0, return_inverse=True)
    pair_of_triple = pair_of_triple.reshape(-1)
    order = np.random.default_rng(seed).permutation(len(pairs))
    is_test_pair = np.zeros(len(pairs), dtype=bool)
    is_test_pair[order[:int(round(test_fraction * len(pairs)))]] = True
    is_test = is_test_pair[pair_of_triple]
    return triples.take(np.flatnonzero(~is_test)), triples.take(np.flatnonzero(is_test))


def near_duplicate_leakage(train: Triples, test: Triples, groups: np.ndarray) -> dict:
    """How many test triples a model could answer from near-duplicates seen in training.

    With `groups` [M] int a group per item (tag-identical items, a synthetic family):
      same_group_pair: test triples (i, y, i') with a training triple from group(i) to
        group(i') (any items, any attribute);
      twin_target: test triples whose target i' is a training triple's target from another
        item j of group(i), j != i.
    Held-out metrics then partly measure memorised tag sets, not generalisation.

    Returns:
      {"test_triples", "same_group_pair", "same_group_pair_share", "twin_target"}; the share
      is NaN without test triples.
    """
    groups = _checked_groups(groups, train, test)
    num_items = len(groups)

    def group_pair(triples):
        return groups[triples.reference] * num_items + groups[triples.target]

    def group_target(triples):
        return groups[triples.reference] * num_items + triples.target

    same_group_pair = np.isin(group_pair(test), group_pair(train))
    # The distinct training references reaching each (reference group, target) ...
    reached = np.unique(np.stack([group_target(train), train.reference], axis=1), axis=0)
    keys, references = np.unique(reached[:, 0], return_counts=True)
    test_keys = group_target(test)
    known = np.isin(test_keys, keys)
    references_of_test = np.zeros(len(test), dtype=np.int64)
    references_of_test[known] = references[np.searchsorted(keys, test_keys[known])]
    # ... not counting the test triple's own reference.
    reached_itself = np.isin(test.reference * num_items + test.target,
                             train.reference * num_items + train.target)
    twin_target = references_of_test - reached_itself > 0
    count = int(same_group_pair.sum())
    return {"test_triples": len(test), "same_group_pair": count,
            "same_group_pair_share": count / len(test) if len(test) else float("nan"),
            "twin_target": int(twin_target.sum())}


def _checked_groups(groups: np.ndarray, *triples: Triples) -> np.ndarray:
    """`groups` renumbered 0..G-1 (G <= M, so group·M + item fits an int64 key), refused unless
    a 1-D integer array covering the triples' items."""
    groups = np.asarray(groups)
    if groups.ndim != 1 or not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(f"groups must be a 1-D integer array (one group per item), got "
                         f"{groups.dtype} of shape {groups.shape}")
    for some in triples:
        if len(some):
            largest = int(max(some.reference.max(), some.target.max()))
            if largest >= len(groups):
                raise ValueError(f"groups has {len(groups)} entries but the triples refer to "
                                 f"item {largest}")
    return np.unique(groups, return_inverse=True)[1].reshape(-1).astype(np.int64)
