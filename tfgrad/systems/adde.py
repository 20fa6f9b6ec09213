"""ADDE as a retrieval system (ADDE.md, seed 002): "this item, but attribute a = v" over product
photos with several attributes each → a disentangled encoder with a memory block of prototypes
(or, for comparison, its ablations, an entangled embedding with TIRG's composer, or attribute
filtering by a classifier plus visual similarity) → top-k accuracy and NDCG@30 of the
manipulated queries in the split's catalogue, beside random items.

Items are split (seeded) into train / validation / test catalogues. Queries are built on each
split as the authors build theirs (`data.attributes.manipulation_queries`): only changes for
which some item of that split has the whole target label vector. Training uses the training
split's queries as triplets; the kept weights are chosen on validation queries (the authors'
script chooses its checkpoint on the test queries; tfgrad does not); the tables are on test
queries. Search is exact L2 between L2-normalised vectors, as the authors' faiss search; the
reference item itself is never returned (a shopper looking at it wants another).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad import evaluation, levels, metrics, plots
from tfgrad.config import SystemConfig, TrainConfig, check_choice, check_positive, option
from tfgrad.core.selection import ValidationSelection
from tfgrad.core.system import Evaluation, ModelSpec, Monitor, Spaces, System, Table
from tfgrad.data.attributes import (
    FASHION_ATTRIBUTES, HM_ATTRIBUTES, MISSING, AttributedPhotos, ManipulationQueries,
    indicators, manipulation_queries, manipulation_triplets, split_items)
from tfgrad.data.images import load_images, normalize_images
from tfgrad.data.pipelines import manipulation_triplets_dataset
from tfgrad.retrieval.gradual import DECODINGS, GradualSettings, configured_first
from tfgrad.retrieval.knn import nearest_neighbours
from tfgrad.spaces import ItemSpace

MODELS = {
    "adde": ModelSpec("ADDE", "disentangled encoder + memory block of prototypes, the authors' "
                              "three stages (ADDE.md)"),
    "adde_no_memory_l1": ModelSpec("ADDE w/o memory L1", "ADDE without the memory block's "
                                                         "off-block L1"),
    "adde_no_consistency": ModelSpec("ADDE w/o consistency", "ADDE without the L1 consistency "
                                                             "loss"),
    "entangled_tirg": ModelSpec("entangled TIRG", "one CNN-F embedding and TIRG's composer on the same "
                                        "triplets"),
    "attribute_filter": ModelSpec("attribute filter + CNN", "items whose predicted attributes match the "
                                                  "target first, ranked by CNN similarity"),
}
ADDE_KINDS = ("adde", "adde_no_memory_l1", "adde_no_consistency")
DATASETS = ("fashion_products", "hm")
DEFAULT_ATTRIBUTES = {"fashion_products": FASHION_ATTRIBUTES, "hm": HM_ATTRIBUTES}
INDEXES = ("brute_force", "scann")
CHANCE = "random items"
SPLITS = ("train", "validation", "test")
MANIPULATIONS_PNG, MEMORY_PNG, WALK_PNG = "manipulations.png", "memory.png", "walks.png"
PICTURED_QUERIES, PICTURED_RESULTS = 6, 5


@dataclasses.dataclass(frozen=True)
class ADDEDataConfig:
    """Where the attributed photos are and how items are split.

    Attributes:
      fashion_dir: Fashion Product Images folder (styles.csv, images/<id>.jpg).
      hm_dir: H&M folder (articles.csv; photos in <hm_dir>/images unless --images_dir).
      images_dir: The photos elsewhere.
      attributes: The attribute columns (default: gender, masterCategory, subCategory,
        articleType, baseColour, season, usage for Fashion Product Images; product_type_name,
        colour_group_name, graphical_appearance_name, perceived_colour_value_name,
        garment_group_name for H&M).
      min_photos: A value on fewer photographed items counts as missing.
      validation_fraction: Share of the items in the validation catalogue.
      test_fraction: Share of the items in the test catalogue.
      image_size: Photos are resized (white padding) to this square size.
      max_items: Use a seeded sample of this many photographed items (0: all).
    """

    fashion_dir: Optional[str] = None
    hm_dir: Optional[str] = None
    images_dir: Optional[str] = None
    attributes: tuple[str, ...] = ()
    min_photos: int = 20
    validation_fraction: float = 0.1
    test_fraction: float = 0.2
    image_size: int = 64
    max_items: int = 0

    def __post_init__(self):
        check_positive(self, "min_photos", "image_size")


@dataclasses.dataclass(frozen=True)
class ADDEModelConfig:
    """The encoder, its memory and the baselines' nets.

    Attributes:
      kind: The model: adde, adde_no_memory_l1, adde_no_consistency, entangled_tirg or
        attribute_filter (predicted attributes + CNN similarity).
      width: CNN-F's channel multiplier (1.0: 64/256/4096).
      backbone_dim: CNN-F's output units (the authors' AlexNet fc7: 4096).
      chunk_dim: Each attribute's subspace (the authors' 340).
      attribute_steps: Stage 1 (attribute prediction) steps; attribute_filter trains
        only this stage, for all the steps.
      prototype_steps: The last steps of stage 1 whose photos the prototypes average.
      classification_weight: Stage 3's cross-entropy weight (the authors' 0.2).
      label_triplet_weight: The semi-hard label triplet loss's weight.
      manipulation_triplet_weight: The manipulation triplet loss's weight.
      consistency_weight: The L1 consistency loss's weight.
      memory_weight: The memory block's off-block L1 weight (the authors' 0.4).
      margin: Both triplet losses' margin.
      tirg_hidden: The entangled TIRG composer's hidden units.
    """

    kind: str = option("adde", flag="model", choices=tuple(MODELS))
    width: float = 0.25
    backbone_dim: int = 1024
    chunk_dim: int = 64
    attribute_steps: int = 800
    prototype_steps: int = 100
    classification_weight: float = 0.2
    label_triplet_weight: float = 1.0
    manipulation_triplet_weight: float = 1.0
    consistency_weight: float = 1.0
    memory_weight: float = 0.4
    margin: float = 0.5
    tirg_hidden: int = 512

    def __post_init__(self):
        check_positive(self, "width", "backbone_dim", "chunk_dim", "attribute_steps",
                       "prototype_steps", "margin", "tirg_hidden")


@dataclasses.dataclass(frozen=True)
class ADDETrainConfig(TrainConfig):
    """ADDE's training loop: Adam(learning_rate), the authors' 1e-4, batch 64.

    Attributes:
      learning_rate: Adam learning rate.
      batch_size: Triplets per step.
      training_queries: Training triplets, a seeded sample of the training split's queries
        (0: all).
    """

    steps: int = 2000
    eval_every: int = 500
    learning_rate: float = 1e-4
    batch_size: int = 64
    training_queries: int = 0

    def __post_init__(self):
        super().__post_init__()
        check_positive(self, "batch_size")


@dataclasses.dataclass(frozen=True)
class ADDEEvalConfig:
    """What the manipulation tables measure.

    Attributes:
      ks: Top-k accuracy columns (the authors' 10, 20, 30, 50).
      ndcg_k: k of NDCG.
      queries: Test queries, a seeded sample (0: all).
      validation_queries: Validation queries (model selection), a seeded sample (0: all).
      index: Search index: exact (brute_force, the authors') or scann.
      walk_queries: Test queries walked from the reference toward f′ (the first ones).
      walk_steps: Walk length N.
      step_size: γ_1; γ_n = step_size·n (γ = 1 is the manipulated query f′).
      decoding: How walks choose their items: greedy (each step its top item) or gradual
        (the whole path at once, from the classifiers' probabilities as levels); the walk
        table shows both, this one is the export's default.
    """

    ks: tuple[int, ...] = (10, 20, 30, 50)
    ndcg_k: int = 30
    queries: int = 2000
    validation_queries: int = 1000
    index: str = option("brute_force", choices=INDEXES)
    walk_queries: int = 500
    walk_steps: int = 10
    step_size: float = 0.1
    decoding: str = option("gradual", choices=DECODINGS)
    gradual: GradualSettings = GradualSettings()

    def __post_init__(self):
        check_choice("decoding", self.decoding, DECODINGS)
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive, got {self.ks}")
        check_positive(self, "ndcg_k", "walk_queries", "step_size")
        if self.walk_steps < 2:
            raise ValueError(f"walk_steps must be at least 2 to measure gradualness, got "
                             f"{self.walk_steps}")

    @property
    def depth(self) -> int:
        """How many items each query retrieves."""
        return max(*self.ks, self.ndcg_k)

    @property
    def selection_column(self) -> str:
        return f"val_top@{sorted(self.ks)[len(self.ks) // 2]}"


@dataclasses.dataclass(frozen=True)
class ADDEConfig(SystemConfig):
    """One ADDE run (train → manipulation tables and pictures → export).

    Attributes:
      dataset: Attributed photos: fashion_products (--fashion_dir) or hm (--hm_dir).
    """

    name: str = "adde_fashion_products"
    work_dir: str = "runs/adde_fashion_products"
    dataset: str = option("fashion_products", choices=DATASETS)
    data: ADDEDataConfig = ADDEDataConfig()
    model: ADDEModelConfig = ADDEModelConfig()
    train: ADDETrainConfig = ADDETrainConfig()
    eval: ADDEEvalConfig = ADDEEvalConfig()

    def __post_init__(self):
        self.check_dataset({"fashion_products": ("fashion_dir",), "hm": ("hm_dir",)},
                           f"model {self.model.kind!r} manipulates attributed photos: use "
                           f"--dataset=" + ", ".join(DATASETS))

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.data.attributes or DEFAULT_ATTRIBUTES[self.dataset]


@dataclasses.dataclass(frozen=True, eq=False)
class ADDEData:
    """The attributed items, their photos, the split and the queries on each split.

    Attributes:
      photos: every item (labels [M, A]).
      images: [M, S, S, 3] uint8.
      splits: {"train", "validation", "test"}: item rows.
      queries: per split, its queries (references are rows *within* the split).
      positives, negatives: [Q_train] rows within the training split of the training queries'
        triplets.
    """

    photos: AttributedPhotos
    images: np.ndarray
    splits: dict
    queries: dict
    positives: np.ndarray
    negatives: np.ndarray

    def split_labels(self, split: str) -> np.ndarray:
        return self.photos.labels[self.splits[split]]

    def split_images(self, split: str) -> np.ndarray:
        return self.images[self.splits[split]]


def load_photos(config: ADDEConfig) -> AttributedPhotos:
    from tfgrad.data import attributes

    data = config.data
    if config.dataset == "hm":
        return attributes.load_hm_attributes(data.hm_dir, config.attributes, data.min_photos,
                                             data.images_dir)
    return attributes.load_fashion_product_attributes(data.fashion_dir, config.attributes,
                                                      data.min_photos, data.images_dir)


def prepare_data(config: ADDEConfig, cache_dir: Optional[str] = None) -> ADDEData:
    photos = load_photos(config)
    seed = config.train.seed
    if config.data.max_items and config.data.max_items < len(photos):
        photos = photos.subset(np.sort(np.random.default_rng(seed + 5).choice(
            len(photos), config.data.max_items, replace=False)))
    cache = (None if cache_dir is None else
             os.path.join(cache_dir, f"{photos.name}_{len(photos)}_{config.data.image_size}px"))
    images = load_images(photos.image_paths, config.data.image_size, cache)
    splits = split_items(len(photos), config.data.validation_fraction,
                         config.data.test_fraction, seed)
    counts = {"train": config.train.training_queries, "validation": config.eval.validation_queries,
              "test": config.eval.queries}
    queries = {split: manipulation_queries(photos.labels[rows], photos.num_values, counts[split],
                                           seed + 10 + position)
               for position, (split, rows) in enumerate(splits.items())}
    positives, negatives = manipulation_triplets(photos.labels[splits["train"]],
                                                 queries["train"], seed + 20)
    return ADDEData(photos=photos, images=images, splits=splits, queries=queries,
                    positives=positives, negatives=negatives)


def embed(model, images_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """[N, D] the model's unnormalised representations of uint8 photos."""
    return np.concatenate([
        model.embed(normalize_images(tf.constant(images_uint8[start:start + batch_size])))
        .numpy() for start in range(0, len(images_uint8), batch_size)])


def predicted_labels(model, images_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """[N, A] the classifiers' predicted value of every attribute."""
    return np.concatenate([
        model.classify(normalize_images(tf.constant(images_uint8[start:start + batch_size])))
        .numpy() for start in range(0, len(images_uint8), batch_size)])


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def manipulated_queries(model, features: np.ndarray, queries: ManipulationQueries,
                        labels: np.ndarray, num_values: Sequence[int]) -> np.ndarray:
    """[Q, D] normalize(manipulate(f_ref, indicator)) of every query."""
    change = indicators(labels[queries.references], queries.targets, num_values)
    return _unit(model.manipulate(tf.constant(features[queries.references]),
                                  tf.constant(change)).numpy())


def retrieve(model, kind: str, data: ADDEData, split: str, queries: ManipulationQueries,
             depth: int, index: str, features: Optional[np.ndarray] = None) -> np.ndarray:
    """[Q, depth] rows within `split` of each query's results, best first, the reference
    never among them; `features` are the split's f when the caller has them.

    ADDE and TIRG search normalize(f′) among the split's normalised representations. The
    filter ranks the items whose *predicted* values equal every known target value first,
    each group by cosine similarity of f to the reference's.
    """
    images, labels = data.split_images(split), data.split_labels(split)
    # A split of fewer items than the depth returns all of them but the reference.
    depth = min(depth, len(images) - 1)
    if features is None:
        features = embed(model, images)
    if kind != "attribute_filter":
        found, _ = nearest_neighbours(_unit(features), manipulated_queries(
            model, features, queries, labels, data.photos.num_values), depth, index,
            exclude=queries.references)
        return found
    gallery = _unit(features)
    predicted = predicted_labels(model, images)
    results = []
    for start in range(0, len(queries), 256):
        batch = queries.subset(np.arange(start, min(start + 256, len(queries))))
        similarity = gallery[batch.references] @ gallery.T
        known = batch.targets != MISSING
        matches = ((predicted[None] == batch.targets[:, None]) | ~known[:, None]).all(axis=2)
        # Cosine is in [-1, 1]: +3 puts every matching item above every other one.
        score = similarity + 3.0 * matches
        score[np.arange(len(batch)), batch.references] = -np.inf
        results.append(np.argsort(-score, axis=1, kind="stable")[:, :depth])
    return np.concatenate(results)


OFF_BLOCK_COLUMN = "memory_off_block"


def columns(config: ADDEConfig) -> tuple[str, ...]:
    """The overall table's columns; the per-attribute tables' are the scores alone."""
    return (tuple(f"top@{k}" for k in config.eval.ks) + (f"ndcg@{config.eval.ndcg_k}",
                                                          config.eval.selection_column,
                                                          OFF_BLOCK_COLUMN))


def scores_of(retrieved_labels: np.ndarray, targets: np.ndarray, config: ADDEConfig
              ) -> dict[str, np.ndarray]:
    """{top@k…, ndcg@k: [Q] per query} (k beyond a small split's items: all of them)."""
    depth = retrieved_labels.shape[1]
    per_query = {f"top@{k}": metrics.manipulation_hits(retrieved_labels, targets, min(k, depth))
                 .astype(np.float64) for k in config.eval.ks}
    per_query[f"ndcg@{config.eval.ndcg_k}"] = metrics.manipulation_ndcg(
        retrieved_labels, targets, min(config.eval.ndcg_k, depth))
    return per_query


def _rows_by_attribute(per_query: dict, queries: ManipulationQueries, photos: AttributedPhotos,
                       extra: dict) -> dict[str, dict]:
    """{"overall": {column: mean}, <attribute>: {column: mean over its queries}}."""
    rows = {"overall": {column: float(np.mean(values)) for column, values in per_query.items()}}
    rows["overall"].update(extra)
    for position, attribute in enumerate(photos.attributes):
        chosen = queries.attributes == position
        if chosen.any():
            rows[attribute] = {column: float(np.mean(values[chosen]))
                               for column, values in per_query.items()}
    return rows


def validation_scores(model, kind: str, data: ADDEData, config: ADDEConfig,
                      index: Optional[str] = None, features: Optional[np.ndarray] = None
                      ) -> dict[str, float]:
    """The model's mean top-k and NDCG on the validation queries (`features`: the
    validation split's f, when the caller has them)."""
    queries = data.queries["validation"]
    found = retrieve(model, kind, data, "validation", queries, config.eval.depth,
                     index or config.eval.index, features)
    per_query = scores_of(data.split_labels("validation")[found], queries.targets, config)
    return {f"val_{column}": float(np.mean(values)) for column, values in per_query.items()}


WALK_COLUMNS = ("mgs", "mgs_c", "mgs_r", "target_share", "others_kept", "mgs_r_tn", "drift",
                "jitter", "uneven")


def label_walk_relevance(labels: np.ndarray, walks: np.ndarray, queries: ManipulationQueries
                         ) -> np.ndarray:
    """[P, N, A] ground-truth relevance along label walks: for the changed attribute, 1 where
    the step's item has the new value; for every other attribute, 1 where it keeps the
    reference's value (missing counts as a value)."""
    relevance = (labels[walks] == labels[queries.references][:, None]).astype(np.float64)
    walked = np.arange(len(queries))
    relevance[walked, :, queries.attributes] = (
        labels[walks, queries.attributes[:, None]] == queries.values[:, None])
    return relevance


def walk_scores(relevance: np.ndarray, queries: ManipulationQueries) -> dict[str, float]:
    """On label relevance [P, N + 1, A] from the reference on: MGS, MGS-C, MGS-R (CGIR.md)
    over the walked items, two figures binary labels need — the share of steps whose item
    has the new value, and of other attributes kept — and the walk shape columns
    (`metrics.walk_shape_scores`). (With 0/1 relevance MGS-C rewards a walk for *arriving*
    late: one that has the new value from the first step on never increases and scores 0.)"""
    directions = np.ones(len(queries), np.int64)
    gradual = metrics.gradual_scores(relevance[:, 1:], queries.attributes, directions)
    walked = np.arange(len(queries))
    others = np.ones(relevance.shape[::2], bool)
    others[walked, queries.attributes] = False
    steps = relevance[:, 1:]
    return {**gradual, "target_share": float(steps[walked, :, queries.attributes].mean()),
            "others_kept": float(steps.transpose(0, 2, 1)[others].mean()),
            **metrics.walk_shape_scores(relevance, queries.attributes, directions)}


def walk_queries(data: ADDEData, config: ADDEConfig, split: str = "test"
                 ) -> ManipulationQueries:
    """The first `walk_queries` queries of `split` ("test"; "validation" to choose settings)."""
    queries = data.queries[split]
    return queries.subset(np.arange(min(config.eval.walk_queries, len(queries))))


def run_label_walks(space: ItemSpace, data: ADDEData, config: ADDEConfig, index: str,
                    split: str = "test") -> dict[str, np.ndarray]:
    """{decoding: [P, N + 1] rows within `split`} of the walks from each walked query's
    reference (first) toward f′ (γ = step_size … N·step_size), through the shared `Walker`,
    in both decodings (the configured one first)."""
    from tfgrad.retrieval.walk import Walker

    queries = walk_queries(data, config, split)
    walker = Walker.over(space.subset(data.splits[split]), index, gradual=config.eval.gradual)
    labels = data.split_labels(split)
    change = indicators(labels[queries.references], queries.targets, data.photos.num_values)
    return {decoding: evaluation.with_references(walker.walk(
        queries.references, change, config.eval.walk_steps, config.eval.step_size,
        decoding=decoding).items.numpy(), queries.references)
        for decoding in configured_first(config.eval.decoding)}


def score_label_walks(walks: dict[str, np.ndarray], data: ADDEData, config: ADDEConfig,
                      split: str = "test") -> dict[str, dict[str, float]]:
    """{decoding: `walk_scores`} of `run_label_walks`' walks of the same split, on its labels."""
    queries, labels = walk_queries(data, config, split), data.split_labels(split)
    return {decoding: walk_scores(label_walk_relevance(labels, items, queries), queries)
            for decoding, items in walks.items()}


def walk_row(model_name: str, decoding: str) -> str:
    return f"{model_name} ({decoding})"


def manipulations_png(model, kind: str, data: ADDEData, found: np.ndarray, name: str) -> bytes:
    """Per pictured test query: the reference photo, then the top results captioned with the
    changed attribute's value (✓: the whole target label vector)."""
    photos, queries = data.photos, data.queries["test"]
    labels, images = data.split_labels("test"), data.split_images("test")
    # One query per attribute first, so that the picture shows several kinds of change.
    order = [int(np.flatnonzero(queries.attributes == a)[0]) for a in range(len(photos.values))
             if (queries.attributes == a).any()]
    pictured = (order + [q for q in range(len(queries)) if q not in order])[:PICTURED_QUERIES]
    rows, titles, captions = [], [], []
    for query in pictured:
        attribute, value = int(queries.attributes[query]), int(queries.values[query])
        reference = int(queries.references[query])
        results = found[query, :PICTURED_RESULTS]
        rows.append(np.concatenate([images[reference:reference + 1], images[results]]))
        values = photos.values[attribute]
        titles.append(f"{name}\n{photos.attributes[attribute][:14]}\n→ {values[value][:14]}")
        old = labels[reference, attribute]
        captions.append([f"was {values[old][:10]}"] + [
            ("✓ " if (labels[item] == queries.targets[query]).all() else "")
            + (values[labels[item, attribute]][:10] if labels[item, attribute] != MISSING
               else "?") for item in results])
    return plots.image_rows_png(rows, titles, captions)


def walk_png(data: ADDEData, walks: dict[str, np.ndarray], queries: ManipulationQueries,
             name: str) -> bytes:
    """The first walks as strips, each decoding's below the other for the same query: the
    reference, then each step's item captioned with the changed attribute's value (✓ where it
    is the new one). `walks`: {decoding: [P, N + 1] items, the reference first}."""
    photos, images = data.photos, data.split_images("test")
    labels = data.split_labels("test")
    rows, titles, captions = [], [], []
    for walk in range(min(3, len(queries))):
        attribute, value = int(queries.attributes[walk]), int(queries.values[walk])
        names = photos.values[attribute]
        old = labels[queries.references[walk], attribute]
        for decoding, items in walks.items():
            rows.append(images[items[walk]])
            titles.append(f"{name} {decoding}\n{names[old][:12]}\n→ {names[value][:12]}")
            captions.append(["reference"] + [
                ("✓ " if labels[item, attribute] == value else "")
                + (names[labels[item, attribute]][:9] if labels[item, attribute] != MISSING
                   else "?") for item in items[walk][1:]])
    return plots.image_rows_png(rows, titles, captions)


def memory_png(model, photos: AttributedPhotos, title: str) -> bytes:
    return plots.block_matrix_png(model.memory().numpy(), photos.num_values,
                                  [model.chunk_dim] * len(photos.num_values),
                                  photos.attributes, title)


class ADDESystem(System):
    """Attribute manipulation retrieval: "this item, but attribute a = v"."""

    name = "adde"
    config_class = ADDEConfig
    models = MODELS
    description = "ADDE and its baselines: attribute manipulation retrieval over photos"

    def prepare(self, config: ADDEConfig, kinds: Sequence[str] = (),
                cache_dir: Optional[str] = None) -> ADDEData:
        return prepare_data(config, cache_dir)

    def describe(self, data: ADDEData) -> str:
        photos = data.photos
        return (f"{photos.name}: {len(photos)} items ("
                + ", ".join(f"{split} {len(rows)}" for split, rows in data.splits.items())
                + "); attributes " + ", ".join(
                    f"{name} ({count})" for name, count in zip(photos.attributes,
                                                               photos.num_values))
                + "; queries " + ", ".join(f"{split} {len(queries)}"
                                           for split, queries in data.queries.items()))

    def build(self, config: ADDEConfig, data: ADDEData):
        model_config, seed = config.model, config.train.seed
        num_values = data.photos.num_values
        if model_config.kind == "entangled_tirg":
            from tfgrad.models.entangled_tirg import EntangledTIRG

            model = EntangledTIRG(num_values, config.data.image_size, model_config.width,
                                  len(num_values) * model_config.chunk_dim,
                                  (model_config.tirg_hidden,), seed=seed)
        else:
            from tfgrad.models.adde import ADDE

            # The filter's classifier is stage 1 alone, trained for every step.
            attribute_steps = (config.train.steps + 1 if model_config.kind == "attribute_filter"
                               else model_config.attribute_steps)
            model = ADDE(
                num_values, config.data.image_size, model_config.width,
                model_config.backbone_dim, model_config.chunk_dim, attribute_steps,
                min(model_config.prototype_steps, attribute_steps),
                model_config.classification_weight, model_config.label_triplet_weight,
                model_config.manipulation_triplet_weight,
                0.0 if model_config.kind == "adde_no_consistency"
                else model_config.consistency_weight,
                0.0 if model_config.kind == "adde_no_memory_l1" else model_config.memory_weight,
                model_config.margin, seed=seed)
        model.build()
        return model

    def compile(self, model, config: ADDEConfig) -> None:
        model.compile(optimizer=keras.optimizers.Adam(config.train.learning_rate))

    def training_dataset(self, model, config: ADDEConfig, data: ADDEData) -> tf.data.Dataset:
        queries = data.queries["train"]
        return manipulation_triplets_dataset(
            data.split_images("train"), data.split_labels("train"), queries.references,
            queries.targets, data.positives, data.negatives, config.train.batch_size,
            config.train.seed + 1)

    def monitor(self, config: ADDEConfig, data: ADDEData) -> Monitor:
        kind = config.model.kind

        def validate(model):
            figures = validation_scores(model, kind, data, config)
            if kind in ADDE_KINDS:
                figures["memory_off_block_mass"] = float(model.off_block_mass())
            return figures

        return ValidationSelection(config.work_dir, validate, config.eval.selection_column,
                                   config.eval.selection_column)

    def _evaluation(self, rows_by_table: dict, model_row: str, config: ADDEConfig,
                    data: ADDEData, files: dict, details: dict) -> Evaluation:
        queries = data.queries["test"]
        tables = {}
        for table, rows in rows_by_table.items():
            if table == "walks":
                tables[table] = Table(
                    table, WALK_COLUMNS, rows, chance_row=CHANCE,
                    model_row=walk_row(model_row, config.eval.decoding),
                    title=f"walks from the reference toward f′ (γ = {config.eval.step_size} "
                          f"… {config.eval.step_size * config.eval.walk_steps:g}), "
                          f"{data.photos.name} test ({len(walk_queries(data, config))} "
                          f"walks), ground-truth labels")
                continue
            subset = (len(queries) if table == "overall" else
                      int((queries.attributes == data.photos.attribute_index(table)).sum()))
            shown = columns(config) if table == "overall" else columns(config)[:-2]
            tables[table] = Table(
                table, shown, rows, chance_row=CHANCE,
                title=f"attribute manipulation, {data.photos.name} test "
                      f"({'all' if table == 'overall' else table} queries: {subset}, "
                      f"{len(data.splits['test'])} items)")
        return Evaluation(tables=tables, main="overall", model_row=model_row,
                          pictures={os.path.splitext(file)[0]: png
                                    for file, png in files.items()},
                          files=files, details=details)

    def evaluate(self, model, config: ADDEConfig, data: ADDEData,
                 index: Optional[str] = None, pictures: bool = True) -> Evaluation:
        """Test top-k and NDCG, overall and per changed attribute, with the validation
        figure the weights were chosen on; the manipulations picture, and ADDE's memory
        block as a heat map with its off-block mass."""
        index = index or config.eval.index
        kind, name = config.model.kind, self.display_name(config.model.kind)
        queries = data.queries["test"]
        # Every item's f once: the test search, the validation figure and the walks read it.
        features = embed(model, data.images)
        found = retrieve(model, kind, data, "test", queries, config.eval.depth, index,
                         features[data.splits["test"]])
        per_query = scores_of(data.split_labels("test")[found], queries.targets, config)
        validation = validation_scores(model, kind, data, config, index,
                                       features[data.splits["validation"]])
        extra = {config.eval.selection_column: validation[config.eval.selection_column]}
        details, files = {"attributes": list(data.photos.attributes)}, {}
        if pictures:
            files[MANIPULATIONS_PNG] = manipulations_png(model, kind, data, found, name)
        if kind in ADDE_KINDS:
            # The share of |M| outside the attribute blocks (0: perfectly block-diagonal).
            mass = float(model.off_block_mass())
            details["memory_off_block_mass"] = mass
            extra[OFF_BLOCK_COLUMN] = mass
            if pictures:
                files[MEMORY_PNG] = memory_png(
                    model, data.photos, f"{name} memory block: off-block mass {mass:.3f}")
        rows = {table: {name: row} for table, row in
                _rows_by_attribute(per_query, queries, data.photos, extra).items()}
        space = self._item_space(model, config, data, features)
        if space.walkable:
            walked = walk_queries(data, config)
            walks = run_label_walks(space, data, config, index)
            rows["walks"] = {walk_row(name, decoding): scores for decoding, scores
                             in score_label_walks(walks, data, config).items()}
            if pictures:
                files[WALK_PNG] = walk_png(data, walks, walked, name)
        return self._evaluation(rows, name, config, data, files, details)

    def reference(self, config: ADDEConfig, data: ADDEData, index: Optional[str] = None
                  ) -> Evaluation:
        """Random items: the exact expected top-k and NDCG of `depth` test items drawn at
        random (the reference excluded is ignored: one item in the split)."""
        queries = data.queries["test"]
        hits, ndcg = metrics.chance_manipulation_scores(
            data.split_labels("test"), queries.targets, config.eval.ks, config.eval.ndcg_k)
        per_query = {**{f"top@{k}": values for k, values in hits.items()},
                     f"ndcg@{config.eval.ndcg_k}": ndcg}
        validation = data.queries["validation"]
        validation_hits, _ = metrics.chance_manipulation_scores(
            data.split_labels("validation"), validation.targets, config.eval.ks,
            config.eval.ndcg_k)
        column = config.eval.selection_column
        extra = {column: float(np.mean(validation_hits[int(column.split("@")[1])]))}
        rows = {table: {CHANCE: row} for table, row in
                _rows_by_attribute(per_query, queries, data.photos, extra).items()}
        walked = walk_queries(data, config)
        random_walks = evaluation.random_walks(len(data.splits["test"]), walked.references,
                                               config.eval.walk_steps,
                                               np.random.default_rng(config.train.seed + 30))
        rows["walks"] = {CHANCE: walk_scores(label_walk_relevance(
            data.split_labels("test"), evaluation.with_references(
                random_walks, walked.references), walked), walked)}
        return self._evaluation(rows, CHANCE, config, data, {}, {})

    def spaces(self, model, config: ADDEConfig, data: ADDEData) -> Spaces:
        """Every item (all splits: the live catalogue) with its normalised representation and
        its attribute values; ADDE's and the entangled TIRG's walk along the ±1 value
        indicator ("attribute=value" keys, +1 the new value, −1 the old): ADDE's move is
        linear through the memory block (γ = 1 is f′), TIRG's its composer. Moves start from
        the unnormalised representation; the search is over the unit ones (a query's norm
        does not change its ranking)."""
        return Spaces(items=self._item_space(model, config, data, embed(model, data.images)))

    def _item_space(self, model, config: ADDEConfig, data: ADDEData, features: np.ndarray
                    ) -> ItemSpace:
        """`spaces`' item space from every item's f [M, D]."""
        from tfgrad.export.manipulate import value_keys
        from tfgrad.spaces import ComposedMove, LinearMove

        photos = data.photos
        values = {attribute: [photos.values[position][value] if value != MISSING else ""
                              for value in photos.labels[:, position]]
                  for position, attribute in enumerate(photos.attributes)}
        move, kind = None, config.model.kind
        if kind in ADDE_KINDS:
            move = LinearMove(model.memory().numpy(), name="prototype_move")
        elif kind == "entangled_tirg":
            move = ComposedMove(model.change_embedding.kernel.numpy(), model.composer)
        space = ItemSpace(
            item_ids=photos.item_ids, item_names=photos.item_names,
            item_vectors=_unit(features), metadata=pd.DataFrame(values), move=move,
            attributes=tuple(value_keys(photos.attributes, photos.values)) if move else (),
            move_vectors=features if move else None)
        if kind in ADDE_KINDS:
            # ADDE's classifiers say how much of each value an item has.
            return dataclasses.replace(space, levels=np.asarray(
                model.value_probabilities(features), np.float32))
        if move is not None:
            return dataclasses.replace(space, levels=levels.projection_levels(
                space.item_vectors, space.move_directions()))
        return space

    def export(self, model, config: ADDEConfig, data: ADDEData) -> Optional[str]:
        """ADDE's `manipulate` export over every item; the baselines are rows of the tables
        and are not exported (None)."""
        if config.model.kind not in ADDE_KINDS:
            print(f"{config.model.kind} is a baseline of the tables: not exported", flush=True)
            return None
        from tfgrad.export.manipulate import export_manipulate

        photos = [tf.io.encode_png(image).numpy() for image in data.images]
        return export_manipulate(
            model, self.spaces(model, config, data).items, data.photos.labels, photos,
            data.photos.attributes, data.photos.values, config.eval.step_size,
            config.export_dir, config.name,
            {"model": type(model).__name__, "catalogue": data.photos.name,
             "config": config.to_dict()}, config.eval.decoding, config.eval.gradual)

    def summary(self, config: ADDEConfig, result) -> str:
        return (f"{config.name}: trained {config.train.steps} steps in "
                f"{result.train_seconds:.1f} s; attribute manipulation on the test split:")


SYSTEM = ADDESystem()
