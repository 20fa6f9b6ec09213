"""LSGAN training throughput (images/s of one D step + one G step per batch) at CPU and at the
paper's widths, and what one design costs (preference maximisation from m starts, k steps),
each timed in this process, with peak RSS.

  python benchmarks/lsgan_benchmark.py [--steps=50] [--starts=64] [--design_steps=10]

The preference model is a randomly initialised DVBPR of the CPU config's shape: the cost of a
design does not depend on what Φ and θ learnt.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from workloads import peak_rss_mib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 50, "Timed training steps per setting (after 5 warm-up).")
flags.DEFINE_integer("batch_size", 64, "Photos per step.")
flags.DEFINE_integer("starts", 64, "m, the design's random starts.")
flags.DEFINE_integer("design_steps", 10, "The design's gradient steps.")
flags.DEFINE_integer("designs", 5, "Timed designs (after one warm-up).")


def training_images_per_second(width: float, image_size: int = 64) -> float:
    from tfgrad.models.lsgan import ConditionalLSGAN, make_optimizers

    model = ConditionalLSGAN(6, 100, image_size, width=width, seed=0)
    model.compile(*make_optimizers())
    rng = np.random.default_rng(0)
    batch = {"image": rng.uniform(-1, 1, (FLAGS.batch_size, image_size, image_size, 3)
                                  ).astype(np.float32),
             "category": rng.integers(6, size=FLAGS.batch_size).astype(np.int32)}
    step = tf.function(model.train_step)
    for _ in range(5):
        step(batch)
    started = time.perf_counter()
    for _ in range(FLAGS.steps):
        result = step(batch)
    float(result["d_loss"])
    return FLAGS.steps * FLAGS.batch_size / (time.perf_counter() - started)


def design_seconds(width: float) -> float:
    from tfgrad import preference
    from tfgrad.models.dvbpr import DVBPR
    from tfgrad.models.lsgan import ConditionalLSGAN

    gan = ConditionalLSGAN(6, 100, 64, width=width, seed=0)
    gan.build()
    dvbpr = DVBPR(100, 10, latent_dim=50, image_size=64, cnn_width=0.125)
    dvbpr.build()
    model = preference.VisualPreference.from_dvbpr(dvbpr)

    @tf.function
    def design(seed):
        start = preference.random_starts(FLAGS.starts, 100, seed)
        return preference.maximise_preference(gan.generator, gan.discriminator, model, 3, 1,
                                              start, 1.0, FLAGS.design_steps, 0.2)[1].value

    design(tf.constant(0, tf.int64)).numpy()
    started = time.perf_counter()
    for seed in range(1, FLAGS.designs + 1):
        design(tf.constant(seed, tf.int64)).numpy()
    return (time.perf_counter() - started) / FLAGS.designs


def main(argv):
    del argv
    print(f"LSGAN training, 64 px, batch {FLAGS.batch_size}, {FLAGS.steps} timed steps:")
    rates = {}
    for width, label in ((0.25, "CPU config (width 1/4)"), (1.0, "the paper's widths")):
        rates[width] = training_images_per_second(width)
        print(f"  {label:<24} {rates[width]:8.1f} images/s  "
              f"({rates[width] / FLAGS.batch_size:.2f} steps/s)  peak RSS {peak_rss_mib():.0f} MiB")
    print(f"  ratio CPU config / paper's widths: {rates[0.25] / rates[1.0]:.1f}x")
    seconds = design_seconds(0.25)
    print(f"one design (m = {FLAGS.starts}, {FLAGS.design_steps} steps, CPU config, Φ = CNN-F "
          f"1/8 at 64 px): {seconds:.2f} s  peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    app.run(main)
