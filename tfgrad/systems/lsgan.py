"""Conditional LSGAN (DVBPR.md, "Design: conditional LSGAN"): product photos by category → G
and D trained with least squares, alternating → per-category samples from fixed noise, image
quality beside real photos and noise → export.

Image quality is measured with a classifier trained here on the same photos' categories (no
ImageNet Inception-v3 can be fetched offline): the inception score over its class
probabilities and the Fréchet distance over its features, so both range over this catalogue's
categories, not ImageNet's. Real photos give the ceiling (IS of real photos; FID between two
halves of them), uniform noise the floor.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Optional, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad import metrics, plots, preference, trainer
from tfgrad.config import AlternatingTrainConfig, SystemConfig, check_positive, option
from tfgrad.core import run
from tfgrad.core.run import EVALUATION_LOGS
from tfgrad.core.system import Evaluation, ModelSpec, Monitor, System, Table
from tfgrad.data.categories import (CategorisedPhotos, category_dataset,
                                    load_fashion_product_categories, load_hm_categories)
from tfgrad.data.images import load_images, normalize_images, to_uint8

MODELS = {"lsgan": ModelSpec("LSGAN", "conditional least-squares GAN, 64×64 RGB (DVBPR.md)")}
DATASETS = ("hm", "fashion_products")
DEFAULT_CATEGORY_COLUMN = {"hm": "product_group_name", "fashion_products": "masterCategory"}
QUALITY_COLUMNS = ("is", "fid", "images")
SAMPLES_PNG = "samples.png"
DESIGNS_PNG = "designs.png"
TAILORING_PNG = "tailoring.png"


@dataclasses.dataclass(frozen=True)
class GANDataConfig:
    """Where the category photos are (`tfgrad.data.categories`).

    Attributes:
      hm_dir: H&M folder (articles.csv, transactions_train.csv).
      images_dir: Item photos: H&M layout (<3 digits>/<id>.jpg), class folders
        (<class>/<id>.jpg) or one folder (<id>.jpg); default <hm_dir>/images.
      fashion_dir: Fashion Product Images folder (styles.csv, images/<id>.jpg).
      category_column: The column whose values are G's and D's categories; default
        product_group_name (H&M) or masterCategory (Fashion Product Images).
      top_categories: Keep the largest this many categories (0: all).
      min_photos: Categories with fewer photos are left out.
    """

    hm_dir: Optional[str] = None
    images_dir: Optional[str] = None
    fashion_dir: Optional[str] = None
    category_column: Optional[str] = None
    top_categories: int = 6
    min_photos: int = 20


@dataclasses.dataclass(frozen=True)
class GANModelConfig:
    """The conditional LSGAN's shape.

    Attributes:
      kind: The model: lsgan (the design system).
      noise_dim: d of z ~ U(−1, 1)^d (the paper's 100).
      image_size: Generated image size (a power of two; the paper's 64).
      gan_width: Channel multiplier of G and D (1.0: the paper's 256…64 / 64…512).
    """

    kind: str = option("lsgan", flag="model", choices=tuple(MODELS))
    noise_dim: int = 100
    image_size: int = 64
    gan_width: float = 0.25

    def __post_init__(self):
        check_positive(self, "noise_dim", "gan_width")
        if self.image_size < 16 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {self.image_size}")


@dataclasses.dataclass(frozen=True)
class GANEvalConfig:
    """What evaluation generates and how quality is judged.

    Attributes:
      grid_samples: Samples per category in the sample grid (fixed noise).
      quality_samples: Generated images whose IS and FID are measured.
      classifier_steps: Training steps of the category classifier that judges quality.
    """

    grid_samples: int = 8
    quality_samples: int = 512
    classifier_steps: int = 1000


@dataclasses.dataclass(frozen=True)
class DesignConfig:
    """Designing for users: preference maximisation under a trained DVBPR (`tfgrad.preference`).

    Attributes:
      preference_run: The work dir of a finished DVBPR run on the same shop: its Φ and θ_u are
        climbed (frozen); without it the run designs nothing for users.
      judge_run: The work dir of a second DVBPR run (another seed): an independent judge of
        the designs' preference, which the ascent never sees.
      starts: m, random starts of the ascent (one batched tensor).
      eta: η, the weight of the realism penalty (D_c(x) − 1)².
      design_steps: Gradient steps of the ascent.
      design_learning_rate: Adam step size of the ascent.
      designs: Designs returned per (user, category): the best and softmax draws.
      inversion_steps: Gradient steps of a photo's inversion (tailoring).
      design_users: Users in the design table and pictures (a seeded sample).
      design_seeds: Seeds (trials) per (user, category) in the design table.
      design_user_seed: Seed of the design table's user sample: tune η, steps and learning
        rate on one sample, report on another.
    """

    preference_run: Optional[str] = None
    judge_run: Optional[str] = None
    starts: int = 64
    eta: float = 1.0
    design_steps: int = 10
    design_learning_rate: float = 0.2
    designs: int = 3
    inversion_steps: int = 100
    design_users: int = 8
    design_seeds: int = 2
    design_user_seed: int = 0

    def __post_init__(self):
        check_positive(self, "starts", "designs", "design_users", "design_seeds")
        if self.designs > self.starts:
            raise ValueError(f"designs ({self.designs}) cannot exceed starts ({self.starts})")


@dataclasses.dataclass(frozen=True)
class LSGANConfig(SystemConfig):
    """One LSGAN run (train → samples and quality → export).

    Attributes:
      dataset: Photos by category: 'hm' (--hm_dir; product groups) or 'fashion_products'
        (--fashion_dir; masterCategory).
    """

    name: str = "lsgan_hm"
    work_dir: str = "runs/lsgan_hm"
    dataset: str = option("hm", choices=DATASETS)
    data: GANDataConfig = GANDataConfig()
    model: GANModelConfig = GANModelConfig()
    train: AlternatingTrainConfig = AlternatingTrainConfig()
    design: DesignConfig = DesignConfig()
    eval: GANEvalConfig = GANEvalConfig()

    def __post_init__(self):
        self.check_dataset({"hm": ("hm_dir",), "fashion_products": ("fashion_dir",)},
                           f"model {self.model.kind!r} generates photos by category: use "
                           f"--dataset=hm or --dataset=fashion_products")


@dataclasses.dataclass(frozen=True, eq=False)
class GANData:
    """What one GAN run trains and evaluates on.

    Attributes:
      photos: the photos' ids, categories and paths.
      images: [M, S, S, 3] uint8 photos at G's size.
      fixed_noise: [grid_samples, noise_dim] the noise of every sample grid.
      config: the run's config.
      shop, judge_shop: the DVBPR runs designs climb and are judged by, when configured.
    """

    photos: CategorisedPhotos
    images: np.ndarray
    fixed_noise: np.ndarray
    config: LSGANConfig
    shop: Optional["ShopPreference"] = None
    judge_shop: Optional["ShopPreference"] = None

    @functools.cached_property
    def judge(self):
        """The category classifier that judges image quality, trained once per run."""
        config = self.config
        model, accuracy = trainer.train_image_classifier(
            self.images, self.photos.categories, len(self.photos.category_names),
            feature_dim=64, image_size=config.model.image_size, cnn_width=0.25,
            dropout_rate=0.5, learning_rate=1e-3, batch_size=128,
            steps=config.eval.classifier_steps, seed=config.train.seed + 11)
        print(f"quality judge: a {len(self.photos.category_names)}-category classifier, "
              f"training accuracy {accuracy:.3f}", flush=True)
        return model

    @functools.cached_property
    def real_features(self) -> np.ndarray:
        """[M, F] the judge's features of every real photo: what every FID compares with."""
        return judged(self.judge, self.images)[1]


def load_photos(config: LSGANConfig) -> CategorisedPhotos:
    data = config.data
    column = data.category_column or DEFAULT_CATEGORY_COLUMN[config.dataset]
    top = data.top_categories or None
    if config.dataset == "hm":
        return load_hm_categories(data.hm_dir, data.images_dir, column, top, data.min_photos)
    return load_fashion_product_categories(data.fashion_dir, column, top, data.min_photos,
                                           data.images_dir)


def sample_grid(model, data: GANData) -> bytes:
    """One row per category: G's samples from the run's fixed noise."""
    rows = [to_uint8(model.generate(data.fixed_noise,
                                    np.full(len(data.fixed_noise), category, np.int32)))
            for category in range(len(data.photos.category_names))]
    return plots.image_rows_png(rows, row_titles=list(data.photos.category_names))


def judged(judge, images_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities [N, C], features [N, F]) of uint8 images under the judge."""
    batches = tf.data.Dataset.from_tensor_slices(images_uint8).batch(256).map(normalize_images)
    probabilities, features = [], []
    for batch in batches:
        probabilities.append(tf.nn.softmax(judge(batch, training=False)).numpy())
        features.append(judge.encode_images(batch).numpy())
    return np.concatenate(probabilities), np.concatenate(features)


def generated_images(model, data: GANData, count: int, seed: int) -> np.ndarray:
    """[count, S, S, 3] uint8 samples, categories in the photos' proportions."""
    rng = np.random.default_rng(seed)
    categories = rng.choice(len(data.photos.category_names), size=count,
                            p=data.photos.counts() / data.photos.counts().sum())
    noise = rng.uniform(-1, 1, size=(count, model.noise_dim)).astype(np.float32)
    return np.concatenate([
        to_uint8(model.generate(noise[start:start + 256],
                                categories[start:start + 256].astype(np.int32)))
        for start in range(0, count, 256)])


def quality_row(judge, images: np.ndarray, reference_features: np.ndarray) -> dict:
    probabilities, features = judged(judge, images)
    return {"is": metrics.inception_score(probabilities),
            "fid": metrics.frechet_distance(features, reference_features),
            "images": float(len(images))}


@dataclasses.dataclass(frozen=True, eq=False)
class ShopPreference:
    """A finished DVBPR run read for designing (through `core.run.load_run`).

    Attributes:
      model: the frozen Φ and Θ.
      user_ids: [N] the run's users.
      known_items: per user, the items they bought in training (never "retrieved" for them).
      item_vectors: [M'] Φ(X_i) of the run's items.
      item_rows: [M'] each item's row in the GAN's photo table, -1 if it has none (its
        category is not one of G's).
    """

    model: preference.VisualPreference
    user_ids: np.ndarray
    known_items: Sequence[np.ndarray]
    item_vectors: np.ndarray
    item_rows: np.ndarray

    def user_index(self, user_id: str) -> int:
        matches = np.flatnonzero(self.user_ids == user_id)
        return int(matches[0]) if len(matches) else -1


def load_shop_preference(work_dir: str, photos: CategorisedPhotos) -> ShopPreference:
    """The Φ, Θ and item vectors of the DVBPR run in `work_dir`, its items matched to G's
    photos by id."""
    from tfgrad.models.dvbpr import DVBPR
    from tfgrad.systems import dvbpr

    loaded = run.load_run(dvbpr.SYSTEM, work_dir)
    if not isinstance(loaded.model, DVBPR):
        raise ValueError(f"--preference_run / --judge_run {work_dir!r} must be a DVBPR run; it "
                         f"holds a {type(loaded.model).__name__}")
    spaces = loaded.spaces
    row_of = {item: row for row, item in enumerate(photos.item_ids)}
    rows = np.array([row_of.get(item, -1) for item in spaces.items.item_ids], np.int64)
    if not (rows >= 0).any():
        raise ValueError(f"no item of the DVBPR run {work_dir!r} is among the GAN's photos: "
                         f"train both on the same shop")
    return ShopPreference(model=preference.VisualPreference.from_dvbpr(loaded.model),
                          user_ids=spaces.users.user_ids, known_items=spaces.users.known_items,
                          item_vectors=spaces.items.item_vectors, item_rows=rows)


DESIGN_COLUMNS = ("preference", "judge_preference", "is", "fid", "diversity", "user_distance")
REFERENCE_DESIGN_ROWS = ("random real items", "retrieval δ", "random G samples", "PM η=0")


def design_rows(eta: float) -> tuple[str, ...]:
    """The design table's rows: the references, PM without the realism term and PM at η."""
    return REFERENCE_DESIGN_ROWS + ((f"PM η={eta:g}",) if eta else ())


# One trace for every (user, category, seed) of the design table: eager ascent steps cost
# several times the traced ones.
_maximise_preference = tf.function(preference.maximise_preference, reduce_retracing=True)


def _design_rows(model, data: GANData, shop: ShopPreference, user: int, category: int,
                 seed: int, design: DesignConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{row: (uint8 images [k, S, S, 3], Φ under the climbed model [k, K])} for one user,
    category and seed (k = design.designs)."""
    k, rng = design.designs, np.random.default_rng(seed)
    in_category = np.flatnonzero((shop.item_rows >= 0) & (
        data.photos.categories[np.maximum(shop.item_rows, 0)] == category))
    candidates = np.setdiff1d(in_category, shop.known_items[user])
    theta = shop.model.user_vectors.numpy()[user]
    retrieved = candidates[np.argsort(-(shop.item_vectors[candidates] @ theta),
                                      kind="stable")[:k]]
    rows = {"random real items": rng.choice(candidates, size=k, replace=False),
            "retrieval δ": retrieved}
    out = {name: (data.images[shop.item_rows[items]], shop.item_vectors[items])
           for name, items in rows.items()}
    noise = rng.uniform(-1, 1, size=(k, model.noise_dim)).astype(np.float32)
    images = model.generate(noise, np.full(k, category, np.int32))
    out["random G samples"] = (to_uint8(images), shop.model(images).numpy())
    for name, eta in zip(design_rows(design.eta)[3:], (0.0, design.eta)):
        start = preference.random_starts(design.starts, model.noise_dim, seed)
        _, result = _maximise_preference(
            model.generator, model.discriminator, shop.model, tf.constant(user),
            tf.constant(category), start, tf.constant(eta), tf.constant(design.design_steps),
            tf.constant(design.design_learning_rate))
        chosen = preference.best_and_drawn(result.value, k, seed)
        images = tf.gather(result.images, chosen)
        out[name] = (to_uint8(images), shop.model(images).numpy())
    return out


def design_table(model, data: GANData, config: LSGANConfig, shop: ShopPreference,
                 judge: Optional[ShopPreference]) -> tuple[Table, bytes, np.ndarray]:
    """Table IV's counterpart: per row, over a seeded sample of users × every category ×
    seeds, the mean preference of the top-k under the climbed DVBPR and under the independent
    judge, IS and FID of the row's images, diversity (1 − mean pairwise SSIM of a top-k) and
    how far apart two users' top-k lie in Φ space (mean distance; 0 = everyone gets the same).
    Also the picture of the first users: bought, retrieved and designed (with scores), and
    the sampled users."""
    design = config.design
    rng = np.random.default_rng([config.train.seed + 13, design.design_user_seed])
    users = np.sort(rng.choice(len(shop.user_ids), size=min(design.design_users,
                                                           len(shop.user_ids)), replace=False))
    collected = {row: {"images": [], "preference": [], "judge": [], "diversity": [],
                       "phi": {}} for row in design_rows(design.eta)}
    categories = range(len(data.photos.category_names))
    for trial in range(design.design_seeds):
        for user in users:
            judge_user = judge.user_index(shop.user_ids[user]) if judge is not None else -1
            for category in categories:
                seed = config.train.seed + 1000 * trial + 17 * int(user) + category
                for row, (images, phi) in _design_rows(model, data, shop, int(user), category,
                                                       seed, design).items():
                    entry = collected[row]
                    entry["images"].append(images)
                    entry["preference"].extend(phi @ shop.model.user_vectors.numpy()[user])
                    if judge_user >= 0:
                        entry["judge"].extend(judge.model.scores(
                            tf.fill([len(images)], judge_user),
                            normalize_images(images)).numpy())
                    entry["diversity"].append(metrics.ssim_diversity(images / 255.0))
                    entry["phi"].setdefault((trial, category), []).append(phi)
    table_rows = {}
    for row, entry in collected.items():
        images = np.concatenate(entry["images"])
        probabilities, features = judged(data.judge, images)
        distances = [np.mean(np.linalg.norm(a[:, None] - b[None], axis=-1))
                     for sets in entry["phi"].values()
                     for i, a in enumerate(sets) for b in sets[i + 1:]]
        table_rows[row] = {
            "preference": float(np.mean(entry["preference"])),
            "judge_preference": float(np.mean(entry["judge"])) if entry["judge"]
            else float("nan"),
            "is": metrics.inception_score(probabilities),
            "fid": metrics.frechet_distance(features, data.real_features),
            "diversity": float(np.mean(entry["diversity"])),
            "user_distance": float(np.mean(distances)) if distances else float("nan")}
    picture = designs_png(collected, data, shop, users[:3], len(categories),
                          design_rows(design.eta)[-1])
    return Table("designs", DESIGN_COLUMNS, table_rows,
                 title=f"designs for {len(users)} users × {len(categories)} categories × "
                       f"{design.design_seeds} seeds (top-{design.designs})"), picture, users


def designs_png(collected: dict, data: GANData, shop: ShopPreference, users, num_categories,
                designed: str) -> bytes:
    """For the first users and the first category: what they bought, the retrieved top-k and
    the designed top-k (row `designed`), preference scores under each."""
    rows, titles, captions = [], [], []
    for position, user in enumerate(users):
        bought = shop.item_rows[shop.known_items[user]]
        bought = bought[bought >= 0][:6]
        rows.append(data.images[bought])
        titles.append(f"user {str(shop.user_ids[user])[:8]}\nbought")
        captions.append([])
        index = position * num_categories
        theta = shop.model.user_vectors.numpy()[user]
        for name in ("retrieval δ", designed):
            images = collected[name]["images"][index]
            phi = collected[name]["phi"][(0, 0)][position]
            rows.append(images)
            titles.append(f"{name}\n{data.photos.category_names[0][:14]}")
            captions.append([f"{score:.2f}" for score in phi @ theta])
    return plots.image_rows_png(rows, titles, captions)


def tailoring_png(model, data: GANData, shop: ShopPreference, users, design: DesignConfig,
                  seed: int) -> bytes:
    """Tailoring strips (DVBPR.md, "tailoring"): for an item each of the first categories that
    the first user bought from, its photo → G's inversion of it → the inversion tailored for
    the first user → for the second (the four columns); each image's preference under both
    users below it."""
    first, second = int(users[0]), int(users[1 % len(users)])
    theta = shop.model.user_vectors.numpy()
    bought = shop.item_rows[shop.known_items[first]]
    bought = bought[bought >= 0]
    rows, titles, captions = [], [], []
    for category in range(min(3, len(data.photos.category_names))):
        of_category = bought[data.photos.categories[bought] == category]
        if not len(of_category):
            continue
        photo = data.images[of_category[0]]
        target = normalize_images(tf.constant(photo))
        z_prime, inverted = preference.invert(
            model.generator, category, target,
            preference.random_starts(16, model.noise_dim, seed + category),
            design.inversion_steps, design.design_learning_rate)
        images = [target, tf.cast(inverted, tf.float32)]
        for user in (first, second):
            _, result = _maximise_preference(
                model.generator, model.discriminator, shop.model, tf.constant(user),
                tf.constant(category), z_prime[None], tf.constant(design.eta),
                tf.constant(design.design_steps), tf.constant(design.design_learning_rate))
            images.append(tf.cast(result.images[0], tf.float32))
        phi = shop.model(tf.stack(images)).numpy()
        rows.append(to_uint8(tf.stack(images)))
        titles.append(f"{data.photos.category_names[category][:14]}\ntailored")
        captions.append([f"A {a:.2f} B {b:.2f}" for a, b in zip(phi @ theta[first],
                                                              phi @ theta[second])])
    if not rows:
        raise ValueError("the pictured user bought nothing of G's categories to tailor")
    return plots.image_rows_png(rows, titles, captions)


class SampleMonitor(Monitor):
    """Every eval_every steps: the per-category sample grid from fixed noise (TensorBoard);
    the final weights are kept (a GAN has no validation score to select on)."""

    def __init__(self, config: LSGANConfig, data: GANData):
        self.data = data
        self.writer = tf.summary.create_file_writer(
            os.path.join(config.work_dir, EVALUATION_LOGS))

    def __call__(self, model, step: int) -> None:
        with self.writer.as_default(step=step):
            tf.summary.image("samples", tf.image.decode_png(sample_grid(model, self.data))[None])
        self.writer.flush()


class LSGANSystem(System):
    """Designs new items: a conditional GAN of product photos (and, with a DVBPR run, designs
    for a user by preference maximisation)."""

    name = "lsgan"
    config_class = LSGANConfig
    evaluation_sections = ("eval", "design")
    models = MODELS
    description = "conditional LSGAN of product photos by category"

    def prepare(self, config: LSGANConfig, kinds: Sequence[str] = (),
                cache_dir: Optional[str] = None) -> GANData:
        photos = load_photos(config)
        size = config.model.image_size
        cache = (os.path.join(cache_dir, f"images_{photos.name}_{len(photos)}_{size}px")
                 if cache_dir else None)
        images = load_images(photos.image_paths, size, cache_path=cache)
        noise = np.random.default_rng(config.train.seed).uniform(
            -1, 1, size=(config.eval.grid_samples, config.model.noise_dim)).astype(np.float32)
        design = config.design
        return GANData(
            photos=photos, images=images, fixed_noise=noise, config=config,
            shop=(load_shop_preference(design.preference_run, photos)
                  if design.preference_run else None),
            judge_shop=(load_shop_preference(design.judge_run, photos)
                        if design.judge_run else None))

    def describe(self, data: GANData) -> str:
        return (f"{len(data.photos)} photos in {len(data.photos.category_names)} categories: "
                + ", ".join(f"{name} {count}" for name, count in
                            zip(data.photos.category_names, data.photos.counts())))

    def build(self, config: LSGANConfig, data: GANData):
        from tfgrad.models.lsgan import ConditionalLSGAN

        model_config = config.model
        model = ConditionalLSGAN(len(data.photos.category_names), model_config.noise_dim,
                                 model_config.image_size, width=model_config.gan_width,
                                 seed=config.train.seed)
        model.build()
        return model

    def compile(self, model, config: LSGANConfig) -> None:
        from tfgrad.models.lsgan import make_optimizers

        d_optimizer, g_optimizer = make_optimizers(config.train.learning_rate,
                                                   config.train.beta_1)
        model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer)

    def training_dataset(self, model, config: LSGANConfig, data: GANData) -> tf.data.Dataset:
        return category_dataset(data.images, data.photos.categories, config.train.batch_size,
                                config.train.seed, flip=True)

    def monitor(self, config: LSGANConfig, data: GANData) -> Monitor:
        return SampleMonitor(config, data)

    def _quality(self, rows: dict, model_row: str, files: dict, pictures: dict,
                 data: GANData, designs: Optional[Table] = None) -> Evaluation:
        tables = {"quality": Table("quality", QUALITY_COLUMNS, rows,
                                   title="image quality (category-classifier IS / FID)")}
        if designs is not None:
            tables["designs"] = designs
        return Evaluation(
            tables=tables,
            main="quality", model_row=model_row, pictures=pictures, files=files,
            details={"categories": dict(zip(data.photos.category_names,
                                            data.photos.counts().tolist()))})

    def evaluate(self, model, config: LSGANConfig, data: GANData, index: Optional[str] = None,
                 pictures: bool = True) -> Evaluation:
        """IS and FID of G's samples (against all real photos' features), and the sample grid."""
        samples = generated_images(model, data, config.eval.quality_samples,
                                   config.train.seed + 3)
        name = self.display_name(config.model.kind)
        files, drawn = {}, {}
        if pictures:
            files[SAMPLES_PNG] = drawn["samples"] = sample_grid(model, data)
        designs = None
        if data.shop is not None:
            designs, picture, users = design_table(model, data, config, data.shop,
                                                   data.judge_shop)
            if pictures:
                files[DESIGNS_PNG] = drawn["designs"] = picture
                files[TAILORING_PNG] = drawn["tailoring"] = tailoring_png(
                    model, data, data.shop, users, config.design, config.train.seed + 11)
        return self._quality({name: quality_row(data.judge, samples, data.real_features)},
                             name, files, drawn, data, designs)

    def reference(self, config: LSGANConfig, data: GANData, index: Optional[str] = None
                  ) -> Evaluation:
        """Real photos (IS of half of them, FID between the halves: the ceiling) and uniform
        noise images (the floor)."""
        judge = data.judge
        rng = np.random.default_rng(config.train.seed + 5)
        order = rng.permutation(len(data.images))
        half = len(order) // 2
        first_features = data.real_features[order[:half]]
        noise = rng.integers(0, 256, size=(config.eval.quality_samples,) + data.images.shape[1:],
                             dtype=np.uint8)
        rows = {"real photos": quality_row(judge, data.images[order[half:]], first_features),
                "noise": quality_row(judge, noise, data.real_features)}
        return self._quality(rows, "real photos", {}, {}, data)

    def summary(self, config: LSGANConfig, result) -> str:
        return (f"{config.name}: trained {config.train.steps} steps in "
                f"{result.train_seconds:.1f} s; image quality of samples beside real photos:")

    def export(self, model, config: LSGANConfig, data: GANData) -> str:
        from tfgrad.export.design import Designer, export_design

        photos = data.photos
        items = pd.DataFrame({"item_id": photos.item_ids, "name": photos.item_names,
                              "category": np.asarray(photos.category_names)[photos.categories],
                              "image": photos.image_paths})
        designer = None
        if data.shop is not None:
            design = config.design
            designer = Designer(
                model.discriminator, data.shop.model, data.shop.user_ids, photos.item_ids,
                photos.categories, [tf.io.encode_jpeg(image).numpy() for image in data.images],
                designs=design.designs, learning_rate=design.design_learning_rate,
                inversion_steps=design.inversion_steps)
        return export_design(model, photos.category_names, items, config.export_dir,
                             config.name, {"model": type(model).__name__,
                                           "catalogue": photos.name,
                                           "config": config.to_dict()}, designer)


SYSTEM = LSGANSystem()
