"""The training loop, apart from model code: strategy, checkpoints, resume, logs, progress.

`fit` runs in "epochs" of `checkpoint_every` steps over an endless dataset, so Keras's
`BackupAndRestore` checkpoints (weights, optimiser state, epoch) every `checkpoint_every` steps
and a killed run resumes from the last of them: nothing is lost but the steps since.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from typing import Callable, Optional, Sequence

import keras
import tensorflow as tf

from tfgrad.config import TrainConfig
from tfgrad.data.images import normalize_images


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


def train(model: keras.Model, dataset: tf.data.Dataset, config: TrainConfig, work_dir: str,
          evaluate: Optional[Callable[[keras.Model, int], None]] = None,
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.Model:
    """Trains a built, compiled `model` (created under the strategy's scope) for config.steps.

    Args:
      model: the model; its `train_step` defines the objective.
      dataset: an endless dataset of global batches (Keras splits them over replicas).
      config: steps, checkpoint and evaluation intervals.
      work_dir: `backup/` (resumable checkpoints) and `logs/` (TensorBoard) go here.
      evaluate: called as evaluate(model, step) every config.eval_every steps (the caller
        evaluates the final model itself: a resumed finished run trains no more steps).
      callbacks: more Keras callbacks (tests use them to interrupt training).

    Returns:
      The trained model.
    """
    steps_per_epoch = min(config.checkpoint_every, config.steps)
    epochs = math.ceil(config.steps / steps_per_epoch)
    all_callbacks = [
        # delete_checkpoint=False: a finished run re-run resumes at its end instead of retraining.
        keras.callbacks.BackupAndRestore(os.path.join(work_dir, "backup"),
                                         delete_checkpoint=False),
        keras.callbacks.TensorBoard(os.path.join(work_dir, "logs"), update_freq=steps_per_epoch,
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
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=all_callbacks,
              verbose=0)
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
