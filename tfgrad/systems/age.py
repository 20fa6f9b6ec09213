"""AGE as a visual recommender (AGE.md): labelled photos → an adversarial generator-encoder
(or, for comparison, the plain autoencoder of the same networks, or the same encoder trained
on the labels) → every catalogue photo embedded → for each query photo the K nearest
catalogue items by distance between codes → KNN precision (share with the query's class) and
a linear probe, beside raw pixels, PCA of the pixels and random items.

The catalogue is the dataset's training split, the queries a seeded sample of its test split
(the seed's "validation"); nothing is chosen on the queries. Settings are chosen on
`val_precision@k`: a seeded sample of catalogue photos as queries, each left out of its own
answer — the live case (a shopper looking at a catalogue item), and no test photo enters it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad import features, metrics, plots
from tfgrad.config import AlternatingTrainConfig, SystemConfig, check_positive, option
from tfgrad.core.run import EVALUATION_LOGS
from tfgrad.core.system import Evaluation, ModelSpec, Monitor, Spaces, System, Table
from tfgrad.data.images import normalize_images, to_uint8
from tfgrad.data.labelled_images import LabelledImages, LabelledSplits
from tfgrad.retrieval.knn import nearest_neighbours
from tfgrad.spaces import ItemSpace

MODELS = {
    "age": ModelSpec("AGE", "adversarial generator-encoder, codes on the unit sphere (AGE.md)"),
    "autoencoder": ModelSpec("AE", "AGE's encoder and generator on the reconstruction loss "
                                   "alone"),
    "supervised": ModelSpec("supervised CNN", "AGE's encoder trained on the class labels (a "
                                              "ceiling: it sees the classes KNN is judged on)"),
}
GENERATIVE = ("age", "autoencoder")
DATASETS = ("fashion_mnist", "cifar10", "fashion_products", "hm")
SMALL_IMAGES = ("fashion_mnist", "cifar10")
DEFAULT_CLASS_COLUMN = {"fashion_products": "articleType", "hm": "product_type_name"}
INDEXES = ("brute_force", "scann")
PIXELS, PCA_ROW, CHANCE = "raw pixels", "PCA", "random items"
SIMILAR_PNG, SAMPLES_PNG = "similar.png", "samples.png"
RECONSTRUCTIONS_PNG, INTERPOLATION_PNG = "reconstructions.png", "interpolation.png"
PICTURED_QUERIES = 6


@dataclasses.dataclass(frozen=True)
class AGEDataConfig:
    """Where the labelled photos are.

    Attributes:
      fashion_mnist_dir: Fashion-MNIST's idx files (train-/t10k-images/labels, gzipped or not).
      cifar10_dir: A class-folder dataset: <dir>/train/<class>/<file>, <dir>/test/<class>/...
        (CIFAR-10's layout).
      fashion_dir: Fashion Product Images folder (styles.csv, images/<id>.jpg).
      hm_dir: H&M folder (articles.csv; photos in <hm_dir>/images unless --images_dir).
      images_dir: H&M or Fashion Product Images photos elsewhere.
      class_column: The product column that is the class (default articleType for Fashion
        Product Images, product_type_name for H&M).
      min_photos: Product classes with fewer photos are left out.
      test_fraction: Share of the products that are queries (product datasets; Fashion-MNIST
        and class folders come split).
      max_catalogue: Train on and search a seeded sample of this many catalogue photos (0:
        all).
    """

    fashion_mnist_dir: Optional[str] = None
    cifar10_dir: Optional[str] = None
    fashion_dir: Optional[str] = None
    hm_dir: Optional[str] = None
    images_dir: Optional[str] = None
    class_column: Optional[str] = None
    min_photos: int = 20
    test_fraction: float = 0.2
    max_catalogue: int = 0


@dataclasses.dataclass(frozen=True)
class AGEModelConfig:
    """The encoder and generator.

    Attributes:
      kind: The model: age, autoencoder (same networks, reconstruction only) or supervised
        (the encoder trained on the labels).
      latent_dim: d, the codes' dimension (the paper's 128).
      image_size: Image size, 32 or 64 (0: 32 for Fashion-MNIST and CIFAR-10, 64 for products).
      age_width: Channel multiplier of both networks (1.0: the authors' DCGAN nets).
      latent_weight: λ, the weight of the latent reconstruction in the generator's objective.
      reconstruction_weight: μ, the weight of the L1 reconstruction in the encoder's.
      generator_steps: Generator updates per encoder update (the authors' 2).
    """

    kind: str = option("age", flag="model", choices=tuple(MODELS))
    latent_dim: int = 128
    image_size: int = 0
    age_width: float = 0.5
    latent_weight: float = 1000.0
    reconstruction_weight: float = 10.0
    generator_steps: int = 2

    def __post_init__(self):
        check_positive(self, "latent_dim", "age_width", "generator_steps")
        if self.image_size not in (0, 32, 64):
            raise ValueError(f"image_size must be 32 or 64 (or 0: the dataset's), got "
                             f"{self.image_size}")


@dataclasses.dataclass(frozen=True)
class AGEEvalConfig:
    """What the KNN tables measure.

    Attributes:
      ks: K of the KNN precision columns (the seed's 3, and 10).
      queries: Query photos, a seeded sample of the test split (0: all).
      validation_queries: Catalogue photos that are the validation queries (the selection
        column val_precision@k, k the first of ks), each left out of its own answer.
      pca_dims: Dimensions of the PCA baseline.
      probe_steps: Adam steps of each linear probe.
      index: Search index of the KNN: exact (brute_force) or scann.
      grid_samples: Samples, reconstructions and interpolation steps in the pictures.
    """

    ks: tuple[int, ...] = (3, 10)
    queries: int = 2000
    validation_queries: int = 1000
    pca_dims: int = 128
    probe_steps: int = 2000
    index: str = option("brute_force", choices=INDEXES)
    grid_samples: int = 10

    def __post_init__(self):
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive, got {self.ks}")
        check_positive(self, "pca_dims", "probe_steps", "grid_samples", "validation_queries")


@dataclasses.dataclass(frozen=True)
class AGEConfig(SystemConfig):
    """One AGE run (train → KNN tables and pictures → export).

    Attributes:
      dataset: Labelled photos: fashion_mnist (--fashion_mnist_dir), cifar10 (--cifar10_dir),
        fashion_products (--fashion_dir) or hm (--hm_dir).
    """

    name: str = "age_fashion_mnist"
    work_dir: str = "runs/age_fashion_mnist"
    dataset: str = option("fashion_mnist", choices=DATASETS)
    data: AGEDataConfig = AGEDataConfig()
    model: AGEModelConfig = AGEModelConfig()
    train: AlternatingTrainConfig = AlternatingTrainConfig()
    eval: AGEEvalConfig = AGEEvalConfig()

    def __post_init__(self):
        self.check_dataset({"fashion_mnist": ("fashion_mnist_dir",), "cifar10": ("cifar10_dir",),
                            "fashion_products": ("fashion_dir",), "hm": ("hm_dir",)},
                           f"model {self.model.kind!r} embeds labelled photos: use --dataset="
                           + ", ".join(DATASETS))

    @property
    def image_size(self) -> int:
        return self.model.image_size or (32 if self.dataset in SMALL_IMAGES else 64)


@dataclasses.dataclass(frozen=True, eq=False)
class AGEData:
    """A catalogue (what is trained on and searched) and its queries.

    Attributes:
      splits: the labelled catalogue (`train`) and all test photos.
      catalogue: the searched photos (`splits.train`, or a sample of it).
      queries: the query photos (a seeded sample of `splits.test`).
      validation: [V] catalogue rows that are the validation queries.
      fixed_latents: [grid_samples, d] the latents of every sample grid.
    """

    splits: LabelledSplits
    catalogue: LabelledImages
    queries: LabelledImages
    validation: np.ndarray
    fixed_latents: np.ndarray


def load_splits(config: AGEConfig, cache_dir: Optional[str]) -> LabelledSplits:
    from tfgrad.data import categories, fashion_mnist, labelled_images

    data, size = config.data, config.image_size
    if config.dataset == "fashion_mnist":
        return fashion_mnist.load_fashion_mnist_splits(data.fashion_mnist_dir, size)
    if config.dataset == "cifar10":
        return labelled_images.load_class_folders(data.cifar10_dir, size, cache_dir)
    column = data.class_column or DEFAULT_CLASS_COLUMN[config.dataset]
    if config.dataset == "hm":
        photos = categories.load_hm_categories(data.hm_dir, data.images_dir, column, None,
                                               data.min_photos)
    else:
        photos = categories.load_fashion_product_categories(
            data.fashion_dir, column, None, data.min_photos, data.images_dir)
    return labelled_images.split_categorised(photos, size, data.test_fraction,
                                             config.train.seed, cache_dir)


def _sample(images: LabelledImages, count: int, seed: int) -> LabelledImages:
    if not count or count >= len(images):
        return images
    return images.subset(np.sort(np.random.default_rng(seed).choice(len(images), count,
                                                                    replace=False)))


def encode(model, images_uint8: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """[N, d] the model's codes of uint8 photos."""
    return np.concatenate([
        model.encode(normalize_images(tf.constant(images_uint8[start:start + batch_size])))
        .numpy() for start in range(0, len(images_uint8), batch_size)])


def slerp(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """[steps, d] points on the great circle from unit `start` to unit `end`."""
    angle = np.arccos(np.clip(float(start @ end), -1.0, 1.0))
    fractions = np.linspace(0.0, 1.0, steps)[:, None]
    if angle < 1e-6:
        return np.repeat(start[None], steps, axis=0)
    return (np.sin((1 - fractions) * angle) * start + np.sin(fractions * angle) * end) / np.sin(
        angle)


KNN_COLUMNS_SUFFIX = ("probe_train", "probe_test")


def validation_column(ks: Sequence[int]) -> str:
    return f"val_precision@{ks[0]}"


def knn_columns(ks: Sequence[int]) -> tuple[str, ...]:
    return (tuple(f"precision@{k}" for k in ks) + (validation_column(ks),)
            + KNN_COLUMNS_SUFFIX)


def knn_row(catalogue_features: np.ndarray, query_features: np.ndarray, data: AGEData,
            config: AGEConfig, index: str) -> tuple[dict, np.ndarray]:
    """({precision@k…, val_precision@k, probe_train, probe_test}, the queries' neighbour rows
    [Q, max k]) of one kind of features."""
    ks = config.eval.ks
    labels = data.catalogue.labels
    rows, _ = nearest_neighbours(catalogue_features, query_features, max(ks), index)
    row = {f"precision@{k}": metrics.knn_precision(labels[rows], data.queries.labels, k)
           for k in ks}
    validation_rows, _ = nearest_neighbours(catalogue_features,
                                            catalogue_features[data.validation], ks[0], index,
                                            exclude=data.validation)
    row[validation_column(ks)] = metrics.knn_precision(labels[validation_rows],
                                                       labels[data.validation], ks[0])
    row["probe_train"], row["probe_test"] = features.linear_probe(
        catalogue_features, data.catalogue.labels, query_features, data.queries.labels,
        len(data.splits.class_names), steps=config.eval.probe_steps, seed=config.train.seed)
    return row, rows


def _normalised_with_labels(images, labels):
    return normalize_images(images), labels


class AGEMonitor(Monitor):
    """Every eval_every steps (generative models): samples from the run's fixed latents,
    reconstructions of fixed query photos, and the per-dimension mean and standard deviation
    of e(X) over fixed catalogue photos (healthy AGE training keeps the means near 0); the
    final weights are kept."""

    def __init__(self, config: AGEConfig, data: AGEData):
        self.data = data
        self.config = config
        rng = np.random.default_rng(config.train.seed + 7)
        self.watched = data.catalogue.images[rng.choice(len(data.catalogue),
                                                        min(512, len(data.catalogue)),
                                                        replace=False)]
        self.writer = tf.summary.create_file_writer(
            os.path.join(config.work_dir, EVALUATION_LOGS))

    def __call__(self, model, step: int) -> None:
        codes = encode(model, self.watched)
        with self.writer.as_default(step=step):
            tf.summary.histogram("codes/per_dimension_mean", codes.mean(axis=0))
            tf.summary.histogram("codes/per_dimension_std", codes.std(axis=0))
            tf.summary.scalar("codes/mean_abs_mean", float(np.abs(codes.mean(axis=0)).mean()))
            for name, png in (("samples", samples_png(model, self.data)),
                              ("reconstructions", reconstructions_png(model, self.data,
                                                                      self.config))):
                tf.summary.image(name, tf.image.decode_png(png)[None])
        self.writer.flush()


def samples_png(model, data: AGEData) -> bytes:
    return plots.image_rows_png([to_uint8(model.decode(data.fixed_latents))],
                                row_titles=["g(z), fixed z"])


def reconstructions_png(model, data: AGEData, config: AGEConfig) -> bytes:
    photos = data.queries.images[:config.eval.grid_samples]
    rebuilt = to_uint8(model.decode(model.encode(normalize_images(tf.constant(photos)))))
    return plots.image_rows_png([photos, rebuilt], row_titles=["query photo", "g(e(x))"])


def interpolation_png(model, data: AGEData, config: AGEConfig) -> bytes:
    """Slerp on the sphere between the codes of two catalogue photos of different classes,
    decoded by g; the two photos at the ends."""
    labels = data.catalogue.labels
    first = 0
    second = int(np.flatnonzero(labels != labels[first])[0]) if (labels != labels[0]).any() else 1
    ends = data.catalogue.images[[first, second]]
    codes = model.encode(normalize_images(tf.constant(ends))).numpy()
    path = to_uint8(model.decode(slerp(codes[0], codes[1], config.eval.grid_samples)))
    return plots.image_rows_png(
        [np.concatenate([ends[:1], path, ends[1:]])],
        row_titles=[f"{data.splits.class_names[labels[first]][:12]} →\n"
                    f"{data.splits.class_names[labels[second]][:12]}"])


def similar_png(data: AGEData, model_rows: np.ndarray, pixel_rows: np.ndarray, name: str
                ) -> bytes:
    """Per pictured query: the photo, the model's top-3, raw pixels' top-3; each neighbour
    captioned with its class (✓ when it is the query's)."""
    classes = data.splits.class_names
    rows, titles, captions = [], [], []
    for query in range(min(PICTURED_QUERIES, len(data.queries))):
        label = data.queries.labels[query]
        for row_name, found in ((name, model_rows), (PIXELS, pixel_rows)):
            neighbours = found[query, :3]
            rows.append(np.concatenate([data.queries.images[query:query + 1],
                                        data.catalogue.images[neighbours]]))
            titles.append(f"{classes[label][:12]}\n{row_name}")
            captions.append(["query"] + [
                ("✓ " if data.catalogue.labels[n] == label else "") +
                classes[data.catalogue.labels[n]][:10] for n in neighbours])
    return plots.image_rows_png(rows, titles, captions)


class AGESystem(System):
    """Visual KNN recommendation on an adversarial generator-encoder's codes."""

    name = "age"
    config_class = AGEConfig
    models = MODELS
    description = "adversarial generator-encoder: unsupervised codes for visual KNN"

    def prepare(self, config: AGEConfig, kinds: Sequence[str] = (),
                cache_dir: Optional[str] = None) -> AGEData:
        from tfgrad.models.age import random_codes

        splits = load_splits(config, cache_dir)
        seed = config.train.seed
        catalogue = _sample(splits.train, config.data.max_catalogue, seed + 1)
        validation = np.sort(np.random.default_rng(seed + 3).choice(
            len(catalogue), min(config.eval.validation_queries, len(catalogue)), replace=False))
        return AGEData(
            splits=splits, catalogue=catalogue,
            queries=_sample(splits.test, config.eval.queries, seed + 2), validation=validation,
            fixed_latents=random_codes(config.eval.grid_samples, config.model.latent_dim,
                                       seed).numpy())

    def describe(self, data: AGEData) -> str:
        return (f"{data.splits.name}: a catalogue of {len(data.catalogue)} photos, "
                f"{len(data.queries)} queries of {len(data.splits.test)} test photos, "
                f"{len(data.splits.class_names)} classes, "
                f"{data.catalogue.images.shape[1]} px")

    def build(self, config: AGEConfig, data: AGEData):
        model_config = config.model
        if model_config.kind == "supervised":
            from tfgrad.models.supervised_encoder import SupervisedEncoder

            model = SupervisedEncoder(len(data.splits.class_names), model_config.latent_dim,
                                      config.image_size, model_config.age_width,
                                      seed=config.train.seed)
        else:
            from tfgrad.models.age import AGE

            model = AGE(model_config.latent_dim, config.image_size, model_config.age_width,
                        model_config.latent_weight, model_config.reconstruction_weight,
                        model_config.generator_steps,
                        adversarial=model_config.kind == "age", seed=config.train.seed)
        model.build()
        return model

    def compile(self, model, config: AGEConfig) -> None:
        from tfgrad.models.lsgan import make_optimizers

        train = config.train
        if config.model.kind == "supervised":
            model.compile(optimizer=keras.optimizers.Adam(train.learning_rate, train.beta_1),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
        else:
            model.compile(*make_optimizers(train.learning_rate, train.beta_1))

    def training_dataset(self, model, config: AGEConfig, data: AGEData) -> tf.data.Dataset:
        catalogue = data.catalogue
        supervised = config.model.kind == "supervised"
        dataset = tf.data.Dataset.from_tensor_slices(
            (catalogue.images, catalogue.labels) if supervised else catalogue.images)
        dataset = dataset.shuffle(len(catalogue), seed=config.train.seed).repeat().batch(
            config.train.batch_size, drop_remainder=True)
        return dataset.map(_normalised_with_labels if supervised else normalize_images,
                           num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def monitor(self, config: AGEConfig, data: AGEData) -> Monitor:
        return AGEMonitor(config, data) if config.model.kind in GENERATIVE else Monitor()

    def _evaluation(self, rows: dict, model_row: str, config: AGEConfig, data: AGEData,
                    files: dict, pictures: dict) -> Evaluation:
        return Evaluation(
            tables={"knn": Table(
                "knn", knn_columns(config.eval.ks), rows, chance_row=CHANCE,
                title=f"visual KNN precision and linear probe, {data.splits.name} "
                      f"({len(data.queries)} queries, {len(data.catalogue)} items)")},
            main="knn", model_row=model_row, pictures=pictures, files=files,
            details={"classes": list(data.splits.class_names)})

    def evaluate(self, model, config: AGEConfig, data: AGEData, index: Optional[str] = None,
                 pictures: bool = True) -> Evaluation:
        """The model's KNN precision@k and probe accuracies; pictures of its neighbours (beside
        raw pixels'), and for AGE and the autoencoder samples, reconstructions and an
        interpolation."""
        index = index or config.eval.index
        name = self.display_name(config.model.kind)
        row, found = knn_row(encode(model, data.catalogue.images),
                             encode(model, data.queries.images), data, config, index)
        files = {}
        if pictures:
            pictured = data.queries.images[:PICTURED_QUERIES]
            pixel_rows, _ = nearest_neighbours(features.pixel_features(data.catalogue.images),
                                        features.pixel_features(pictured), 3, index)
            files[SIMILAR_PNG] = similar_png(data, found, pixel_rows, name)
            if config.model.kind in GENERATIVE:
                files[SAMPLES_PNG] = samples_png(model, data)
                files[RECONSTRUCTIONS_PNG] = reconstructions_png(model, data, config)
                files[INTERPOLATION_PNG] = interpolation_png(model, data, config)
        drawn = {os.path.splitext(file)[0]: png for file, png in files.items()}
        return self._evaluation({name: row}, name, config, data, files, drawn)

    def reference(self, config: AGEConfig, data: AGEData, index: Optional[str] = None
                  ) -> Evaluation:
        """Raw pixels (the seed's baseline), PCA of the pixels, and random items (the expected
        precision of random catalogue items; the probe's chance is the largest class's
        share)."""
        index = index or config.eval.index
        catalogue = features.pixel_features(data.catalogue.images)
        queries = features.pixel_features(data.queries.images)
        rows = {PIXELS: knn_row(catalogue, queries, data, config, index)[0]}
        pca = features.fit_pca(catalogue, min(config.eval.pca_dims, *catalogue.shape))
        rows[f"{PCA_ROW}-{pca.components.shape[1]}"] = knn_row(
            pca.transform(catalogue), pca.transform(queries), data, config, index)[0]
        chance = metrics.chance_knn_precision(data.catalogue.labels, data.queries.labels)
        majority = np.argmax(np.bincount(data.catalogue.labels))
        rows[CHANCE] = {**{f"precision@{k}": chance for k in config.eval.ks},
                        validation_column(config.eval.ks): metrics.chance_knn_precision(
                            data.catalogue.labels, data.catalogue.labels[data.validation]),
                        "probe_train": float(np.mean(data.catalogue.labels == majority)),
                        "probe_test": float(np.mean(data.queries.labels == majority))}
        return self._evaluation(rows, PIXELS, config, data, {}, {})

    def spaces(self, model, config: AGEConfig, data: AGEData) -> Spaces:
        """The catalogue's codes (the whole training split, not a query sample)."""
        catalogue = data.catalogue
        return Spaces(items=ItemSpace(
            item_ids=catalogue.item_ids,
            item_names=np.asarray(data.splits.class_names)[catalogue.labels],
            item_vectors=encode(model, catalogue.images),
            metadata=pd.DataFrame({"class": np.asarray(data.splits.class_names)[
                catalogue.labels]})))

    def export(self, model, config: AGEConfig, data: AGEData) -> str:
        from tfgrad.export.similar import export_similar

        items = self.spaces(model, config, data).items
        table = pd.DataFrame({"item_id": items.item_ids, "name": items.item_names,
                              **items.metadata.to_dict("list")})
        photos = [tf.io.encode_png(image).numpy() for image in data.catalogue.images]
        return export_similar(model, items.item_ids, items.item_vectors, photos, table,
                              config.export_dir, config.name,
                              {"model": type(model).__name__, "catalogue": data.splits.name,
                               "config": config.to_dict()},
                              generative=config.model.kind in GENERATIVE)

    def summary(self, config: AGEConfig, result) -> str:
        return (f"{config.name}: trained {config.train.steps} steps in "
                f"{result.train_seconds:.1f} s; visual KNN of the test photos in the "
                f"catalogue:")


SYSTEM = AGESystem()
