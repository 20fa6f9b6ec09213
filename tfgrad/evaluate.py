"""Evaluates the model trained in a work dir, beside chance and popularity.

  python -m tfgrad.evaluate --work_dir=runs/cgir_synthetic [--index=scann]

Prints the Markdown metrics table and writes it as JSON (--output).
"""

from __future__ import annotations

import dataclasses
import json
import os

from absl import app, flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("work_dir", None, "A work dir written by tfgrad.train.")
    flags.DEFINE_enum("index", "brute_force", ["brute_force", "scann"], "Index the walks use.")
    flags.DEFINE_integer("max_eval_queries", None, "Override the number of walk queries.")
    flags.DEFINE_string("output", None, "Write the rows as JSON here.")
    flags.mark_flag_as_required("work_dir")


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    from tfgrad import evaluation, experiment
    from tfgrad.config import ExperimentConfig

    config_path = os.path.join(FLAGS.work_dir, experiment.CONFIG_FILE)
    weights_path = os.path.join(FLAGS.work_dir, experiment.MODEL_FILE)
    for path in (config_path, weights_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path!r} is missing: is {FLAGS.work_dir!r} the work dir "
                                    f"of a finished tfgrad.train run?")
    config = ExperimentConfig.read(config_path)
    if FLAGS.max_eval_queries is not None:
        config = dataclasses.replace(config, eval=dataclasses.replace(
            config.eval, max_queries=FLAGS.max_eval_queries))
    data = experiment.prepare_data(config)
    model = experiment.build_model(config, data)
    model.load_weights(weights_path)
    rows = experiment.evaluate_model(model, config, data, FLAGS.index)
    summary = {name: {metric: row[metric] for metric in evaluation.METRIC_NAMES}
               for name, row in rows.items()}
    print(evaluation.format_table(summary))
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    define_flags()
    app.run(main)
