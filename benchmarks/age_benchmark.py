"""AGE's training throughput (images/s of one encoder update + n generator updates per batch
of 64, as the authors count an iteration) on the authors' CIFAR-10 nets (width 1, 32 px,
latent 128: encoder 1.18M, generator 3.93M parameters) and at the CPU config's width, beside
the authors' PyTorch code measured on this machine (2 threads: 2.04 s per iteration, 31
images/s — a fixed figure, since PyTorch is not installed here); and what one `similar` query
costs through the export module at 10k and 100k catalogue items, exact and ScaNN, with peak RSS.

  python benchmarks/age_benchmark.py [--steps=20] [--queries=50]

Catalogue codes are random unit vectors and the encoder untrained: neither changes the cost.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from workloads import peak_rss_mib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 20, "Timed training steps per setting (after 3 warm-up).")
flags.DEFINE_integer("batch_size", 64, "Photos per step.")
flags.DEFINE_integer("queries", 50, "Timed similar queries per catalogue size.")
flags.DEFINE_list("catalogue_sizes", ["10000", "100000"], "Catalogue sizes of the query timing.")

AUTHORS_IMAGES_PER_SECOND = 31.4  # 64 / 2.04 s, their code's CIFAR-10 setting, 2 threads


def training_images_per_second(width: float) -> float:
    from tfgrad.models.age import AGE
    from tfgrad.models.lsgan import make_optimizers

    model = AGE(128, 32, width=width, generator_steps=2, seed=0)
    model.compile(*make_optimizers())
    images = np.random.default_rng(0).uniform(-1, 1, (FLAGS.batch_size, 32, 32, 3)).astype(
        np.float32)
    step = tf.function(model.train_step)
    for _ in range(3):
        step(images)
    started = time.perf_counter()
    for _ in range(FLAGS.steps):
        result = step(images)
    float(result["encoder_loss"])
    return FLAGS.steps * FLAGS.batch_size / (time.perf_counter() - started)


def similar_milliseconds(size: int, with_scann: bool, model) -> tuple[float, float]:
    """(ms per id query, ms per photo query) of the `similar` signature's function."""
    from tfgrad.export.similar import SimilarServingModule

    rng = np.random.default_rng(size)
    codes = rng.normal(size=(size, 128)).astype(np.float32)
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    ids = np.array([f"item{i}" for i in range(size)])
    photo = tf.io.encode_png(np.zeros((32, 32, 3), np.uint8)).numpy()
    module = SimilarServingModule(model, ids, codes, [photo] * size,
                                  pd.DataFrame({"item_id": ids}), with_scann, generative=False)
    timings = []
    for item, image in (("item7", b""), ("", photo)):
        call = lambda: module.similar(tf.constant(item), tf.constant(image),  # noqa: E731
                                      tf.constant(10))
        call()["item_ids"].numpy()
        started = time.perf_counter()
        for _ in range(FLAGS.queries):
            call()["item_ids"].numpy()
        timings.append(1000 * (time.perf_counter() - started) / FLAGS.queries)
    return timings[0], timings[1]


def main(argv):
    del argv
    from tfgrad.models.supervised_encoder import SupervisedEncoder

    print(f"AGE training, 32 px, latent 128, batch {FLAGS.batch_size}, 2 generator updates per "
          f"encoder update, {FLAGS.steps} timed steps:")
    rates = {}
    for width, label in ((1.0, "authors' nets (width 1)"), (0.5, "CPU config (width 1/2)")):
        rates[width] = training_images_per_second(width)
        print(f"  {label:<26} {rates[width]:7.1f} images/s  "
              f"({FLAGS.batch_size / rates[width]:.2f} s/iteration)  peak RSS "
              f"{peak_rss_mib():.0f} MiB")
    print(f"  authors' PyTorch code, same nets  {AUTHORS_IMAGES_PER_SECOND:7.1f} images/s "
          f"(measured once here)")
    print(f"  ratio tfgrad / authors on the same nets: "
          f"{rates[1.0] / AUTHORS_IMAGES_PER_SECOND:.2f}x")
    # Any model with `encode` and `image_size`: the CPU config's encoder.
    encoder = SupervisedEncoder(10, 128, 32, width=0.5)
    encoder.build()
    print(f"similar (k = 10), {FLAGS.queries} queries each, ms per query (id / photo):")
    for size in map(int, FLAGS.catalogue_sizes):
        for with_scann in (False, True):
            by_id, by_photo = similar_milliseconds(size, with_scann, encoder)
            print(f"  {size:>7} items  {'ScaNN' if with_scann else 'exact':<6} "
                  f"{by_id:7.2f} / {by_photo:7.2f}  peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    app.run(main)
