"""ScaNN against brute force by catalogue size: one walk's latency (10 steps) and recall@10.

  python benchmarks/index_benchmark.py [--sizes=10000,100000,1000000] [--dim=64]

Item vectors are clustered unit vectors (like a trained item table). ScaNN's settings come from
`ScannSettings.for_catalogue` (ScaNN's rules: brute force under 20k items; above, √n leaves,
a tenth of them searched, asymmetric hashing, exact rescoring of 250 candidates). Prints build
time, per-walk latency (mean and p99 over single-walk requests), the speed-up, recall@10 of
single searches and agreement of whole walks, and peak memory.
"""

from __future__ import annotations

import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from tfgrad.retrieval.index import BruteForceIndex, ScannIndex  # noqa: E402
from tfgrad.retrieval.walk import Walker  # noqa: E402
from tfgrad.spaces import LinearMove  # noqa: E402
from workloads import clustered_unit_vectors, walk_requests  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["10000", "100000", "1000000"], "Catalogue sizes M.")
flags.DEFINE_integer("dim", 64, "Item vector dimension D.")
flags.DEFINE_integer("walks", 200, "Single-walk requests timed per index.")
flags.DEFINE_integer("recall_queries", 1000, "Single searches for recall@10.")


def walk_latencies(walker, references, weights):
    walk = tf.function(lambda r, w: walker.walk(r, w, 10, 0.1).items)
    walk(references[:1], weights[:1])
    seconds, items = [], []
    for i in range(len(references)):
        started = time.perf_counter()
        items.append(walk(references[i:i + 1], weights[i:i + 1]).numpy()[0])
        seconds.append(time.perf_counter() - started)
    return np.array(seconds), np.array(items)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    rng = np.random.default_rng(0)
    print(f"one walk = 10 steps searched as one batch; D = {FLAGS.dim}; clustered unit vectors")
    print(f"{'items':>9} {'index':<12} {'build s':>8} {'walk ms':>8} {'p99 ms':>8} "
          f"{'speed-up':>9} {'recall@10':>10} {'walk agree':>11}")
    for size in (int(s) for s in FLAGS.sizes):
        item_vectors = clustered_unit_vectors(size, FLAGS.dim, rng)
        attribute_vectors, references, weights = walk_requests(size, FLAGS.walks, FLAGS.dim,
                                                               rng)
        queries = item_vectors[rng.integers(size, size=FLAGS.recall_queries)] + 0.3 * (
            rng.normal(size=(FLAGS.recall_queries, FLAGS.dim)).astype(np.float32))

        brute_index = BruteForceIndex(item_vectors)
        started = time.perf_counter()
        scann_index = ScannIndex(item_vectors)
        build_seconds = time.perf_counter() - started

        move = LinearMove(attribute_vectors)
        brute = Walker(brute_index.item_vectors, move, brute_index)
        scann = Walker(brute_index.item_vectors, move, scann_index)
        brute_seconds, brute_items = walk_latencies(brute, references, weights)
        scann_seconds, scann_items = walk_latencies(scann, references, weights)
        _, exact = brute_index.search(tf.constant(queries), 10)
        _, approximate = scann_index.search(tf.constant(queries), 10)
        recall = np.mean([len(set(a) & set(e)) / 10 for a, e in
                          zip(approximate.numpy(), exact.numpy())])
        agree = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(scann_items, brute_items)])
        speed_up = brute_seconds.mean() / scann_seconds.mean()
        for name, build, seconds in (("brute force", 0.0, brute_seconds),
                                     ("scann", build_seconds, scann_seconds)):
            print(f"{size:>9} {name:<12} {build:>8.2f} {1000 * seconds.mean():>8.2f} "
                  f"{1000 * np.percentile(seconds, 99):>8.2f} "
                  + (f"{speed_up:>8.1f}x {recall:>10.3f} {agree:>11.3f}" if name == "scann"
                     else f"{'1.0x':>9} {'1.000':>10} {'1.000':>11}"))
        print(f"{size:>9} ScaNN settings: {scann_index.settings}")
    print(f"peak resident memory: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    app.run(main)
