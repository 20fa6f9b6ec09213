"""ScaNN against brute force by catalogue size, each index timed in a process of its own: one
query's latency, one walk's (10 steps; every step searched, or walk-aware: the two ends searched
wider and their candidates rescored per step, `tfgrad.retrieval.walk_search`), in greedy and
gradual decoding, recall@10 and the walks' agreement with the exact walk.

  python benchmarks/index_benchmark.py [--sizes=10000,100000,1000000] [--dim=64]

Item vectors are clustered unit vectors (like a trained item table), generated from a seed per
size so that every process sees the same catalogue. ScaNN's settings come from
`ScannSettings.for_catalogue` (ScaNN's rules: brute force under 20k items; above, √n leaves,
a third of them searched, asymmetric hashing, exact rescoring of 500 candidates). Each index
runs in a fresh process (a 1M-item brute-force walk measured after a ScaNN index was built in
the same process ran ≈ 4× slower than alone), which prints its build time, per-walk latency
(p50, p99 and mean over single-walk requests) and peak memory; the parent prints them side by
side with the walk's cost in single queries, the speed-up over brute force's per-step walk,
recall@10 of single searches and the agreement of whole walks with brute force's per-step
walk in the same decoding (the exact walk). Gradual decoding reads levels made from the item
vectors (a sigmoid of their attribute scores), so that its path depends on the candidates.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from tfgrad.retrieval.walk import SEARCH_WIDTH_PER_K  # noqa: E402
from workloads import (index_catalogue, one_row_requests, peak_rss_mib,  # noqa: E402
                       percentiles, run_in_own_process, timed_calls, top_k_overlap,
                       walk_latencies)

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["10000", "100000", "1000000"], "Catalogue sizes M.")
flags.DEFINE_integer("dim", 64, "Item vector dimension D.")
flags.DEFINE_integer("walks", 200, "Single-walk requests timed per index.")
flags.DEFINE_integer("recall_queries", 1000, "Single searches for recall@10.")
flags.DEFINE_enum("child_index", None, ["brute_force", "scann"],
                  "Internal: time this index alone and write its figures to --child_output.")
flags.DEFINE_integer("child_size", None, "Internal: the child's catalogue size.")
flags.DEFINE_string("child_output", None, "Internal: where the child writes (JSON and .npy).")


SEARCHES = ("per_step", "walk_aware")
DECODINGS = ("greedy", "gradual")


def catalogue(size):
    """The size's item vectors, walk requests and recall queries, the same in every process."""
    return index_catalogue(size, FLAGS.dim, FLAGS.walks, FLAGS.recall_queries)


