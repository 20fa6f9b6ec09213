"""A hand-made CGIR training batch for model tests."""

import numpy as np


def cgir_batch(num_items, seed=0, users=6, triples=5, with_count=False):
    """Multi-hot interaction rows (every row non-empty; with_count: one entry is a count of 2,
    not 0/1) and triples with reference != target."""
    rng = np.random.default_rng(seed)
    interactions = (rng.random((users, num_items)) < 0.2).astype(np.float32)
    interactions[:, 0] = 1.0
    if with_count:
        interactions[1, 5] = 2.0
    reference = rng.choice(num_items, size=triples, replace=False).astype(np.int64)
    target = (reference + 1 + rng.integers(num_items - 1, size=triples)) % num_items
    return {"interactions": interactions, "reference": reference,
            "target": target.astype(np.int64),
            "attribute": rng.integers(3, size=triples).astype(np.int64),
            "direction": rng.choice([-1, 1], size=triples).astype(np.int64)}
