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
import json
import os
import time
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import metrics, plots, trainer
from tfgrad.config import ExperimentConfig
from tfgrad.data.images import load_images, normalize_images
from tfgrad.data.pipelines import bpr_triples_dataset
from tfgrad.data.purchases import Purchases, load_hm_purchases, load_interaction_purchases
from tfgrad.distribute import get_strategy
from tfgrad.models.recommender import Recommender

FEATURE_KINDS = ("visrank", "fm", "vbpr")
AUC_COLUMNS = ("auc_all", "auc_cold", "auc_all_sampled", "auc_cold_sampled", "val_auc")
BEST_FILE = "best.json"
BEST_WEIGHTS = "best.weights.h5"
RECOMMENDATIONS_PNG = "recommendations.png"
IMAGE_BATCH = 256
_PICTURED_USERS = 4


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedPurchases:
    """What every recommender of one run is trained and evaluated on.

    Attributes:
      purchases: the split purchases.
      images: [M, S, S, 3] uint8 photos when a model reads them (DVBPR, the feature CNN).
      features: [M, F] visual features when a model needs them (VisRank, FM, VBPR).
      features_source: where the features came from (for the results).
      sampled_negatives: {"validation", "test"} -> [N, J] sampled negatives per user.
    """

    purchases: Purchases
    images: Optional[np.ndarray]
    features: Optional[np.ndarray]
    features_source: str
    sampled_negatives: dict

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


def load_purchases(config: ExperimentConfig) -> Purchases:
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


