"""tfgrad's indices and walk against tensorflow-recommenders' top-k layers, on the same vectors,
each index timed in a process of its own.

  pip install -e ".[peers]"
  python benchmarks/tfrs_index_benchmark.py [--sizes=100000,1000000] [--dim=64]

Rows, per catalogue size (clustered unit vectors, `workloads.index_catalogue`):
  tfgrad brute force   `BruteForceIndex`, walks through `Walker.walk` (the exact answer)
  tfgrad ScaNN         `ScannIndex` with `ScannSettings.for_catalogue`
  TFRS brute force     `tfrs.layers.factorized_top_k.BruteForce`
  TFRS ScaNN default   `.ScaNN()` as shipped: 100 leaves, 10 searched, no reordering
  TFRS ScaNN matched   `.ScaNN` with tfgrad's leaves, leaves searched and reordering (TFRS
                       does not expose ScaNN's anisotropic threshold or training sample size)
TFRS runs with Keras 2 (TF_USE_LEGACY_KERAS=1, `tfgrad.peers.process.tfrs_environment`) in its
children only. Each child prints nothing and writes its figures:
  build s      index construction
  1q p50/p99   one query, top 10
  walk p50/p99 one walk request: 10 queries q_n = h + 0.1·n·d searched as one batch (tfgrad:
               `Walker.walk`, greedy, so any walk-aware search there is measured; TFRS: the
               layer on the batch of 10, k = 11, then the same distinct pick as tfgrad's)
  q/s          --batched_queries queries in batches of --batch_size
  recall@10    of those queries, against tfgrad brute force's top 10
  walk agree   share of each walk's items the exact walk (tfgrad brute force) also has
Search and walk calls are `tf.function`s in both libraries (what an export serves). The last
line per size is the ratio tfgrad ScaNN / TFRS ScaNN matched (< 1: tfgrad faster).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from workloads import (index_catalogue, one_row_requests, peak_rss_mib,  # noqa: E402
                       percentiles, run_in_own_process, timed_calls, top_k_overlap)

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["100000", "1000000"], "Catalogue sizes M.")
flags.DEFINE_integer("dim", 64, "Item vector dimension D.")
flags.DEFINE_integer("walks", 100, "Single-walk requests timed per index.")
flags.DEFINE_integer("single_queries", 200, "Single-query searches timed per index.")
flags.DEFINE_integer("batched_queries", 1000, "Queries of the throughput run (and recall@10).")
flags.DEFINE_integer("batch_size", 100, "Queries per batch in the throughput run.")
KINDS = {"tfgrad_brute_force": "tfgrad brute force", "tfgrad_scann": "tfgrad ScaNN",
         "tfrs_brute_force": "TFRS brute force", "tfrs_scann_default": "TFRS ScaNN default",
         "tfrs_scann_matched": "TFRS ScaNN matched"}
flags.DEFINE_enum("child_index", None, list(KINDS),
                  "Internal: time this index alone and write its figures to --child_output.")
flags.DEFINE_integer("child_size", None, "Internal: the child's catalogue size.")
flags.DEFINE_string("child_output", None, "Internal: where the child writes (JSON and .npz).")
STEPS, STEP_SIZE, K = 10, 0.1, 10


def tfgrad_index(kind, item_vectors, attribute_vectors):
    """(search, walk, settings) over tfgrad's index of `kind`."""
    from tfgrad.retrieval.index import BruteForceIndex, ScannIndex
    from tfgrad.retrieval.walk import Walker
    from tfgrad.spaces import LinearMove

    index = (BruteForceIndex(item_vectors) if kind == "tfgrad_brute_force"
             else ScannIndex(item_vectors))
    walker = Walker(tf.constant(item_vectors), LinearMove(attribute_vectors), index)
    search = tf.function(lambda queries: index.search(queries, K)[1])
    walk = tf.function(lambda r, w: walker.walk(r, w, STEPS, STEP_SIZE).items)
    return search, walk, str(getattr(index, "settings", ""))


def tfrs_index(kind, item_vectors, attribute_vectors):
    """(search, walk, settings) over a TFRS top-k layer; the walk's queries and its distinct
    pick are tfgrad's (`LinearMove.queries`, `pick_distinct`), so only the search differs."""
    from tfgrad.peers.tfrs_peer import top_k_layer
    from tfgrad.retrieval.index import ScannSettings
    from tfgrad.retrieval.walk import pick_distinct, walk_strengths
    from tfgrad.spaces import LinearMove

    settings = {}
    if kind == "tfrs_scann_matched":
        matched = ScannSettings.for_catalogue(len(item_vectors))
        settings = dict(num_leaves=matched.num_leaves,
                        num_leaves_to_search=matched.num_leaves_to_search,
                        reorder_candidates=matched.reorder_candidates)
    layer = top_k_layer("brute_force" if kind == "tfrs_brute_force" else "scann",
                        item_vectors, K, **settings)
    item_table, move = tf.constant(item_vectors), LinearMove(attribute_vectors)
    strengths = walk_strengths(STEPS, STEP_SIZE)

    def walk(reference, weights):
        queries = move.queries(tf.gather(item_table, reference), weights, strengths)
        scores, items = layer(tf.reshape(queries, [-1, item_table.shape[1]]), k=STEPS + 1)
        return pick_distinct(tf.reshape(scores, [1, STEPS, -1]),
                             tf.reshape(tf.cast(items, tf.int32), [1, STEPS, -1]),
                             reference)[0]

    search = tf.function(lambda queries: layer(queries, k=K)[1])
    return search, tf.function(walk), str(settings or ("TFRS defaults" if "scann" in kind
                                                       else ""))


