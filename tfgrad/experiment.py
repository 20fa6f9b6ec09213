"""One run: catalogue → triples → model → train → evaluate → export. Entry points call `run`.

Evaluation depends on what the data can tell (CGIR.md, "Metrics"):
  synthetic  every metric against exact ground truth, walks over the whole catalogue;
  movielens  HR/MRR over all items; MGS walks among the movies with tag-genome scores
             ("genome" table) and, with SoftAttributes, walks along the 60 soft attributes
             among the judged movies, scored against people ("human" table);
  hm         HR/MRR over all items; MGS with the share of the top 100 retrieved items that
             have a tag as its relevance ("shop" table).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import evaluation, metrics, plots, trainer
from tfgrad.config import ExperimentConfig
from tfgrad.data import synthetic
from tfgrad.data.catalogue import Catalogue
from tfgrad.data.pipelines import cgir_training_dataset, triples_dataset
from tfgrad.data.triples import Triples, make_categorical_triples, make_triples, split_triples
from tfgrad.data.word_vectors import (AttributeWordVectors, UnknownWordsError,
                                      load_attribute_word_vectors)
from tfgrad.distribute import get_strategy
from tfgrad.models import DISPLAY_NAMES, RetrievalModel, create_model
from tfgrad.retrieval.walk import walker_for

CONFIG_FILE = "config.json"
MODEL_FILE = "model.weights.h5"
METRICS_FILE = "metrics.json"
WALKS_PNG = "walks.png"
HUMAN_COLUMNS = ("mgs", "mgs_c", "mgs_r", "agreement", "judged_steps")


class WorkDirConflictError(ValueError):
    """The work dir holds a run with another configuration; resuming it would mix the two."""


@dataclasses.dataclass(frozen=True)
class HumanJudgments:
    """SoftAttributes judgments on the catalogue, ready to walk (the "human" table).

    Attributes:
      pool: [P] catalogue indices of the judged movies (the walk pool).
      relevance: [P, S] Bradley–Terry scores in [0, 1], NaN where a movie was not judged.
      word_vectors: the S soft attributes' words.
      queries: walk queries (references are pool positions).
      preferences: direct pairwise votes keyed by (attribute, catalogue index, index).
      matched_titles, unmatched_titles: how the judged titles met the catalogue.
    """

    pool: np.ndarray
    relevance: np.ndarray
    word_vectors: AttributeWordVectors
    queries: Triples
    preferences: dict
    matched_titles: tuple[str, ...]
    unmatched_titles: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PreparedData:
    catalogue: Catalogue
    word_vectors: AttributeWordVectors
    train_triples: Triples
    test_triples: Triples
    # MovieLens: the genome-scored pool and its walk queries (references are pool positions).
    graded_pool: Optional[np.ndarray] = None
    graded_queries: Optional[Triples] = None
    human: Optional[HumanJudgments] = None
    dropped_attributes: tuple[str, ...] = ()


def load_catalogue(config: ExperimentConfig) -> Catalogue:
    data = config.data
    if config.dataset == "synthetic":
        return synthetic.generate_catalogue(config.synthetic)
    if config.dataset == "movielens":
        from tfgrad.data.movielens import load_movielens

        return load_movielens(data.movielens_dir, data.genome_dir, data.min_rating,
                              data.min_user_interactions, data.min_tag_items)
    if config.dataset == "hm":
        from tfgrad.data.hm import load_hm

        return load_hm(data.hm_dir, data.hm_tag_columns, data.min_user_interactions,
                       data.min_tag_items)
    raise ValueError(f"unknown dataset {config.dataset!r}")


def word_vectors_or_drop(attributes: Sequence[str], glove_path: Optional[str]
                         ) -> tuple[AttributeWordVectors, tuple[str, ...]]:
    """Word vectors of the attributes whose words all have one, and the attributes dropped.

    Real tag vocabularies hold words no embedding knows ("mindfuck", brand names); such an
    attribute cannot be encoded from words, so it is left out (and reported), never zeroed.
    """
    try:
        return load_attribute_word_vectors(attributes, glove_path), ()
    except UnknownWordsError as error:
        dropped = {a for names in error.attributes_by_word.values() for a in names}
        kept = [a for a in attributes if a not in dropped]
        return (load_attribute_word_vectors(kept, glove_path),
                tuple(a for a in attributes if a in dropped))


def _prepare_human(config: ExperimentConfig, catalogue: Catalogue) -> HumanJudgments:
    from tfgrad.data import soft_attributes

    judgments = soft_attributes.load_soft_attributes(config.data.soft_attributes_path,
                                                     catalogue)
    relevance = soft_attributes.human_relevance(judgments, catalogue.num_items)
    word_vectors, dropped = word_vectors_or_drop(judgments.attributes, config.glove_path)
    kept = [judgments.attributes.index(a) for a in word_vectors.attributes]
    relevance = relevance[:, kept]
    pool = np.flatnonzero(~np.isnan(relevance).all(axis=1))
    if dropped:
        print(f"soft attributes without word vectors, left out: {', '.join(dropped)}")
    # Preferences keyed by the kept attributes' new column numbers.
    column_of = {old: new for new, old in enumerate(kept)}
    preferences = {(column_of[t], a, b): vote for (t, a, b), vote
                   in soft_attributes.direct_preferences(judgments).items() if t in column_of}
    return HumanJudgments(
        pool=pool, relevance=relevance[pool], word_vectors=word_vectors,
        queries=evaluation.pool_walk_queries(relevance[pool], config.eval.max_queries,
                                             config.train.seed),
        preferences=preferences, matched_titles=judgments.matched_titles,
        unmatched_titles=judgments.unmatched_titles)


def prepare_data(config: ExperimentConfig) -> PreparedData:
    catalogue = load_catalogue(config)
    word_vectors, dropped = word_vectors_or_drop(catalogue.attributes, config.glove_path)
    if dropped:
        catalogue = catalogue.with_attributes(catalogue.attribute_index(word_vectors.attributes))
    if catalogue.attribute_columns is not None:
        triples = make_categorical_triples(catalogue.item_attributes,
                                           catalogue.attribute_columns, config.max_pairs,
                                           config.train.seed)
    else:
        # User tags: an untagged movie is not known to lack a tag (see make_triples).
        triples = make_triples(catalogue.item_attributes, config.max_pairs, config.train.seed,
                               min_tags=0 if config.dataset == "synthetic" else 1)
    if len(triples) < 2:
        raise ValueError(f"catalogue {catalogue.name!r} has {len(triples)} triples: no two "
                         f"items differ in exactly one attribute")
    train_triples, test_triples = split_triples(triples, config.test_fraction,
                                                config.train.seed)
    graded_pool = graded_queries = None
    if config.dataset == "movielens":
        graded_pool = catalogue.graded_items()
        if len(graded_pool) > config.eval.walk_steps:
            graded_queries = evaluation.pool_walk_queries(
                catalogue.relevance[graded_pool], config.eval.max_queries, config.train.seed)
    human = None
    if config.dataset == "movielens" and config.data.soft_attributes_path:
        human = _prepare_human(config, catalogue)
    return PreparedData(catalogue=catalogue, word_vectors=word_vectors,
                        train_triples=train_triples, test_triples=test_triples,
                        graded_pool=graded_pool, graded_queries=graded_queries, human=human,
                        dropped_attributes=dropped)


def build_model(config: ExperimentConfig, data: PreparedData) -> RetrievalModel:
    return create_model(config.model, data.catalogue, data.word_vectors)


def check_work_dir(config: ExperimentConfig) -> None:
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


def main_table(config: ExperimentConfig) -> str:
    return {"synthetic": "synthetic", "movielens": "genome", "hm": "shop"}[config.dataset]


def evaluate_tables(model: RetrievalModel, config: ExperimentConfig, data: PreparedData,
                    index_kind: str = "brute_force") -> dict[str, dict]:
    """{table: metrics (+ "walks", "queries", "relevance" for pictures)} of one model.

    Tables: the dataset's main one ("synthetic" / "genome" / "shop") and, with judgments,
    "human". Pool walks (genome, human) are searched exactly: their pools are a few hundred
    movies.
    """
    settings = dict(steps=config.eval.walk_steps, step_size=config.eval.step_size,
                    distinct=config.eval.distinct)
    catalogue = data.catalogue
    if config.dataset == "synthetic":
        result = evaluation.evaluate_walker(
            walker_for(model, index_kind), catalogue, data.test_triples,
            max_queries=config.eval.max_queries, seed=config.train.seed, **settings)
        result["picture"] = _picture(catalogue.relevance, result["queries"].reference,
                                     result["walks"], result["queries"], catalogue.item_names,
                                     catalogue.attributes, config)
        return {"synthetic": result}

    walker = walker_for(model, index_kind)
    main = {**evaluation.evaluate_ranking(walker, data.test_triples, catalogue.num_attributes),
            "ind": metrics.independence_level(walker.item_vectors.numpy())}
    tables = {}
    if config.dataset == "movielens":
        gradual = {name: float("nan") for name in ("mgs", "mgs_c", "mgs_r")}
        if data.graded_queries is not None:
            gradual = evaluation.pool_gradual_scores(
                walker_for(model, "brute_force", items=data.graded_pool),
                catalogue.relevance[data.graded_pool], data.graded_queries, **settings)
            pool = data.graded_pool
            gradual["picture"] = _picture(
                catalogue.relevance[pool], gradual["queries"].reference, gradual["walks"],
                gradual["queries"], catalogue.item_names[pool], catalogue.attributes, config)
        tables["genome"] = {**main, **gradual}
    else:
        queries = evaluation.sample_queries(data.test_triples, config.eval.max_queries,
                                            config.train.seed)
        relevance = evaluation.retrieved_tag_share(
            walker, queries, catalogue.item_attributes, settings["steps"], settings["step_size"])
        strengths = config.eval.step_size * np.arange(1, settings["steps"] + 1)
        tables["shop"] = {**main, **metrics.gradual_scores_with_missing(
            relevance, queries.attribute, queries.direction),
            "picture": dict(relevance=relevance[:_PICTURED], strengths=strengths,
                            queries=queries.take(np.arange(min(_PICTURED, len(queries)))),
                            titles=catalogue.item_names[queries.reference[:_PICTURED]],
                            attribute_names=catalogue.attributes)}
    if data.human is not None:
        human = data.human
        pool_walker = walker_for(model, "brute_force", items=human.pool,
                                 attribute_vectors=model.attribute_vectors(
                                     human.word_vectors.word_vectors,
                                     human.word_vectors.attribute_word_matrix))
        result = evaluation.pool_gradual_scores(pool_walker, human.relevance, human.queries,
                                                **settings)
        tables["human"] = {**result, **evaluation.human_agreement(
            human.pool[result["walks"]], human.queries, human.preferences),
            "picture": _picture(human.relevance, human.queries.reference, result["walks"],
                                human.queries, catalogue.item_names[human.pool],
                                human.word_vectors.attributes, config)}
    return tables


_PICTURED = 8


def _picture(relevance: np.ndarray, references: np.ndarray, walks: np.ndarray,
             queries: Triples, names: np.ndarray, attribute_names: Sequence[str],
             config: ExperimentConfig) -> dict:
    """What `walks_png` draws for the first walks: relevance from the reference (γ = 0) on."""
    count = min(_PICTURED, len(walks))
    items = np.concatenate([references[:count, None], walks[:count]], axis=1)
    return dict(relevance=relevance[items],
                strengths=config.eval.step_size * np.arange(items.shape[1]),
                queries=queries.take(np.arange(count)), titles=names[references[:count]],
                attribute_names=attribute_names)


def chance_tables(config: ExperimentConfig, data: PreparedData) -> dict[str, dict]:
    """The "random" and "popularity" rows of every table."""
    catalogue, seed, steps = data.catalogue, config.train.seed, config.eval.walk_steps
    if config.dataset == "synthetic":
        return {"synthetic": {
            "random": evaluation.random_baseline(catalogue, data.test_triples, steps,
                                                 config.eval.max_queries, seed),
            "popularity": evaluation.popularity_baseline(catalogue, data.test_triples)}}
    random_ranking = evaluation.random_ranking(catalogue.num_items, data.test_triples,
                                               np.random.default_rng(seed + 1))
    tables: dict[str, dict] = {}
    if config.dataset == "movielens":
        gradual = {name: float("nan") for name in ("mgs", "mgs_c", "mgs_r")}
        if data.graded_queries is not None:
            gradual = evaluation.pool_random_scores(
                catalogue.relevance[data.graded_pool], data.graded_queries, steps, seed)
        main = "genome"
    else:
        queries = evaluation.sample_queries(data.test_triples, config.eval.max_queries, seed)
        gradual = metrics.gradual_scores_with_missing(
            evaluation.random_tag_share(catalogue.item_attributes, queries, steps, seed),
            queries.attribute, queries.direction)
        main = "shop"
    tables[main] = {
        "random": {**random_ranking, **gradual, "ind": float("nan")},
        "popularity": evaluation.popularity_baseline(catalogue, data.test_triples)}
    if data.human is not None:
        result = evaluation.pool_random_scores(data.human.relevance, data.human.queries, steps,
                                               seed)
        tables["human"] = {"random": {**result, **evaluation.human_agreement(
            data.human.pool[result["walks"]], data.human.queries, data.human.preferences)}}
    return tables


def evaluate_model(model: RetrievalModel, config: ExperimentConfig, data: PreparedData,
                   index_kind: str = "brute_force") -> dict[str, dict[str, dict]]:
    """{table: {row: metrics}}: the model, an untrained model of the same configuration and
    the chance rows (random, popularity)."""
    name = DISPLAY_NAMES[config.model.kind]
    trained = evaluate_tables(model, config, data, index_kind)
    untrained = evaluate_tables(build_model(config, data), config, data, index_kind)
    chance = chance_tables(config, data)
    return {table: {name: trained[table], f"untrained {name}": untrained[table],
                    **chance.get(table, {})} for table in trained}


def table_columns(table: str) -> tuple[str, ...]:
    return HUMAN_COLUMNS if table == "human" else evaluation.METRIC_NAMES


def summarize(tables: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    """The numbers only (no walks), NaN for a column a row does not have."""
    return {table: {row: {column: float(values.get(column, float("nan")))
                          for column in table_columns(table)}
                    for row, values in rows.items()}
            for table, rows in tables.items()}


def walks_png(picture: dict) -> bytes:
    """The relevance curves of a table's first walks (see `_picture`)."""
    queries = picture["queries"]
    return plots.walk_relevance_png(
        picture["relevance"], queries.attribute, queries.direction, picture["attribute_names"],
        picture["strengths"], titles=[str(title) for title in picture["titles"]])


