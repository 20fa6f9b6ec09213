"""DVBPR and its baselines end to end (DVBPR.md): purchases with photos → one validation and one
test item per user → product-type features (for VisRank, FM, VBPR) → model → training with model
selection on validation AUC → test AUC → pictures → export.

AUC (DVBPR.md, "Protocol"): per user, the share of items they never bought (not in train,
validation or test) scored below their held-out item, averaged over users:
  auc_all / auc_cold            against every such item (the paper's definition);
  *_sampled                     against 100 sampled ones (what the authors' code does);
"cold" averages over the users whose held-out item has fewer than 5 training purchases.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import metrics, plots, trainer
from tfgrad.config import PRECISIONS, SystemConfig, TripleTrainConfig, check_choice, option
from tfgrad.core.selection import ValidationSelection
from tfgrad.core.system import Evaluation, ModelSpec, Monitor, Spaces, System, Table
from tfgrad.data.images import load_images, normalize_images
from tfgrad.data.pipelines import bpr_triples_dataset
from tfgrad.data.purchases import Purchases, load_hm_purchases, load_interaction_purchases
from tfgrad.export.recommend import export_recommend
from tfgrad.models.recommender import Recommender
from tfgrad.spaces import ItemSpace, UserSpace

MODELS = {
    "dvbpr": ModelSpec("DVBPR", "Siamese CNN-F Φ and user vectors θ_u trained with BPR"),
    "rand": ModelSpec("RAND", "random scores"),
    "poprank": ModelSpec("PopRank", "training purchase counts"),
    "bprmf": ModelSpec("BPR-MF", "matrix factorisation with BPR"),
    "warp": ModelSpec("WARP", "matrix factorisation with the WARP loss"),
    "fm": ModelSpec("FM", "factorisation machine over user × item and user × visual feature"),
    "visrank": ModelSpec("VisRank", "visual similarity to the user's purchases"),
    "vbpr": ModelSpec("VBPR", "BPR-MF plus a visual factor over fixed CNN features"),
}
DATASETS = ("hm", "interactions")
PHI_INITS = ("scratch", "product_type")
FEATURE_KINDS = ("visrank", "fm", "vbpr")
AUC_COLUMNS = ("auc_all", "auc_cold", "auc_all_sampled", "auc_cold_sampled", "val_auc")
RECOMMENDATIONS_PNG = "recommendations.png"
IMAGE_BATCH = 256
_PICTURED_USERS = 4


@dataclasses.dataclass(frozen=True)
class RecommenderModelConfig:
    """Which recommender and its hyper-parameters (see `DVBPRSystem.build`).

    Attributes:
      kind: The model: dvbpr or one of its baselines (rand, poprank, bprmf, warp, fm, visrank,
        vbpr).
      latent_dim: K of the user and item factors.
      dropout_rate: DVBPR and the product-type CNN: dropout of the CNN's dense layers.
      num_negatives: CBIR: sampled non-targets per triple; WARP: negatives per positive.
      regularization: BPR-MF, WARP, FM, VBPR: λ of the L2 terms.
      user_regularization: DVBPR: λ_θ.
      weight_decay: DVBPR: weight decay of Φ.
      image_size: Photo size for the CNNs (224: DVBPR's CNN-F as in the paper).
      cnn_width: CNN-F channel multiplier (1.0: the paper's 64/256/4096).
      precision: CNN compute precision; mixed_float16 for GPUs, mixed_bfloat16 for CPUs and
        TPUs that have it.
      feature_dim: Width of the product-type CNN's features (visrank, fm, vbpr).
      feature_steps: Training steps of the product-type CNN.
      flip_photos: DVBPR: mirror each training photo left-right with probability 1/2.
      phi_init: DVBPR: Φ's starting weights: 'scratch' (the paper's) or 'product_type' (conv1
        to fc7 of the product-type CNN the baselines' features come from; fc8 fresh).
    """

    kind: str = option("dvbpr", flag="model", choices=tuple(MODELS))
    latent_dim: int = 64
    dropout_rate: float = 0.5
    num_negatives: int = 16
    regularization: float = 1e-4
    user_regularization: float = 1.0
    weight_decay: float = 1e-3
    image_size: int = 64
    cnn_width: float = 0.125
    precision: str = option("float32", choices=PRECISIONS)
    feature_dim: int = 64
    feature_steps: int = 1500
    flip_photos: bool = False
    phi_init: str = option("scratch", choices=PHI_INITS)

    def __post_init__(self):
        check_choice("model", self.kind, MODELS)
        check_choice("phi_init", self.phi_init, PHI_INITS)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                             f"{self.precision!r}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16 px, got {self.image_size}")
        if self.cnn_width <= 0:
            raise ValueError(f"cnn_width must be positive, got {self.cnn_width}")


@dataclasses.dataclass(frozen=True)
class PurchaseDataConfig:
    """Where the purchases and photos are (`tfgrad.data.purchases`, `tfgrad.data.images`).

    Attributes:
      hm_dir: H&M folder (articles.csv, transactions_train.csv).
      images_dir: Item photos: H&M layout (<3 digits>/<id>.jpg), class folders
        (<class>/<id>.jpg) or one folder (<id>.jpg); default <hm_dir>/images.
      interactions_path: Dataset 'interactions': a CSV with user_id,item_id columns.
      label_column: H&M article column of the product-type labels (feature CNN).
      min_user_interactions: Real data: users with fewer interactions are dropped.
      max_users: Recommenders: keep the first this many users (quick runs).
      visual_features_path: A .npy [items, F] of visual features for visrank, fm and vbpr;
        default: train a CNN on the product-type labels and use its features.
      visual_feature_ids_path: The item id of each .npy row, one per line; default: sorted
        item ids.
    """

    hm_dir: Optional[str] = None
    images_dir: Optional[str] = None
    interactions_path: Optional[str] = None
    label_column: str = "product_type_name"
    min_user_interactions: int = 5
    max_users: Optional[int] = None
    visual_features_path: Optional[str] = None
    visual_feature_ids_path: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class RecommenderEvalConfig:
    """How recommenders are evaluated and pictured.

    Attributes:
      auc_negatives: Recommenders: sampled negatives per user of the 'sampled' AUC.
      top_k: Recommenders: recommendations per user in the pictures.
    """

    auc_negatives: int = 100
    top_k: int = 10


@dataclasses.dataclass(frozen=True)
class DVBPRConfig(SystemConfig):
    """One recommender run (train → select on validation AUC → test AUC → export).

    Attributes:
      dataset: Purchases with photos: 'hm' (--hm_dir) or 'interactions' (--interactions_path
        and --images_dir).
    """

    name: str = "dvbpr_hm"
    work_dir: str = "runs/dvbpr_hm"
    dataset: str = option("hm", choices=DATASETS)
    data: PurchaseDataConfig = PurchaseDataConfig()
    model: RecommenderModelConfig = RecommenderModelConfig()
    train: TripleTrainConfig = TripleTrainConfig()
    eval: RecommenderEvalConfig = RecommenderEvalConfig()

    def __post_init__(self):
        self.check_dataset(
            {"hm": ("hm_dir",), "interactions": ("interactions_path", "images_dir")},
            f"model {self.model.kind!r} recommends from purchases and photos: use --dataset=hm "
            f"or --dataset=interactions")


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedPurchases:
    """What every recommender of one run is trained and evaluated on.

    Attributes:
      purchases: the split purchases.
      images: [M, S, S, 3] uint8 photos when a model reads them (DVBPR, the feature CNN).
      features: [M, F] visual features when a model needs them (VisRank, FM, VBPR).
      features_source: where the features came from (for the results).
      sampled_negatives: {"validation", "test"} -> [N, J] sampled negatives per user.
      cache_dir: where decoded photos and the product-type CNN are kept (None: nowhere).
    """

    purchases: Purchases
    images: Optional[np.ndarray]
    features: Optional[np.ndarray]
    features_source: str
    sampled_negatives: dict
    cache_dir: Optional[str] = None

    @functools.cached_property
    def negative_mask(self) -> np.ndarray:
        """[N, M] whether an item is a negative of a user: not in their train, validation or
        test items (the same for both held-out splits, so built once)."""
        mask = np.ones((self.purchases.num_users, self.purchases.num_items), dtype=bool)
        for user, items in enumerate(self.purchases.known_items()):
            mask[user, items] = False
        return mask


def normalized_batches(images: np.ndarray) -> tf.data.Dataset:
    """Batches of a uint8 photo table, normalised, in item order (what the CNNs read)."""
    return (tf.data.Dataset.from_tensor_slices(images).batch(IMAGE_BATCH)
            .map(normalize_images).prefetch(tf.data.AUTOTUNE))


def load_purchases(config: DVBPRConfig) -> Purchases:
    data = config.data
    if config.dataset == "hm":
        return load_hm_purchases(data.hm_dir, data.images_dir, data.min_user_interactions,
                                 data.label_column, data.max_users, config.train.seed)
    if config.dataset == "interactions":
        return load_interaction_purchases(data.interactions_path, data.images_dir,
                                          data.min_user_interactions, data.max_users,
                                          config.train.seed)
    raise ValueError(f"dataset {config.dataset!r} has no purchases with photos")


def read_visual_features(path: str, item_ids: np.ndarray, ids_path: Optional[str] = None
                         ) -> np.ndarray:
    """[M, F] rows of a user's .npy for `item_ids`.

    Rows are matched by `ids_path` (one item id per line); without it the .npy must have one
    row per item, in sorted item id order.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"visual features file {path!r} is missing")
    try:
        features = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"{path!r} is not a NumPy .npy array: {error}") from None
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.number):
        raise ValueError(f"{path!r} must hold a 2-D numeric array [items, features], got "
                         f"{features.dtype} {features.shape}")
    if ids_path is None:
        if len(features) != len(item_ids):
            raise ValueError(f"{path!r} has {len(features)} rows for {len(item_ids)} items; "
                             f"give --visual_feature_ids_path to match rows by id")
        return features.astype(np.float32)
    if not os.path.exists(ids_path):
        raise FileNotFoundError(f"visual feature ids file {ids_path!r} is missing")
    with open(ids_path) as f:
        ids = [line.strip() for line in f if line.strip()]
    if len(ids) != len(features):
        raise ValueError(f"{ids_path!r} lists {len(ids)} ids for {len(features)} rows of "
                         f"{path!r}")
    row_of = {item: row for row, item in enumerate(ids)}
    missing = [item for item in item_ids if item not in row_of]
    if missing:
        raise ValueError(f"{len(missing)} item(s) have no visual features in {path!r}, e.g. "
                         f"{', '.join(missing[:3])}")
    return features[[row_of[item] for item in item_ids]].astype(np.float32)


