"""CGIR training throughput on the synthetic catalogue: steps/s, users/s and triples/s, under
one device and under a 2-replica mirrored strategy (the CPU split in two logical devices when
there is no GPU), with the ratio between them.

  python benchmarks/train_benchmark.py [--num_items=3000] [--steps=300]

On a 2-core CPU machine the mirrored run shows the cost of the replica machinery, not a
speed-up; on a multi-GPU machine it shows the scaling.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_items", 3000, "Catalogue items.")
flags.DEFINE_integer("num_users", 4000, "Catalogue users.")
flags.DEFINE_integer("steps", 300, "Timed training steps per strategy (after 50 warm-up).")


def main(argv):
    del argv
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    if not tf.config.list_physical_devices("GPU"):
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from tfgrad.data.pipelines import cgir_training_dataset
    from tfgrad.data.synthetic import SyntheticCatalogueConfig
    from tfgrad.distribute import get_strategy
    from tfgrad.systems import cgir
    from tfgrad.systems.cgir import CGIRConfig

    config = CGIRConfig(
        work_dir=tempfile.mkdtemp(),
        synthetic=SyntheticCatalogueConfig(num_items=FLAGS.num_items, num_users=FLAGS.num_users))
    data = cgir.prepare_data(config)
    train = config.train
    print(f"CGIR, {FLAGS.num_items} items, {FLAGS.num_users} users, batches of "
          f"{train.user_batch_size} users + {train.triple_batch_size} triples")
    results = {}
    for strategy_name in ("one_device", "mirrored"):
        strategy = get_strategy(strategy_name)
        with strategy.scope():
            model = cgir.build_model(config, data)
            model.compile(optimizer=keras.optimizers.Adam(train.learning_rate))
        dataset = cgir_training_dataset(data.catalogue, data.train_triples,
                                        train.user_batch_size, train.triple_batch_size, 0)
        model.fit(dataset, steps_per_epoch=50, epochs=1, verbose=0)
        started = time.perf_counter()
        model.fit(dataset, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        results[strategy_name] = FLAGS.steps / seconds
        print(f"{strategy_name:<11} replicas {strategy.num_replicas_in_sync}: "
              f"{results[strategy_name]:7.1f} steps/s  "
              f"{results[strategy_name] * train.user_batch_size:8.0f} users/s  "
              f"{results[strategy_name] * train.triple_batch_size:8.0f} triples/s")
    print(f"mirrored / one_device: {results['mirrored'] / results['one_device']:.2f}x")
    print(f"peak resident memory: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    app.run(main)
