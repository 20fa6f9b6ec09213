"""An outside check of tfgrad's BPR-MF and VBPR: Cornac's BPR and VBPR on tfgrad's H&M split.

  pip install -e ".[cornac]"    # cornac 3.0.1 and CPU torch 2.13.0 (Cornac's VBPR trains in torch)
  python benchmarks/cornac_check.py [--seed=0] [--steps=2000] [--items=train|catalogue]
      [--hm_dir=../shared/data/fashion/hm] [--cache_dir=runs/dvbpr_compare/cache]

One run trains all four models on the same split (`dvbpr.prepare_purchases`: one
validation and one test item per user, the rest train), the VBPRs on the same product-type CNN
features (from the CNN in `--cache_dir`, where `tfgrad.evaluate` keeps it as
`product_type_cnn_seed<k>_...weights.h5`; trained there, a few minutes, if absent). Every
model's scores go into an [N, M] matrix in tfgrad's item order and through the same code,
`dvbpr.auc_table`: test AUC of all users and of the users whose test item is cold
(< 5 training purchases), against every item they never bought and against 100 sampled ones,
plus the validation AUC. "train s" is the wall time of training (tfgrad's includes its
validation passes; Cornac's VBPR spends most of it in its Python negative sampler).

tfgrad: configs/dvbpr_hm.cfg's model settings (K = 50, and K' = 50 for VBPR; λ = 1e-4 on each
triple's parameters and, once a step, on VBPR's E and β'; Adam 1e-3; 128 triples a step), with
its own step budget (`--steps`, default 2000) and the weights of the best validation AUC,
checked every 250 steps.

Cornac, fixed beforehand to mirror that, not tuned on this data:
  epochs   as many (u, i, j) triples as tfgrad sees: steps · 128 / training purchases (40 on
           the full data); the last epoch is kept (Cornac selects nothing on validation).
  BPR      k = 50, lambda_reg = 2λ (Cornac's SGD step is the gradient of λ_reg/2 · ‖θ‖²),
           learning_rate = 0.01 (plain SGD, one triple at a time: Adam's rate does not carry
           over; 0.01 is implicit's default, between Cornac's 0.001 and MyMediaLite's 0.05).
  VBPR     k = k2 = 25 (the VBPR paper's split of K = 50), Adam 1e-3, batch 128,
           lambda_w = lambda_b = 2λ and lambda_e = 2λ · 128 (Cornac sums the batch's loss and
           halves its L2 terms; the regulariser of β_j is a tenth of β_i's in Cornac).

Items Cornac never saw. With `--items=train` (default) the Cornac dataset is built from the
training pairs only (`Dataset.build`, as `from_uir` does, ids = tfgrad's indices as strings):
its negatives are drawn from the items bought in training, and the items bought only in
validation or test are added to the item map afterwards, as Cornac's own evaluation
(`BaseMethod`, exclude_unknowns=False) adds a test set's new items. Both models then score them
natively, from what they hold for an item they never trained: BPR its random initial factors
and a zero bias; VBPR its initial γ_i and zero β_i plus the visual terms θ_u·E f_i + β'·f_i, so
VBPR does score cold items from their features. On this data an item without training
purchases is by construction someone's held-out item, and leaving it near a zero score while
sampled negatives push the rarely bought items down favours it; so the "unseen at min" rows
also score Cornac's models with those items at the user's lowest score (what Cornac's `rank`
does when a model's scores do not cover an item). With `--items=catalogue` every item is in
Cornac's map before training, so negatives come from the whole catalogue as in tfgrad: the
like-for-like check of the two implementations.

TensorFlow and torch share the process without trouble (checked both import orders); torch is
only imported inside Cornac's VBPR.fit.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cornac  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from tfgrad.config import TripleTrainConfig  # noqa: E402
from tfgrad.core import run  # noqa: E402
from tfgrad.systems import dvbpr  # noqa: E402
from tfgrad.systems.dvbpr import (DVBPRConfig, PurchaseDataConfig,  # noqa: E402
                                  RecommenderModelConfig)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("bprmf", "vbpr")
NAMES = {"bprmf": "BPR-MF", "vbpr": "VBPR"}
COLUMNS = ("auc_all", "auc_cold", "auc_all_sampled", "auc_cold_sampled", "val_auc")

FLAGS = flags.FLAGS
flags.DEFINE_string("hm_dir", os.path.join(REPO, "..", "shared", "data", "fashion", "hm"),
                    "H&M folder (articles.csv, transactions_train.csv, images/).")
flags.DEFINE_string("cache_dir", os.path.join(REPO, "runs", "dvbpr_compare", "cache"),
                    "Decoded photos and product-type CNN features, shared with tfgrad.evaluate.")
flags.DEFINE_integer("seed", 0, "Seed of the split, the features and every model.")
flags.DEFINE_integer("steps", 2000, "tfgrad's training steps; Cornac's epochs follow.")
flags.DEFINE_enum("items", "train", ["train", "catalogue"],
                  "Cornac's item map: the items bought in training (negatives drawn from them) "
                  "or the whole catalogue (negatives drawn from every item, as tfgrad does).")


def base_config(hm_dir: str, seed: int, steps: int) -> DVBPRConfig:
    """configs/dvbpr_hm.cfg's settings for BPR-MF, VBPR and the CNN of their features."""
    return DVBPRConfig(
        name="cornac_check", work_dir="", dataset="hm", data=PurchaseDataConfig(hm_dir=hm_dir),
        model=RecommenderModelConfig(kind="bprmf", latent_dim=50, regularization=1e-4,
                                     dropout_rate=0.5, image_size=64, cnn_width=0.125),
        train=TripleTrainConfig(steps=steps, checkpoint_every=250, eval_every=100,
                          triple_batch_size=128, learning_rate=1e-3, seed=seed))