def run_child(kind, size, output):
    """One index alone; figures to `output`.json, walk items and top-10s to `output`.npz."""
    item_vectors, attribute_vectors, references, weights, queries = index_catalogue(
        size, FLAGS.dim, FLAGS.walks, FLAGS.batched_queries)
    started = time.perf_counter()
    search, walk, settings = (tfgrad_index if kind.startswith("tfgrad") else tfrs_index)(
        kind, item_vectors, attribute_vectors)
    build_seconds = time.perf_counter() - started
    single, _ = timed_calls(lambda request: search(*request).numpy(),
                            one_row_requests(FLAGS.single_queries, queries))
    walk_seconds, walks = timed_calls(lambda request: walk(*request).numpy()[0],
                                      one_row_requests(FLAGS.walks, references, weights))
    batches = [queries[start:start + FLAGS.batch_size]
               for start in range(0, len(queries), FLAGS.batch_size)]
    search(batches[0])
    started = time.perf_counter()
    top = np.concatenate([search(batch).numpy() for batch in batches])
    batched_seconds = time.perf_counter() - started
    np.savez(output + ".npz", walks=np.array(walks), top=top)
    with open(output + ".json", "w") as f:
        json.dump({"build": build_seconds, **percentiles(single, "one_"),
                   **percentiles(walk_seconds, "walk_"),
                   "queries_per_second": len(queries) / batched_seconds,
                   "peak_mib": peak_rss_mib(), "settings": settings}, f)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.child_index:
        run_child(FLAGS.child_index, FLAGS.child_size, FLAGS.child_output)
        return
    from tfgrad.peers.process import PeerNotInstalledError, require_tfrs, tfrs_environment

    try:
        require_tfrs()
    except PeerNotInstalledError as error:
        sys.exit(f"error: {error}")
    print(f"D = {FLAGS.dim}; clustered unit vectors; each index in its own process; walk = "
          f"{STEPS} queries as one batch; {FLAGS.batched_queries} queries in batches of "
          f"{FLAGS.batch_size} for q/s and recall@10")
    header = (f"{'items':>9} {'index':<20} {'build s':>8} {'1q p50':>7} {'1q p99':>7} "
              f"{'walk p50':>8} {'walk p99':>8} {'walk/1q':>7} {'q/s':>8} {'recall@10':>9} "
              f"{'walk agree':>10} {'peak MiB':>8}")
    print(header + "\n" + "(times in ms except build)")
    with tempfile.TemporaryDirectory() as directory:
        for size in (int(s) for s in FLAGS.sizes):
            figures, arrays = {}, {}
            for kind in KINDS:
                output = os.path.join(directory, f"{kind}_{size}")
                figures[kind], arrays[kind] = run_in_own_process(
                    __file__, [f"--child_index={kind}", f"--child_size={size}",
                               f"--child_output={output}", f"--dim={FLAGS.dim}",
                               f"--walks={FLAGS.walks}",
                               f"--single_queries={FLAGS.single_queries}",
                               f"--batched_queries={FLAGS.batched_queries}",
                               f"--batch_size={FLAGS.batch_size}"], output,
                    env=tfrs_environment() if kind.startswith("tfrs") else None)
            exact = arrays["tfgrad_brute_force"]
            for kind, name in KINDS.items():
                row = figures[kind]
                row["recall"] = top_k_overlap(arrays[kind]["top"], exact["top"])
                row["agree"] = top_k_overlap(arrays[kind]["walks"], exact["walks"])
                print(f"{size:>9} {name:<20} {row['build']:>8.2f} {1000 * row['one_p50']:>7.2f} "
                      f"{1000 * row['one_p99']:>7.2f} {1000 * row['walk_p50']:>8.2f} "
                      f"{1000 * row['walk_p99']:>8.2f} {row['walk_p50'] / row['one_p50']:>7.1f} "
                      f"{row['queries_per_second']:>8.0f} {row['recall']:>9.3f} "
                      f"{row['agree']:>10.3f} {row['peak_mib']:>8.0f}")
            ours, theirs = figures["tfgrad_scann"], figures["tfrs_scann_matched"]
            print(f"{size:>9} {'tfgrad/TFRS-matched':<20} {ours['build'] / theirs['build']:>8.2f} "
                  f"{ours['one_p50'] / theirs['one_p50']:>7.2f} "
                  f"{ours['one_p99'] / theirs['one_p99']:>7.2f} "
                  f"{ours['walk_p50'] / theirs['walk_p50']:>8.2f} "
                  f"{ours['walk_p99'] / theirs['walk_p99']:>8.2f} {'':>7} "
                  f"{ours['queries_per_second'] / theirs['queries_per_second']:>8.2f} "
                  f"{ours['recall'] - theirs['recall']:>+9.3f} "
                  f"{ours['agree'] - theirs['agree']:>+10.3f} "
                  f"{ours['peak_mib'] / theirs['peak_mib']:>8.2f}")
            print(f"{size:>9} settings: tfgrad {figures['tfgrad_scann']['settings']}; TFRS "
                  f"matched {figures['tfrs_scann_matched']['settings']}")


if __name__ == "__main__":
    app.run(main)
