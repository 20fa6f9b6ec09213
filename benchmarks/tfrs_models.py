"""A TFRS two-tower retrieval model as a row of tfgrad's DVBPR table (H&M) and CGIR retrieval
table (MovieLens), beside tfgrad's rows from the same run, seeds and splits.

  pip install -e ".[peers]"
  python benchmarks/tfrs_models.py [--seeds=2] [--tables=dvbpr,cgir]
      [--dvbpr_models=bprmf,vbpr,dvbpr] [--cgir_models=cgir] [--work_dir=runs/tfrs_side_by_side]

Run from the repository root (the flagfiles' data paths are relative to it). Each table's
settings are its flagfile's (--dvbpr_flagfile, --cgir_flagfile). tfgrad's rows come from
`tfgrad.core.compare` (trained in <work_dir>/<system>/<model>/seed<k>, loaded when there).
For each seed the parent prepares the data exactly as those rows were (tfgrad's own split) and
hands the training pairs to TFRS in its own process (`tfgrad.peers.process.run_tfrs`), which
trains `tfgrad.peers.tfrs_peer.TwoTower` — embedding towers, in-batch softmax
(`tfrs.tasks.Retrieval`), `FactorizedTopK` — with Adagrad at 0.1 (TFRS's retrieval guide), the
table's latent dimension, batch size and step budget, keeping its last weights (TFRS selects
nothing on validation data; tfgrad's DVBPR rows keep their best validation AUC). TFRS answers
query and candidate vectors; the parent scores them with the same code as tfgrad's rows:
  DVBPR table  query = user id, candidate = item id ("ids"), and candidate = item id + a linear
               map of the product-type CNN features VBPR gets ("ids + features"). An item with
               no training purchase keeps its untrained (random) id embedding, so with ids alone
               the cold items score at random. Test AUC all / cold, `dvbpr.auc_table`.
  CGIR table   query = reference item embedding + an embedding of (attribute, direction),
               candidate = item id; trained on CGIR's training triples (reference, attribute,
               direction → target); HR@20, HR@50, MRR over all items, the reference excluded
               (`evaluation.ranking_metrics`), on the same test triples. TFRS's own top-20
               accuracy (FactorizedTopK, the reference not excluded) is printed beside it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from workloads import peak_rss_mib  # noqa: E402

from tfgrad.core.compare import compare, format_comparison, mean_and_std  # noqa: E402
from tfgrad.peers.process import PeerNotInstalledError, require_tfrs, run_tfrs  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("tables", ["dvbpr", "cgir"], "Which tables: dvbpr (H&M), cgir (MovieLens).")
flags.DEFINE_integer("seeds", 2, "Seeds: the flagfiles' seed, +1, ...")
flags.DEFINE_string("dvbpr_flagfile", "configs/dvbpr_hm.cfg", "The DVBPR table's settings.")
flags.DEFINE_string("cgir_flagfile", "configs/cgir_movielens.cfg", "The CGIR table's settings.")
flags.DEFINE_list("dvbpr_models", ["bprmf", "vbpr", "dvbpr"], "tfgrad's rows of the DVBPR table.")
flags.DEFINE_list("cgir_models", ["cgir"], "tfgrad's rows of the CGIR table.")
flags.DEFINE_string("work_dir", "runs/tfrs_side_by_side", "Where tfgrad's rows are trained.")
TFRS_LEARNING_RATE = 0.1


def table_config(flagfile: str, work_dir: str):
    """(system, config) of a flagfile, its runs under `work_dir`/<system>."""
    from tfgrad.flags import define_system_flags, system_config_from_flags

    values = flags.FlagValues()
    define_system_flags(values)
    values(["tfrs_models", f"--flagfile={flagfile}"])
    system, config = system_config_from_flags(values)
    return system, dataclasses.replace(config, work_dir=os.path.join(work_dir, system.name))


def two_tower(config, train_queries, train_candidates, eval_queries, num_candidates,
              vocabularies, **arrays):
    """TFRS's (figures, query vectors [Q, D], candidate vectors [M, D])."""
    figures, answered = run_tfrs(
        "two_tower", {"train_queries": train_queries, "train_candidates": train_candidates,
                      "eval_queries": eval_queries, **arrays},
        {"seed": config.train.seed, "query_vocabularies": vocabularies,
         "num_candidates": num_candidates, "dim": config.model.latent_dim,
         "learning_rate": TFRS_LEARNING_RATE, "steps": config.train.steps,
         "batch_size": config.train.triple_batch_size})
    return figures, answered["query_vectors"], answered["candidate_vectors"]