class _EvaluationLogger:
    """Evaluates during training and writes TensorBoard scalars and the walk pictures."""

    def __init__(self, config: ExperimentConfig, data: PreparedData, index_kind: str):
        self.config = config
        self.data = data
        self.index_kind = index_kind
        self.writer = tf.summary.create_file_writer(
            os.path.join(config.work_dir, "logs", "evaluation"))

    def __call__(self, model: keras.Model, step: int) -> dict[str, dict[str, dict]]:
        tables = evaluate_model(model, self.config, self.data, self.index_kind)
        name = DISPLAY_NAMES[self.config.model.kind]
        with self.writer.as_default(step=step):
            for table, rows in tables.items():
                for column in table_columns(table):
                    value = rows[name].get(column, float("nan"))
                    tf.summary.scalar(f"{table}/{column}", value)
                    if "random" in rows and column in rows["random"]:
                        tf.summary.scalar(f"{table}/{column}_minus_random",
                                          value - rows["random"][column])
                if "picture" in rows[name]:
                    image = tf.image.decode_png(walks_png(rows[name]["picture"]))
                    tf.summary.image(f"{table}/walk_relevance", image[None], max_outputs=1)
        self.writer.flush()
        for table, rows in tables.items():
            print(f"evaluation at step {step} ({table}): " + "  ".join(
                f"{column} {rows[name].get(column, float('nan')):.4f}"
                for column in table_columns(table)), flush=True)
        return tables


