"""Walk throughput: the batched walk (all γ steps in one search) against a per-step loop,
ScaNN against brute force, and gradual decoding against greedy, on clustered unit vectors like
a trained item table.

  python benchmarks/walk_benchmark.py [--sizes=3000,100000] [--dim=64] [--queries=64]

Prints, per catalogue size: milliseconds per batch of walks, walks/s, the batched/per-step
speed-up, ScaNN's speed-up over brute force and its agreement with the exact walk of the same
decoding (recall of walk items); then the latency of one walk request (p50 / p99) greedy and
gradual with ScaNN and their ratio; and the process's peak resident memory.
"""

from __future__ import annotations

import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from tfgrad.retrieval.gradual import GradualSettings  # noqa: E402
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
flags.DEFINE_integer("candidates", GradualSettings().candidates, "Gradual decoding's K.")
flags.DEFINE_integer("requests", 200, "Timed one-walk requests per decoding.")


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
        # Levels only steer the decoder; their values do not change its cost.
        levels = rng.uniform(size=(size, len(attribute_vectors))).astype(np.float32)
        gradual = GradualSettings(candidates=FLAGS.candidates)
        brute = Walker(item_vectors, move, BruteForceIndex(item_vectors), levels=levels,
                       gradual=gradual)
        build_started = time.perf_counter()
        scann = Walker(brute.item_vectors, move, ScannIndex(item_vectors), levels=levels,
                       gradual=gradual)
        build_seconds = time.perf_counter() - build_started

        def walk(walker, decoding, batch=None):
            chosen = slice(None) if batch is None else slice(0, batch)
            return tf.function(lambda: walker.walk(reference[chosen], weights[chosen],
                                                   FLAGS.steps, 0.1, decoding=decoding).items)

        methods = {
            "brute, per-step loop": tf.function(
                lambda: per_step_walk(brute, reference, weights, FLAGS.steps, 0.1)[0]),
            "brute, batched": walk(brute, "greedy"),
            "scann, batched": walk(scann, "greedy"),
            "brute, batched, gradual": walk(brute, "gradual"),
            "scann, batched, gradual": walk(scann, "gradual"),
        }
        seconds, items = {}, {}
        for name, function in methods.items():
            seconds[name], result = time_per_batch(function, FLAGS.repeats)
            items[name] = result.numpy()
        for name in methods:
            exact = items["brute, batched, gradual" if "gradual" in name else "brute, batched"]
            recall = np.mean([len(set(a) & set(e)) / len(e)
                              for a, e in zip(items[name], exact)])
            print(f"{size:>9} {name:<22} {1000 * seconds[name]:>9.2f} "
                  f"{FLAGS.queries / seconds[name]:>9.0f} "
                  f"{seconds['brute, per-step loop'] / seconds[name]:>10.2f}x "
                  f"{seconds['brute, batched'] / seconds[name]:>8.2f}x {recall:>7.3f}")
        print(f"{size:>9} ScaNN index built in {build_seconds:.2f} s with "
              f"{scann.index.settings}")
        latencies = {}
        for decoding in ("greedy", "gradual"):
            one_walk = walk(scann, decoding, batch=1)
            one_walk()
            times = []
            for _ in range(FLAGS.requests):
                started = time.perf_counter()
                one_walk().numpy()
                times.append(time.perf_counter() - started)
            latencies[decoding] = np.percentile(times, [50, 99]) * 1000
            print(f"{size:>9} one {decoding} walk, scann: p50 {latencies[decoding][0]:.2f} ms, "
                  f"p99 {latencies[decoding][1]:.2f} ms")
        ratio = latencies["gradual"] / latencies["greedy"]
        print(f"{size:>9} gradual / greedy, one walk with scann: p50 {ratio[0]:.2f}x, "
              f"p99 {ratio[1]:.2f}x; batches of {FLAGS.queries}: "
              f"{seconds['scann, batched, gradual'] / seconds['scann, batched']:.2f}x")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    app.run(main)
