"""Walk throughput: the batched walk (all γ steps in one search) against a per-step loop, and
ScaNN against brute force, on clustered unit vectors like a trained item table.

  python benchmarks/walk_benchmark.py [--sizes=3000,100000] [--dim=64] [--queries=64]

Prints, per catalogue size: milliseconds per batch of walks, walks/s, the batched/per-step
speed-up, ScaNN's speed-up over brute force and its agreement with the exact walk (recall of
walk items), and the process's peak resident memory.
"""

from __future__ import annotations

import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from tfgrad.retrieval.index import BruteForceIndex, ScannIndex  # noqa: E402
from tfgrad.retrieval.walk import Walker, pick_distinct, walk_strengths  # noqa: E402
from tfgrad.spaces import LinearMove  # noqa: E402
from workloads import clustered_unit_vectors, walk_requests  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["3000", "100000"], "Catalogue sizes M.")
flags.DEFINE_integer("dim", 64, "Item vector dimension D.")
flags.DEFINE_integer("queries", 64, "Walks per batch B.")
flags.DEFINE_integer("steps", 10, "Walk length N.")
flags.DEFINE_integer("repeats", 20, "Timed batches per method.")


def per_step_walk(walker, reference, weights, steps, step_size):
    """The obvious implementation: one search per step, each for step + 1 candidates."""
    strengths = walk_strengths(steps, step_size)
    queries = walker.queries(reference, weights, strengths)
    scores, items = [], []
    for step in range(steps):
        step_scores, step_items = walker.index.search(queries[:, step, :], steps + 1)
        scores.append(step_scores)
        items.append(step_items)
    return pick_distinct(tf.stack(scores, 1), tf.stack(items, 1), reference)


def time_per_batch(function, repeats):
    function()  # trace and warm up
    started = time.perf_counter()
    for _ in range(repeats):
        result = function()
    return (time.perf_counter() - started) / repeats, result


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    print(f"walks of {FLAGS.steps} steps, batches of {FLAGS.queries}, D = {FLAGS.dim}")
    print(f"{'items':>9} {'method':<22} {'ms/batch':>9} {'walks/s':>9} {'vs per-step':>11} "
          f"{'vs brute':>9} {'recall':>7}")
    for size in (int(s) for s in FLAGS.sizes):
        item_vectors = clustered_unit_vectors(size, FLAGS.dim, rng)
        attribute_vectors, reference, weights = walk_requests(size, FLAGS.queries, FLAGS.dim,
                                                              rng)
        move = LinearMove(attribute_vectors)
        brute = Walker(item_vectors, move, BruteForceIndex(item_vectors))
        build_started = time.perf_counter()
        scann = Walker(brute.item_vectors, move, ScannIndex(item_vectors))
        build_seconds = time.perf_counter() - build_started

        methods = {
            "brute, per-step loop": tf.function(
                lambda: per_step_walk(brute, reference, weights, FLAGS.steps, 0.1)[0]),
            "brute, batched": tf.function(
                lambda: brute.walk(reference, weights, FLAGS.steps, 0.1).items),
            "scann, batched": tf.function(
                lambda: scann.walk(reference, weights, FLAGS.steps, 0.1).items),
        }
        seconds, items = {}, {}
        for name, function in methods.items():
            seconds[name], result = time_per_batch(function, FLAGS.repeats)
            items[name] = result.numpy()
        exact = items["brute, batched"]
        for name in methods:
            recall = np.mean([len(set(a) & set(e)) / len(e)
                              for a, e in zip(items[name], exact)])
            print(f"{size:>9} {name:<22} {1000 * seconds[name]:>9.2f} "
                  f"{FLAGS.queries / seconds[name]:>9.0f} "
                  f"{seconds['brute, per-step loop'] / seconds[name]:>10.2f}x "
                  f"{seconds['brute, batched'] / seconds[name]:>8.2f}x {recall:>7.3f}")
        print(f"{size:>9} ScaNN index built in {build_seconds:.2f} s with "
              f"{scann.index.settings}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    app.run(main)
