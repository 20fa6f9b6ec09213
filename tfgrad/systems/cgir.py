"""CGIR and its baselines and ablations (CGIR.md): catalogue → triples → model → train →
evaluate walks and retrieval beside chance → export the walk signatures.

Evaluation depends on what the data can tell (CGIR.md, "Metrics"):
  synthetic  every metric against exact ground truth, walks over the whole catalogue;
  movielens  HR/MRR over all items; MGS walks among the movies with tag-genome scores
             ("genome" table) and, with SoftAttributes, walks along the 60 soft attributes
             among the judged movies, scored against people ("human" table);
  hm         HR/MRR over all items; MGS with the share of the top 100 retrieved items that
             have a tag as its relevance ("shop" table).
CGIR.md has no validation split: a run keeps its final weights.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import evaluation, levels, metrics, plots
from tfgrad.config import SystemConfig, TripleTrainConfig, check_choice, check_positive, option
from tfgrad.core import run as core_run
from tfgrad.core.system import Evaluation, ModelSpec, Monitor, Spaces, System, Table
from tfgrad.data import synthetic
from tfgrad.data.catalogue import Catalogue
from tfgrad.data.pipelines import cgir_training_dataset, triples_dataset
from tfgrad.data.synthetic import SyntheticCatalogueConfig
from tfgrad.data.triples import (Triples, grouped_split, make_categorical_triples, make_triples,
                                 near_duplicate_leakage, split_triples)
from tfgrad.data.word_vectors import (AttributeWordVectors, UnknownWordsError,
                                      load_attribute_word_vectors)
from tfgrad.export.walk import export_walk, relevance_metadata
from tfgrad.models.base import RetrievalModel
from tfgrad.models.candidate_sampler import PROPOSALS, SOFTMAXES
from tfgrad.models.interaction_vae import SIMILARITIES
from tfgrad.retrieval.gradual import DECODINGS, GradualSettings, configured_first
from tfgrad.retrieval.walk import Walker
from tfgrad.spaces import AttributeMove, ItemSpace

MODELS = {
    "cgir": ModelSpec("CGIR", "interaction VAE + sparse attribute encoder, aligned (CGIR.md)"),
    "cgir_no_sparse": ModelSpec("CGIR w/o Sparse", "CGIR with λ_sparse = 0"),
    "cgir_no_vae": ModelSpec("CGIR w/o VAE", "an item MLP over interactions instead of the VAE"),
    "cbir": ModelSpec("CBIR", "query MLP over [h_i, φ_t], BCE against sampled items"),
    "dscmr": ModelSpec("DSCMR", "common space with label-space and invariance terms"),
    "tirg": ModelSpec("TIRG", "gated residual composer, batch softmax"),
}
DATASETS = ("synthetic", "movielens", "hm")
WALKS_PNG = "walks.png"
HUMAN_COLUMNS = (*evaluation.WALK_COLUMNS, "agreement", "judged_steps")
# Binary tags of categorical columns: also the other columns the walk's items keep.
SHOP_COLUMNS = (*evaluation.METRIC_NAMES[:-1], "kept", evaluation.METRIC_NAMES[-1])
INDEXES = ("scann", "brute_force")
SPLITS = ("pair", "grouped")
# The models whose item softmaxes may be sampled: the others' item towers (cgir_no_vae, CBIR,
# DSCMR, TIRG) compute all M item vectors every step, or rank in-batch (TIRG).
SAMPLED_SOFTMAX_MODELS = ("cgir", "cgir_no_sparse")


@dataclasses.dataclass(frozen=True)
class RetrievalModelConfig:
    """Which retrieval model and its hyper-parameters (see `CGIRSystem.build`).

    CGIR and its ablations use everything up to target_sparsity; the baselines share
    latent_dim, hidden_dims and temperature, and add their own terms' settings below.

    Attributes:
      kind: The model: cgir, its ablations (cgir_no_sparse, cgir_no_vae) or a baseline (cbir,
        dscmr, tirg); or a recommender of purchases from photos (the dvbpr system).
      latent_dim: D of the item table and the attribute codes.
      hidden_dims: VAE encoder hidden sizes, comma-separated.
      dropout_rate: VAE input dropout.
      similarity: Item scoring: cosine / temperature (MacridVAE) or dot product.
      temperature: τ of the cosine similarity.
      beta: β of the KL term.
      alignment_weight: λ_align.
      sparsity_weight: λ_sparse (0: w/o Sparse).
      target_sparsity: ρ of the sparsity loss.
      ordinal_weight: CGIR: λ_ord of the pairwise ordinal term on the triples (beyond the
        paper; 0 is its objective).
      softmax: CGIR: full (every item in the reconstruction and alignment softmaxes) or sampled
        (the positives and --num_sampled drawn items, log-Q corrected; for large catalogues).
      num_sampled: CGIR, sampled softmax: items drawn per step (shared by the batch).
      proposal: CGIR, sampled softmax: the draws' distribution Q, uniform or popularity (the
        training interactions' item counts, smoothed by --proposal_power).
      proposal_power: CGIR, popularity proposal: α in Q(j) ∝ (count_j + 1)^α.
      num_negatives: CBIR: sampled non-targets per triple; WARP: negatives per positive.
      label_weight: DSCMR: label-space loss weight.
      invariance_weight: DSCMR: invariance loss weight.
    """

    kind: str = option("cgir", flag="model", choices=tuple(MODELS))
    latent_dim: int = 64
    hidden_dims: tuple[int, ...] = (256,)
    dropout_rate: float = 0.5
    similarity: str = option("cosine", choices=SIMILARITIES)
    temperature: float = 0.1
    beta: float = 0.2
    alignment_weight: float = 1.0
    # At 1.0 the clipped codes of most attributes die (F(t) = 0) before alignment can use them.
    sparsity_weight: float = 0.1
    target_sparsity: float = 0.1
    ordinal_weight: float = 0.0
    softmax: str = option("full", choices=SOFTMAXES)
    num_sampled: int = 1024
    proposal: str = option("popularity", choices=PROPOSALS)
    proposal_power: float = 1.0
    num_negatives: int = 16
    label_weight: float = 1.0
    invariance_weight: float = 0.1

    def __post_init__(self):
        check_choice("model", self.kind, MODELS)
        check_choice("similarity", self.similarity, SIMILARITIES)
        check_choice("softmax", self.softmax, SOFTMAXES)
        check_choice("proposal", self.proposal, PROPOSALS)
        check_positive(self, "num_sampled")
        if self.softmax == "sampled" and self.kind not in SAMPLED_SOFTMAX_MODELS:
            raise ValueError(
                f"--softmax=sampled applies to models {', '.join(SAMPLED_SOFTMAX_MODELS)}, "
                f"not to {self.kind!r} (docs/SCALE.md says why)")


@dataclasses.dataclass(frozen=True)
class CatalogueDataConfig:
    """Where a real catalogue is and its protocol (`tfgrad.data.movielens`, `.hm`,
    `.soft_attributes`).

    Attributes:
      movielens_dir: MovieLens folder: ratings.csv / ratings.dat / u.data, movies, tags.
      genome_dir: Tag genome folder (genome-scores.csv, genome-tags.csv); default:
        --movielens_dir.
      soft_attributes_path: soft-attributes.csv: also walk the 60 soft attributes and score
        the walks against the human judgments.
      hm_dir: H&M folder (articles.csv, transactions_train.csv).
      hm_tag_columns: H&M article columns whose values become binary tags.
      min_rating: MovieLens: ratings >= this are kept.
      min_user_interactions: Real data: users with fewer interactions are dropped.
      min_tag_items: Real data: tags on fewer items are dropped.
    """

    movielens_dir: Optional[str] = None
    genome_dir: Optional[str] = None
    soft_attributes_path: Optional[str] = None
    hm_dir: Optional[str] = None
    hm_tag_columns: tuple[str, ...] = ("colour_group_name", "graphical_appearance_name",
                                       "perceived_colour_value_name", "product_type_name")
    min_rating: float = 4.0
    min_user_interactions: int = 5
    min_tag_items: int = 2


@dataclasses.dataclass(frozen=True)
class CGIRTrainConfig(TripleTrainConfig):
    """The training loop, plus the users per step of the interaction VAE.

    Attributes:
      user_batch_size: Users per step (the VAE models).
    """

    user_batch_size: int = 128

    def __post_init__(self):
        super().__post_init__()
        check_positive(self, "user_batch_size")


@dataclasses.dataclass(frozen=True)
class WalkEvalConfig:
    """How walks are evaluated and exported.

    Attributes:
      walk_steps: Walk length N.
      step_size: γ_1; γ_n = step_size·n.
      distinct: No item twice in a walk (False: the paper's exact protocol).
      max_queries: Walk queries evaluated (a seeded sample of the held-out ones).
      index: Index used by the final evaluation.
      decoding: How a walk's items are chosen: greedy (each step its top item, the paper's)
        or gradual (the whole path at once, from the items' estimated levels); tables show
        both, this one is the model's row and the export's default.
    """

    walk_steps: int = 10
    step_size: float = 0.1
    distinct: bool = True
    max_queries: int = option(2000, flag="max_eval_queries")
    index: str = option("scann", choices=INDEXES)
    decoding: str = option("gradual", choices=DECODINGS)
    gradual: GradualSettings = GradualSettings()

    def __post_init__(self):
        if self.walk_steps < 2:
            raise ValueError(f"walk_steps must be at least 2 to measure gradualness, "
                             f"got {self.walk_steps}")
        if self.step_size <= 0:
            raise ValueError(f"step_size must be positive, got {self.step_size}")
        check_choice("index", self.index, INDEXES)
        check_choice("decoding", self.decoding, DECODINGS)


@dataclasses.dataclass(frozen=True)
class CGIRConfig(SystemConfig):
    """One CGIR run (train → evaluate → export).

    Attributes:
      dataset: Catalogue source; 'synthetic' is generated, nothing to download; 'movielens'
        and 'hm' read a public download (--movielens_dir, --hm_dir); 'interactions'
        (recommenders) reads --interactions_path and --images_dir.
      glove_path: A GloVe text file (glove.6B.300d.txt layout); default: packaged GloVe 6B
        50-d.
      max_pairs: At most this many item pairs differing in one attribute.
      test_fraction: Held-out share of pairs.
      split: How triples are held out. pair: by unordered item pair (CGIR.md); grouped: by
        unordered pair of near-duplicate groups (tag-identical items; a synthetic family).
    """

    name: str = "cgir_synthetic"
    work_dir: str = "runs/cgir_synthetic"
    dataset: str = option("synthetic", choices=DATASETS)
    synthetic: SyntheticCatalogueConfig = SyntheticCatalogueConfig()
    data: CatalogueDataConfig = CatalogueDataConfig()
    glove_path: Optional[str] = None
    max_pairs: int = 50_000
    test_fraction: float = 0.2
    split: str = option("pair", choices=SPLITS)
    model: RetrievalModelConfig = RetrievalModelConfig()
    train: CGIRTrainConfig = CGIRTrainConfig()
    eval: WalkEvalConfig = WalkEvalConfig()

    def __post_init__(self):
        check_choice("split", self.split, SPLITS)
        self.check_dataset(
            {"synthetic": (), "movielens": ("movielens_dir",), "hm": ("hm_dir",)},
            f"dataset {self.dataset!r} has no attributes to walk: model {self.model.kind!r} "
            f"needs --dataset=synthetic, movielens or hm")


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
    """The catalogue, its triples and what the evaluation walks.

    `leakage` is `near_duplicate_leakage` of the split made, over the catalogue's
    near-duplicate groups: how many test triples training already answers.
    """

    catalogue: Catalogue
    word_vectors: AttributeWordVectors
    train_triples: Triples
    test_triples: Triples
    # MovieLens: the genome-scored pool and its walk queries (references are pool positions).
    graded_pool: Optional[np.ndarray] = None
    graded_queries: Optional[Triples] = None
    human: Optional[HumanJudgments] = None
    dropped_attributes: tuple[str, ...] = ()
    leakage: Optional[dict] = None


def load_catalogue(config: CGIRConfig) -> Catalogue:
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


def _prepare_human(config: CGIRConfig, catalogue: Catalogue) -> HumanJudgments:
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


def prepare_data(config: CGIRConfig) -> PreparedData:
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
    groups = catalogue.near_duplicate_groups()
    if config.split == "grouped":
        train_triples, test_triples = grouped_split(triples, groups, config.test_fraction,
                                                    config.train.seed)
    else:
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
                        dropped_attributes=dropped,
                        leakage=near_duplicate_leakage(train_triples, test_triples, groups))


def build_model(config: CGIRConfig, data: PreparedData) -> RetrievalModel:
    """The built (untrained) model of `config.model.kind` for the prepared catalogue."""
    from tfgrad.models.cbir import CBIR
    from tfgrad.models.cgir import CGIR
    from tfgrad.models.cgir_no_vae import CGIRWithoutVAE
    from tfgrad.models.dscmr import DSCMR
    from tfgrad.models.tirg import TIRG

    model_config, catalogue, word_vectors = config.model, data.catalogue, data.word_vectors
    words = dict(word_vectors=word_vectors.word_vectors,
                 attribute_word_matrix=word_vectors.attribute_word_matrix)
    towers = dict(interactions=catalogue.interactions, num_users=catalogue.num_users,
                  num_items=catalogue.num_items, **words, latent_dim=model_config.latent_dim,
                  hidden_dims=model_config.hidden_dims, temperature=model_config.temperature)
    cgir = dict(num_items=catalogue.num_items, **words, latent_dim=model_config.latent_dim,
                hidden_dims=model_config.hidden_dims, dropout_rate=model_config.dropout_rate,
                similarity=model_config.similarity, temperature=model_config.temperature,
                beta=model_config.beta, alignment_weight=model_config.alignment_weight,
                sparsity_weight=model_config.sparsity_weight,
                target_sparsity=model_config.target_sparsity,
                ordinal_weight=model_config.ordinal_weight, softmax=model_config.softmax,
                num_sampled=model_config.num_sampled, proposal=model_config.proposal,
                proposal_power=model_config.proposal_power,
                item_counts=(catalogue.item_popularity() if model_config.softmax == "sampled"
                             and model_config.proposal == "popularity" else None))
    builders = {
        "cgir": lambda: CGIR(**cgir),
        "cgir_no_sparse": lambda: CGIR(**{**cgir, "sparsity_weight": 0.0}),
        "cgir_no_vae": lambda: CGIRWithoutVAE(
            **towers, alignment_weight=model_config.alignment_weight,
            sparsity_weight=model_config.sparsity_weight,
            target_sparsity=model_config.target_sparsity),
        "cbir": lambda: CBIR(**towers, num_negatives=model_config.num_negatives),
        "dscmr": lambda: DSCMR(**towers, item_attributes=catalogue.item_attributes,
                               label_weight=model_config.label_weight,
                               invariance_weight=model_config.invariance_weight),
        "tirg": lambda: TIRG(**towers),
    }
    model = builders[model_config.kind]()
    model.build()
    return model


def catalogue_space(catalogue: Catalogue, item_vectors, move: Optional[AttributeMove]
                    ) -> ItemSpace:
    """The item space of a catalogue: its ids and names, its photos and the true relevance
    (where the catalogue has them; the export's items table carries both, for showing walks),
    the model's vectors and move, and — for a space that walks — the items' estimated levels
    (`estimated_levels`), which gradual walks decode with."""
    item_vectors = np.asarray(item_vectors, dtype=np.float32)
    return ItemSpace(
        item_ids=np.asarray(catalogue.item_ids), item_names=np.asarray(catalogue.item_names),
        item_vectors=item_vectors, move=move,
        attributes=tuple(catalogue.attributes), image_paths=catalogue.image_paths,
        metadata=None if catalogue.relevance is None
        else relevance_metadata(catalogue.relevance, catalogue.attributes),
        levels=None if move is None else estimated_levels(item_vectors, catalogue))


def estimated_levels(item_vectors: np.ndarray, catalogue: Catalogue) -> np.ndarray:
    """[M, T] the level head's levels (`tfgrad.levels`), fitted on the tags of the items that
    have any: an item nobody tagged (MovieLens) is not known to lack its tags."""
    tagged = np.flatnonzero(catalogue.item_attributes.sum(axis=1) > 0)
    return levels.head_levels(item_vectors, catalogue.item_attributes, tagged)


def item_space(model: RetrievalModel, catalogue: Catalogue) -> ItemSpace:
    """A trained retrieval model's item space over the catalogue it was trained on."""
    return catalogue_space(catalogue, model.item_vectors(), model.attribute_move())


def main_table(config: CGIRConfig) -> str:
    return {"synthetic": "synthetic", "movielens": "genome", "hm": "shop"}[config.dataset]


def table_columns(table: str) -> tuple[str, ...]:
    return {"human": HUMAN_COLUMNS, "shop": SHOP_COLUMNS}.get(table, evaluation.METRIC_NAMES)


def row_name(model_name: str, decoding: str) -> str:
    return f"{model_name} ({decoding})"


TRUE_LEVELS = "gradual, true levels"


def evaluate_tables(model: RetrievalModel, config: CGIRConfig, data: PreparedData,
                    index_kind: str = "brute_force", both: bool = True
                    ) -> dict[str, dict[str, dict]]:
    """{table: {decoding: metrics (+ "picture": what `walks_png` draws)}} of one model.

    Tables: the dataset's main one ("synthetic" / "genome" / "shop") and, with judgments,
    "human"; with `both`, each has both decodings on the same queries, greedy and gradual
    pictured side by side, and where the true relevance is known `TRUE_LEVELS`: gradual
    decoding fed the true relevance instead of the estimated levels (a ceiling no model has:
    what the catalogue allows from these candidates). Without `both`, the configured decoding
    only (an untrained reference). Pool walks (genome, human) are searched exactly: their pools
    are a few hundred movies.
    """
    settings = dict(steps=config.eval.walk_steps, step_size=config.eval.step_size,
                    distinct=config.eval.distinct)
    catalogue = data.catalogue
    rows = configured_first(config.eval.decoding, both)
    space = item_space(model, catalogue)
    walker = Walker.over(space, index_kind, gradual=config.eval.gradual)
    if config.dataset == "synthetic":
        results = evaluation.evaluate_walker(
            walker, catalogue, data.test_triples, max_queries=config.eval.max_queries,
            seed=config.train.seed, decodings=rows, **settings)
        if both:
            configured = results[config.eval.decoding]
            queries = configured["queries"]
            walks = evaluation.run_walks(
                walker.with_gradual(config.eval.gradual, levels=catalogue.relevance), queries,
                catalogue.num_attributes, decoding="gradual", **settings)
            results[TRUE_LEVELS] = {
                **{name: configured[name] for name in ("hr@20", "hr@50", "mrr", "ind")},
                **evaluation.walk_scores(catalogue.relevance[evaluation.with_references(
                    walks, queries.reference)], queries), "walks": walks, "queries": queries}
            _add_pictures(results, catalogue.relevance, catalogue.item_names,
                          catalogue.attributes, config)
        return {"synthetic": results}

    main = {**evaluation.evaluate_ranking(walker, data.test_triples, catalogue.num_attributes),
            "ind": metrics.independence_level(walker.item_vectors.numpy())}
    tables = {}
    if config.dataset == "movielens":
        if data.graded_queries is None:
            gradual = {name: float("nan") for name in evaluation.WALK_COLUMNS}
            tables["genome"] = {decoding: {**main, **gradual}
                                for decoding in rows}
        else:
            pool = data.graded_pool
            pool_walker = Walker.over(space.subset(pool), gradual=config.eval.gradual)
            relevance = catalogue.relevance[pool]
            runs = {decoding: (pool_walker, decoding) for decoding in rows}
            if both:
                runs[TRUE_LEVELS] = (pool_walker.with_gradual(config.eval.gradual,
                                                              levels=relevance), "gradual")
            tables["genome"] = {
                row: {**main, **evaluation.pool_gradual_scores(
                    row_walker, relevance, data.graded_queries, decoding=decoding, **settings)}
                for row, (row_walker, decoding) in runs.items()}
            if both:
                _add_pictures(tables["genome"], relevance, catalogue.item_names[pool],
                              catalogue.attributes, config)
    else:
        tables["shop"] = _shop_table(walker, main, config, data, both)
    if data.human is not None:
        tables["human"] = _human_table(model, space, config, data, both)
    return tables


def _shop_table(walker: Walker, main: dict, config: CGIRConfig, data: PreparedData,
                both: bool) -> dict:
    """Binary tags: MGS (CGIR.md) over the share of the top 100 retrieved at each γ with each
    tag — which the decoding does not change — and the shape columns over the walk's own
    items' tags, from the reference on."""
    catalogue, steps = data.catalogue, config.eval.walk_steps
    queries = evaluation.sample_queries(data.test_triples, config.eval.max_queries,
                                        config.train.seed)
    share = evaluation.retrieved_tag_share(walker, queries, catalogue.item_attributes, steps,
                                           config.eval.step_size)
    gradual = metrics.gradual_scores_with_missing(share, queries.attribute, queries.direction)
    strengths = config.eval.step_size * np.arange(1, steps + 1)
    results = {}
    for decoding in configured_first(config.eval.decoding, both):
        walks = evaluation.run_walks(walker, queries, catalogue.num_attributes, steps,
                                     config.eval.step_size, config.eval.distinct, decoding)
        shape = tag_walk_scores(walks, catalogue, queries)
        results[decoding] = {**main, **gradual, **shape, "walks": walks, "queries": queries}
    count = min(_PICTURED, len(queries))
    if both and catalogue.image_paths is not None:
        results[config.eval.decoding]["picture"] = _photo_strips(
            results, walker.levels.numpy(), catalogue, config)
    else:
        results[config.eval.decoding]["picture"] = dict(
            relevance=share[:count], strengths=strengths,
            queries=queries.take(np.arange(count)),
            titles=catalogue.item_names[queries.reference[:count]],
            attribute_names=catalogue.attributes)
    return results


def tag_walk_scores(walks: np.ndarray, catalogue: Catalogue, queries: Triples) -> dict:
    """On binary tags, the walk shape columns (`metrics.walk_shape_scores`) of walks [P, N]
    over the walk items' own tags, the reference's first, and "kept"
    (`metrics.columns_kept`) where the tags are categorical columns, NaN where they are not."""
    tags = catalogue.item_attributes[evaluation.with_references(walks, queries.reference)]
    scores = metrics.walk_shape_scores(tags, queries.attribute, queries.direction)
    columns = catalogue.attribute_columns
    scores["kept"] = (float("nan") if columns is None or len(np.unique(columns)) < 2
                      else metrics.columns_kept(tags, columns, queries.attribute))
    return scores


def _photo_strips(results: dict[str, dict], item_levels: np.ndarray, catalogue: Catalogue,
                  config: CGIRConfig) -> dict:
    """What `walks_png` draws on a catalogue with photos: the first walks as photo strips,
    greedy above gradual for each query, the walked attribute's estimated level under each
    photo."""
    queries = results[config.eval.decoding]["queries"]
    paths, levels_shown, titles, captions = [], [], [], []
    for query in range(min(_PICTURED, len(queries))):
        attribute, direction = queries.attribute[query], queries.direction[query]
        for decoding in DECODINGS:
            items = evaluation.with_references(results[decoding]["walks"][query:query + 1],
                                               queries.reference[query:query + 1])[0]
            paths.append(catalogue.image_paths[items])
            levels_shown.append(item_levels[items, attribute])
            captions.append([name[:18] for name in catalogue.item_names[items]])
            titles.append(f"{decoding}\n{'more' if direction > 0 else 'less'}\n"
                          f"{catalogue.attributes[attribute][:14]}")
    return dict(kind="strip", image_paths=paths, levels=np.array(levels_shown),
                titles=titles, captions=captions,
                strengths=config.eval.step_size * np.arange(config.eval.walk_steps + 1))


def _human_table(model: RetrievalModel, space: ItemSpace, config: CGIRConfig,
                 data: PreparedData, both: bool) -> dict:
    """Walks along the soft attributes (never trained on) among the judged movies, scored
    against people; their levels are the projections on the move's directions, since the
    level head knows only the training attributes."""
    human = data.human
    pool_space = space.subset(human.pool).along(
        model.attribute_vectors(human.word_vectors.word_vectors,
                                human.word_vectors.attribute_word_matrix),
        human.word_vectors.attributes)
    pool_space = dataclasses.replace(pool_space, levels=levels.projection_levels(
        pool_space.item_vectors, pool_space.move_directions()))
    pool_walker = Walker.over(pool_space, gradual=config.eval.gradual)
    results = {}
    for decoding in configured_first(config.eval.decoding, both):
        result = evaluation.pool_gradual_scores(
            pool_walker, human.relevance, human.queries, config.eval.walk_steps,
            config.eval.step_size, config.eval.distinct, decoding)
        results[decoding] = {**result, **evaluation.human_agreement(
            human.pool[result["walks"]], human.queries, human.preferences)}
    if both:
        _add_pictures(results, human.relevance, data.catalogue.item_names[human.pool],
                      human.word_vectors.attributes, config)
    return results


_PICTURED = 4


def _add_pictures(results: dict[str, dict], relevance: np.ndarray, names: np.ndarray,
                  attribute_names: Sequence[str], config: CGIRConfig) -> None:
    """Gives the configured decoding's row what `walks_png` draws: the first walks' relevance
    from the reference (γ = 0) on, greedy and gradual side by side for the same queries."""
    queries = results[config.eval.decoding]["queries"]
    count = min(_PICTURED, len(queries))
    panels, titles = [], []
    for query in range(count):
        for decoding in DECODINGS:
            items = evaluation.with_references(results[decoding]["walks"][query:query + 1],
                                               queries.reference[query:query + 1])
            panels.append(relevance[items[0]])
            titles.append(f"{decoding}: {names[queries.reference[query]]}")
    shown = queries.take(np.repeat(np.arange(count), len(DECODINGS)))
    results[config.eval.decoding]["picture"] = dict(
        relevance=np.stack(panels), strengths=config.eval.step_size * np.arange(
            config.eval.walk_steps + 1), queries=shown, titles=titles,
        attribute_names=attribute_names)


def chance_tables(config: CGIRConfig, data: PreparedData) -> dict[str, dict]:
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
        gradual = {name: float("nan") for name in evaluation.WALK_COLUMNS}
        if data.graded_queries is not None:
            gradual = evaluation.pool_random_scores(
                catalogue.relevance[data.graded_pool], data.graded_queries, steps, seed)
        main = "genome"
    else:
        queries = evaluation.sample_queries(data.test_triples, config.eval.max_queries, seed)
        gradual = metrics.gradual_scores_with_missing(
            evaluation.random_tag_share(catalogue.item_attributes, queries, steps, seed),
            queries.attribute, queries.direction)
        walks = evaluation.random_walks(catalogue.num_items, queries.reference, steps,
                                        np.random.default_rng(seed + 1))
        gradual.update(tag_walk_scores(walks, catalogue, queries))
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


def walks_png(picture: dict) -> bytes:
    """A table's first walks: photo strips (`_photo_strips`) or relevance curves
    (`_add_pictures`)."""
    if picture.get("kind") == "strip":
        return plots.walk_photo_strip_png(picture["image_paths"], picture["strengths"],
                                          picture["levels"], picture["titles"],
                                          picture["captions"])
    queries = picture["queries"]
    return plots.walk_relevance_png(
        picture["relevance"], queries.attribute, queries.direction, picture["attribute_names"],
        picture["strengths"], titles=[str(title) for title in picture["titles"]])


def _numbers(rows: dict[str, dict], table: str) -> dict[str, dict[str, float]]:
    """The table's columns of each row (walks, queries and pictures left out)."""
    return {row: {column: float(values.get(column, float("nan")))
                  for column in table_columns(table)} for row, values in rows.items()}


def _tables(rows_by_table: dict[str, dict[str, dict]]) -> dict[str, Table]:
    return {name: Table(name=name, columns=table_columns(name), rows=_numbers(rows, name),
                        chance_row="random")
            for name, rows in rows_by_table.items()}


class EvaluationMonitor(Monitor):
    """Evaluates during training (exact search: the curves then show the model, not the
    index) and writes TensorBoard scalars and walk pictures; the final weights are kept.
    The reference rows (untrained model, chance) do not change during training, so they are
    evaluated once, at the first call."""

    def __init__(self, system: System, config: CGIRConfig, data: PreparedData):
        self.system, self.config, self.data = system, config, data
        self.writer = tf.summary.create_file_writer(
            os.path.join(config.work_dir, core_run.EVALUATION_LOGS))
        self.reference: Optional[Evaluation] = None

    def __call__(self, model: keras.Model, step: int) -> None:
        if self.reference is None:
            self.reference = self.system.reference(self.config, self.data, "brute_force")
        evaluation = self.system.evaluate(model, self.config, self.data, "brute_force")
        core_run.log_evaluation(evaluation.with_reference(self.reference), self.writer, step)


class CGIRSystem(System):
    """Controllable gradient item retrieval: walks that move an item toward attributes."""

    name = "cgir"
    config_class = CGIRConfig
    models = MODELS
    description = "CGIR and its baselines: walk a catalogue toward attributes"

    def prepare(self, config: CGIRConfig, kinds: Sequence[str] = (),
                cache_dir: Optional[str] = None) -> PreparedData:
        return prepare_data(config)

    def describe(self, data: PreparedData) -> str:
        catalogue, leakage = data.catalogue, data.leakage
        text = (f"{catalogue.num_items} items, {catalogue.num_users} users, "
                f"{catalogue.num_attributes} attributes, {len(data.train_triples)} train / "
                f"{len(data.test_triples)} test triples")
        if leakage is None:
            return text
        return (f"{text}; test triples with a same-group training pair: "
                f"{leakage['same_group_pair']}/{leakage['test_triples']} "
                f"({leakage['same_group_pair_share']:.1%}), target reached from a twin: "
                f"{leakage['twin_target']}")

    def build(self, config: CGIRConfig, data: PreparedData) -> RetrievalModel:
        return build_model(config, data)

    def training_dataset(self, model: RetrievalModel, config: CGIRConfig, data: PreparedData):
        """Users' interaction rows and triples for the VAE models, triples alone for the
        others."""
        if model.uses_user_batches:
            return cgir_training_dataset(data.catalogue, data.train_triples,
                                         config.train.user_batch_size,
                                         config.train.triple_batch_size, config.train.seed)
        return triples_dataset(data.train_triples, config.train.triple_batch_size,
                               config.train.seed + 1).prefetch(tf.data.AUTOTUNE)

    def monitor(self, config: CGIRConfig, data: PreparedData) -> Monitor:
        return EvaluationMonitor(self, config, data)

    def evaluate(self, model: RetrievalModel, config: CGIRConfig, data: PreparedData,
                 index: Optional[str] = None, pictures: bool = True) -> Evaluation:
        tables = evaluate_tables(model, config, data, index or config.eval.index)
        configured = {name: rows[config.eval.decoding] for name, rows in tables.items()}
        drawn = {f"{name}/walk_relevance": walks_png(result["picture"])
                 for name, result in configured.items() if pictures and "picture" in result}
        name = self.display_name(config.model.kind)
        return Evaluation(
            tables=_tables({table: {row_name(name, row): result for row, result in rows.items()}
                            for table, rows in tables.items()}),
            main=main_table(config), model_row=row_name(name, config.eval.decoding),
            pictures=drawn,
            files={WALKS_PNG: next(iter(drawn.values()))} if drawn else {},
            details={"dropped_attributes": list(data.dropped_attributes)})

    def reference(self, config: CGIRConfig, data: PreparedData,
                  index: Optional[str] = None) -> Evaluation:
        """An untrained model of the same configuration and the chance rows (random,
        popularity)."""
        name = self.display_name(config.model.kind)
        untrained = evaluate_tables(build_model(config, data), config, data,
                                    index or config.eval.index, both=False)
        chance = chance_tables(config, data)
        return Evaluation(
            tables=_tables({table: {f"untrained {name}": rows[config.eval.decoding],
                                    **chance.get(table, {})} for table, rows in untrained.items()}),
            main=main_table(config), model_row=f"untrained {name}")

    def summary(self, config: CGIRConfig, result) -> str:
        return (f"{config.name}: trained {config.train.steps} steps in "
                f"{result.train_seconds:.1f} s; metrics on held-out triples:")

    def spaces(self, model: RetrievalModel, config: CGIRConfig, data: PreparedData) -> Spaces:
        return Spaces(items=item_space(model, data.catalogue))

    def export(self, model: RetrievalModel, config: CGIRConfig, data: PreparedData) -> str:
        catalogue = data.catalogue
        return export_walk(self.spaces(model, config, data).items, config.export_dir,
                           config.name, config.eval.step_size,
                           {"model": type(model).__name__, "catalogue": catalogue.name,
                            "config": config.to_dict()},
                           decoding=config.eval.decoding, gradual=config.eval.gradual)


SYSTEM = CGIRSystem()