def train_product_type_features(config: ExperimentConfig, purchases: Purchases,
                                images: np.ndarray) -> np.ndarray:
    """Trains `ProductTypeCNN` on the items' product-type labels; returns its [M, F] features."""
    from tfgrad.models.product_type_cnn import ProductTypeCNN

    labelled = np.flatnonzero(purchases.labels >= 0)
    if not len(labelled) or len(purchases.label_names) < 2:
        raise ValueError(f"{purchases.name!r} has no product-type labels to train a feature CNN "
                         f"on; give --visual_features_path")
    model_config = config.model
    keras.utils.set_random_seed(config.train.seed)
    model = ProductTypeCNN(len(purchases.label_names), model_config.feature_dim,
                           model_config.image_size, model_config.cnn_width,
                           model_config.dropout_rate, seed=config.train.seed)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(config.train.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    batch_size = min(config.train.triple_batch_size, len(labelled))
    dataset = (tf.data.Dataset.from_tensor_slices((images[labelled],
                                                   purchases.labels[labelled]))
               .shuffle(len(labelled), seed=config.train.seed).repeat()
               .batch(batch_size, drop_remainder=True)
               .map(lambda image, label: (normalize_images(image), label))
               .prefetch(tf.data.AUTOTUNE))
    history = model.fit(dataset, epochs=1, steps_per_epoch=model_config.feature_steps,
                        verbose=0)
    print(f"product-type CNN: {len(purchases.label_names)} types, {len(labelled)} photos, "
          f"training accuracy {history.history['accuracy'][-1]:.3f}", flush=True)
    return model.features(normalized_batches(images)).numpy()


def prepare_purchases(config: ExperimentConfig, kinds: Sequence[str],
                      cache_dir: Optional[str] = None) -> PreparedPurchases:
    """Loads and splits the purchases, and decodes photos and makes features as `kinds` need.

    Args:
      cache_dir: where decoded photos and trained features are kept for the next run (the
        seed and the CNN settings are in the file names); None keeps nothing.
    """
    purchases = load_purchases(config)
    data = config.data
    needs_features = any(kind in FEATURE_KINDS for kind in kinds)
    trains_features = needs_features and not data.visual_features_path
    images = None
    if "dvbpr" in kinds or trains_features:
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
        model = config.model
        path = (os.path.join(cache_dir, f"features_seed{config.train.seed}_{model.image_size}px_"
                                        f"w{model.cnn_width}_d{model.feature_dim}_"
                                        f"s{model.feature_steps}.npy") if cache_dir else None)
        if path and os.path.exists(path):
            features = np.load(path)
        else:
            features = train_product_type_features(config, purchases, images)
            if path:
                os.makedirs(cache_dir, exist_ok=True)
                np.save(path, features)
        source = f"CNN-F trained on {len(purchases.label_names)} product types"
    rng = np.random.default_rng(config.train.seed + 7)
    known = purchases.known_items()
    sampled = {split: metrics.sample_negatives(known, purchases.num_items,
                                               config.eval.auc_negatives, rng)
               for split in ("validation", "test")}
    return PreparedPurchases(purchases=purchases, images=images, features=features,
                             features_source=source, sampled_negatives=sampled)


def create_recommender(config: ExperimentConfig, data: PreparedPurchases) -> Recommender:
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
    if model.kind == "rand":
        recommender = RandomRanker(**sizes, seed=seed)
    elif model.kind == "poprank":
        recommender = PopRank(purchases.num_users, purchases.train_counts())
    elif model.kind == "visrank":
        recommender = VisRank(data.features, purchases.train_items())
    elif model.kind == "bprmf":
        recommender = BPRMF(**factors)
    elif model.kind == "warp":
        recommender = WARP(**factors)
    elif model.kind == "fm":
        recommender = FM(features=data.features, **factors)
    elif model.kind == "vbpr":
        recommender = VBPR(features=data.features, visual_dim=model.latent_dim, **factors)
    elif model.kind == "dvbpr":
        recommender = DVBPR(**sizes, latent_dim=model.latent_dim, image_size=model.image_size,
                            cnn_width=model.cnn_width, dropout_rate=model.dropout_rate,
                            user_regularization=model.user_regularization,
                            num_train_purchases=len(purchases.train),
                            weight_decay=model.weight_decay, compute_dtype=model.precision,
                            seed=seed)
    else:
        raise ValueError(f"{model.kind!r} is not a recommender")
    recommender.build()
    return recommender


def item_vectors(model: Recommender, data: PreparedPurchases) -> np.ndarray:
    return np.asarray(model.item_vectors(
        normalized_batches(data.images) if model.uses_images else None))


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


class ValidationSelection:
    """Model selection on validation AUC (and only on it): called every `eval_every` steps,
    it keeps the weights with the best validation AUC in the work dir, logs it to TensorBoard
    and survives a resume (the best so far is read back from `best.json`)."""

    def __init__(self, config: ExperimentConfig, data: PreparedPurchases):
        self.config, self.data = config, data
        self.state_path = os.path.join(config.work_dir, BEST_FILE)
        self.weights_path = os.path.join(config.work_dir, BEST_WEIGHTS)
        self.best = {"step": -1, "val_auc": -np.inf}
        if os.path.exists(self.state_path) and os.path.exists(self.weights_path):
            with open(self.state_path) as f:
                self.best = json.load(f)
        self.writer = tf.summary.create_file_writer(
            os.path.join(config.work_dir, "logs", "evaluation"))

    def __call__(self, model: Recommender, step: int) -> float:
        validation = auc_scores(all_user_scores(model, self.data), self.data, "validation")
        improved = validation["auc_all"] > self.best["val_auc"]
        if improved:
            model.save_weights(self.weights_path)
            self.best = {"step": int(step), "val_auc": validation["auc_all"]}
            with open(self.state_path, "w") as f:
                json.dump(self.best, f)
        with self.writer.as_default(step=step):
            tf.summary.scalar("validation/auc_all", validation["auc_all"])
            tf.summary.scalar("validation/auc_cold", validation["auc_cold"])
            tf.summary.scalar("validation/best_auc_all", self.best["val_auc"])
        self.writer.flush()
        print(f"validation at step {step}: AUC {validation['auc_all']:.4f} (cold "
              f"{validation['auc_cold']:.4f}){'  best so far' if improved else ''}", flush=True)
        return validation["auc_all"]

    def restore_best(self, model: Recommender) -> None:
        if os.path.exists(self.weights_path):
            model.load_weights(self.weights_path)


def load_selected(config: ExperimentConfig, data: PreparedPurchases) -> Recommender:
    """The recommender of a finished run in config.work_dir, with its selected weights."""
    model = create_recommender(config, data)
    ValidationSelection(config, data).restore_best(model)
    return model


def train_recommender(config: ExperimentConfig, data: PreparedPurchases,
                      callbacks: Sequence[keras.callbacks.Callback] = ()
                      ) -> tuple[Recommender, float, dict]:
    """Trains (or resumes) the recommender in config.work_dir and restores the weights of its
    best validation AUC. Returns (model, training seconds, {"step", "val_auc"} selected)."""
    from tfgrad.experiment import MODEL_FILE, check_work_dir

    check_work_dir(config)
    keras.utils.set_random_seed(config.train.seed)
    strategy = get_strategy(config.train.strategy)
    with strategy.scope():
        model = create_recommender(config, data)
        optimizer = model.make_optimizer(config.train.learning_rate)
        if config.model.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer)
    if not model.learns:
        return model, 0.0, {"step": 0}
    purchases = data.purchases
    dataset = bpr_triples_dataset(
        purchases.train, purchases.num_items, config.train.triple_batch_size,
        config.train.seed + 1, num_negatives=config.model.num_negatives
        if config.model.kind == "warp" else 1,
        images=data.images if model.uses_images else None)
    selection = ValidationSelection(config, data)
    started = time.perf_counter()
    trainer.train(model, dataset, config.train, config.work_dir, evaluate=selection,
                  callbacks=callbacks)
    selection(model, config.train.steps)
    seconds = time.perf_counter() - started
    model.save_weights(os.path.join(config.work_dir, MODEL_FILE))
    selection.restore_best(model)
    return model, seconds, selection.best


