"""Where a brute-force walk's time goes: the scores matmul, then the top-k over them.

  python benchmarks/brute_force_topk.py [--items=1000000] [--dim=64] [--queries=10]

One walk is `--queries` γ-step queries against every item. Times (p50 / p99 over `--repeats`
calls of one tf.function each, after a warm-up): the scores alone ([Q, D] × [D, M]); the scores
and `tf.math.top_k`; the scores and `tf.math.approx_max_k` (recall@10 against exact printed);
and a blocked exact top-k (top-k within each of `--blocks` slices of the catalogue, then over
the Q × blocks × k survivors). Reading the table once (M × D float32) is the floor.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from workloads import clustered_unit_vectors, peak_rss_mib, top_k_overlap  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("items", 1_000_000, "Catalogue size M.")
flags.DEFINE_integer("dim", 64, "Item vector dimension D.")
flags.DEFINE_integer("queries", 10, "Queries per call (a walk's γ steps).")
flags.DEFINE_integer("k", 10, "Results per query.")
flags.DEFINE_integer("blocks", 16, "Slices of the blocked top-k.")
flags.DEFINE_integer("repeats", 50, "Timed calls per variant.")


def timed(function, *args):
    function(*args)
    seconds = []
    for _ in range(FLAGS.repeats):
        started = time.perf_counter()
        result = function(*args)
        np.asarray(result[1] if isinstance(result, tuple) else result)
        seconds.append(time.perf_counter() - started)
    return np.percentile(seconds, 50) * 1000, np.percentile(seconds, 99) * 1000, result


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    items = tf.constant(clustered_unit_vectors(FLAGS.items, FLAGS.dim, rng))
    queries = tf.constant(items.numpy()[rng.integers(FLAGS.items, size=FLAGS.queries)]
                          + 0.3 * rng.normal(size=(FLAGS.queries, FLAGS.dim)).astype(np.float32))
    k, blocks = FLAGS.k, FLAGS.blocks
    block = -(-FLAGS.items // blocks)
    padded = tf.pad(items, [[0, block * blocks - FLAGS.items], [0, 0]])

    @tf.function
    def scores_only(q):
        return tf.matmul(q, items, transpose_b=True)

    @tf.function
    def exact(q):
        return tf.math.top_k(tf.matmul(q, items, transpose_b=True), k)

    @tf.function
    def approximate(q):
        return tf.math.approx_max_k(tf.matmul(q, items, transpose_b=True), k)

    @tf.function
    def blocked(q):
        scores = tf.einsum("qd,bmd->qbm", q, tf.reshape(padded, [blocks, block, FLAGS.dim]))
        scores = tf.where(tf.reshape(tf.range(blocks * block) < FLAGS.items, [blocks, block]),
                          scores, tf.float32.min)
        values, positions = tf.math.top_k(scores, k)
        ids = positions + (tf.range(blocks) * block)[None, :, None]
        values, best = tf.math.top_k(tf.reshape(values, [FLAGS.queries, -1]), k)
        return values, tf.gather(tf.reshape(ids, [FLAGS.queries, -1]), best, batch_dims=1)

    floor_ms = FLAGS.items * FLAGS.dim * 4 / 20e9 * 1000
    print(f"M = {FLAGS.items}, D = {FLAGS.dim}, {FLAGS.queries} queries per call, top {k}; "
          f"reading the table once at 20 GB/s ≈ {floor_ms:.1f} ms")
    _, _, truth = timed(exact, queries)
    truth_ids = truth[1].numpy()
    print(f"{'variant':<34} {'p50 ms':>8} {'p99 ms':>8} {'recall@k':>9}")
    for name, function in (("scores only (matmul)", scores_only),
                           ("scores + tf.math.top_k", exact),
                           ("scores + tf.math.approx_max_k", approximate),
                           (f"blocked top_k ({blocks} blocks)", blocked)):
        p50, p99, result = timed(function, queries)
        recall = ("–" if function is scores_only
                  else f"{top_k_overlap(result[1].numpy(), truth_ids):.3f}")
        print(f"{name:<34} {p50:>8.2f} {p99:>8.2f} {recall:>9}")
    print(f"peak resident memory: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    app.run(main)
