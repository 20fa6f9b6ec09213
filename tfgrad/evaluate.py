"""Evaluates trained models beside chance, one run or a whole comparison.

One finished run (its config and weights are in the work dir):

  python -m tfgrad.evaluate --work_dir=runs/cgir_synthetic [--index=scann]

A comparison (CGIR.md's Table 1 and 3 rows), each model trained — or loaded, when
`<work_dir>/<model>/seed<k>/` already holds it — for every seed, then every metric as
mean ± std over seeds:

  python -m tfgrad.evaluate --flagfile=configs/cgir_movielens.cfg \
      --models=cgir,cbir,dscmr,tirg,cgir_no_vae,cgir_no_sparse --seeds=3 --output=table.json

DVBPR and its baselines (DVBPR.md's Table III) compare the same way, on test AUC:

  python -m tfgrad.evaluate --flagfile=configs/dvbpr_hm.cfg \
      --models=rand,poprank,bprmf,warp,fm,visrank,vbpr,dvbpr --seeds=3 --output=table.json

Prints Markdown tables and writes them as JSON (--output).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    from tfgrad.flags import define_system_flags

    define_system_flags()
    flags.DEFINE_list("models", None,
                      "Compare these models of one system (e.g. cgir, cgir_no_sparse, "
                      "cgir_no_vae, cbir, dscmr, tirg; or the recommenders rand, poprank, bprmf, "
                      "warp, fm, visrank, vbpr, dvbpr), training each in "
                      "<work_dir>/<model>/seed<k> unless it is there; without it, evaluate "
                      "the finished run in --work_dir.")
    flags.DEFINE_integer("seeds", 1, "Seeds per model (seed, seed + 1, ...).")
    flags.DEFINE_string("output", None, "Write the tables as JSON here.")


def _write_output(content: dict) -> None:
    os.makedirs(os.path.dirname(FLAGS.output) or ".", exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump(content, f, indent=2)


def _evaluate_work_dir() -> None:
    """The kept weights of a finished run, re-evaluated (with any flag of the system's
    evaluation sections given, e.g. --index, or an LSGAN's --preference_run) beside the
    reference rows."""
    from tfgrad.core import registry, run
    from tfgrad.core.compare import format_comparison, mean_and_std
    from tfgrad.core.system import Table
    from tfgrad.flags import check_flags_apply, replace_given

    system = registry.system_of_work_dir(FLAGS.work_dir)
    config = run.read_run_config(system, FLAGS.work_dir)
    check_flags_apply(FLAGS, system.config_class, system.name)
    config = replace_given(config, FLAGS, system.evaluation_sections)
    data = system.prepare(config, (config.model.kind,),
                          cache_dir=os.path.join(config.work_dir, "cache"))
    model = run.load_trained(system, config, data)
    evaluation = run.evaluate_run(system, model, config, data)
    # Pictures of the evaluation asked for (other evaluation settings redraw them).
    run.write_files(evaluation, config.work_dir)
    summary = run.summarize(evaluation)
    for table in evaluation.tables.values():
        print(f"\n{table.heading}:\n")
        print(format_comparison(Table(
            name=table.name, columns=table.columns, title=table.title,
            rows={row: {c: mean_and_std([v]) for c, v in values.items()}
                  for row, values in summary[table.name].items()})))
    if FLAGS.output:
        _write_output(summary)


def _compare() -> None:
    from tfgrad.core import compare, registry
    from tfgrad.flags import system_config_from_flags

    unknown = [kind for kind in FLAGS.models if kind not in registry.model_names()]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)} in --models; known: "
                         f"{', '.join(registry.model_names())}")
    systems = {registry.system_of_model(kind).name for kind in FLAGS.models}
    if len(systems) > 1:
        raise ValueError(f"--models mixes models of the systems {', '.join(sorted(systems))}; "
                         f"compare them separately")
    system, base = system_config_from_flags(FLAGS, model=FLAGS.models[0])
    if base.train.strategy == "multi_worker":
        raise ValueError("--strategy=multi_worker: a comparison trains its models one after "
                         "another in this one process; train each on a cluster (python -m "
                         "tfgrad.cluster) and evaluate its --work_dir")
    comparison = compare.compare(system, base, FLAGS.models, FLAGS.seeds)
    for table in comparison.tables.values():
        print(f"\n{table.heading} ({FLAGS.seeds} seed(s)):\n")
        print(compare.format_comparison(table))
    print(f"\ntotal {comparison.seconds / 60:.1f} min; training seconds per model: " + ", ".join(
        f"{name} {np.nanmean(values):.0f}" for name, values in comparison.train_seconds.items()
        if not np.isnan(values).all()))
    if FLAGS.output:
        _write_output({"tables": {name: table.rows for name, table in comparison.tables.items()},
                       "seconds": comparison.seconds, "train_seconds": comparison.train_seconds,
                       "config": dataclasses.asdict(base), "seeds": FLAGS.seeds})


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.models:
        _compare()
    else:
        _evaluate_work_dir()


if __name__ == "__main__":
    define_flags()
    cli.run(main)