def product_type_cnn(config: DVBPRConfig, purchases: Purchases, images: np.ndarray,
                     cache_dir: Optional[str] = None):
    """The `ProductTypeCNN` trained on the items' product-type labels (what the baselines'
    features and DVBPR's --phi_init=product_type come from); kept in `cache_dir` (the seed and
    the CNN settings are in the file name) for the next run."""
    from tfgrad.models.product_type_cnn import ProductTypeCNN

    model_config = config.model
    path = (os.path.join(cache_dir, f"product_type_cnn_seed{config.train.seed}_"
                                    f"{model_config.image_size}px_w{model_config.cnn_width}_"
                                    f"d{model_config.feature_dim}_s{model_config.feature_steps}"
                                    f".weights.h5") if cache_dir else None)
    if path and os.path.exists(path):
        model = ProductTypeCNN(len(purchases.label_names), model_config.feature_dim,
                               model_config.image_size, model_config.cnn_width,
                               model_config.dropout_rate, seed=config.train.seed)
        model.build()
        model.load_weights(path)
        return model
    labelled = np.flatnonzero(purchases.labels >= 0)
    if not len(labelled) or len(purchases.label_names) < 2:
        raise ValueError(f"{purchases.name!r} has no product-type labels to train a feature CNN "
                         f"on; give --visual_features_path")
    model, accuracy = trainer.train_image_classifier(
        images[labelled], purchases.labels[labelled], len(purchases.label_names),
        feature_dim=model_config.feature_dim, image_size=model_config.image_size,
        cnn_width=model_config.cnn_width, dropout_rate=model_config.dropout_rate,
        learning_rate=config.train.learning_rate, batch_size=config.train.triple_batch_size,
        steps=model_config.feature_steps, seed=config.train.seed)
    print(f"product-type CNN: {len(purchases.label_names)} types, {len(labelled)} photos, "
          f"training accuracy {accuracy:.3f}", flush=True)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        model.save_weights(path)
    return model


