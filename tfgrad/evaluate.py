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
import time

import numpy as np
from absl import app, flags

from tfgrad import cli
from tfgrad.flags import define_experiment_flags, experiment_config_from_flags

FLAGS = flags.FLAGS


def define_flags() -> None:
    define_experiment_flags()
    flags.DEFINE_list("models", None,
                      "Compare these models (cgir, cgir_no_sparse, cgir_no_vae, cbir, dscmr, "
                      "tirg; or the recommenders rand, poprank, bprmf, warp, fm, visrank, vbpr, "
                      "dvbpr), training each in <work_dir>/<model>/seed<k> unless it is there; "
                      "without it, evaluate the finished run in --work_dir.")
    flags.DEFINE_integer("seeds", 1, "Seeds per model (seed, seed + 1, ...).")
    flags.DEFINE_string("output", None, "Write the tables as JSON here.")


def mean_and_std(values: list[float]) -> dict:
    finite = [v for v in values if not np.isnan(v)]
    if not finite:
        return {"mean": float("nan"), "std": float("nan"), "values": values}
    return {"mean": float(np.mean(finite)),
            "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0,
            "values": values}


def format_comparison(rows: dict[str, dict[str, dict]], columns) -> str:
    """A Markdown table of mean ± std cells (one value when there was one seed)."""
    def cell(stats):
        if np.isnan(stats["mean"]):
            return "–"
        # Counts (judged steps) print as whole numbers.
        digits = 0 if all(float(v).is_integer() for v in stats["values"]) else 4
        if len(stats["values"]) > 1:
            return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"
        return f"{stats['mean']:.{digits}f}"

    lines = ["| model | " + " | ".join(c.upper() for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for row, values in rows.items():
        lines.append(f"| {row} | " + " | ".join(cell(values[c]) for c in columns) + " |")
    return "\n".join(lines)


def _evaluate_work_dir() -> None:
    from tfgrad import experiment
    from tfgrad.config import ExperimentConfig

    config_path = os.path.join(FLAGS.work_dir, experiment.CONFIG_FILE)
    weights_path = os.path.join(FLAGS.work_dir, experiment.MODEL_FILE)
    for path in (config_path, weights_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path!r} is missing: is {FLAGS.work_dir!r} the work dir "
                                    f"of a finished tfgrad.train run?")
    config = ExperimentConfig.read(config_path)
    overrides = {}
    if FLAGS["max_eval_queries"].present:
        overrides["max_queries"] = FLAGS.max_eval_queries
    if FLAGS["index"].present:
        overrides["index"] = FLAGS.index
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, **overrides))
    if config.model.is_recommender:
        _evaluate_recommender_work_dir(config)
        return
    data = experiment.prepare_data(config)
    model = experiment.build_model(config, data)
    model.load_weights(weights_path)
    summary = experiment.summarize(
        experiment.evaluate_model(model, config, data, config.eval.index))
    for table, rows in summary.items():
        print(f"\n{table}:\n")
        print(format_comparison(
            {row: {c: mean_and_std([v]) for c, v in values.items()}
             for row, values in rows.items()}, experiment.table_columns(table)))
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(summary, f, indent=2)


def _evaluate_recommender_work_dir(config) -> None:
    """The selected (best validation AUC) weights of a finished recommender run."""
    from tfgrad import recommendation
    from tfgrad.models import DISPLAY_NAMES

    data = recommendation.prepare_purchases(config, (config.model.kind,),
                                            cache_dir=os.path.join(config.work_dir, "cache"))
    model = recommendation.load_selected(config, data)
    rows = {DISPLAY_NAMES[config.model.kind]: recommendation.evaluate_recommender(model, data)}
    print(format_comparison({row: {c: mean_and_std([v]) for c, v in values.items()}
                             for row, values in rows.items()}, recommendation.AUC_COLUMNS))
    if FLAGS.output:
        _write_output({"tables": {"auc": rows}})


def _trained_model(config, data):
    """The model of `config`, loaded from its work dir when a finished run is there."""
    from tfgrad import experiment
    from tfgrad.config import ExperimentConfig

    weights = os.path.join(config.work_dir, experiment.MODEL_FILE)
    config_path = os.path.join(config.work_dir, experiment.CONFIG_FILE)
    if os.path.exists(weights) and os.path.exists(config_path):
        previous = ExperimentConfig.read(config_path)
        if dataclasses.replace(previous, eval=config.eval) == config:
            model = experiment.build_model(config, data)
            model.load_weights(weights)
            print(f"loaded {config.work_dir}", flush=True)
            return model, float("nan")
    return experiment.train_model(config, data)


