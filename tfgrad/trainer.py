"""The training loop, apart from model code: strategy, checkpoints, resume, logs, progress.

`fit` runs in "epochs" of `checkpoint_every` steps over an endless dataset, so Keras's
`BackupAndRestore` checkpoints (weights, optimiser state, epoch) every `checkpoint_every` steps
and a killed run resumes from the last of them: nothing is lost but the steps since. The
resumed run skips the batches already trained, so it sees the batches an uninterrupted run
would.

Under a multi-worker cluster every worker runs this same loop (each step is a collective
all-reduce); the chief writes the checkpoints and TensorBoard logs into the work dir, the other
workers into temporary dirs of their own (`distribute.worker_dir`) and resume from the chief's
checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import warnings
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad.config import TrainConfig
from tfgrad.data.images import normalize_images
from tfgrad.distribute import is_chief, num_workers, worker_dir

BACKUP_DIR = "backup"
# What Keras's BackupAndRestore writes beside the weights: {"epoch": epochs done, "batch": …}.
BACKUP_METADATA = "training_metadata.json"


class ProgressLine(keras.callbacks.Callback):
    """Prints one line per checkpoint interval: step, losses and steps/s."""

    def __init__(self, total_steps: int, steps_per_epoch: int, stream=sys.stdout):
        super().__init__()
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.stream = stream

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._started
        step = min((epoch + 1) * self.steps_per_epoch, self.total_steps)
        losses = "  ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
        print(f"step {step}/{self.total_steps}  {losses}  "
              f"{self.steps_per_epoch / seconds:.1f} steps/s", file=self.stream, flush=True)


class PeriodicCallback(keras.callbacks.Callback):
    """Calls `function(model, step)` every `every_epochs` checkpoint intervals but the last."""

    def __init__(self, function: Callable[[keras.Model, int], None], every_epochs: int,
                 steps_per_epoch: int, total_epochs: int):
        super().__init__()
        self.function = function
        self.every_epochs = max(every_epochs, 1)
        self.steps_per_epoch = steps_per_epoch
        self.total_epochs = total_epochs

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs == 0 and epoch + 1 < self.total_epochs:
            self.function(self.model, (epoch + 1) * self.steps_per_epoch)


class WorkerBackupAndRestore(keras.callbacks.BackupAndRestore):
    """A non-chief worker's backup: it resumes from the chief's checkpoint (so every worker
    starts again at the same step with the same weights) and saves its own into its temporary
    dir, which nothing reads. It saves at all because TF's multi-worker guide has every worker
    save: saving may read on-read variables through collective ops, which hang unless all
    workers take part (the weights files here read mirrored variables, locally, but a model
    with on-read weights would not)."""

    def __init__(self, chief_dir: str, own_dir: str):
        super().__init__(own_dir, delete_checkpoint=False)
        self.chief = keras.callbacks.BackupAndRestore(chief_dir, delete_checkpoint=False)

    def set_model(self, model):
        super().set_model(model)
        self.chief.set_model(model)

    def on_train_begin(self, logs=None):
        self.chief.on_train_begin(logs)


def trained_steps(work_dir: str, steps_per_epoch: int) -> int:
    """The steps the checkpoint in `work_dir` holds (0 without one)."""
    path = os.path.join(work_dir, BACKUP_DIR, BACKUP_METADATA)
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return json.load(f)["epoch"] * steps_per_epoch


def sharded_over_workers(dataset: tf.data.Dataset, strategy: tf.distribute.Strategy
                         ) -> tf.data.Dataset:
    """`dataset` of global batches, with the auto-shard policy Keras's
    `experimental_distribute_dataset` splits it over workers by.

    Every training dataset here is built in memory (tensor slices, generated data), not read
    from files, so FILE sharding cannot apply: DATA sharding has each worker build the same
    seeded stream and keep its replicas' share of every global batch. The batch sizes in the
    config are therefore global — per worker, batch / workers — and a step of N workers trains
    on exactly the global batch one process would.
    """
    replicas = strategy.num_replicas_in_sync
    for path, spec in keras.tree.flatten_with_path(dataset.element_spec):
        batch = spec.shape[0] if spec.shape.rank else None
        if batch is not None and batch % replicas:
            name = "/".join(map(str, path))
            raise ValueError(f"the global batch of {name!r} ({batch}) does not split evenly "
                             f"over {replicas} replicas: give a batch size that is a multiple "
                             f"of {replicas}")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def weights_fingerprint(weights: Sequence[keras.Variable]) -> str:
    """A digest of `weights`: equal on workers that hold bitwise equal values."""
    digest = hashlib.sha256()
    for weight in weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:16]


def train(model: keras.Model, dataset: tf.data.Dataset, config: TrainConfig, work_dir: str,
          evaluate: Optional[Callable[[keras.Model, int], None]] = None,
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.Model:
    """Trains a built, compiled `model` (created under the strategy's scope) for config.steps.

    Args:
      model: the model; its `train_step` defines the objective.
      dataset: an endless dataset of global batches (Keras splits them over replicas).
      config: steps, checkpoint and evaluation intervals.
      work_dir: `backup/` (resumable checkpoints) and `logs/` (TensorBoard) go here (a
        non-chief worker's go to its `distribute.worker_dir`).
      evaluate: called as evaluate(model, step) every config.eval_every steps (the caller
        evaluates the final model itself: a resumed finished run trains no more steps).
      callbacks: more Keras callbacks (tests use them to interrupt training).

    Returns:
      The trained model.
    """
    steps_per_epoch = min(config.checkpoint_every, config.steps)
    epochs = math.ceil(config.steps / steps_per_epoch)
    strategy = model.distribute_strategy
    own_dir = worker_dir(strategy, work_dir)
    # delete_checkpoint=False: a finished run re-run resumes at its end instead of retraining.
    backup = (keras.callbacks.BackupAndRestore(os.path.join(work_dir, BACKUP_DIR),
                                               delete_checkpoint=False)
              if is_chief(strategy) else
              WorkerBackupAndRestore(os.path.join(work_dir, BACKUP_DIR),
                                     os.path.join(own_dir, BACKUP_DIR)))
    all_callbacks = [
        backup,
        keras.callbacks.TensorBoard(os.path.join(own_dir, "logs"), update_freq=steps_per_epoch,
                                    write_steps_per_second=True),
        ProgressLine(config.steps, steps_per_epoch),
    ]
    if evaluate is not None:
        all_callbacks.append(PeriodicCallback(
            evaluate, max(config.eval_every // steps_per_epoch, 1), steps_per_epoch, epochs))
    all_callbacks.extend(callbacks)
    # Keras warns that fit's default shuffle=True does not apply to a tf.data.Dataset; every
    # tfgrad pipeline shuffles itself.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    # The endless dataset's order is fixed by its seeds: skipping the batches the checkpoint
    # has trained on resumes the stream where it stopped (the weights then match an
    # uninterrupted run's, but for noise draws: Keras checkpoints no SeedGenerator state).
    dataset = sharded_over_workers(dataset, strategy).skip(
        trained_steps(work_dir, steps_per_epoch))
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=all_callbacks,
              verbose=0)
    if num_workers(strategy) > 1:
        # tfgrad.cluster compares the workers' lines: all-reduced updates keep them equal.
        # Only the trainable weights: a BatchNormalization's moving statistics (the LSGAN's,
        # AGE's) follow each worker's own share of the batch, as in any data-parallel run
        # without synchronized batch norm; the chief's are the ones kept.
        print(f"trained weights fingerprint {weights_fingerprint(model.trainable_weights)}",
              flush=True)
    return model


def train_image_classifier(images, labels, num_labels: int, *, feature_dim: int,
                           image_size: int, cnn_width: float, dropout_rate: float,
                           learning_rate: float, batch_size: int, steps: int, seed: int):
    """A `ProductTypeCNN` trained to classify uint8 photos [N, S, S, 3] into `labels` [N]
    (what stands in for ImageNet features here: DVBPR's baselines' features, the judge of
    generated images' quality). Returns (model, final training accuracy)."""
    from tfgrad.models.product_type_cnn import ProductTypeCNN

    keras.utils.set_random_seed(seed)
    model = ProductTypeCNN(num_labels, feature_dim, image_size, cnn_width, dropout_rate,
                           seed=seed)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    dataset = (tf.data.Dataset.from_tensor_slices((images, labels))
               .shuffle(len(labels), seed=seed).repeat()
               .batch(min(batch_size, len(labels)), drop_remainder=True)
               .map(lambda image, label: (normalize_images(image), label))
               .prefetch(tf.data.AUTOTUNE))
    history = model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return model, float(history.history["accuracy"][-1])
