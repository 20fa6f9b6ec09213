"""Frozen dataclass configs: what library code takes instead of flags (flags live in entry points)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

from tfgrad.data.synthetic import SyntheticCatalogueConfig


RETRIEVAL_KINDS = ("cgir", "cgir_no_sparse", "cgir_no_vae", "cbir", "dscmr", "tirg")
# DVBPR.md's Table III rows: recommenders of purchases from photos.
RECOMMENDER_KINDS = ("rand", "poprank", "bprmf", "warp", "fm", "visrank", "vbpr", "dvbpr")
MODEL_KINDS = RETRIEVAL_KINDS + RECOMMENDER_KINDS
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which model and its hyper-parameters (see `tfgrad.models.create_model`).

    CGIR and its ablations use everything up to `target_sparsity`; the baselines share
    latent_dim, hidden_dims and temperature, and add their own terms' settings below. The
    recommenders use latent_dim (K), dropout_rate, num_negatives (WARP) and the settings from
    `regularization` on.
    """

    kind: str = "cgir"
    latent_dim: int = 64
    hidden_dims: tuple[int, ...] = (256,)
    dropout_rate: float = 0.5
    similarity: str = "cosine"
    temperature: float = 0.1
    beta: float = 0.2
    alignment_weight: float = 1.0
    # At 1.0 the clipped codes of most attributes die (F(t) = 0) before alignment can use them.
    sparsity_weight: float = 0.1
    target_sparsity: float = 0.1
    # CBIR: sampled non-targets per triple of the matching loss.
    num_negatives: int = 16
    # DSCMR: weights of the label-space and invariance terms beside matching.
    label_weight: float = 1.0
    invariance_weight: float = 0.1
    # Recommenders: λ of the MF models' L2 terms; DVBPR's λ_θ and Φ's weight decay.
    regularization: float = 1e-4
    user_regularization: float = 1.0
    weight_decay: float = 1e-3
    # Φ = CNN-F over image_size px photos, channels × cnn_width (1.0 and 224: the paper's).
    image_size: int = 64
    cnn_width: float = 0.125
    precision: str = "float32"
    # The product-type CNN whose features VisRank, FM and VBPR use: its feature width and steps.
    feature_dim: int = 64
    feature_steps: int = 1500

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model {self.kind!r}; known: {', '.join(MODEL_KINDS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                             f"{self.precision!r}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16 px, got {self.image_size}")
        if self.cnn_width <= 0:
            raise ValueError(f"cnn_width must be positive, got {self.cnn_width}")

    @property
    def is_recommender(self) -> bool:
        return self.kind in RECOMMENDER_KINDS


DATASETS = ("synthetic", "movielens", "hm", "interactions")


@dataclasses.dataclass(frozen=True)
class RealDataConfig:
    """Where a real dataset is and its protocol (`tfgrad.data.movielens`, `.hm`,
    `.soft_attributes`).

    Attributes:
      movielens_dir: ratings (+ movies, tags) in a public MovieLens layout.
      genome_dir: the tag genome's folder (genome-scores.csv, genome-tags.csv); None looks in
        movielens_dir.
      soft_attributes_path: soft-attributes.csv; when set, MovieLens runs also walk the 60
        soft attributes and score walks against the human judgments.
      hm_dir: the H&M folder (articles.csv, transactions_train.csv).
      hm_tag_columns: the article columns whose values become binary tags.
      min_rating: MovieLens ratings at or above this are interactions.
      min_user_interactions: users with fewer interactions are dropped.
      min_tag_items: tags on fewer items are dropped.
      images_dir: item photos (H&M, class-folder or id-folder layout); None: <hm_dir>/images.
      interactions_path: a user_id,item_id CSV (the "interactions" dataset).
      label_column: the H&M article column of the product-type labels.
      max_users: keep only the first this many users (quick runs and tests); None keeps all.
      visual_features_path: a .npy [M, F] of visual features for VisRank, FM and VBPR; None
        trains a CNN on the product-type labels and uses its features.
      visual_feature_ids_path: a text file of the .npy rows' item ids, one per line; None
        means the rows follow the item ids sorted.
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
    images_dir: Optional[str] = None
    interactions_path: Optional[str] = None
    label_column: str = "product_type_name"
    max_users: Optional[int] = None
    visual_features_path: Optional[str] = None
    visual_feature_ids_path: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training loop: steps, batches, optimiser, checkpoints and the distribution strategy."""

    steps: int = 3000
    checkpoint_every: int = 250
    eval_every: int = 1000
    user_batch_size: int = 128
    triple_batch_size: int = 256
    learning_rate: float = 1e-3
    strategy: str = "auto"
    seed: int = 0

    def __post_init__(self):
        for field in ("steps", "checkpoint_every", "eval_every", "user_batch_size",
                      "triple_batch_size"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be positive, got {getattr(self, field)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How walks are evaluated and exported."""

    walk_steps: int = 10
    step_size: float = 0.1
    distinct: bool = True
    max_queries: int = 2000
    index: str = "scann"
    # Recommenders: sampled negatives of the "sampled" AUC; k of the pictures' top-k.
    auc_negatives: int = 100
    top_k: int = 10

    def __post_init__(self):
        if self.walk_steps < 2:
            raise ValueError(f"walk_steps must be at least 2 to measure gradualness, "
                             f"got {self.walk_steps}")
        if self.step_size <= 0:
            raise ValueError(f"step_size must be positive, got {self.step_size}")
        if self.index not in ("scann", "brute_force"):
            raise ValueError(f"index must be 'scann' or 'brute_force', got {self.index!r}")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One train → evaluate → export run.

    Attributes:
      name: the run's name; exports go to `<export_dir>/<name>/<version>`.
      work_dir: checkpoints, TensorBoard logs, the final model, metrics and pictures.
      export_dir: the base folder of versioned SavedModels.
      dataset: the catalogue source; "synthetic" is the embedded default.
      synthetic: sizes of the synthetic catalogue.
      data: paths and protocol of the real datasets.
      glove_path: a GloVe text file; None uses the packaged GloVe 6B 50-d.
      max_pairs: at most this many unordered triple pairs.
      test_fraction: share of triple pairs held out.
    """

    name: str = "cgir_synthetic"
    work_dir: str = "runs/cgir_synthetic"
    export_dir: str = "exports"
    dataset: str = "synthetic"
    synthetic: SyntheticCatalogueConfig = SyntheticCatalogueConfig()
    data: RealDataConfig = RealDataConfig()
    glove_path: Optional[str] = None
    max_pairs: int = 50_000
    test_fraction: float = 0.2
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        needed = {"movielens": ["movielens_dir"], "hm": ["hm_dir"],
                  "interactions": ["interactions_path", "images_dir"]}.get(self.dataset, [])
        for field in needed:
            if not getattr(self.data, field):
                raise ValueError(f"dataset {self.dataset!r} needs --{field}")
        if self.model.is_recommender and self.dataset not in ("hm", "interactions"):
            raise ValueError(f"model {self.model.kind!r} recommends from purchases and photos: "
                             f"use --dataset=hm or --dataset=interactions")
        if self.dataset == "interactions" and not self.model.is_recommender:
            raise ValueError(f"dataset 'interactions' has no attributes to walk: model "
                             f"{self.model.kind!r} needs --dataset=synthetic, movielens or hm")

    def write(self, path: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump(dataclasses.asdict(self), f, indent=2)

    @classmethod
    def read(cls, path: str) -> "ExperimentConfig":
        with open(path) as f:
            raw = json.load(f)
        return cls(**{
            **raw,
            "synthetic": SyntheticCatalogueConfig(**raw["synthetic"]),
            "data": RealDataConfig(**{**raw.get("data", {}), "hm_tag_columns": tuple(
                raw.get("data", {}).get("hm_tag_columns", RealDataConfig.hm_tag_columns))}),
            "model": ModelConfig(**{**raw["model"],
                                    "hidden_dims": tuple(raw["model"]["hidden_dims"])}),
            "train": TrainConfig(**raw["train"]),
            "eval": EvalConfig(**raw["eval"]),
        })
