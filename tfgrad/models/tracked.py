"""What models with their own `train_step` share (the conditional LSGAN, AGE, ADDE): a fresh
random seed per step and per replica, losses reduced over the global batch, and trackers that
report batch means under any strategy."""

from __future__ import annotations

import keras
import tensorflow as tf


def replica_step_seed(seed_generator: keras.random.SeedGenerator) -> tf.Tensor:
    """A fresh stateless seed per call and per replica: every replica reads the same
    generator state, so the replica id is folded in (a single device folds in 0)."""
    seed = seed_generator.next()
    context = tf.distribute.get_replica_context()
    replica = 0 if context is None else context.replica_id_in_sync_group
    return tf.random.experimental.stateless_fold_in(seed, replica)


class TrackedModel(keras.Model):
    """Base of models with a custom `train_step`; subclasses name their tracked values in
    `TRACKED`.

    Args:
      seed: the seed of the model's random draws (noise, latents).
    """

    TRACKED: tuple[str, ...] = ()

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.TRACKED}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def step_seed(self) -> tf.Tensor:
        """A fresh stateless seed per call and per replica (`replica_step_seed`)."""
        return replica_step_seed(self.seed_generator)

    @staticmethod
    def replicas() -> int:
        return tf.distribute.get_strategy().num_replicas_in_sync

    def _average(self, per_example):
        """[B] -> this replica's share of the global batch's mean (the gradients the optimizers
        sum across replicas are then the global batch's)."""
        return tf.nn.compute_average_loss(
            per_example, global_batch_size=tf.shape(per_example)[0] * self.replicas())

    def _track(self, terms: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Updates the trackers with this replica's shares and returns every tracker's value.
        Shares are 1/replicas of the global mean: undone here, so that the trackers (averaged
        over replicas and steps) hold the batch means."""
        replicas = self.replicas()
        for name, value in terms.items():
            self.trackers[name].update_state(tf.cast(value, tf.float32) * replicas)
        return {name: tracker.result() for name, tracker in self.trackers.items()}