def train_tfgrad(config: DVBPRConfig, data: dvbpr.PreparedPurchases
                 ) -> tuple[np.ndarray, float, int]:
    """(scores [N, M], training seconds, the selected step) of tfgrad's model."""
    started = time.perf_counter()
    model, _, selected = run.train(dvbpr.SYSTEM, config, data)
    seconds = time.perf_counter() - started
    return dvbpr.all_user_scores(model, data), seconds, selected["step"]


def cornac_train_set(data: dvbpr.PreparedPurchases, items: str, seed: int
                     ) -> tuple[cornac.data.Dataset, np.ndarray, np.ndarray]:
    """Cornac's dataset of the training purchases (rating 1.0) with the visual features.

    Returns:
      (train set, [N] Cornac index of each tfgrad user, [M] Cornac index of each tfgrad item).
    """
    purchases = data.purchases
    item_ids = [str(item) for item in range(purchases.num_items)]
    uid_map, iid_map = collections.OrderedDict(), collections.OrderedDict()
    if items == "catalogue":
        iid_map.update((item, index) for index, item in enumerate(item_ids))
    train_set = cornac.data.Dataset.build(
        [(str(user), str(item), 1.0) for user, item in purchases.train],
        global_uid_map=uid_map, global_iid_map=iid_map, seed=seed)
    for item in item_ids:
        iid_map.setdefault(item, len(iid_map))
    image = cornac.data.ImageModality(features=data.features, ids=item_ids)
    image.build(id_map=iid_map)
    train_set.add_modalities(item_image=image)
    return (train_set, np.array([uid_map[str(user)] for user in range(purchases.num_users)]),
            np.array([iid_map[item] for item in item_ids]))


def cornac_models(config: DVBPRConfig, epochs: int) -> dict:
    """Cornac's BPR and VBPR with the settings of the module doc."""
    reg, batch, seed = (2 * config.model.regularization, config.train.triple_batch_size,
                        config.train.seed)
    return {"bprmf": cornac.models.BPR(k=config.model.latent_dim, max_iter=epochs,
                                       learning_rate=0.01, lambda_reg=reg, seed=seed),
            "vbpr": cornac.models.VBPR(k=config.model.latent_dim // 2,
                                       k2=config.model.latent_dim // 2, n_epochs=epochs,
                                       batch_size=batch, learning_rate=config.train.learning_rate,
                                       lambda_w=reg, lambda_b=reg, lambda_e=reg * batch,
                                       use_gpu=False, verbose=False, seed=seed)}


def train_cornac(model, train_set: cornac.data.Dataset, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, float]:
    """(scores [N, M] in tfgrad's order, training seconds); `model.score(user)` covers every
    item of Cornac's map, the unseen ones included (see the module doc)."""
    started = time.perf_counter()
    model.fit(train_set)
    seconds = time.perf_counter() - started
    return np.stack([model.score(user)[items] for user in users]), seconds


def unseen_at_minimum(scores: np.ndarray, unseen: np.ndarray) -> np.ndarray:
    """The scores with every unseen item at the user's lowest score of a seen one."""
    floored = scores.copy()
    floored[:, unseen] = scores[:, ~unseen].min(axis=1, keepdims=True)
    return floored


def markdown_table(rows: dict) -> str:
    lines = ["| model | AUC all | AUC cold | AUC all (100) | AUC cold (100) | val AUC | train s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, (result, seconds) in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{result[c]:.4f}" for c in COLUMNS)
                     + (f" | {seconds:.1f} |" if seconds is not None else " | |"))
    return "\n".join(lines)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    base = base_config(FLAGS.hm_dir, FLAGS.seed, FLAGS.steps)
    data = dvbpr.prepare_purchases(base, KINDS, cache_dir=FLAGS.cache_dir)
    purchases = data.purchases
    unseen = purchases.train_counts() == 0
    epochs = max(1, round(FLAGS.steps * base.train.triple_batch_size / len(purchases.train)))
    print(f"{purchases.num_users} users, {purchases.num_items} items, {len(purchases.train)} "
          f"training purchases; {int(purchases.is_cold(purchases.test).sum())} users' test "
          f"items are cold; features {data.features.shape} ({data.features_source})")
    unseen_test = purchases.test[unseen[purchases.test]]
    print(f"items without a training purchase (never seen by Cornac with --items=train): "
          f"{int(unseen.sum())}; the test item of {len(unseen_test)} users "
          f"({len(np.unique(unseen_test))} distinct), the validation item of "
          f"{int(unseen[purchases.validation].sum())}")
    print(f"Cornac: items={FLAGS.items}, {epochs} epochs; tfgrad: {FLAGS.steps} steps")

    rows = {}
    with tempfile.TemporaryDirectory() as work_dir:
        for kind in KINDS:
            config = dataclasses.replace(
                base, name=f"cornac_check_{kind}", work_dir=os.path.join(work_dir, kind),
                model=dataclasses.replace(base.model, kind=kind))
            scores, seconds, step = train_tfgrad(config, data)
            rows[f"tfgrad {NAMES[kind]} (step {step})"] = (
                dvbpr.auc_table(scores, data), seconds)
    train_set, users, items = cornac_train_set(data, FLAGS.items, FLAGS.seed)
    for kind, model in cornac_models(base, epochs).items():
        scores, seconds = train_cornac(model, train_set, users, items)
        rows[f"Cornac {NAMES[kind]}"] = (dvbpr.auc_table(scores, data), seconds)
        if FLAGS.items == "train":
            rows[f"Cornac {NAMES[kind]}, unseen at min"] = (
                dvbpr.auc_table(unseen_at_minimum(scores, unseen), data), None)
    print(markdown_table(rows))


if __name__ == "__main__":
    app.run(main)
