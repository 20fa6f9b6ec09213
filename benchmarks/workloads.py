"""Synthetic workloads shared by the walk and index benchmarks, the peak-memory figure every
benchmark prints, and the timing helpers of the benchmarks that time each index in a process
of its own."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

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


def index_catalogue(size, dim, num_walks, num_queries):
    """The item vectors [M, D], walk requests (`walk_requests`) and search queries [Q, D] (an
    item's vector plus noise) of a catalogue size, seeded by the size so that every process
    timing one index sees the same catalogue."""
    rng = np.random.default_rng(size)
    item_vectors = clustered_unit_vectors(size, dim, rng)
    attribute_vectors, references, weights = walk_requests(size, num_walks, dim, rng)
    queries = item_vectors[rng.integers(size, size=num_queries)] + 0.3 * (
        rng.normal(size=(num_queries, dim)).astype(np.float32))
    return item_vectors, attribute_vectors, references, weights, queries


def timed_calls(function, inputs):
    """(seconds [n], outputs) of `function` called on each input in turn, after one untimed
    call (which traces a tf.function)."""
    function(inputs[0])
    seconds, outputs = [], []
    for value in inputs:
        started = time.perf_counter()
        outputs.append(function(value))
        seconds.append(time.perf_counter() - started)
    return np.array(seconds), outputs


def one_row_requests(count, *arrays):
    """[count] requests: tuples of each array's row i as a [1, …] tensor, made before any
    timing, so that a timed call measures the call and not the slicing or conversion of its
    inputs (≈ 0.2 ms a tensor, more than a tenth of a 1M-item query)."""
    return [tuple(tf.constant(np.asarray(array)[i:i + 1]) for array in arrays)
            for i in range(count)]


def walk_latencies(walker, references, weights, decoding="greedy"):
    """(seconds [B], walk items [B, 10]) of B single-walk requests (10 steps of 0.1) through
    `Walker.walk`."""
    walk = tf.function(lambda r, w: walker.walk(r, w, 10, 0.1, decoding=decoding).items)
    seconds, items = timed_calls(lambda request: walk(*request).numpy()[0],
                                 one_row_requests(len(references), references, weights))
    return seconds, np.array(items)


def percentiles(seconds, prefix=""):
    """{prefix + "p50", "p99", "mean"} of timings, seconds."""
    return {f"{prefix}p50": float(np.percentile(seconds, 50)),
            f"{prefix}p99": float(np.percentile(seconds, 99)),
            f"{prefix}mean": float(np.mean(seconds))}


def run_in_own_process(script, arguments, output, env=None):
    """Runs `script` with `arguments` in a fresh Python process (cwd: the benchmarks folder)
    and returns what it wrote: the figures of `output`.json and the arrays of `output`.npz."""
    subprocess.run([sys.executable, os.path.abspath(script), *arguments], check=True,
                   cwd=os.path.dirname(os.path.abspath(__file__)), env=env)
    with open(output + ".json") as f:
        figures = json.load(f)
    return figures, np.load(output + ".npz")
