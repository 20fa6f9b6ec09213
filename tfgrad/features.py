"""Features for visual KNN beside a model's codes, and the linear probe that judges any of
them: raw pixels (the AGE seed's baseline), PCA of the pixels, and logistic regression on
frozen features (the seed's linear SVM)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf


def pixel_features(images) -> np.ndarray:
    """[N, S, S, 3] uint8 -> [N, 3·S²] float32 pixels in [−1, 1]."""
    images = np.asarray(images)
    return (images.reshape(len(images), -1).astype(np.float32) / 127.5) - 1.0


@dataclasses.dataclass(frozen=True)
class PCA:
    """mean: [D]; components: [D, k] orthonormal, largest variance first."""

    mean: np.ndarray
    components: np.ndarray

    def transform(self, features, batch_size: int = 4096) -> np.ndarray:
        features = np.asarray(features, np.float32)
        return np.concatenate([(features[start:start + batch_size] - self.mean)
                               @ self.components
                               for start in range(0, len(features), batch_size)])


def fit_pca(features, dims: int) -> PCA:
    """The top `dims` principal directions of [N, D] `features`, through the smaller of the
    D×D covariance and the N×N Gram matrix."""
    features = np.asarray(features, np.float32)
    count, width = features.shape
    if not 1 <= dims <= min(count, width):
        raise ValueError(f"PCA dims must be in 1..{min(count, width)}, got {dims}")
    mean = features.mean(axis=0)
    centred = features - mean
    if width <= count:
        values, vectors = np.linalg.eigh((centred.T @ centred).astype(np.float64))
        components = vectors[:, ::-1][:, :dims]
    else:
        values, vectors = np.linalg.eigh((centred @ centred.T).astype(np.float64))
        order = np.argsort(values)[::-1][:dims]
        components = centred.T @ vectors[:, order]
        components /= np.linalg.norm(components, axis=0, keepdims=True)
    return PCA(mean=mean, components=components.astype(np.float32))


def linear_probe(train_features, train_labels, test_features, test_labels, num_classes: int,
                 steps: int = 2000, batch_size: int = 256, learning_rate: float = 1e-2,
                 l2: float = 1e-4, seed: int = 0) -> tuple[float, float]:
    """(train accuracy, test accuracy) of multinomial logistic regression on frozen features,
    standardised with the training features' mean and standard deviation, trained with Adam
    on minibatches (L2 penalty `l2` on the weights)."""
    train = np.asarray(train_features, np.float32)
    test = np.asarray(test_features, np.float32)
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    train, test = (train - mean) / std, (test - mean) / std
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((train.shape[1],)), keras.layers.Dense(
        num_classes, kernel_regularizer=keras.regularizers.L2(l2))])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = (tf.data.Dataset.from_tensor_slices((train, np.asarray(train_labels)))
               .shuffle(len(train), seed=seed).repeat().batch(min(batch_size, len(train))))
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)

    def accuracy(features, labels):
        # Direct calls, not `predict`: a probe per feature kind would retrace predict's step.
        predicted = np.concatenate([np.argmax(model(features[start:start + 4096]), axis=1)
                                    for start in range(0, len(features), 4096)])
        return float(np.mean(predicted == np.asarray(labels)))

    return accuracy(train, train_labels), accuracy(test, test_labels)