def training_dataset(model: RetrievalModel, config: ExperimentConfig, data: PreparedData):
    """Users' interaction rows and triples for the VAE models, triples alone for the others."""
    if model.uses_user_batches:
        return cgir_training_dataset(data.catalogue, data.train_triples,
                                     config.train.user_batch_size,
                                     config.train.triple_batch_size, config.train.seed)
    return triples_dataset(data.train_triples, config.train.triple_batch_size,
                           config.train.seed + 1).prefetch(tf.data.AUTOTUNE)


def train_model(config: ExperimentConfig, data: PreparedData,
                callbacks: Sequence[keras.callbacks.Callback] = ()
                ) -> tuple[RetrievalModel, float]:
    """Trains (or resumes) the configured model in config.work_dir; returns it and the
    training seconds."""
    check_work_dir(config)
    keras.utils.set_random_seed(config.train.seed)
    strategy = get_strategy(config.train.strategy)
    with strategy.scope():
        model = build_model(config, data)
        model.compile(optimizer=keras.optimizers.Adam(config.train.learning_rate))
    started = time.perf_counter()
    # During training, exact search: the curves then show the model, not the index.
    trainer.train(model, training_dataset(model, config, data), config.train, config.work_dir,
                  evaluate=_EvaluationLogger(config, data, "brute_force"), callbacks=callbacks)
    train_seconds = time.perf_counter() - started
    model.save_weights(os.path.join(config.work_dir, MODEL_FILE))
    return model, train_seconds


