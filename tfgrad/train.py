"""Trains, evaluates and exports: `python -m tfgrad.train --flagfile=configs/cgir_synthetic.cfg`.

--model picks the model and so the system that trains it (`tfgrad.core.registry`). Re-running
the same command after a kill resumes from the last checkpoint in --work_dir. Every flag:
`python -m tfgrad.train --helpfull`.

With --strategy=multi_worker this process is one worker of the cluster TF_CONFIG describes
(`python -m tfgrad.cluster` starts a whole cluster on one machine); the chief prints the
results.
"""

from __future__ import annotations

from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    from tfgrad.flags import define_system_flags

    define_system_flags()
    flags.DEFINE_bool("export", True, "Export a SavedModel after training.")


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    from tfgrad.distribute import get_strategy

    if FLAGS.strategy == "multi_worker":
        # TensorFlow refuses to set up the cluster's collective ops once any op has run, and
        # reading the configs may run some: the strategy comes first (and is kept for the run).
        get_strategy("multi_worker")

    from tfgrad.core import run
    from tfgrad.evaluation import format_table
    from tfgrad.flags import system_config_from_flags

    system, config = system_config_from_flags(FLAGS)
    result = run.run(system, config, export=FLAGS.export)
    if result is None:
        print("worker done: the chief evaluates, writes the metrics and exports")
        return
    table, summary = result.main_table, run.summarize(result.evaluation)
    print(f"\n{system.summary(config, result)}\n")
    print(format_table(summary[table.name], table.columns))
    for other in result.evaluation.tables.values():
        if other.name != table.name:
            print(f"\n{other.heading}:\n")
            print(format_table(summary[other.name], other.columns))
    print(f"\nwork dir: {config.work_dir}  (tensorboard --logdir {config.work_dir}/logs)")
    if result.export_path:
        print(f"exported: {result.export_path}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
