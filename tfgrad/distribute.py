"""One string names a tf.distribute strategy (as TF Model Garden's `get_distribution_strategy`)."""

from __future__ import annotations

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def get_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy for `name`.

    auto: mirrored over all GPUs if there are several, else one device (the GPU if any).
    one_device: the first GPU, or the CPU.
    mirrored: all local GPUs; without GPUs, all logical CPUs (tests split the CPU in two to run
      the multi-replica code path on machines without GPUs).
    multi_worker: MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG (without it,
      a cluster of this one worker).
    """
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in cpus])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
