"""Synthetic workloads shared by the walk and index benchmarks, and the peak-memory figure
every benchmark prints."""

from __future__ import annotations

import resource

import numpy as np
import tensorflow as tf

NUM_ATTRIBUTES = 8


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def clustered_unit_vectors(num_items, dim, rng):
    """Item vectors in num_items / 100 clusters, L2-normalised (float32 throughout, so 1M
    items stay a few hundred MB)."""
    centres = rng.normal(size=(max(num_items // 100, 10), dim)).astype(np.float32)
    vectors = centres[rng.integers(len(centres), size=num_items)]
    vectors += 0.5 * rng.normal(size=(num_items, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def walk_requests(num_items, num_walks, dim, rng):
    """Attribute vectors [8, dim] and `num_walks` single-attribute walks: distinct reference
    items [B] and signed one-hot weights [B, 8]."""
    attribute_vectors = np.abs(rng.normal(size=(NUM_ATTRIBUTES, dim))).astype(np.float32) * 0.2
    references = tf.constant(rng.choice(num_items, num_walks, replace=False), tf.int32)
    weights = np.zeros((num_walks, NUM_ATTRIBUTES), np.float32)
    weights[np.arange(num_walks), rng.integers(NUM_ATTRIBUTES, size=num_walks)] = rng.choice(
        [-1.0, 1.0], num_walks)
    return attribute_vectors, references, tf.constant(weights)


def top_k_overlap(found, truth):
    """Mean share of each row of `truth` [Q, k] that the same row of `found` holds: recall@k
    of an approximate search, or how far two walks agree."""
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)]))
