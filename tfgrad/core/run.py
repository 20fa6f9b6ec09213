"""The one run loop, for every system: work dir → train (checkpoints, resume, TensorBoard) →
keep the selected weights → evaluate beside the reference rows → metrics file, pictures →
export. `tfgrad.train` calls `run`; `tfgrad.evaluate` calls `load_trained` and `evaluate_run`.

In a multi-worker cluster (`--strategy=multi_worker`, `tfgrad.cluster`) the chief runs all of
it; every other worker prepares the data, trains in step with the chief and takes part in its
saves, writing only into a temporary dir of its own, then deletes it and returns (`run_worker`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import trainer
from tfgrad.config import from_dict, read_config_file
from tfgrad.core.system import Evaluation, LoadedRun, RunResult, System
from tfgrad.distribute import get_strategy, is_chief, worker_dir

CONFIG_FILE = "config.json"
MODEL_FILE = "model.weights.h5"
METRICS_FILE = "metrics.json"
EVALUATION_LOGS = os.path.join("logs", "evaluation")


class WorkDirConflictError(ValueError):
    """The work dir holds a run with another configuration; resuming it would mix the two."""


def read_run_config(system: System, work_dir: str):
    """The config a run in `work_dir` was started with (None if there is none)."""
    path = os.path.join(work_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    name, raw = read_config_file(path)
    if name is not None and name != system.name:
        raise WorkDirConflictError(f"work dir {work_dir!r} holds a {name} run, not {system.name}")
    return from_dict(system.config_class, raw)


def check_work_dir(system: System, config) -> None:
    """Refuses to resume a work dir written by a different configuration, then records this
    one."""
    previous = read_run_config(system, config.work_dir)
    if previous is not None:
        # Evaluation, export and the step budget may change between runs (training longer
        # resumes); the rest may not.
        previous = dataclasses.replace(
            previous, train=dataclasses.replace(previous.train, steps=config.train.steps))
        differing = [field.name for field in dataclasses.fields(config)
                     if field.name not in (*system.evaluation_sections, "export_dir")
                     and getattr(previous, field.name) != getattr(config, field.name)]
        if differing:
            raise WorkDirConflictError(
                f"work dir {config.work_dir!r} holds a run with a different "
                f"{', '.join(differing)}; resume with the same settings, or give a new "
                f"--work_dir")
    config.write(os.path.join(config.work_dir, CONFIG_FILE), system.name)


def train(system: System, config, data, callbacks: Sequence[keras.callbacks.Callback] = ()
          ) -> tuple[keras.Model, float, dict]:
    """Trains (or resumes) the configured model in config.work_dir and loads the weights its
    monitor kept. Returns (model, training seconds, {"step", …} kept)."""
    check_work_dir(system, config)
    model = _compiled(system, config, data)
    # Rankers computed from the data in one go (RAND, PopRank, VisRank) say learns = False.
    if not getattr(model, "learns", True):
        return model, 0.0, {"step": 0}
    monitor = system.monitor(config, data)
    started = time.perf_counter()
    trainer.train(model, system.training_dataset(model, config, data), config.train,
                  config.work_dir, evaluate=monitor, callbacks=callbacks)
    selected = monitor.finish(model, config.train.steps)
    seconds = time.perf_counter() - started
    model.save_weights(os.path.join(config.work_dir, MODEL_FILE))
    monitor.restore(model)
    return model, seconds, selected


def _compiled(system: System, config, data) -> keras.Model:
    """The configured model, seeded, built and compiled in the strategy's scope."""
    keras.utils.set_random_seed(config.train.seed)
    with get_strategy(config.train.strategy).scope():
        model = system.build(config, data)
        system.warm_start(model, config, data)
        system.compile(model, config)
    return model


def data_cache_dir(config) -> str:
    """Where this process keeps prepared data (decoded photos, a start CNN): the work dir's
    `cache/`, and in a cluster a non-chief worker's own `cache_<task>/` beside it. A worker
    keeps its own (no two processes write one file) and keeps it across runs: every worker then
    finds on a resume what the chief finds, and none computes in a collective step what the
    others load (it would wait for them forever)."""
    strategy = get_strategy(config.train.strategy)
    if is_chief(strategy):
        return os.path.join(config.work_dir, "cache")
    resolver = strategy.cluster_resolver
    return os.path.join(config.work_dir, f"cache_{resolver.task_type}_{resolver.task_id}")


def run_worker(system: System, config, callbacks: Sequence[keras.callbacks.Callback] = ()
               ) -> None:
    """A non-chief worker's part of a cluster run: the same data, model and training steps as
    the chief's (each step's all-reduce joins them), its checkpoints and logs in its temporary
    dir, which it deletes at the end; no evaluation, metrics or export (the chief's)."""
    data = system.prepare(config, (config.model.kind,), cache_dir=data_cache_dir(config))
    own_dir = worker_dir(get_strategy(config.train.strategy), config.work_dir)
    try:
        model = _compiled(system, config, data)
        if getattr(model, "learns", True):
            trainer.train(model, system.training_dataset(model, config, data), config.train,
                          config.work_dir, callbacks=callbacks)
            # The chief saves its final weights here too: saving is a step workers take together.
            model.save_weights(os.path.join(own_dir, MODEL_FILE))
    finally:
        shutil.rmtree(own_dir, ignore_errors=True)


