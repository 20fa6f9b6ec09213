"""One string names a tf.distribute strategy (as TF Model Garden's `get_distribution_strategy`)."""

from __future__ import annotations

import functools

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def get_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy for `name`, one per process and name.

    A process that trains several models (`tfgrad.evaluate --models=...`) reuses one strategy:
    two MirroredStrategy instances in one process issue colliding collective instance keys,
    and their all-reduces then mix up each other's gradients.

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
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    return _create_strategy(name, len(gpus))


@functools.lru_cache(maxsize=None)
def _create_strategy(name: str, num_gpus: int) -> tf.distribute.Strategy:
    gpus = tf.config.list_logical_devices("GPU")
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
