"""One string names a tf.distribute strategy (as TF Model Garden's `get_distribution_strategy`)."""

from __future__ import annotations

import functools
import os

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
      a cluster of this one worker). TensorFlow requires it to be created before the process
      runs any op, so entry points call this first (`tfgrad.train` does).
    """
    if name == "multi_worker":
        # Before listing devices: that initialises TensorFlow, after which the cluster's
        # collective ops can no longer be configured.
        return _multi_worker_strategy()
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
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy as Keras 3's `fit` calls it across workers (its
    `reduce` fails there: tensorflow/tensorflow#72388).

    Across workers, `fit` reduces the first batch (a structure of tensors) to build the model
    symbolically, and reduces every step's logs (scalars) with axis=0. This strategy's `reduce`
    takes only a single value, and it cannot reduce a scalar over axis 0. MirroredStrategy maps
    over structures, and Keras passes it no axis. So here a structure is reduced leaf by leaf,
    and a scalar's axis 0 means "across replicas" (the mean of the replicas' logs, what Keras
    means).
    """

    def reduce(self, reduce_op, value, axis):
        if tf.nest.is_nested(value):
            return tf.nest.map_structure(lambda leaf: self.reduce(reduce_op, leaf, axis), value)
        if axis is not None and self.experimental_local_results(value)[0].shape.rank == 0:
            axis = None
        return super().reduce(reduce_op, value, axis)


@functools.lru_cache(maxsize=None)
def _multi_worker_strategy() -> tf.distribute.Strategy:
    return KerasMultiWorkerMirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process keeps the run's files: every single-process strategy does; in a
    multi-worker cluster only the chief (TF_CONFIG's "chief" task, else worker 0)."""
    return strategy.extended.should_checkpoint


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """The processes training together (1 but under a multi-worker cluster)."""
    resolver = strategy.cluster_resolver
    if resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return len(cluster.get("chief", ())) + len(cluster.get("worker", ()))


def worker_dir(strategy: tf.distribute.Strategy, work_dir: str) -> str:
    """Where this process writes: the work dir itself for the chief; for another worker a
    temporary dir of its own inside it, `workertemp_<index>`, as TF's multi-worker guide
    prescribes (every worker must save checkpoints, since saving may read variables through
    collective ops, but only the chief's are kept; the run deletes the others')."""
    if is_chief(strategy):
        return work_dir
    resolver = strategy.cluster_resolver
    return os.path.join(work_dir, f"workertemp_{resolver.task_type}_{resolver.task_id}")