def _write_output(content: dict) -> None:
    os.makedirs(os.path.dirname(FLAGS.output) or ".", exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump(content, f, indent=2)


def _compare_recommenders(base) -> None:
    from tfgrad import recommendation

    started = time.perf_counter()
    collected = recommendation.compare(base, FLAGS.models, FLAGS.seeds)
    rows = {row: {column: mean_and_std(values) for column, values in columns.items()}
            for row, columns in collected.items()}
    seconds = time.perf_counter() - started
    print(f"\ntest AUC ({FLAGS.seeds} seed(s)):\n")
    print(format_comparison(rows, recommendation.AUC_COLUMNS))
    print(f"\ntotal {seconds / 60:.1f} min; training seconds per model: " + ", ".join(
        f"{row} {values['train_seconds']['mean']:.0f}" for row, values in rows.items()
        if not np.isnan(values["train_seconds"]["mean"])))
    if FLAGS.output:
        _write_output({"tables": {"auc": rows}, "seconds": seconds,
                       "config": dataclasses.asdict(base), "seeds": FLAGS.seeds})


def _compare() -> None:
    from tfgrad import experiment
    from tfgrad.config import MODEL_KINDS, RECOMMENDER_KINDS
    from tfgrad.models import DISPLAY_NAMES

    unknown = [kind for kind in FLAGS.models if kind not in MODEL_KINDS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)} in --models; known: "
                         f"{', '.join(MODEL_KINDS)}")
    if FLAGS.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {FLAGS.seeds}")
    recommenders = [kind in RECOMMENDER_KINDS for kind in FLAGS.models]
    if any(recommenders) and not all(recommenders):
        raise ValueError("--models mixes recommenders (rand, poprank, bprmf, warp, fm, visrank, "
                         "vbpr, dvbpr) with walk retrieval models; compare them separately")
    base = experiment_config_from_flags(FLAGS)
    if all(recommenders):
        _compare_recommenders(base)
        return
    collected: dict[str, dict[str, dict[str, list]]] = {}
    timings: dict[str, list] = {}
    started = time.perf_counter()
    for offset in range(FLAGS.seeds):
        seed = base.train.seed + offset
        seeded = dataclasses.replace(base, train=dataclasses.replace(base.train, seed=seed))
        data = experiment.prepare_data(seeded)
        print(f"seed {seed}: {data.catalogue.num_items} items, {data.catalogue.num_users} "
              f"users, {data.catalogue.num_attributes} attributes, "
              f"{len(data.train_triples)} train / {len(data.test_triples)} test triples",
              flush=True)
        for position, kind in enumerate(FLAGS.models):
            config = dataclasses.replace(
                seeded, name=f"{base.name}_{kind}",
                work_dir=os.path.join(base.work_dir, kind, f"seed{seed}"),
                model=dataclasses.replace(base.model, kind=kind))
            model, seconds = _trained_model(config, data)
            name = DISPLAY_NAMES[kind]
            timings.setdefault(name, []).append(seconds)
            if position == 0:
                # The first model's tables carry the untrained and chance rows, once per seed.
                rows = experiment.evaluate_model(model, config, data, config.eval.index)
            else:
                rows = {table: {name: result} for table, result
                        in experiment.evaluate_tables(model, config, data,
                                                      config.eval.index).items()}
            for table, table_rows in experiment.summarize(rows).items():
                for row, values in table_rows.items():
                    for column, value in values.items():
                        collected.setdefault(table, {}).setdefault(row, {}).setdefault(
                            column, []).append(value)
    # Model rows first, in --models order, then the chance rows.
    tables = {}
    for table, rows in collected.items():
        order = sorted(rows, key=lambda row: (row not in timings, row.startswith("untrained")))
        tables[table] = {row: {column: mean_and_std(values)
                               for column, values in rows[row].items()} for row in order}
    seconds = time.perf_counter() - started
    for table, rows in tables.items():
        print(f"\n{table} ({FLAGS.seeds} seed(s)):\n")
        print(format_comparison(rows, experiment.table_columns(table)))
    print(f"\ntotal {seconds / 60:.1f} min; training seconds per model: " + ", ".join(
        f"{name} {np.nanmean(values):.0f}" for name, values in timings.items()
        if not np.isnan(values).all()))
    if FLAGS.output:
        _write_output({"tables": tables, "seconds": seconds, "train_seconds": timings,
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
    app.run(main)
