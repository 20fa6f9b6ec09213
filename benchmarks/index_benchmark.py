"""ScaNN against brute force by catalogue size: one walk's latency (10 steps) and recall@10,
each index timed in a process of its own.

  python benchmarks/index_benchmark.py [--sizes=10000,100000,1000000] [--dim=64]

Item vectors are clustered unit vectors (like a trained item table), generated from a seed per
size so that every process sees the same catalogue. ScaNN's settings come from
`ScannSettings.for_catalogue` (ScaNN's rules: brute force under 20k items; above, √n leaves,
a third of them searched, asymmetric hashing, exact rescoring of 500 candidates). Each index
runs in a fresh process (a 1M-item brute-force walk measured after a ScaNN index was built in
the same process ran ≈ 4× slower than alone), which prints its build time, per-walk latency
(p50, p99 and mean over single-walk requests) and peak memory; the parent prints them side by
side with the speed-up of the p50s, recall@10 of single searches and the agreement of whole
walks.
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

from workloads import (index_catalogue, peak_rss_mib, run_in_own_process,  # noqa: E402
                       top_k_overlap, walk_latencies)

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["10000", "100000", "1000000"], "Catalogue sizes M.")
flags.DEFINE_integer("dim", 64, "Item vector dimension D.")
flags.DEFINE_integer("walks", 200, "Single-walk requests timed per index.")
flags.DEFINE_integer("recall_queries", 1000, "Single searches for recall@10.")
flags.DEFINE_enum("child_index", None, ["brute_force", "scann"],
                  "Internal: time this index alone and write its figures to --child_output.")
flags.DEFINE_integer("child_size", None, "Internal: the child's catalogue size.")
flags.DEFINE_string("child_output", None, "Internal: where the child writes (JSON and .npy).")


def catalogue(size):
    """The size's item vectors, walk requests and recall queries, the same in every process."""
    return index_catalogue(size, FLAGS.dim, FLAGS.walks, FLAGS.recall_queries)


def run_child(kind, size, output):
    """One index alone: build, walks, search results; figures to `output`.json, walk items and
    top-10 of the recall queries to `output`.npz."""
    from tfgrad.retrieval.index import BruteForceIndex, ScannIndex
    from tfgrad.retrieval.walk import Walker
    from tfgrad.spaces import LinearMove

    item_vectors, attribute_vectors, references, weights, queries = catalogue(size)
    started = time.perf_counter()
    index = BruteForceIndex(item_vectors) if kind == "brute_force" else ScannIndex(item_vectors)
    build_seconds = time.perf_counter() - started
    walker = Walker(tf.constant(item_vectors), LinearMove(attribute_vectors), index)
    seconds, items = walk_latencies(walker, references, weights)
    _, top = index.search(tf.constant(queries), 10)
    np.savez(output + ".npz", walks=items, top=top.numpy())
    with open(output + ".json", "w") as f:
        json.dump({"build": build_seconds if kind == "scann" else 0.0,
                   "p50": float(np.percentile(seconds, 50)),
                   "p99": float(np.percentile(seconds, 99)), "mean": float(seconds.mean()),
                   "peak_mib": peak_rss_mib(),
                   "settings": str(getattr(index, "settings", ""))}, f)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.child_index:
        run_child(FLAGS.child_index, FLAGS.child_size, FLAGS.child_output)
        return
    print(f"one walk = 10 steps searched as one batch; D = {FLAGS.dim}; clustered unit "
          f"vectors; each index in its own process")
    print(f"{'items':>9} {'index':<12} {'build s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'mean ms':>8} {'speed-up':>9} {'recall@10':>10} {'walk agree':>11} {'peak MiB':>9}")
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
            speed_up = figures["brute_force"]["p50"] / figures["scann"]["p50"]
            recall = top_k_overlap(arrays["scann"]["top"], arrays["brute_force"]["top"])
            agree = top_k_overlap(arrays["scann"]["walks"], arrays["brute_force"]["walks"])
            for kind, name in (("brute_force", "brute force"), ("scann", "scann")):
                row = figures[kind]
                tail = (f"{speed_up:>8.1f}x {recall:>10.3f} {agree:>11.3f}" if kind == "scann"
                        else f"{'1.0x':>9} {'1.000':>10} {'1.000':>11}")
                print(f"{size:>9} {name:<12} {row['build']:>8.2f} {1000 * row['p50']:>8.2f} "
                      f"{1000 * row['p99']:>8.2f} {1000 * row['mean']:>8.2f} {tail} "
                      f"{row['peak_mib']:>9.0f}")
            print(f"{size:>9} ScaNN settings: {figures['scann']['settings']}")


if __name__ == "__main__":
    app.run(main)
