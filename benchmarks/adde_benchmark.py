"""ADDE's training cost per stage (images/s: stage 1 reads the reference photos of a batch,
stage 3 the reference, positive and negative) at the CPU config (64 px, CNN-F width 1/4,
64-d subspaces, Fashion Product Images' 7 attributes with 5/4/20/39/26/4/4 values, batch 64)
beside the entangled TIRG baseline on the same batches; and what one `manipulate` query costs
through the export module at 10k and 100k catalogue items, exact and ScaNN, with peak RSS.

  python benchmarks/adde_benchmark.py [--steps=20] [--queries=50]

Photos are random and the model untrained: neither changes the cost. The authors' PyTorch code
is not runnable here (no ImageNet AlexNet weights offline, PyTorch not installed), so there
is no peer figure from the same machine.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from workloads import peak_rss_mib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 20, "Timed training steps per stage (after 3 warm-up).")
flags.DEFINE_integer("batch_size", 64, "Triplets per step.")
flags.DEFINE_integer("queries", 50, "Timed manipulate queries per catalogue size.")
flags.DEFINE_list("catalogue_sizes", ["10000", "100000"], "Catalogue sizes of the query timing.")

NUM_VALUES = (5, 4, 20, 39, 26, 4, 4)
SIZE = 64


def _batch() -> dict:
    rng = np.random.default_rng(0)
    labels = lambda: np.stack([rng.integers(0, v, FLAGS.batch_size)  # noqa: E731
                               for v in NUM_VALUES], axis=1)
    images = {name: rng.uniform(-1, 1, (FLAGS.batch_size, SIZE, SIZE, 3)).astype(np.float32)
              for name in ("reference", "positive", "negative")}
    return {**images, "reference_labels": labels(), "target_labels": labels(),
            "negative_labels": labels()}


def _steps_per_second(model, batch) -> float:
    step = tf.function(model.train_step)
    for _ in range(3):
        step(batch)
    started = time.perf_counter()
    for _ in range(FLAGS.steps):
        result = step(batch)
    float(result["loss"])
    return FLAGS.steps / (time.perf_counter() - started)


def _adde(attribute_steps: int):
    from tfgrad.models.adde import ADDE

    model = ADDE(NUM_VALUES, SIZE, width=0.25, backbone_dim=1024, chunk_dim=64,
                 attribute_steps=attribute_steps, prototype_steps=1)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def manipulate_milliseconds(size: int, with_scann: bool, model) -> tuple[float, float]:
    """(ms per id query, ms per photo query) of the `manipulate` signature's function."""
    from tfgrad.export.manipulate import ManipulateServingModule

    rng = np.random.default_rng(size)
    features = rng.normal(size=(size, model.dim)).astype(np.float32)
    labels = np.stack([rng.integers(0, v, size) for v in NUM_VALUES], axis=1)
    ids = np.array([f"item{i}" for i in range(size)])
    photo = tf.io.encode_png(np.zeros((SIZE, SIZE, 3), np.uint8)).numpy()
    attributes = [f"a{i}" for i in range(len(NUM_VALUES))]
    values = [[f"v{j}" for j in range(count)] for count in NUM_VALUES]
    module = ManipulateServingModule(model, ids, features, labels, [photo] * size, attributes,
                                     values, pd.DataFrame({"item_id": ids}), with_scann)
    timings = []
    for item, image in (("item7", b""), ("", photo)):
        call = lambda: module.manipulate(  # noqa: E731
            tf.constant(item), tf.constant(image), tf.constant(["a4"]), tf.constant(["v3"]),
            tf.constant(10))
        call()["item_ids"].numpy()
        started = time.perf_counter()
        for _ in range(FLAGS.queries):
            call()["item_ids"].numpy()
        timings.append(1000 * (time.perf_counter() - started) / FLAGS.queries)
    return timings[0], timings[1]


def main(argv):
    del argv
    from tfgrad.models.entangled_tirg import EntangledTIRG

    batch = _batch()
    print(f"training, 64 px, CNN-F width 1/4, batch {FLAGS.batch_size}, {FLAGS.steps} timed "
          f"steps:")
    rows = {"ADDE stage 1 (attribute prediction)": (_adde(10 ** 9), 1),
            "ADDE stage 3 (manipulation losses)": (_adde(1), 3)}
    tirg = EntangledTIRG(NUM_VALUES, SIZE, width=0.25, embedding_dim=64 * len(NUM_VALUES))
    tirg.build()
    tirg.compile(optimizer=keras.optimizers.Adam(1e-3))
    rows["entangled TIRG (reference + positive)"] = (tirg, 2)
    rates = {}
    for label, (model, photos_per_triplet) in rows.items():
        rates[label] = _steps_per_second(model, batch)
        print(f"  {label:<40} {rates[label]:6.2f} steps/s  "
              f"{rates[label] * FLAGS.batch_size * photos_per_triplet:7.1f} images/s  "
              f"peak RSS {peak_rss_mib():.0f} MiB")
    stage_3, tirg_rate = rates["ADDE stage 3 (manipulation losses)"], rates[
        "entangled TIRG (reference + positive)"]
    print(f"  ratio ADDE stage 3 / entangled TIRG steps/s: {stage_3 / tirg_rate:.2f}x")
    model = rows["ADDE stage 3 (manipulation losses)"][0]
    print(f"manipulate (k = 10), {FLAGS.queries} queries each, ms per query (id / photo):")
    for size in map(int, FLAGS.catalogue_sizes):
        for with_scann in (False, True):
            by_id, by_photo = manipulate_milliseconds(size, with_scann, model)
            print(f"  {size:>7} items  {'ScaNN' if with_scann else 'exact':<6} "
                  f"{by_id:7.2f} / {by_photo:7.2f}  peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    app.run(main)
