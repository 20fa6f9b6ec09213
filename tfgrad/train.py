"""Trains, evaluates and exports: `python -m tfgrad.train --flagfile=configs/cgir_synthetic.cfg`.

--model picks the model and so the system that trains it (`tfgrad.core.registry`). Re-running
the same command after a kill resumes from the last checkpoint in --work_dir. Every flag:
`python -m tfgrad.train --helpfull`.
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
    from tfgrad.core import run
    from tfgrad.evaluation import format_table
    from tfgrad.flags import system_config_from_flags

    system, config = system_config_from_flags(FLAGS)
    result = run.run(system, config, export=FLAGS.export)
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