def run(config: ExperimentConfig, callbacks: Sequence[keras.callbacks.Callback] = (),
        export: bool = True, data: Optional[PreparedData] = None) -> dict:
    """Trains, evaluates and exports.

    Returns:
      {"rows": the main table, "tables": every table, "export_path", "train_seconds"}.
    """
    if config.model.is_recommender:
        from tfgrad import recommendation

        return recommendation.run(config, callbacks, export)
    data = prepare_data(config) if data is None else data
    model, train_seconds = train_model(config, data, callbacks)
    tables = _EvaluationLogger(config, data, config.eval.index)(model, config.train.steps)
    name = DISPLAY_NAMES[config.model.kind]
    pictures = [rows[name]["picture"] for rows in tables.values() if "picture" in rows[name]]
    if pictures:
        with open(os.path.join(config.work_dir, WALKS_PNG), "wb") as f:
            f.write(walks_png(pictures[0]))
    summary = summarize(tables)
    with open(os.path.join(config.work_dir, METRICS_FILE), "w") as f:
        json.dump({"metrics": summary[main_table(config)], "tables": summary,
                   "train_seconds": train_seconds,
                   "dropped_attributes": list(data.dropped_attributes)}, f, indent=2)

    export_path = None
    if export:
        from tfgrad.export import export_walk_model

        export_path = export_walk_model(model, data.catalogue, config)
    return {"rows": summary[main_table(config)], "tables": summary,
            "export_path": export_path, "train_seconds": train_seconds}
