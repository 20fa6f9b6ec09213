"""Trains, evaluates and exports: `python -m tfgrad.train --flagfile=configs/cgir_synthetic.cfg`.

Re-running the same command after a kill resumes from the last checkpoint in --work_dir.
Every flag: `python -m tfgrad.train --helpfull`.
"""

from __future__ import annotations

from absl import app, flags

from tfgrad import cli
from tfgrad.flags import define_experiment_flags, experiment_config_from_flags

FLAGS = flags.FLAGS


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    from tfgrad import experiment
    from tfgrad.evaluation import format_table

    config = experiment_config_from_flags(FLAGS)
    result = experiment.run(config, export=FLAGS.export)
    if config.model.is_recommender:
        from tfgrad.recommendation import AUC_COLUMNS

        print(f"\n{config.name}: trained {config.train.steps} steps in "
              f"{result['train_seconds']:.1f} s; selected step {result['selected']['step']} "
              f"(best validation AUC); test AUC:\n")
        print(format_table(result["rows"], AUC_COLUMNS))
    else:
        print(f"\n{config.name}: trained {config.train.steps} steps in "
              f"{result['train_seconds']:.1f} s; metrics on held-out triples:\n")
        print(format_table(result["rows"]))
    print(f"\nwork dir: {config.work_dir}  (tensorboard --logdir {config.work_dir}/logs)")
    if result["export_path"]:
        print(f"exported: {result['export_path']}")


if __name__ == "__main__":
    define_experiment_flags()
    app.run(main)
