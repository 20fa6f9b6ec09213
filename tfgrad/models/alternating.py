"""What models trained by alternating updates of two networks share (the conditional LSGAN's D
and G, AGE's encoder and generator): two optimizers, built in the strategy's scope."""

from __future__ import annotations

import keras

from tfgrad.models.tracked import TrackedModel


class AlternatingModel(TrackedModel):
    """Base of two-network models; subclasses name their two optimizers through
    `compile_pair`."""

    def compile_pair(self, first: keras.optimizers.Optimizer, first_network: keras.Model,
                     second: keras.optimizers.Optimizer, second_network: keras.Model,
                     **kwargs) -> None:
        """Compiles with `second` as `optimizer` (its iteration count is the training step,
        which Keras's callbacks — TensorBoard's steps/s, BackupAndRestore — read) and builds
        both optimizers here, in the cross-replica context of the caller's scope, not in the
        first step."""
        super().compile(optimizer=second, **kwargs)
        if not self.built:
            self.build()
        first.build(first_network.trainable_variables)
        second.build(second_network.trainable_variables)
