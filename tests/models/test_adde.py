"""ADDE's model: the prototypes are the per-value means of the attribute chunks, the memory
block's arithmetic, the stages by step (stage 1 leaves the memory alone, stage 3 lowers the
total loss), under one device and 2 replicas; and the entangled TIRG baseline trains (the
save/load round trips are in test_serialization)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgrad.data.attributes import indicators, one_hot_labels
from tfgrad.distribute import get_strategy
from tfgrad.models.adde import ADDE, block_mask, one_hot_blocks
from tfgrad.models.entangled_tirg import EntangledTIRG

SIZE, NUM_VALUES, CHUNK = 32, (2, 3), 4


def _batch(batch_size=8, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.integers(0, 2, batch_size), rng.integers(-1, 3, batch_size)], 1)
    targets = labels.copy()
    targets[:, 0] = 1 - targets[:, 0]
    images = {name: rng.uniform(-1, 1, (batch_size, SIZE, SIZE, 3)).astype(np.float32)
              for name in ("reference", "positive", "negative")}
    return {**images, "reference_labels": labels, "target_labels": targets,
            "negative_labels": np.stack([rng.integers(0, 2, batch_size),
                                         rng.integers(0, 3, batch_size)], 1)}


def _adde(attribute_steps=2, prototype_steps=2, learning_rate=1e-3, **kwargs):
    keras.utils.set_random_seed(0)
    model = ADDE(NUM_VALUES, SIZE, width=0.125, backbone_dim=16, chunk_dim=CHUNK,
                 attribute_steps=attribute_steps, prototype_steps=prototype_steps,
                 dropout_rate=0.0, seed=1, **kwargs)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


def _fit(model, batch, steps):
    """Per-step history (one step per epoch: an epoch's value is its steps' mean)."""
    return model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=steps,
                     steps_per_epoch=1, verbose=0).history


def test_block_mask_and_one_hots_by_hand():
    mask = block_mask((2, 1), 2)
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]])
    labels = np.array([[1, -1], [0, 2]])
    np.testing.assert_array_equal(one_hot_blocks(labels, NUM_VALUES).numpy(),
                                  one_hot_labels(labels, NUM_VALUES))


def test_prototypes_are_the_mean_chunk_of_each_value():
    batch = _batch()
    # A zero learning rate keeps the weights: both averaged steps see the same chunks.
    model = _adde(learning_rate=0.0)
    _fit(model, batch, 2)
    features = model.embed(batch["reference"]).numpy()
    labels = batch["reference_labels"]
    prototypes = model.prototypes().numpy()
    row = 0
    for attribute, count in enumerate(NUM_VALUES):
        columns = slice(attribute * CHUNK, (attribute + 1) * CHUNK)
        for value in range(count):
            chosen = labels[:, attribute] == value
            expected = features[chosen, columns].mean(0) if chosen.any() else np.zeros(CHUNK)
            np.testing.assert_allclose(prototypes[row, columns], expected, atol=1e-5)
            # Zero outside the value's own block.
            assert not np.delete(prototypes[row], np.arange(columns.start, columns.stop)).any()
            row += 1
    np.testing.assert_array_equal(model.prototype_counts.numpy(),
                                  2 * one_hot_labels(labels, NUM_VALUES).sum(0))


def test_manipulation_swaps_the_old_prototype_for_the_new_and_leaves_other_chunks():
    batch = _batch()
    model = _adde()
    _fit(model, batch, 2)
    features = model.embed(batch["reference"]).numpy()
    change = indicators(batch["reference_labels"], batch["target_labels"], NUM_VALUES)
    manipulated = model.manipulate(features, change).numpy()
    memory = model.memory().numpy()
    old, new = batch["reference_labels"][:, 0], batch["target_labels"][:, 0]
    np.testing.assert_allclose(manipulated, features - memory[old] + memory[new], atol=1e-5)
    # The memory is block-diagonal here: the second attribute's chunk is untouched.
    np.testing.assert_allclose(manipulated[:, CHUNK:], features[:, CHUNK:], atol=1e-6)


def test_stage_one_leaves_the_memory_and_stage_three_lowers_the_total_loss():
    batch = _batch()
    model = _adde(attribute_steps=2, prototype_steps=1)
    history = _fit(model, batch, 2)
    assert history["label_triplet"][-1] == 0.0  # stage 1: cross-entropy alone
    assert {"accuracy_0", "accuracy_1"} <= set(history)
    assert not model.memory_delta.numpy().any()
    before = float(model.manipulation_losses(batch)["loss"])
    history = _fit(model, batch, 3)
    after = float(model.manipulation_losses(batch)["loss"])
    assert after < before
    assert model.memory_delta.numpy().any()
    assert history["label_triplet"][0] > 0.0 or history["manipulation_triplet"][0] > 0.0
    assert 0.0 <= float(model.off_block_mass()) < 1.0


def test_without_the_memory_l1_its_off_block_part_is_not_pushed_down():
    batch = _batch()
    masses = {}
    for weight in (0.0, 50.0):
        model = _adde(attribute_steps=1, prototype_steps=1, learning_rate=1e-2,
                      memory_weight=weight)
        _fit(model, batch, 6)
        masses[weight] = float(model.off_block_mass())
    assert masses[50.0] < masses[0.0]


def test_two_replicas_sum_the_prototype_counts_and_train():
    batch = _batch()
    with get_strategy("mirrored").scope():
        model = _adde(attribute_steps=1, prototype_steps=1)
    history = _fit(model, batch, 3)
    assert np.isfinite(history["loss"]).all()
    # Each replica saw half of the one averaged batch; the counts are the whole batch's.
    np.testing.assert_array_equal(model.prototype_counts.numpy(),
                                  one_hot_labels(batch["reference_labels"], NUM_VALUES).sum(0))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least 2 values"):
        ADDE((1, 3))
    with pytest.raises(ValueError, match="prototype_steps"):
        ADDE(NUM_VALUES, attribute_steps=5, prototype_steps=6)


@pytest.mark.parametrize("strategy", ["one_device", "mirrored"])
def test_entangled_tirg_lowers_its_batch_softmax(strategy):
    batch = _batch()
    with get_strategy(strategy).scope():
        keras.utils.set_random_seed(0)
        model = EntangledTIRG(NUM_VALUES, SIZE, width=0.125, embedding_dim=8, hidden_dims=(16,),
                              dropout_rate=0.0)
        model.build()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = _fit(model, batch, 6)
    assert history["loss"][-1] < history["loss"][0]