def load_trained(system: System, config, data) -> Optional[keras.Model]:
    """The kept model of a finished run of exactly `config` (evaluation settings aside) in its
    work dir, or None."""
    if not os.path.exists(os.path.join(config.work_dir, MODEL_FILE)):
        return None
    previous = read_run_config(system, config.work_dir)
    if previous is None or dataclasses.replace(previous, **{
            section: getattr(config, section) for section in system.evaluation_sections
    }) != config:
        return None
    model = system.build(config, data)
    if getattr(model, "learns", True):
        model.load_weights(os.path.join(config.work_dir, MODEL_FILE))
        system.monitor(config, data).restore(model)
    return model


def check_finished(work_dir: str) -> None:
    """Refuses a work dir that holds no finished run, naming what is missing."""
    for name in (CONFIG_FILE, MODEL_FILE):
        path = os.path.join(work_dir, name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path!r} is missing: is {work_dir!r} the work dir of a "
                                    f"finished tfgrad.train run?")


def load_run(system: System, work_dir: str) -> LoadedRun:
    """The finished `system` run in `work_dir` with its data and kept weights: how one system
    reads another's trained model (e.g. the LSGAN's designs climb a DVBPR run's Φ and θ_u).
    A work dir of another system is refused (see `read_run_config`)."""
    check_finished(work_dir)
    config = read_run_config(system, work_dir)
    data = system.prepare(config, (config.model.kind,),
                          cache_dir=os.path.join(work_dir, "cache"))
    return LoadedRun(system=system, config=config, data=data,
                     model=load_trained(system, config, data))


def trained_or_loaded(system: System, config, data) -> tuple[keras.Model, float]:
    """The model of `config`, loaded when its work dir holds it finished, else trained; and
    its training seconds (NaN when loaded)."""
    model = load_trained(system, config, data)
    if model is not None:
        print(f"loaded {config.work_dir}", flush=True)
        return model, float("nan")
    model, seconds, _ = train(system, config, data)
    return model, seconds


def evaluate_run(system: System, model: keras.Model, config, data,
                 index: Optional[str] = None) -> Evaluation:
    """The model's evaluation beside the system's reference rows."""
    evaluation = system.evaluate(model, config, data, index)
    return evaluation.with_reference(system.reference(config, data, index))


def log_evaluation(evaluation: Evaluation, writer, step: int) -> None:
    """TensorBoard: the model row of every table that has one (and its distance to the chance
    row), the pictures; and one printed line per such table."""
    tables = [(table, table.model_row or evaluation.model_row)
              for table in evaluation.tables.values()]
    tables = [(table, name) for table, name in tables if name in table.rows]
    with writer.as_default(step=step):
        for table, name in tables:
            chance = table.rows.get(table.chance_row) if table.chance_row else None
            for column in table.columns:
                value = table.rows[name].get(column, float("nan"))
                tf.summary.scalar(f"{table.name}/{column}", value)
                if chance is not None and column in chance:
                    tf.summary.scalar(f"{table.name}/{column}_minus_random",
                                      value - chance[column])
        for tag, png in evaluation.pictures.items():
            tf.summary.image(tag, tf.image.decode_png(png)[None], max_outputs=1)
    writer.flush()
    for table, name in tables:
        print(f"evaluation at step {step} ({table.name}): " + "  ".join(
            f"{column} {table.rows[name].get(column, float('nan')):.4f}"
            for column in table.columns), flush=True)


def summarize(evaluation: Evaluation) -> dict[str, dict[str, dict[str, float]]]:
    """{table: {row: {column: value}}}, the printed columns only, NaN where a row has none."""
    return {name: {row: {column: float(values.get(column, float("nan")))
                         for column in table.columns}
                   for row, values in table.rows.items()}
            for name, table in evaluation.tables.items()}


def run(system: System, config, callbacks: Sequence[keras.callbacks.Callback] = (),
        export: bool = True, data=None) -> Optional[RunResult]:
    """Trains, keeps the selected weights, evaluates, writes the metrics file and pictures,
    and exports. A non-chief worker of a cluster trains its share and returns None."""
    if not is_chief(get_strategy(config.train.strategy)):
        return run_worker(system, config, callbacks)
    if data is None:
        data = system.prepare(config, (config.model.kind,), cache_dir=data_cache_dir(config))
    print(system.describe(data), flush=True)
    model, seconds, selected = train(system, config, data, callbacks)
    evaluation = evaluate_run(system, model, config, data)
    log_evaluation(evaluation, tf.summary.create_file_writer(
        os.path.join(config.work_dir, EVALUATION_LOGS)), config.train.steps)
    write_files(evaluation, config.work_dir)
    summary = summarize(evaluation)
    with open(os.path.join(config.work_dir, METRICS_FILE), "w") as f:
        json.dump({"metrics": summary[evaluation.main], "tables": summary,
                   "train_seconds": seconds, "selected": selected, **evaluation.details},
                  f, indent=2, default=_json_default)
    export_path = system.export(model, config, data) if export else None
    return RunResult(evaluation=evaluation, export_path=export_path, train_seconds=seconds,
                     selected=selected)


def write_files(evaluation: Evaluation, work_dir: str) -> None:
    """The evaluation's files (pictures) into the work dir."""
    for file_name, content in evaluation.files.items():
        with open(os.path.join(work_dir, file_name), "wb") as f:
            f.write(content)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