def run_child(kind, size, output):
    """One index alone: build, one-query searches, walks in both searches and decodings;
    figures to `output`.json, walk items and top-10 of the recall queries to `output`.npz."""
    from tfgrad.retrieval.index import BruteForceIndex, ScannIndex
    from tfgrad.retrieval.walk import Walker, walk_strengths
    from tfgrad.retrieval.walk_search import search_walk
    from tfgrad.spaces import LinearMove

    item_vectors, attribute_vectors, references, weights, queries = catalogue(size)
    levels = tf.sigmoid(4.0 * tf.matmul(item_vectors, attribute_vectors, transpose_b=True))
    started = time.perf_counter()
    index = BruteForceIndex(item_vectors) if kind == "brute_force" else ScannIndex(item_vectors)
    build_seconds = time.perf_counter() - started
    figures = {"build": build_seconds if kind == "scann" else 0.0,
               "settings": str(getattr(index, "settings", ""))}
    one_query = tf.function(lambda q: index.search(q, 10)[1])
    seconds, _ = timed_calls(lambda request: one_query(*request).numpy(),
                             one_row_requests(FLAGS.walks, queries))
    figures["one_query"] = percentiles(seconds)
    arrays = {}
    for search in SEARCHES:
        walker = Walker(tf.constant(item_vectors), LinearMove(attribute_vectors), index,
                        levels=levels,
                        search_width_per_k=SEARCH_WIDTH_PER_K if search == "walk_aware" else 0)
        for decoding in DECODINGS:
            seconds, arrays[f"{search}_{decoding}"] = walk_latencies(walker, references,
                                                                     weights, decoding)
            figures[f"{search}_{decoding}"] = percentiles(seconds)
        if search == "walk_aware":
            queries_of_walks = walker.queries(references, weights, walk_strengths(10, 0.1))
            figures["covered"] = {
                decoding: float(tf.reduce_mean(tf.cast(search_walk(
                    index, walker.item_vectors, walker.max_item_norm, queries_of_walks, k,
                    SEARCH_WIDTH_PER_K * k)[2], tf.float32)))
                for decoding, k in (("greedy", 11), ("gradual", walker.gradual.candidates))}
    _, top = index.search(tf.constant(queries), 10)
    np.savez(output + ".npz", top=top.numpy(), **arrays)
    figures["peak_mib"] = peak_rss_mib()
    with open(output + ".json", "w") as f:
        json.dump(figures, f)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.child_index:
        run_child(FLAGS.child_index, FLAGS.child_size, FLAGS.child_output)
        return
    print(f"one walk = 10 steps; per step: the 10 queries searched as one batch; walk-aware: "
          f"the two ends searched for {SEARCH_WIDTH_PER_K}·k, rescored per step; D = "
          f"{FLAGS.dim}; clustered unit vectors; each index in its own process")
    print(f"{'items':>9} {'index':<12} {'request':<20} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'mean ms':>8} {'x query':>8} {'speed-up':>9} {'agree':>6} {'covered':>8}")
    with tempfile.TemporaryDirectory() as directory:
        for size in (int(s) for s in FLAGS.sizes):
            figures, arrays = {}, {}
            for kind in ("brute_force", "scann"):
                output = os.path.join(directory, f"{kind}_{size}")
                figures[kind], arrays[kind] = run_in_own_process(
                    __file__, [f"--child_index={kind}", f"--child_size={size}",
                               f"--child_output={output}", f"--dim={FLAGS.dim}",
                               f"--walks={FLAGS.walks}",
                               f"--recall_queries={FLAGS.recall_queries}"], output)
            for kind, name in (("brute_force", "brute force"), ("scann", "scann")):
                row = figures[kind]
                query = row["one_query"]
                print(f"{size:>9} {name:<12} {'one query, k=10':<20} {1000 * query['p50']:>8.2f} "
                      f"{1000 * query['p99']:>8.2f} {1000 * query['mean']:>8.2f} {'1.0':>8}")
                for decoding in DECODINGS:
                    exact = figures["brute_force"][f"per_step_{decoding}"]["p50"]
                    for search in SEARCHES:
                        walk = row[f"{search}_{decoding}"]
                        agree = top_k_overlap(arrays[kind][f"{search}_{decoding}"],
                                              arrays["brute_force"][f"per_step_{decoding}"])
                        covered = (f"{row['covered'][decoding]:>8.3f}" if search == "walk_aware"
                                   else f"{'':>8}")
                        print(f"{size:>9} {name:<12} {search + ' ' + decoding:<20} "
                              f"{1000 * walk['p50']:>8.2f} {1000 * walk['p99']:>8.2f} "
                              f"{1000 * walk['mean']:>8.2f} {walk['p50'] / query['p50']:>8.1f} "
                              f"{exact / walk['p50']:>8.1f}x {agree:>6.3f} {covered}")
            recall = top_k_overlap(arrays["scann"]["top"], arrays["brute_force"]["top"])
            print(f"{size:>9} ScaNN recall@10 {recall:.3f}, build {figures['scann']['build']:.1f}"
                  f" s, peak MiB: brute force {figures['brute_force']['peak_mib']:.0f}, ScaNN "
                  f"{figures['scann']['peak_mib']:.0f}; settings {figures['scann']['settings']}")


if __name__ == "__main__":
    app.run(main)