def dvbpr_tfrs_rows(system, config) -> dict[str, dict]:
    """{row: AUC figures} of the TFRS two-towers on this seed's H&M split."""
    from tfgrad.systems import dvbpr

    data = system.prepare(config, ("vbpr",), cache_dir=os.path.join(config.work_dir, "cache"))
    purchases = data.purchases
    rows = {}
    for name, features in (("TFRS two-tower (ids)", {}),
                           ("TFRS two-tower (ids + features)",
                            {"candidate_features": data.features})):
        figures, users, items = two_tower(
            config, purchases.train[:, :1], purchases.train[:, 1],
            np.arange(purchases.num_users)[:, None], purchases.num_items,
            [purchases.num_users], **features)
        rows[name] = {**dvbpr.auc_table(users @ items.T, data),
                      "train_seconds": figures["train_seconds"]}
    return rows


def triple_queries(triples) -> np.ndarray:
    """[P, 2] each triple's query ids: its reference item and its signed attribute (2t for
    less, 2t + 1 for more; a vocabulary of 2T)."""
    return np.stack([triples.reference, 2 * triples.attribute + (triples.direction > 0)], 1)


def cgir_tfrs_rows(system, config) -> dict[str, dict]:
    """{row: HR@20, HR@50, MRR} of the TFRS two-tower on this seed's MovieLens triples."""
    from tfgrad import evaluation

    data = system.prepare(config)
    catalogue, train, test = data.catalogue, data.train_triples, data.test_triples
    figures, queries, items = two_tower(
        config, triple_queries(train), train.target,
        triple_queries(test), catalogue.num_items,
        [catalogue.num_items, 2 * catalogue.num_attributes], eval_candidates=test.target)
    return {"TFRS two-tower": {**evaluation.ranking_metrics(queries @ items.T, test),
                               "tfrs_top_20": figures["top_20_categorical_accuracy"],
                               "train_seconds": figures["train_seconds"]}}


TFRS_ROWS = {"dvbpr": dvbpr_tfrs_rows, "cgir": cgir_tfrs_rows}
# The table of each system the TFRS rows join (MovieLens's ranking columns are in "genome").
MAIN_TABLES = {"dvbpr": "auc", "cgir": "genome"}


def side_by_side(table: str, flagfile: str, kinds) -> None:
    """Prints one table: tfgrad's rows (`compare`) and the TFRS rows, mean ± std over seeds."""
    system, base = table_config(flagfile, FLAGS.work_dir)
    started = time.perf_counter()
    comparison = compare(system, base, kinds, FLAGS.seeds)
    collected: dict[str, dict[str, list]] = {}
    tfrs_started = time.perf_counter()
    for offset in range(FLAGS.seeds):
        seeded = dataclasses.replace(base, train=dataclasses.replace(
            base.train, seed=base.train.seed + offset))
        for row, values in TFRS_ROWS[table](system, seeded).items():
            print(f"  seed {seeded.train.seed} {row}: " + "  ".join(
                f"{name} {value:.4f}" for name, value in values.items()), flush=True)
            for name, value in values.items():
                collected.setdefault(row, {}).setdefault(name, []).append(float(value))
    main = comparison.tables[MAIN_TABLES[table]]
    # A TFRS row has no walks: its walk columns print as "–".
    rows = {row: {name: mean_and_std(cells.get(name, [float("nan")]))
                  for name in (*main.columns, *cells)}
            for row, cells in collected.items()}
    print(f"\n{main.heading} ({system.name}, {FLAGS.seeds} seeds; tfgrad "
          f"{comparison.seconds:.0f} s, TFRS {time.perf_counter() - tfrs_started:.0f} s, "
          f"{time.perf_counter() - started:.0f} s in all):\n")
    print(format_comparison(main.with_rows(rows)))
    for model, seconds in comparison.train_seconds.items():
        print(f"  {model}: training s per seed {np.round(seconds, 1).tolist()}")
    for row, cells in rows.items():
        extra = {name: stats for name, stats in cells.items() if name not in main.columns}
        print(f"  {row}: " + "  ".join(
            f"{name} {stats['mean']:.4f} ± {stats['std']:.4f}" for name, stats in extra.items()))


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    try:
        require_tfrs()
    except PeerNotInstalledError as error:
        sys.exit(f"error: {error}")
    settings = {"dvbpr": (FLAGS.dvbpr_flagfile, FLAGS.dvbpr_models),
                "cgir": (FLAGS.cgir_flagfile, FLAGS.cgir_models)}
    for table in FLAGS.tables:
        if table not in settings:
            sys.exit(f"error: --tables takes dvbpr and cgir, got {table!r}")
        side_by_side(table, *settings[table])
    print(f"peak MiB (this process) {peak_rss_mib():.0f}")


if __name__ == "__main__":
    app.run(main)
