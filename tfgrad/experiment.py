"""One run: catalogue → triples → CGIR → train → evaluate → export. Entry points call `run`."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import evaluation, plots, trainer
from tfgrad.config import ExperimentConfig
from tfgrad.data import synthetic
from tfgrad.data.catalogue import Catalogue
from tfgrad.data.pipelines import cgir_training_dataset
from tfgrad.data.triples import Triples, make_triples, split_triples
from tfgrad.data.word_vectors import AttributeWordVectors, load_attribute_word_vectors
from tfgrad.distribute import get_strategy
from tfgrad.models.cgir import CGIR
from tfgrad.retrieval.walk import walker_for

CONFIG_FILE = "config.json"
MODEL_FILE = "model.weights.h5"
METRICS_FILE = "metrics.json"
WALKS_PNG = "walks.png"


class WorkDirConflictError(ValueError):
    """The work dir holds a run with another configuration; resuming it would mix the two."""


@dataclasses.dataclass(frozen=True)
class PreparedData:
    catalogue: Catalogue
    word_vectors: AttributeWordVectors
    train_triples: Triples
    test_triples: Triples


def load_catalogue(config: ExperimentConfig) -> Catalogue:
    if config.dataset == "synthetic":
        return synthetic.generate_catalogue(config.synthetic)
    raise ValueError(f"unknown dataset {config.dataset!r}; known: synthetic")


def prepare_data(config: ExperimentConfig) -> PreparedData:
    catalogue = load_catalogue(config)
    triples = make_triples(catalogue.item_attributes, config.max_pairs, config.train.seed)
    train_triples, test_triples = split_triples(triples, config.test_fraction, config.train.seed)
    return PreparedData(
        catalogue=catalogue,
        word_vectors=load_attribute_word_vectors(catalogue.attributes, config.glove_path),
        train_triples=train_triples, test_triples=test_triples)


def build_model(config: ExperimentConfig, data: PreparedData) -> CGIR:
    model = CGIR(num_items=data.catalogue.num_items,
                 word_vectors=data.word_vectors.word_vectors,
                 attribute_word_matrix=data.word_vectors.attribute_word_matrix,
                 **dataclasses.asdict(config.model))
    model.build()
    return model


def _check_work_dir(config: ExperimentConfig) -> None:
    """Refuses to resume a work dir written by a different configuration."""
    path = os.path.join(config.work_dir, CONFIG_FILE)
    if os.path.exists(path):
        previous = ExperimentConfig.read(path)
        # Evaluation, export and the step budget may change between runs (training longer
        # resumes); the rest may not.
        previous = dataclasses.replace(
            previous, train=dataclasses.replace(previous.train, steps=config.train.steps))
        differing = [field.name for field in dataclasses.fields(config)
                     if field.name not in ("eval", "export_dir")
                     and getattr(previous, field.name) != getattr(config, field.name)]
        if differing:
            raise WorkDirConflictError(
                f"work dir {config.work_dir!r} holds a run with a different "
                f"{', '.join(differing)}; resume with the same settings, or give a new "
                f"--work_dir")
    config.write(path)


def evaluate_model(model: CGIR, config: ExperimentConfig, data: PreparedData,
                   index_kind: str = "brute_force") -> dict[str, dict]:
    """The metrics table rows: the model, chance (an untrained model of the same
    configuration, random distinct items) and popularity."""
    settings = dict(steps=config.eval.walk_steps, max_queries=config.eval.max_queries,
                    seed=config.train.seed)

    def walk_rows(walked_model):
        return evaluation.evaluate_walker(
            walker_for(walked_model, index_kind), data.catalogue, data.test_triples,
            step_size=config.eval.step_size, distinct=config.eval.distinct, **settings)

    return {
        "CGIR": walk_rows(model),
        "untrained CGIR": walk_rows(build_model(config, data)),
        "random": evaluation.random_baseline(data.catalogue, data.test_triples, **settings),
        "popularity": evaluation.popularity_baseline(data.catalogue, data.test_triples),
    }


def walks_png(result: dict, catalogue: Catalogue, config: ExperimentConfig,
              num_walks: int = 8) -> bytes:
    queries, walks = result["queries"], result["walks"][:num_walks]
    # The reference item is drawn at γ = 0, where every walk starts.
    walks = np.concatenate([queries.reference[:num_walks, None], walks], axis=1)
    strengths = config.eval.step_size * np.arange(walks.shape[1])
    return plots.walk_relevance_png(
        evaluation.walk_relevance(catalogue, walks), queries.attribute[:num_walks],
        queries.direction[:num_walks], catalogue.attributes, strengths,
        titles=[catalogue.item_names[i] for i in queries.reference[:num_walks]])


class _EvaluationLogger:
    """Evaluates during training and writes TensorBoard scalars and the walk picture."""

    def __init__(self, config: ExperimentConfig, data: PreparedData, index_kind: str):
        self.config = config
        self.data = data
        self.index_kind = index_kind
        self.writer = tf.summary.create_file_writer(
            os.path.join(config.work_dir, "logs", "evaluation"))

    def __call__(self, model: keras.Model, step: int) -> dict[str, dict]:
        rows = evaluate_model(model, self.config, self.data, self.index_kind)
        result = rows["CGIR"]
        with self.writer.as_default(step=step):
            for name in evaluation.METRIC_NAMES:
                tf.summary.scalar(name, result[name])
                tf.summary.scalar(f"{name}_minus_random", result[name] - rows["random"][name])
            image = tf.image.decode_png(walks_png(result, self.data.catalogue, self.config))
            tf.summary.image("walk_relevance", image[None], max_outputs=1)
        self.writer.flush()
        print(f"evaluation at step {step}: " + "  ".join(
            f"{name} {result[name]:.4f}" for name in evaluation.METRIC_NAMES), flush=True)
        return rows


def run(config: ExperimentConfig, callbacks: Sequence[keras.callbacks.Callback] = (),
        export: bool = True) -> dict:
    """Trains, evaluates and exports; returns {"rows", "export_path", "train_seconds"}."""
    _check_work_dir(config)
    data = prepare_data(config)
    keras.utils.set_random_seed(config.train.seed)
    strategy = get_strategy(config.train.strategy)
    with strategy.scope():
        model = build_model(config, data)
        model.compile(optimizer=keras.optimizers.Adam(config.train.learning_rate))
    dataset = cgir_training_dataset(data.catalogue, data.train_triples,
                                    config.train.user_batch_size,
                                    config.train.triple_batch_size, config.train.seed)
    started = time.perf_counter()
    # During training, exact search: the curves then show the model, not the index.
    trainer.train(model, dataset, config.train, config.work_dir,
                  evaluate=_EvaluationLogger(config, data, "brute_force"), callbacks=callbacks)
    train_seconds = time.perf_counter() - started
    model.save_weights(os.path.join(config.work_dir, MODEL_FILE))

    rows = _EvaluationLogger(config, data, config.eval.index)(model, config.train.steps)
    with open(os.path.join(config.work_dir, WALKS_PNG), "wb") as f:
        f.write(walks_png(rows["CGIR"], data.catalogue, config))
    summary = {model_name: {name: row[name] for name in evaluation.METRIC_NAMES}
               for model_name, row in rows.items()}
    with open(os.path.join(config.work_dir, METRICS_FILE), "w") as f:
        json.dump({"metrics": summary, "train_seconds": train_seconds}, f, indent=2)

    export_path = None
    if export:
        from tfgrad.export import export_walk_model

        export_path = export_walk_model(model, data.catalogue, config)
    return {"rows": summary, "export_path": export_path, "train_seconds": train_seconds}