def run(config: ExperimentConfig, callbacks: Sequence[keras.callbacks.Callback] = (),
        export: bool = True) -> dict:
    """Trains, selects, evaluates (beside RAND and PopRank), draws and exports one recommender.

    Returns:
      {"rows": {row: metrics}, "export_path", "train_seconds", "selected"}.
    """
    from tfgrad.experiment import METRICS_FILE
    from tfgrad.models import DISPLAY_NAMES
    from tfgrad.models.rankers import PopRank, RandomRanker

    data = prepare_purchases(config, (config.model.kind,),
                             cache_dir=os.path.join(config.work_dir, "cache"))
    purchases = data.purchases
    print(f"{purchases.num_users} users, {purchases.num_items} items with photos, "
          f"{len(purchases.train)} training purchases; "
          f"{int(purchases.is_cold(purchases.test).sum())} users' test items are cold",
          flush=True)
    model, seconds, selected = train_recommender(config, data, callbacks)
    scores = all_user_scores(model, data)
    rows = {DISPLAY_NAMES[config.model.kind]: auc_table(scores, data)}
    for name, ranker in (("RAND", RandomRanker(purchases.num_users, purchases.num_items,
                                               seed=config.train.seed)),
                         ("PopRank", PopRank(purchases.num_users, purchases.train_counts()))):
        rows.setdefault(name, evaluate_recommender(ranker, data))
    picture = recommendations_png(scores, data, config.model.image_size, config.eval.top_k)
    with open(os.path.join(config.work_dir, RECOMMENDATIONS_PNG), "wb") as f:
        f.write(picture)
    writer = tf.summary.create_file_writer(os.path.join(config.work_dir, "logs", "evaluation"))
    with writer.as_default(step=config.train.steps):
        tf.summary.image("recommendations", tf.image.decode_png(picture)[None])
    writer.flush()
    with open(os.path.join(config.work_dir, METRICS_FILE), "w") as f:
        json.dump({"metrics": rows, "train_seconds": seconds, "selected": selected,
                   "features": data.features_source,
                   "items_without_image": len(purchases.items_without_image)}, f, indent=2)
    export_path = None
    if export:
        from tfgrad.recommender_export import export_recommender

        export_path = export_recommender(model, data, config)
    return {"rows": rows, "export_path": export_path, "train_seconds": seconds,
            "selected": selected}


def compare(base: ExperimentConfig, kinds: Sequence[str], seeds: int
            ) -> dict[str, dict[str, list]]:
    """Every kind trained (or loaded from `<work_dir>/<kind>/seed<k>/`) and evaluated per seed.

    Returns:
      {row: {column: [value per seed]}}, rows in `kinds` order.
    """
    from tfgrad.models import DISPLAY_NAMES

    collected: dict[str, dict[str, list]] = {}
    for offset in range(seeds):
        seed = base.train.seed + offset
        seeded = dataclasses.replace(base, train=dataclasses.replace(base.train, seed=seed))
        data = prepare_purchases(seeded, kinds, cache_dir=os.path.join(base.work_dir, "cache"))
        purchases = data.purchases
        print(f"seed {seed}: {purchases.num_users} users, {purchases.num_items} items, "
              f"{len(purchases.train)} training purchases", flush=True)
        for kind in kinds:
            config = dataclasses.replace(
                seeded, name=f"{base.name}_{kind}",
                work_dir=os.path.join(base.work_dir, kind, f"seed{seed}"),
                model=dataclasses.replace(base.model, kind=kind))
            model, seconds = _trained_or_loaded(config, data)
            result = {**evaluate_recommender(model, data), "train_seconds": seconds}
            print(f"  {DISPLAY_NAMES[kind]}: " + "  ".join(
                f"{column} {result[column]:.4f}" for column in AUC_COLUMNS), flush=True)
            for column, value in result.items():
                collected.setdefault(DISPLAY_NAMES[kind], {}).setdefault(column, []).append(
                    float(value))
    return collected


def _trained_or_loaded(config: ExperimentConfig, data: PreparedPurchases
                       ) -> tuple[Recommender, float]:
    """The selected model of a finished run in the work dir, or a new training run."""
    from tfgrad.experiment import CONFIG_FILE, MODEL_FILE

    config_path = os.path.join(config.work_dir, CONFIG_FILE)
    finished = os.path.exists(os.path.join(config.work_dir, MODEL_FILE))
    if finished and os.path.exists(config_path):
        if dataclasses.replace(ExperimentConfig.read(config_path), eval=config.eval) == config:
            print(f"loaded {config.work_dir}", flush=True)
            return load_selected(config, data), float("nan")
    model, seconds, _ = train_recommender(config, data)
    return model, seconds