def prepare_purchases(config: DVBPRConfig, kinds: Sequence[str],
                      cache_dir: Optional[str] = None) -> PreparedPurchases:
    """Loads and splits the purchases, and decodes photos and makes features as `kinds` need.

    Args:
      cache_dir: where decoded photos and the trained product-type CNN are kept for the next
        run (the seed and the CNN settings are in the file names); None keeps nothing.
    """
    purchases = load_purchases(config)
    data = config.data
    needs_features = any(kind in FEATURE_KINDS for kind in kinds)
    trains_cnn = needs_features and not data.visual_features_path
    images = None
    if "dvbpr" in kinds or trains_cnn:
        size = config.model.image_size
        cache = (os.path.join(cache_dir, f"images_{purchases.name}_{purchases.num_items}_{size}px"
                              ) if cache_dir else None)
        started = time.perf_counter()
        images = load_images(purchases.image_paths, size, cache_path=cache)
        print(f"{len(images)} photos decoded at {size} px in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    features, source = None, ""
    if needs_features and data.visual_features_path:
        features = read_visual_features(data.visual_features_path, purchases.item_ids,
                                        data.visual_feature_ids_path)
        source = data.visual_features_path
    elif needs_features:
        features = product_type_cnn(config, purchases, images, cache_dir).features(
            normalized_batches(images)).numpy()
        source = f"CNN-F trained on {len(purchases.label_names)} product types"
    rng = np.random.default_rng(config.train.seed + 7)
    known = purchases.known_items()
    sampled = {split: metrics.sample_negatives(known, purchases.num_items,
                                               config.eval.auc_negatives, rng)
               for split in ("validation", "test")}
    return PreparedPurchases(purchases=purchases, images=images, features=features,
                             features_source=source, sampled_negatives=sampled,
                             cache_dir=cache_dir)


def create_recommender(config: DVBPRConfig, data: PreparedPurchases) -> Recommender:
    """The built (untrained) recommender of `config.model.kind`."""
    from tfgrad.models.bpr_mf import BPRMF
    from tfgrad.models.dvbpr import DVBPR
    from tfgrad.models.fm import FM
    from tfgrad.models.rankers import PopRank, RandomRanker, VisRank
    from tfgrad.models.vbpr import VBPR
    from tfgrad.models.warp import WARP

    model, purchases, seed = config.model, data.purchases, config.train.seed
    sizes = dict(num_users=purchases.num_users, num_items=purchases.num_items)
    factors = dict(**sizes, latent_dim=model.latent_dim, regularization=model.regularization,
                   seed=seed)
    builders = {
        "rand": lambda: RandomRanker(**sizes, seed=seed),
        "poprank": lambda: PopRank(purchases.num_users, purchases.train_counts()),
        "visrank": lambda: VisRank(data.features, purchases.train_items()),
        "bprmf": lambda: BPRMF(**factors),
        "warp": lambda: WARP(**factors),
        "fm": lambda: FM(features=data.features, **factors),
        "vbpr": lambda: VBPR(features=data.features, visual_dim=model.latent_dim, **factors),
        "dvbpr": lambda: DVBPR(**sizes, latent_dim=model.latent_dim,
                               image_size=model.image_size, cnn_width=model.cnn_width,
                               dropout_rate=model.dropout_rate,
                               user_regularization=model.user_regularization,
                               num_train_purchases=len(purchases.train),
                               weight_decay=model.weight_decay, compute_dtype=model.precision,
                               seed=seed),
    }
    recommender = builders[model.kind]()
    recommender.build()
    return recommender


def item_vectors(model: Recommender, data: PreparedPurchases) -> np.ndarray:
    """[M, D] every item's vector (Φ of every photo for DVBPR)."""
    return np.asarray(model.item_vectors(
        normalized_batches(data.images) if model.uses_images else None))


def item_space(model: Recommender, data: PreparedPurchases) -> ItemSpace:
    """A trained recommender's item space: ids, names, photos and item vectors (no attribute
    move: recommendations are searched, not walked)."""
    purchases = data.purchases
    return ItemSpace(item_ids=np.asarray(purchases.item_ids),
                     item_names=np.asarray(purchases.item_names),
                     item_vectors=np.asarray(item_vectors(model, data), dtype=np.float32),
                     image_paths=np.asarray(purchases.image_paths))


def user_space(model: Recommender, data: PreparedPurchases) -> UserSpace:
    """A trained recommender's user space; a user's training purchases are known items."""
    purchases = data.purchases
    return UserSpace(user_ids=np.asarray(purchases.user_ids),
                     user_vectors=np.asarray(model.user_vectors(tf.range(purchases.num_users)),
                                             dtype=np.float32),
                     known_items=purchases.train_items())


def score_matrix(model: Recommender, vectors: np.ndarray, users: np.ndarray,
                 batch_size: int = 1024) -> np.ndarray:
    """[U, M] scores of every item for `users`."""
    return np.concatenate([np.asarray(model.scores(tf.constant(users[start:start + batch_size]),
                                                   tf.constant(vectors)))
                           for start in range(0, len(users), batch_size)])


def all_user_scores(model: Recommender, data: PreparedPurchases) -> np.ndarray:
    """[N, M] every user's score of every item (item vectors computed once)."""
    return score_matrix(model, item_vectors(model, data), np.arange(data.purchases.num_users))


def auc_scores(scores: np.ndarray, data: PreparedPurchases, split: str) -> dict:
    """AUC of a [N, M] score matrix against each user's `split` item (see the module doc)."""
    purchases = data.purchases
    held_out = purchases.validation if split == "validation" else purchases.test
    positive = scores[np.arange(purchases.num_users), held_out]
    full = metrics.user_auc(positive, scores, data.negative_mask)
    negatives = data.sampled_negatives[split]
    sampled = metrics.user_auc(positive, np.take_along_axis(scores, negatives, axis=1))
    cold = purchases.is_cold(held_out)
    return {"auc_all": float(np.nanmean(full)),
            "auc_cold": float(np.nanmean(full[cold])) if cold.any() else float("nan"),
            "auc_all_sampled": float(np.mean(sampled)),
            "auc_cold_sampled": float(np.mean(sampled[cold])) if cold.any() else float("nan"),
            "cold_users": int(cold.sum())}


def auc_table(scores: np.ndarray, data: PreparedPurchases) -> dict:
    """Test AUCs (all / cold, full / sampled) and the validation AUC of a score matrix."""
    return {**auc_scores(scores, data, "test"),
            "val_auc": auc_scores(scores, data, "validation")["auc_all"]}


def evaluate_recommender(model: Recommender, data: PreparedPurchases) -> dict:
    """`auc_table` of one model."""
    return auc_table(all_user_scores(model, data), data)


def recommendations_png(scores: np.ndarray, data: PreparedPurchases, image_size: int,
                        top_k: int, num_users: int = _PICTURED_USERS) -> bytes:
    """For the first users: their training purchases beside their top-k new items (from their
    rows of `scores`); the held-out test item is framed where it was recommended. Only the
    shown photos are decoded when the run holds none."""
    purchases = data.purchases
    users = np.arange(min(num_users, purchases.num_users))
    train_items = purchases.train_items()
    scores = scores[users].copy()
    for user in users:
        scores[user, train_items[user]] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    bought = [train_items[user][:top_k] for user in users]
    hits = [top[row] == purchases.test[user] for row, user in enumerate(users)]
    if data.images is not None:
        images, position = data.images, np.arange(purchases.num_items)
    else:
        shown = np.unique(np.concatenate([top.ravel(), *bought]))
        images = load_images(purchases.image_paths[shown], image_size)
        position = np.zeros(purchases.num_items, dtype=np.int64)
        position[shown] = np.arange(len(shown))
    return plots.recommendation_grid_png(
        images, [position[items] for items in bought], position[top], hits=hits,
        titles=[f"user {purchases.user_ids[user][:10]}" for user in users])


class DVBPRSystem(System):
    """Visually-aware recommendation: what each shopper buys, learnt from product photos."""

    name = "dvbpr"
    config_class = DVBPRConfig
    models = MODELS
    description = "DVBPR and its baselines: recommend from purchases and photos"

    def prepare(self, config: DVBPRConfig, kinds: Sequence[str],
                cache_dir: Optional[str] = None) -> PreparedPurchases:
        return prepare_purchases(config, kinds, cache_dir)

    def describe(self, data: PreparedPurchases) -> str:
        purchases = data.purchases
        return (f"{purchases.num_users} users, {purchases.num_items} items with photos, "
                f"{len(purchases.train)} training purchases; "
                f"{int(purchases.is_cold(purchases.test).sum())} users' test items are cold")

    def build(self, config: DVBPRConfig, data: PreparedPurchases) -> Recommender:
        return create_recommender(config, data)

    def warm_start(self, model: Recommender, config: DVBPRConfig,
                   data: PreparedPurchases) -> None:
        """--phi_init=product_type: Φ's conv1–fc7 from the product-type CNN (fc8 stays fresh)."""
        if config.model.kind == "dvbpr" and config.model.phi_init == "product_type":
            start = product_type_cnn(config, data.purchases, data.images, data.cache_dir)
            model.cnn.set_body_weights([weight.numpy() for layer in start.cnn.body
                                        for weight in layer.weights])

    def optimizer(self, model: Recommender, config: DVBPRConfig) -> keras.optimizers.Optimizer:
        optimizer = model.make_optimizer(config.train.learning_rate)
        if config.model.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def training_dataset(self, model: Recommender, config: DVBPRConfig,
                         data: PreparedPurchases) -> tf.data.Dataset:
        purchases = data.purchases
        return bpr_triples_dataset(
            purchases.train, purchases.num_items, config.train.triple_batch_size,
            config.train.seed + 1, num_negatives=config.model.num_negatives
            if config.model.kind == "warp" else 1,
            images=data.images if model.uses_images else None,
            flip_photos=config.model.flip_photos)

    def monitor(self, config: DVBPRConfig, data: PreparedPurchases) -> Monitor:
        def validate(model):
            return auc_scores(all_user_scores(model, data), data, "validation")

        # Selection on validation AUC (and only on it).
        return ValidationSelection(config.work_dir, validate, "auc_all", "val_auc")

    def _evaluation(self, rows: dict, config: DVBPRConfig, data: PreparedPurchases,
                    model_row: str, pictures: Optional[bytes] = None) -> Evaluation:
        purchases = data.purchases
        drawn = {} if pictures is None else {"recommendations": pictures}
        return Evaluation(
            tables={"auc": Table(name="auc", columns=AUC_COLUMNS, rows=rows, title="test AUC")},
            main="auc",
            model_row=model_row, pictures=drawn,
            files={} if pictures is None else {RECOMMENDATIONS_PNG: pictures},
            details={"features": data.features_source,
                     "items_without_image": len(purchases.items_without_image)})

    def evaluate(self, model: Recommender, config: DVBPRConfig, data: PreparedPurchases,
                 index: Optional[str] = None, pictures: bool = True) -> Evaluation:
        """Test AUCs and the validation AUC (exact scores of every item: `index` is not
        used), and the recommendations picture."""
        scores = all_user_scores(model, data)
        name = self.display_name(config.model.kind)
        picture = (recommendations_png(scores, data, config.model.image_size, config.eval.top_k)
                   if pictures else None)
        return self._evaluation({name: auc_table(scores, data)}, config, data, name, picture)

    def reference(self, config: DVBPRConfig, data: PreparedPurchases,
                  index: Optional[str] = None) -> Evaluation:
        """RAND and PopRank."""
        from tfgrad.models.rankers import PopRank, RandomRanker

        purchases = data.purchases
        rows = {name: evaluate_recommender(ranker, data) for name, ranker in (
            ("RAND", RandomRanker(purchases.num_users, purchases.num_items,
                                  seed=config.train.seed)),
            ("PopRank", PopRank(purchases.num_users, purchases.train_counts())))}
        return self._evaluation(rows, config, data, "RAND")

    def summary(self, config: DVBPRConfig, result) -> str:
        return (f"{config.name}: trained {config.train.steps} steps in "
                f"{result.train_seconds:.1f} s; selected step {result.selected['step']} "
                f"(best validation AUC); test AUC:")

    def spaces(self, model: Recommender, config: DVBPRConfig, data: PreparedPurchases
               ) -> Spaces:
        return Spaces(items=item_space(model, data), users=user_space(model, data))

    def export(self, model: Recommender, config: DVBPRConfig, data: PreparedPurchases) -> str:
        purchases = data.purchases
        spaces = self.spaces(model, config, data)
        return export_recommend(spaces.users, spaces.items,
                                config.export_dir, config.name,
                                {"model": type(model).__name__, "catalogue": purchases.name,
                                 "config": config.to_dict()})


SYSTEM = DVBPRSystem()
